import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

/** A throwaway CA with a server certificate for `serverName` and a client certificate, made by openssl. */
export interface TestPki {
  dir: string;
  caFile: string;
  serverCert: Buffer;
  serverKey: Buffer;
  clientCertFile: string;
  clientKeyFile: string;
  /** A second CA that signed nothing here: trusting it instead must fail the handshake. */
  otherCaFile: string;
  remove(): void;
}

export function makeTestPki(serverName: string): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'ragline-pki-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ca = (name: string) =>
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
    );
  const leaf = (name: string, ext: string) => {
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    writeFileSync(join(dir, `${name}.ext`), ext);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-extfile',
      `${name}.ext`,
    );
  };
  ca('ca');
  ca('other-ca');
  leaf('server', `subjectAltName=DNS:${serverName}\nextendedKeyUsage=serverAuth\n`);
  leaf('client', 'extendedKeyUsage=clientAuth\n');
  return {
    dir,
    caFile: join(dir, 'ca.pem'),
    serverCert: readFileSync(join(dir, 'server.pem')),
    serverKey: readFileSync(join(dir, 'server.key')),
    clientCertFile: join(dir, 'client.pem'),
    clientKeyFile: join(dir, 'client.key'),
    otherCaFile: join(dir, 'other-ca.pem'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** One call the gate let through or refused. */
export interface GateCall {
  path: string;
  authorization?: string;
  clientCertSubject?: string;
  admitted: boolean;
}

export interface GrpcGate {
  address: string;
  calls: GateCall[];
  close(): Promise<void>;
}

/**
 * What a secured Temporal frontend looks like from a client: TLS with a private CA, client certificates required
 * (mTLS), and `authorization: Bearer <apiKey>` required on every call, each refused the way a server refuses it. The
 * calls it admits go on, unchanged, to a plain frontend (the local dev server, which serves no TLS itself).
 */
export async function startGrpcGate(opts: { upstream: string; pki: TestPki; apiKey: string }): Promise<GrpcGate> {
  const calls: GateCall[] = [];
  let upstream: http2.ClientHttp2Session | undefined;
  const upstreamSession = (): http2.ClientHttp2Session => {
    if (!upstream || upstream.closed || upstream.destroyed) {
      upstream = http2.connect(`http://${opts.upstream}`);
      upstream.on('error', () => undefined);
    }
    return upstream;
  };
  const sessions = new Set<http2.ServerHttp2Session>();
  const server = http2.createSecureServer({
    cert: opts.pki.serverCert,
    key: opts.pki.serverKey,
    ca: readFileSync(opts.pki.caFile),
    requestCert: true,
    rejectUnauthorized: true,
    allowHTTP1: false,
  });
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    const authorization = headers.authorization as string | undefined;
    const cert = (stream.session?.socket as TLSSocket | undefined)?.getPeerCertificate();
    const admitted = authorization === `Bearer ${opts.apiKey}`;
    calls.push({ path: String(headers[':path']), authorization, clientCertSubject: [cert?.subject?.CN].flat()[0], admitted });
    if (!admitted) {
      // A trailers-only gRPC answer, as Temporal's frontend gives a call without valid credentials.
      stream.respond(
        { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16', 'grpc-message': 'bad api key' },
        { endStream: true },
      );
      return;
    }
    const forwarded: http2.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(headers)) if (!k.startsWith(':') || k === ':method' || k === ':path') forwarded[k] = v;
    const up = upstreamSession().request(forwarded);
    stream.pipe(up);
    up.on('response', (h) => {
      const out = { ...h };
      if ('grpc-status' in h) return void stream.respond(out, { endStream: true });
      stream.respond(out, { waitForTrailers: true });
      up.pipe(stream);
    });
    let trailers: http2.OutgoingHttpHeaders = {};
    up.on('trailers', (t) => (trailers = { ...t }));
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    // Either side going away (a cancelled long poll, a closed worker) ends the other.
    stream.on('close', () => up.close());
    up.on('close', () => {
      if (!stream.closed && !stream.headersSent) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    });
    up.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    stream.on('error', () => up.close());
  });
  // Failed handshakes (no client certificate, an untrusted CA) are the client's problem, not the gate's.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    calls,
    close: async () => {
      upstream?.close();
      await new Promise<void>((done) => {
        server.close(() => done());
        // Sessions held open by the SDKs' keep-alives would keep close() waiting.
        for (const s of sessions) s.destroy();
      });
    },
  };
}
