import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// The HTTP plumbing the hosted-API fakes share: JSON in and out, recorded requests, injected faults.

export interface Fault {
  status: number;
  /** Sent as Retry-After (seconds or an HTTP date). */
  retryAfter?: string;
  body?: unknown;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export interface FakeServer {
  url: string;
  requests: RecordedRequest[];
  /** The next `count` requests are answered with `fault`. */
  failNext(count: number, fault: Fault): void;
  close(): Promise<void>;
}

export type Handler = (req: RecordedRequest) => Promise<{ status: number; body: unknown; headers?: Record<string, string> }>;

export async function startJsonServer(handle: Handler): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  let faults: { count: number; fault: Fault } | undefined;
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(parts).toString('utf8');
      let body: unknown = undefined;
      try {
        body = raw ? JSON.parse(raw) : undefined;
      } catch {
        return send(res, 400, { error: 'body is not JSON', error_type: 'Validation' });
      }
      const rec: RecordedRequest = { method: req.method ?? '', path: (req.url ?? '').split('?')[0]!, headers: req.headers, body };
      requests.push(rec);
      if (faults && faults.count > 0) {
        faults.count--;
        const f = faults.fault;
        return send(
          res,
          f.status,
          f.body ?? { detail: `injected ${f.status}` },
          f.retryAfter ? { 'retry-after': f.retryAfter } : {},
        );
      }
      handle(rec).then(
        (r) => send(res, r.status, r.body, r.headers),
        (err: unknown) => send(res, 500, { error: String(err), error_type: 'Backend' }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    failNext(count, fault) {
      faults = { count, fault };
    },
    close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
  };
}
