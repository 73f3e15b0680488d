import { z } from 'zod';
import { SecretRef } from '../connectors/shared/secret.ts';

const TlsFiles = z
  .object({
    /** The name the server's certificate must carry, when it differs from the address's host. */
    serverName: z.string().min(1).optional(),
    /** PEM file of the CA that signed the server's certificate; default: the system's CAs. */
    serverCaFile: z.string().min(1).optional(),
    /** mTLS: PEM files of this client's certificate and private key (both or neither). */
    clientCertFile: z.string().min(1).optional(),
    clientKeyFile: z.string().min(1).optional(),
  })
  .refine(
    (t) => (t.clientCertFile === undefined) === (t.clientKeyFile === undefined),
    'clientCertFile and clientKeyFile go together (mTLS needs both)',
  );

/**
 * How clients and workers reach Temporal. Optional: without it they use TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE or the
 * local stack, in clear, without a key. None of it shapes vectors, so none of it is part of the pipeline fingerprint.
 */
export const TemporalConfig = z.object({
  /** Frontend `host:port`. TEMPORAL_ADDRESS overrides it. */
  address: z.string().min(1).optional(),
  /** TEMPORAL_NAMESPACE overrides it. */
  namespace: z.string().min(1).optional(),
  /**
   * `true`: TLS with the system's CAs (Temporal Cloud). An object: TLS with a private CA, a server name and/or a client
   * certificate (mTLS). `false`: plain TCP even with an API key. Absent: TLS exactly when `apiKey` is set.
   */
  tls: z.union([z.boolean(), TlsFiles]).optional(),
  /** Sent as `authorization: Bearer <key>` on every call (Temporal Cloud API keys). */
  apiKey: SecretRef.optional(),
  /**
   * Payload encryption (AES-256-GCM) on every client and worker. `keys` holds `id:base64key` entries (32-byte keys),
   * separated by newlines, commas or spaces: the first encrypts, every one decrypts. Rotate by putting a new key first
   * and keeping the old ones until no open history needs them.
   */
  encryption: z.object({ keys: SecretRef }).optional(),
});
export type TemporalConfig = z.infer<typeof TemporalConfig>;
