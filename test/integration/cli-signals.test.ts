/**
 * Regression, issue 22 item 4: "SIGTERM and SIGINT always end every command within a few
 * seconds" (`analyze --report /proc/nope` spun at 95% CPU and ignored SIGTERM). Each command is
 * started for real (the built CLI), left in its long-running part, signalled, and must exit on
 * its own (a process still there 20 s after the signal is killed and fails the test). Commands
 * that wait on a server (attach, detach, ls, search, ask) wait on a real loopback server that
 * accepts and never answers. No command leaves a child process behind.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { runCli, type CliResult } from '../helpers/run-cli.js';
import { MODEL_REPO, requireFile } from '../helpers/paths.js';

/** How long a signalled command may take to exit before it counts as ignoring the signal. */
const EXIT_BOUND_MS = 20_000;

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Starts `vigil args`, waits until its output matches `ready` (bounded; a number: that many ms
 * of running), sends `signal`, and
 * returns how it ended; `ignored` is true when it was still running EXIT_BOUND_MS later.
 */
async function signalWhenReady(
  args: string[],
  ready: RegExp | number,
  signal: NodeJS.Signals,
  env: NodeJS.ProcessEnv = {},
): Promise<CliResult & { ignored: boolean; kids: number[] }> {
  const run = runCli(args, { timeoutMs: 120_000, env });
  let out = '';
  let ignored = false;
  const seen = new Promise<boolean>((resolve) => {
    const look = (d: Buffer) => {
      out += d.toString();
      if (typeof ready !== 'number' && ready.test(out)) resolve(true);
    };
    if (typeof ready === 'number') setTimeout(() => resolve(run.child.exitCode === null), ready).unref();
    run.child.stdout!.on('data', look);
    run.child.stderr!.on('data', look);
    run.child.once('close', () => resolve(false));
    setTimeout(() => resolve(false), 60_000).unref();
  });
  const readyNow = await seen;
  if (!readyNow) {
    run.child.kill('SIGKILL');
    const r = await run.result;
    throw new Error(`vigil ${args[0]} never printed ${String(ready)}: ${r.stderr}`);
  }
  const kids = childrenOf(run.child.pid!);
  run.child.kill(signal);
  const bound = setTimeout(() => {
    ignored = true;
    run.child.kill('SIGKILL');
  }, EXIT_BOUND_MS);
  const r = await run.result;
  clearTimeout(bound);
  // Children (a local nats-server) are gone too; give the kernel a moment to reap them.
  for (let i = 0; i < 50 && kids.some(alive); i++) await new Promise((res) => setTimeout(res, 100));
  return { ...r, ignored, kids };
}

describe('issue 22 item 4: SIGTERM and SIGINT end every command', () => {
  let dir: string;
  let nats: LocalNatsServer;
  let silent: Server;
  let silentUrl: string;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-signals-'));
    nats = await startNatsServer();
    // Accepts connections and never answers: a hung analyzer.
    silent = createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
  }, 30_000);

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent?.close(r));
    await nats?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const noInference = ['--infer', '127.0.0.1:1'];

  it.each([
    ['SIGTERM', 'SIGINT'],
    ['SIGINT', 'SIGTERM'],
  ] as const)(
    'vigil run stops in order on %s (and %s during the start ends it too)',
    async (first, second) => {
      const config = join(dir, `run-${first}.yaml`);
      writeFileSync(
        config,
        'inference: { address: "127.0.0.1:1" }\ncontrol: { port: 0, requireToken: false }\nweb: { enabled: false }\n',
      );
      const r = await signalWhenReady(['run', '--config', config], /vigil: running;/, first);
      expect(r.ignored, r.stderr).toBe(false);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/vigil: stopping/);
      expect(r.kids.length).toBeGreaterThan(0); // its local nats-server
      for (const pid of r.kids) expect(alive(pid), `child ${pid}`).toBe(false);
      // A signal while the service is still starting (the nats-server is up, the rest not yet).
      const early = await signalWhenReady(['run', '--config', config], /started nats-server/, second);
      expect(early.ignored, early.stderr).toBe(false);
      expect([0, 130]).toContain(early.code);
      for (const pid of early.kids) expect(alive(pid), `child ${pid}`).toBe(false);
    },
    120_000,
  );

  it.each([
    ['analyze (a live source)', ['analyze', 'test:ball', '--live', '--quiet', ...noInference], 'SIGTERM', 0],
    [
      'analyze (a file, cut short)',
      ['analyze', 'test:ball', '--fast', '--quiet', ...noInference],
      'SIGINT',
      [0, 130],
    ],
    ['demo', ['demo', '--source', 'test:ball', ...noInference], 'SIGINT', 0],
  ] as const)(
    '%s',
    async (_what, args, signal, code) => {
      // The report goes to the test's directory, not the working tree.
      const report = args[0] === 'analyze' ? ['--report', join(dir, `report-${signal}-${args[2]}`)] : [];
      const r = await signalWhenReady([...args, ...report], /vigil: analyzing /, signal);
      expect(r.ignored, r.stderr).toBe(false);
      expect(Array.isArray(code) ? code : [code], r.stderr).toContain(r.code);
      for (const pid of r.kids) expect(alive(pid), `child ${pid}`).toBe(false);
    },
    90_000,
  );

  it('tail and history (waiting on NATS) end on SIGTERM / SIGINT', async () => {
    const t = await signalWhenReady(['tail', '--nats', nats.url], /vigil tail: /, 'SIGTERM');
    expect(t.ignored, t.stderr).toBe(false);
    expect(t.code, t.stderr).toBe(0);
    // No analyzer has made the JetStream stream yet: history waits for it (3 s in, still waiting).
    const h = await signalWhenReady(
      ['history', '--nats', nats.url, '--history', join(dir, 'history.sqlite')],
      3_000,
      'SIGINT',
    );
    expect(h.ignored, h.stderr).toBe(false);
    expect([0, 130], h.stderr).toContain(h.code);
  }, 90_000);

  it('infer-server ends on SIGTERM with exit 0', async () => {
    const r = await signalWhenReady(
      ['infer-server', '--models', requireFile(MODEL_REPO), '--port', '0'],
      /listening on/,
      'SIGTERM',
    );
    expect(r.ignored, r.stderr).toBe(false);
    expect(r.code, r.stderr).toBe(0);
  }, 90_000);

  it.each([
    ['attach', ['attach', 'test:ball', '--name', 'x']],
    ['detach', ['detach', 'x']],
    ['ls', ['ls']],
    ['search', ['search', '--text', 'door']],
    ['ask', ['ask', 'who came in?']],
  ])(
    '%s waiting on a hung analyzer ends on SIGTERM and SIGINT with exit 130',
    async (_what, args) => {
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        const run = runCli([...args, '--server', silentUrl, '--token', 'signal-test-token'], {
          timeoutMs: 60_000,
        });
        // In flight once the hung server has the connection.
        for (let i = 0; i < 200 && sockets.size === 0; i++) await new Promise((r) => setTimeout(r, 50));
        expect(sockets.size, `${args[0]} never connected`).toBeGreaterThan(0);
        run.child.kill(signal);
        const bound = setTimeout(() => run.child.kill('SIGKILL'), EXIT_BOUND_MS);
        const r = await run.result;
        clearTimeout(bound);
        expect(r.signal, `${args[0]} ${signal}`).toBeNull();
        expect(r.code, `${args[0]} ${signal}`).toBe(130);
        for (const s of sockets) s.destroy();
        for (let i = 0; i < 100 && sockets.size > 0; i++) await new Promise((res) => setTimeout(res, 20));
      }
    },
    60_000,
  );
});
