/**
 * Starts an analyzer replica (src/cluster/main.ts through tsx) as a real child process and waits
 * for its `READY <replica> <metrics port>` line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { resolve } from 'node:path';
import { ROOT } from './paths.js';

export interface ReplicaProcess {
  readonly replicaId: string;
  readonly metricsPort: number;
  readonly child: ChildProcess;
  /** What it wrote on stderr (bounded). */
  stderr(): string;
  /** SIGKILL, no goodbye. */
  kill(): Promise<void>;
  /** SIGTERM (hands its streams back), SIGKILL after 5 s; idempotent. */
  stop(): Promise<void>;
}

export async function startReplicaProcess(
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<ReplicaProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', resolve(ROOT, 'src/cluster/main.ts')], {
    cwd: ROOT,
    env: { ...process.env, VIGIL_METRICS_HOST: '127.0.0.1', VIGIL_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-8000);
  });
  const lines = createInterface({ input: child.stdout! });
  const ready = await new Promise<{ id: string; port: number }>((done, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`replica did not start in ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`replica exited (${code}) before it was ready: ${err}`));
    });
    lines.on('line', (line) => {
      const m = /^READY (\S+) (\d+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        done({ id: m[1]!, port: Number(m[2]) });
      }
    });
  });
  child.removeAllListeners('exit');
  const exited = new Promise<void>((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r();
    else child.once('exit', () => r());
  });
  let stopping: Promise<void> | undefined;
  return {
    replicaId: ready.id,
    metricsPort: ready.port,
    child,
    stderr: () => err,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    stop: () => {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.kill('SIGTERM');
        await exited;
        clearTimeout(killer);
      })();
      return stopping;
    },
  };
}

/** A free loopback TCP port (for servers that cannot be told to pick one, like Prometheus). */
export async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => done(port));
    });
  });
}
