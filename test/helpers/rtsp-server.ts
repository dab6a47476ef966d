/**
 * Starts the test RTSP server (test/fixtures/rtsp_server.py, Debian's gst-rtsp-server) on a random
 * loopback port. The handle can kill it, restart it on the same port, and hang it (SIGSTOP/SIGCONT).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';

const SCRIPT = resolve(import.meta.dirname, '../fixtures/rtsp_server.py');
/** The system interpreter: it has PyGObject (`gi`); a pyenv python3 on PATH may not. */
const PYTHON = '/usr/bin/python3';

export interface RtspServerOptions {
  /** 'test' (default), 'mp4:PATH', 'avi:PATH' or 'bogus' (unknown codec). */
  source?: string;
  width?: number;
  height?: number;
  fps?: number;
  audio?: boolean;
  user?: string;
  password?: string;
  path?: string;
  /** 0 picks a free port. */
  port?: number;
}

export interface RtspServer {
  readonly port: number;
  /** `rtsp://127.0.0.1:<port>/stream` (no credentials). */
  readonly url: string;
  readonly pid: number | undefined;
  /** SIGKILL, waits for the exit. */
  kill(): Promise<void>;
  /** Starts a fresh server on the same port (after kill()). */
  restart(): Promise<void>;
  /** SIGSTOP: the server keeps its sockets but answers nothing. */
  hang(): void;
  /** SIGCONT. */
  resume(): void;
  /** Idempotent. */
  stop(): Promise<void>;
}

function args(o: RtspServerOptions, port: number): string[] {
  const a = [SCRIPT, '--port', String(port), '--source', o.source ?? 'test'];
  if (o.width) a.push('--width', String(o.width));
  if (o.height) a.push('--height', String(o.height));
  if (o.fps) a.push('--fps', String(o.fps));
  if (o.audio) a.push('--audio');
  if (o.user !== undefined) a.push('--user', o.user, '--password', o.password ?? '');
  if (o.path) a.push('--path', o.path);
  return a;
}

async function launch(o: RtspServerOptions, port: number): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(PYTHON, args(o, port), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 4000) stderr += d.toString();
  });
  const lines = createInterface({ input: child.stdout! });
  // A server that never says it listens (or says something else) is killed before the error goes up.
  const bound = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`rtsp server did not start in 15 s: ${stderr}`)), 15_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`rtsp server exited (${code}) before listening: ${stderr}`));
    });
    lines.on('line', (line) => {
      const m = /^PORT (\d+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    });
  }).catch(async (err: unknown) => {
    lines.close();
    await waitExit(child, true);
    throw err;
  });
  child.removeAllListeners('exit');
  lines.close();
  return { child, port: bound };
}

/** Resolves once the child has exited; with `kill`, SIGKILLs it first (SIGCONT: it may be stopped). */
function waitExit(child: ChildProcess, kill = false): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
    return Promise.resolve();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  if (kill) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
  return exited;
}

export async function startRtspServer(o: RtspServerOptions = {}): Promise<RtspServer> {
  const first = await launch(o, o.port ?? 0);
  const port = first.port;
  let child = first.child;
  let stopped = false;
  const path = o.path ?? '/stream';
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
    await waitExit(child);
  };
  return {
    get port() {
      return port;
    },
    get url() {
      return `rtsp://127.0.0.1:${port}${path}`;
    },
    get pid() {
      return child.pid;
    },
    kill,
    async restart() {
      await kill();
      // The port was just freed; a few tries cover a slow socket release.
      for (let i = 0; ; i++) {
        try {
          ({ child } = await launch(o, port));
          return;
        } catch (err) {
          if (i >= 10) throw err;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
    hang() {
      child.kill('SIGSTOP');
    },
    resume() {
      child.kill('SIGCONT');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill();
    },
  };
}
