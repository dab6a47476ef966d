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
  const [prepared, nats, infer] = await Promise.all([
    prepare(dir),
    startNatsServer(),
    startInferenceServer({
      modelRepository: requireFile(MODEL_REPO),
      host: '127.0.0.1',
      port: 0,
      logger: { info: () => undefined, warn: () => undefined },
    }),
  ]);
  let closed: Promise<void> | undefined;
  return {
    dir,
    nats,
    infer,
    prepared,
    close: () =>
      (closed ??= (async () => {
        await infer.close();
        await nats.stop();
        rmSync(dir, { recursive: true, force: true });
      })()),
  };
}
