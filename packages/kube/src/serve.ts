import http from 'node:http';

export interface HealthServerOptions {
  port: number;
  /** @default 0.0.0.0 */
  host?: string;
  healthy: () => boolean;
  ready: () => boolean;
  /** Prometheus text exposition. */
  metrics: () => Promise<string>;
}

/** /healthz, /readyz and /metrics on one plain HTTP port, as operators expect. */
export function serveHealth(o: HealthServerOptions): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' || path === '/readyz') {
      const ok = path === '/healthz' ? o.healthy() : o.ready();
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ok' : 'not ok');
      return;
    }
    if (path === '/metrics') {
      o.metrics().then(
        (body) => res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }).end(body),
        () => res.writeHead(500).end(),
      );
      return;
    }
    res.writeHead(404).end();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '0.0.0.0', () => resolve(server));
  });
}
