/**
 * A loopback TCP proxy that can hold back what the upstream server sends by a settable delay (bytes
 * keep their order): a slow network or an overloaded server, for tests of latency alerts.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface DelayProxy {
  readonly port: number;
  /** Delay of every chunk from the upstream to the client from now on, ms. */
  setDelay(ms: number): void;
  /** Closes the listener and every connection; idempotent. */
  close(): Promise<void>;
}

export async function startDelayProxy(upstreamPort: number): Promise<DelayProxy> {
  let delayMs = 0;
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port: upstreamPort });
    sockets.add(client).add(upstream);
    let lastDue = 0;
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      const due = Math.max(Date.now() + delayMs, lastDue);
      lastDue = due;
      const t = setTimeout(() => {
        timers.delete(t);
        if (!client.destroyed) client.write(d);
      }, due - Date.now());
      timers.add(t);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  let closing: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    setDelay: (ms) => {
      delayMs = ms;
    },
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}
