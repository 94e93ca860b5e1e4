import { request } from 'node:https';

/** One HTTPS request to a loopback server, for tests of servers: the status code and the body as text. */
export function httpsCall(o: {
  port: number;
  method: string;
  path: string;
  body?: string;
  /** PEM of the CA to verify the server with; none: the server's certificate is not verified. */
  ca?: Buffer;
  /** A client certificate and key (PEM) to present. */
  client?: { cert: Buffer; key: Buffer };
}): Promise<{ code: number; text: string }> {
  return new Promise((resolve, reject) => {
    const q = request(
      {
        host: '127.0.0.1',
        port: o.port,
        path: o.path,
        method: o.method,
        ...(o.ca ? { ca: o.ca } : { rejectUnauthorized: false }),
        ...(o.client ?? {}),
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, text }));
      },
    );
    q.on('error', reject);
    q.end(o.body);
  });
}
