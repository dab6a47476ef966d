import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startInferenceServer, type InferenceServer } from '../../src/infer/index.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { MODEL_REPO, requireFile } from './paths.js';

export interface AnalyzerDeps<T> {
  dir: string;
  nats: LocalNatsServer;
  /** The inference server on the set-up model repository, on a free loopback port. */
  infer: InferenceServer;
  /** What `prepare(dir)` made (a clip, usually). */
  prepared: T;
  /** Stops both servers and removes the dir. Idempotent. */
  close(): Promise<void>;
}

/**
 * What an analysis needs around it, started side by side: a temp dir (`prefix`), a local
 * nats-server, the inference server, and `prepare(dir)`.
 */
export async function startAnalyzerDeps<T>(
  prefix: string,
  prepare: (dir: string) => Promise<T>,
): Promise<AnalyzerDeps<T>> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  // Side by side, but settled one by one: when one step throws, what the others started is
  // stopped before the error goes up (the caller never gets a handle to close).
  const [prepared, nats, infer] = await Promise.allSettled([
    prepare(dir),
    startNatsServer(),
    startInferenceServer({
      modelRepository: requireFile(MODEL_REPO),
      host: '127.0.0.1',
      port: 0,
      logger: { info: () => undefined, warn: () => undefined },
    }),
  ]);
  const stop = async () => {
    if (infer.status === 'fulfilled') await infer.value.close();
    if (nats.status === 'fulfilled') await nats.value.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  if (prepared.status === 'rejected' || nats.status === 'rejected' || infer.status === 'rejected') {
    await stop();
    const failed = [prepared, nats, infer].find((r) => r.status === 'rejected') as PromiseRejectedResult;
    throw failed.reason;
  }
  let closed: Promise<void> | undefined;
  return {
    dir,
    nats: nats.value,
    infer: infer.value,
    prepared: prepared.value,
    close: () => (closed ??= stop()),
  };
}
