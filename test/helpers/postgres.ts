/**
 * A real PostgreSQL 15 server (Debian's `postgresql` package) for tests and benches: a fresh
 * cluster in a temporary directory, listening on a free loopback port, trust auth for the
 * `vigil` role. PostgreSQL refuses to run as root, so as root it runs as the `postgres` user.
 * `stop()` is idempotent, and a failed start stops what it began before rethrowing.
 */
import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const PG_BIN = '/usr/lib/postgresql/15/bin';

export interface LocalPostgres {
  url: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<LocalPostgres> {
  if (!existsSync(join(PG_BIN, 'initdb'))) {
    throw new Error(`${PG_BIN}/initdb is missing: run 'bash scripts/setup.sh' (Debian package postgresql)`);
  }
  const root = userInfo().uid === 0;
  const dir = mkdtempSync(join(tmpdir(), 'vigil-pg-'));
  const data = join(dir, 'data');
  if (root) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  const as = (bin: string, args: string[]) =>
    root
      ? run('runuser', ['-u', 'postgres', '--', join(PG_BIN, bin), ...args])
      : run(join(PG_BIN, bin), args);
  let started = false;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      if (started) await as('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    })());
  try {
    await as('initdb', ['-D', data, '-U', 'vigil', '--auth=trust', '-E', 'UTF8', '--no-sync']);
    const port = await freePort();
    started = true;
    await as('pg_ctl', [
      '-D',
      data,
      '-w',
      '-t',
      '60',
      '-l',
      join(dir, 'server.log'),
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off`,
      'start',
    ]);
    return { url: `postgres://vigil@127.0.0.1:${port}/postgres`, port, dir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
