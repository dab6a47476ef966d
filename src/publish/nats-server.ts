/**
 * Starts a local nats-server (from apt) on a free loopback port with JetStream in a temp dir.
 * Used by `vigil demo` and the tests; production points Vigil at its own NATS.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

export interface LocalNatsServerOptions {
  /** Fixed port (e.g. to restart on the same one); default a random free port. */
  port?: number;
  /** JetStream store (kept on stop when given); default a temp dir removed on stop. */
  storeDir?: string;
  timeoutMs?: number;
  /** Client authentication: user/password, a token, or NKey users (public keys `U…`). */
  auth?: { user: string; pass: string } | { token: string } | { nkeys: string[] };
  /** Server TLS (PEM files); `verify` asks clients for a certificate signed by caFile. */
  tls?: { certFile: string; keyFile: string; caFile?: string; verify?: boolean };
  /** A nats-server config file of your own (e.g. deploy/nats/nats.conf); the command line still sets address, port and store. */
  configFile?: string;
  /** Extra environment for the server (variables its config file refers to). */
  env?: Record<string, string>;
}

/** nats-server configuration for the options the command line cannot express (auth, TLS). */
function configText(o: LocalNatsServerOptions): string {
  const q = (s: string) => JSON.stringify(s);
  const lines: string[] = [];
  const a = o.auth;
  if (a && 'user' in a) lines.push(`authorization { user: ${q(a.user)}, password: ${q(a.pass)} }`);
  else if (a && 'token' in a) lines.push(`authorization { token: ${q(a.token)} }`);
  else if (a && 'nkeys' in a)
    lines.push(`authorization { users: [ ${a.nkeys.map((k) => `{ nkey: ${q(k)} }`).join(', ')} ] }`);
  if (o.tls) {
    const t = [`cert_file: ${q(o.tls.certFile)}`, `key_file: ${q(o.tls.keyFile)}`];
    if (o.tls.caFile) t.push(`ca_file: ${q(o.tls.caFile)}`);
    if (o.tls.verify) t.push('verify: true');
    lines.push(`tls { ${t.join(', ')} }`);
  }
  return lines.join('\n') + '\n';
}

export async function startNatsServer(options: LocalNatsServerOptions = {}): Promise<LocalNatsServer> {
  const storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), 'vigil-nats-'));
  const portsDir = mkdtempSync(join(tmpdir(), 'vigil-nats-ports-'));
  const extraArgs: string[] = [];
  if (options.auth || options.tls) {
    // The config (with secrets) lives in the private temp dir only while the server starts.
    const conf = join(portsDir, 'server.conf');
    writeFileSync(conf, configText(options), { mode: 0o600 });
    extraArgs.push('-c', conf);
  } else if (options.configFile) {
    extraArgs.push('-c', options.configFile);
  }
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
      ...extraArgs,
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      ...(options.env ? { env: { ...process.env, ...options.env } } : {}),
    },
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
