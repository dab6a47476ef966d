/**
 * `/metrics` over HTTP: a request handler the control server can mount, and a standalone server
 * for processes without one. The exposition is Prometheus text format 0.0.4.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface MetricsSource {
  metrics(): Promise<string>;
  readonly contentType: string;
}

/** Handles GET/HEAD /metrics; answers false (untouched) for any other path so callers can chain. */
export function metricsHandler(
  source: MetricsSource | Registry,
  path = '/metrics',
): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (url !== path) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return true;
    }
    source.metrics().then(
      (body) => {
        res.writeHead(200, { 'content-type': source.contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
    return true;
  };
}

/** The same handler in the shape of the control server's mounts (`startControlServer({ mounts })`). */
export function metricsMount(source: MetricsSource | Registry, path = '/metrics') {
  const handle = metricsHandler(source, path);
  return { handle: (req: IncomingMessage, res: ServerResponse) => handle(req, res) };
}

export interface MetricsServer {
  readonly port: number;
  readonly url: string;
  /** Stops listening and closes open connections; idempotent. */
  close(): Promise<void>;
}

/** A standalone HTTP server: /metrics, /healthz (alive) and /readyz. Port 0 picks a free port. */
export async function startMetricsServer(options: {
  source: MetricsSource | Registry;
  host?: string;
  port?: number;
  /** /readyz answers 200 while this returns true, 503 otherwise (default: always ready). */
  ready?: () => boolean;
}): Promise<MetricsServer> {
  const handle = metricsHandler(options.source);
  const server: Server = createServer((req, res) => {
    if (handle(req, res)) return;
    const path = (req.url ?? '').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const ready = options.ready?.() ?? true;
      res
        .writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' })
        .end(ready ? 'ready\n' : 'not ready\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/metrics`,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
