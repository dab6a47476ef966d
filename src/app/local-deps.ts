/**
 * The local dependencies of an analyzer: a nats-server when no NATS is configured, and an inference
 * server on the model repository when no inference address is. Each is registered on the caller's
 * cleanup stack as soon as it runs.
 */
import { existsSync } from 'node:fs';
import type { Registry } from 'prom-client';
import { VigilError } from '../core/errors.js';
import { startInferenceServer } from '../infer/index.js';
import { startNatsServer } from '../publish/nats-server.js';
import type { CleanupStack } from './cleanup.js';

export interface LocalDepsOptions {
  /** Configured NATS servers; null or empty: start a local nats-server. */
  natsServers: string[] | null;
  /** Configured inference server (host:port); null: start one on `modelRepository`. */
  inferAddress: string | null;
  modelRepository: string;
  /** The local inference server warms each model up at load (default true; `inference.warmup`). */
  warmup?: boolean;
  /** How to tell the user to configure a server instead (a flag or a config key). */
  inferHint: string;
  log: (line: string) => void;
}

export interface LocalDeps {
  natsServers: string[];
  inferAddress: string;
  /** The local inference server's metrics (`vigil_infer_*`), to serve on the analyzer's /metrics. */
  inferMetrics?: Registry;
}

export async function startLocalDeps(o: LocalDepsOptions, stack: CleanupStack): Promise<LocalDeps> {
  let natsServers = o.natsServers;
  if (!natsServers || natsServers.length === 0) {
    const nats = await startNatsServer();
    // A process that exits before its orderly stop (a second Ctrl-C, the CLI's shutdown grace
    // running out) takes its nats-server with it instead of leaving it behind.
    const killOnExit = () => nats.process.kill('SIGKILL');
    process.once('exit', killOnExit);
    stack.push('nats-server', async () => {
      await nats.stop();
      process.off('exit', killOnExit);
    });
    natsServers = [nats.url];
    o.log(`vigil: started nats-server at ${nats.url}`);
  }
  let inferAddress = o.inferAddress;
  let inferMetrics: Registry | undefined;
  if (!inferAddress) {
    if (!existsSync(o.modelRepository)) {
      throw new VigilError(
        'VIGIL_ERR_CONFIG',
        `model repository ${o.modelRepository} not found: run 'bash scripts/setup.sh' first, or ${o.inferHint}`,
      );
    }
    const server = await startInferenceServer({
      modelRepository: o.modelRepository,
      host: '127.0.0.1',
      port: 0,
      ...(o.warmup !== undefined ? { warmup: o.warmup } : {}),
    });
    stack.push('inference server', () => server.close());
    inferAddress = `127.0.0.1:${server.port}`;
    inferMetrics = server.metricsRegistry;
    o.log(`vigil: started inference server at ${inferAddress}`);
  }
  return { natsServers, inferAddress, ...(inferMetrics ? { inferMetrics } : {}) };
}
