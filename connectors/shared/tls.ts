import tls from 'node:tls';
import { ConnectorError, FailureType } from './errors.ts';

const trusted = new Set<string>();

/**
 * Adds a certificate authority (PEM) to the roots every TLS client of this process trusts by default, keeping the
 * roots it trusts already. For clients that take no CA per connection: the Weaviate client (its fetch and its gRPC
 * channel) and the Chroma client. Process-wide by nature: anything else in the process that uses the default roots
 * trusts the CA too. Idempotent.
 */
export function trustCertificateAuthority(pem: string, what: string): void {
  if (trusted.has(pem)) return;
  try {
    tls.setDefaultCACertificates([...tls.getCACertificates('default'), pem]);
  } catch (err) {
    throw new ConnectorError(FailureType.InvalidInput, `${what}: not a PEM certificate (${(err as Error).message})`, {
      cause: err,
    });
  }
  trusted.add(pem);
}
