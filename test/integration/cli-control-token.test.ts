/**
 * `vigil run` with no control token configured, end to end with the built CLI. Regressions,
 * issue 22:
 * - item 10 "cross-site requests": with no token (the old default) a page the user visited could
 *   attach streams (a text/plain POST from another origin got 201). Now the first start generates
 *   a token (kept 0600 in the token file, the log names the file and never the token) and the API
 *   requires it; cross-origin and non-JSON writes are refused; the CLI on the same machine reads
 *   the file and works out of the box.
 * - item 8: `vigil detach` of a stream that is down exited 2 printing the stream's last source
 *   error, though the server answered 200 and removed the stream.
 * - item 14: a stream failing at runtime under `vigil run` logged nothing on stderr.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run-cli.js';

/** A loopback port with nothing listening (a camera that is down). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('issue 22: vigil run without a configured control token', () => {
  let dir: string;
  let tokenFile: string;
  let service: ReturnType<typeof runCli>;
  let controlUrl: string;
  let stderr = '';
  /** The environment of the CLI on the same machine: only where the token file is, no token. */
  let env: NodeJS.ProcessEnv;
  const cli = (args: string[], extra: NodeJS.ProcessEnv = env) =>
    runCli(args, { timeoutMs: 30_000, env: extra }).result;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-token-run-'));
    tokenFile = join(dir, 'state', 'vigil', 'control-token');
    env = { VIGIL_CONTROL_TOKEN_FILE: tokenFile };
    const config = join(dir, 'vigil.yaml');
    // No inference server is needed to attach, list and detach streams.
    writeFileSync(
      config,
      'inference: { address: "127.0.0.1:1" }\ncontrol: { port: 0 }\nanalyzer: { maxStreams: 4, windowMs: 1000 }\n',
    );
    let ready!: () => void;
    const up = new Promise<void>((r) => (ready = r));
    service = runCli(['run', '--config', config], { timeoutMs: 180_000, env });
    service.child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const c = /control API and live view at (http:\/\/[^\s]+)/.exec(stderr);
      if (c && /running;/.test(stderr)) {
        controlUrl = c[1]!;
        ready();
      }
    });
    await Promise.race([
      up,
      service.result.then((r) => {
        throw new Error(`vigil run exited ${r.code}: ${r.stderr}`);
      }),
    ]);
  }, 60_000);

  afterAll(async () => {
    if (service && service.child.exitCode === null) {
      service.child.kill('SIGTERM');
      await service.result;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('item 10: the first start generates a token file (0600, in a 0700 directory); the log names the file, never the token', () => {
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(tokenFile)).mode & 0o777).toBe(0o700);
    expect(stderr).toContain('generated a control token at first start');
    expect(stderr).toContain(`the control API needs the token kept in ${tokenFile}`);
    expect(stderr).not.toContain(token);
  });

  it('item 10: unauthenticated calls are refused (401); health stays open', async () => {
    const token = readFileSync(tokenFile, 'utf8').trim();
    expect((await fetch(`${controlUrl}/v1/streams`)).status).toBe(401);
    const noToken = await fetch(`${controlUrl}/v1/streams`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'sneaky', url: 'test:ball' }),
    });
    expect(noToken.status).toBe(401);
    expect((await fetch(`${controlUrl}/healthz`)).status).toBe(200);
    const ok = await fetch(`${controlUrl}/v1/streams`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
  });

  it('item 10: a cross-origin text/plain POST is refused (it got 201), even carrying the token', async () => {
    const token = readFileSync(tokenFile, 'utf8').trim();
    const withToken: Record<string, string> = { authorization: `Bearer ${token}` };
    for (const auth of [{}, withToken]) {
      const res = await fetch(`${controlUrl}/v1/streams`, {
        method: 'POST',
        headers: { origin: 'http://evil.example', 'content-type': 'text/plain', ...auth },
        body: JSON.stringify({ id: 'csrf', url: 'test:ball' }),
      });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('VIGIL_ERR_FORBIDDEN');
    }
    // Same origin but not JSON: 415; nothing was attached either way.
    const plain = await fetch(`${controlUrl}/v1/streams`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: `Bearer ${token}` },
      body: JSON.stringify({ id: 'csrf', url: 'test:ball' }),
    });
    expect(plain.status).toBe(415);
    const list = (await (
      await fetch(`${controlUrl}/v1/streams`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { streams: unknown[] };
    expect(list.streams).toEqual([]);
  });

  it('item 10: the CLI on the same machine works out of the box (it reads the token file); without it, exit 5 with a hint', async () => {
    const server = ['--server', controlUrl];
    const a = await cli(['attach', 'test:ball', '--name', 'pattern', ...server]);
    expect(a.code, a.stderr).toBe(0);
    const ls = await cli(['ls', ...server]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/\npattern\s+/);
    // search reaches the API (no history index configured here: not an authorization failure).
    const search = await cli(['search', '--text', 'ball', ...server]);
    expect(search.stderr).not.toContain('VIGIL_ERR_UNAUTHORIZED');
    const d = await cli(['detach', 'pattern', ...server]);
    expect(d.code, d.stderr).toBe(0);

    const elsewhere = await cli(['ls', ...server], { VIGIL_CONTROL_TOKEN_FILE: join(dir, 'no-such-file') });
    expect(elsewhere.code).toBe(5);
    expect(elsewhere.stderr).toMatch(/no token was sent \(pass --token or set VIGIL_CONTROL_TOKEN/);
    expect(elsewhere.stderr).toContain('[VIGIL_ERR_UNAUTHORIZED]');
  }, 60_000);

  it('items 8 and 14: a stream that goes down is logged on stderr; detaching it exits 0 without its source error', async () => {
    const port = await closedPort();
    const a = await cli([
      'attach',
      `rtsp://viewer:hunter2pass@127.0.0.1:${port}/cam`,
      '--name',
      'gone',
      '--server',
      controlUrl,
    ]);
    expect(a.code, a.stderr).toBe(0);
    // The service says so: stream id, state, the error's code and message; no credentials.
    for (let i = 0; i < 200 && !/vigil: stream gone down: /.test(stderr); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const line = /vigil: stream gone down: .*/.exec(stderr)?.[0];
    expect(line, stderr).toMatch(/\[VIGIL_ERR_SOURCE_[A-Z_]+\]; retrying$/);
    expect(line).toContain(`127.0.0.1:${port}`);
    expect(stderr).not.toContain('hunter2pass');
    const d = await cli(['detach', 'gone', '--server', controlUrl]);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/^detached gone after 0 frames/);
    expect(d.stderr).not.toMatch(/VIGIL_ERR/);
    const json = await cli(['ls', '--json', '--server', controlUrl]);
    expect((JSON.parse(json.stdout) as { streams: unknown[] }).streams).toEqual([]);
  }, 60_000);

  it('a restart reads the same token back (no new file, no "generated" line)', async () => {
    const token = readFileSync(tokenFile, 'utf8').trim();
    service.child.kill('SIGTERM');
    expect((await service.result).code).toBe(0);
    const again = runCli(['run', '--config', join(dir, 'vigil.yaml')], { timeoutMs: 60_000, env });
    let err = '';
    await new Promise<void>((resolve, reject) => {
      again.child.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (/running;/.test(err)) resolve();
      });
      again.child.once('close', () => reject(new Error(err)));
    });
    again.child.kill('SIGTERM');
    expect((await again.result).code).toBe(0);
    expect(readFileSync(tokenFile, 'utf8').trim()).toBe(token);
    expect(err).toContain(`the control API needs the token kept in ${tokenFile}`);
    expect(err).not.toContain('generated a control token');
    expect(err).not.toContain(token);
  }, 60_000);
});
