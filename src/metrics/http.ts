import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './registry.js';

/** `/metrics` (Prometheus text format), `/healthz` (the process answers), `/readyz` (it can store events). */
export async function startMetricsServer(opts: {
  host: string;
  port: number;
  metrics: Metrics;
  ready: () => { ok: boolean; detail: Record<string, unknown> };
}): Promise<{ server: Server; address: AddressInfo; close: () => Promise<void> }> {
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (url === '/metrics') {
      opts.metrics.registry
        .metrics()
        .then((text) => {
          res.writeHead(200, { 'content-type': opts.metrics.registry.contentType });
          res.end(text);
        })
        .catch((err: Error) => {
          res.writeHead(500);
          res.end(err.message);
        });
    } else if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else if (url === '/readyz') {
      const r = opts.ready();
      res.writeHead(r.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify({ ready: r.ok, ...r.detail })}\n`);
    } else {
      res.writeHead(404);
      res.end('not found: try /metrics, /healthz, /readyz\n');
    }
  });
  await new Promise<void>((res, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => res());
  });
  return {
    server,
    address: server.address() as AddressInfo,
    close: () => new Promise<void>((res) => server.close(() => res())),
  };
}
