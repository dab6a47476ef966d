/**
 * Starts a local nats-server (from apt) on a free loopback port with JetStream in a temp dir.
 * Used by `vigil demo` and the tests; production points Vigil at its own NATS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VigilError } from '../core/errors.js';

export interface LocalNatsServer {
  url: string;
  port: number;
  process: ChildProcess;
  storeDir: string;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its store unless keepStore; idempotent. */
  stop(options?: { keepStore?: boolean }): Promise<void>;
}

export async function startNatsServer(
  options: { port?: number; storeDir?: string; timeoutMs?: number } = {},
): Promise<LocalNatsServer> {
  const storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), 'vigil-nats-'));
  const portsDir = mkdtempSync(join(tmpdir(), 'vigil-nats-ports-'));
  const child = spawn(
    'nats-server',
    [
      '-a',
      '127.0.0.1',
      // -1 asks nats-server for a random free port (0 would mean its default, 4222).
      '-p',
      String(options.port ?? -1),
      '-js',
      '-sd',
      storeDir,
      '--ports_file_dir',
      portsDir,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const spawnError = new Promise<never>((_, reject) => {
    child.once('error', (err) =>
      reject(
        new VigilError(
          'VIGIL_ERR_NATS_SERVER',
          `cannot start nats-server (is it installed?): ${err.message}`,
        ),
      ),
    );
    child.once('exit', (code) =>
      reject(
        new VigilError('VIGIL_ERR_NATS_SERVER', `nats-server exited with code ${code}: ${stderr.trim()}`),
      ),
    );
  });
  spawnError.catch(() => undefined);
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let url: string | undefined;
  while (!url) {
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new VigilError('VIGIL_ERR_NATS_SERVER', 'nats-server did not report its port in time');
    }
    const file = readdirSync(portsDir).find((f) => f.endsWith('.ports'));
    if (file) {
      try {
        const ports = JSON.parse(readFileSync(join(portsDir, file), 'utf8')) as { nats?: string[] };
        url = ports.nats?.[0];
      } catch {
        // Written but not complete yet.
      }
    }
    if (!url) await Promise.race([new Promise((r) => setTimeout(r, 25)), spawnError]);
  }
  rmSync(portsDir, { recursive: true, force: true });
  const port = Number(new URL(url).port);
  let stopping: Promise<void> | undefined;
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    process: child,
    storeDir,
    stop: (stopOptions = {}) => {
      stopping ??= new Promise<void>((resolve) => {
        const done = () => {
          if (!stopOptions.keepStore && !options.storeDir) rmSync(storeDir, { recursive: true, force: true });
          resolve();
        };
        if (child.exitCode !== null || child.signalCode !== null) return done();
        const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(killer);
          done();
        });
        child.kill('SIGTERM');
      });
      return stopping;
    },
  };
}
