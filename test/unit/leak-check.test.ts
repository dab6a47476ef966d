/**
 * The leak check of the test run (test/global-leaks.ts, test/global-setup.ts): a marked process is
 * found by its environment whoever its parent is, reaped, and a run that leaves one behind fails,
 * naming it and the test file that started it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findMarked, reapLeaks, RUN_MARKER, FILE_MARKER } from '../global-leaks.js';
import { ROOT } from '../helpers/paths.js';

const started: ChildProcess[] = [];
afterEach(() => {
  for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function idle(marker: string, tag: string): ChildProcess {
  const c = spawn(process.execPath, ['-e', `setInterval(() => {}, 1000) /* ${tag} */`], {
    env: { ...process.env, [RUN_MARKER]: marker, [FILE_MARKER]: '/x/some.test.ts' },
    stdio: 'ignore',
  });
  started.push(c);
  return c;
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
}

describe('leak check', () => {
  it('finds the processes carrying its marker, and only those; reaping kills them', async () => {
    const marker = randomUUID();
    const mine = idle(marker, 'vigil-leak-mine');
    const other = idle(randomUUID(), 'vigil-leak-other');
    await until(() => findMarked(marker).length === 1);
    const found = findMarked(marker);
    expect(found.map((p) => p.pid)).toEqual([mine.pid]);
    expect(found[0]!.command).toContain('vigil-leak-mine');
    expect(found[0]!.testFile).toBe('/x/some.test.ts');
    expect(found[0]!.ppid).toBe(process.pid);

    const reaped = await reapLeaks(marker, { graceMs: 200 });
    expect(reaped.map((p) => p.pid)).toEqual([mine.pid]);
    expect(findMarked(marker)).toEqual([]);
    expect(other.exitCode === null && other.signalCode === null).toBe(true);
  });

  it('does not count a process that exits within the grace period, nor an excluded one', async () => {
    const marker = randomUUID();
    const ending = idle(marker, 'vigil-leak-ending');
    const kept = idle(marker, 'vigil-leak-excluded');
    await until(() => findMarked(marker).length === 2);
    setTimeout(() => ending.kill('SIGTERM'), 100);
    const reaped = await reapLeaks(marker, { graceMs: 3000, exclude: (p) => p.pid === kept.pid });
    expect(reaped).toEqual([]);
    expect(kept.exitCode).toBe(null);
  });

  it('a run that leaves a child and a grandchild alive fails, naming both and the test file', async () => {
    const run = spawn(
      process.execPath,
      [
        resolve(ROOT, 'node_modules/vitest/vitest.mjs'),
        'run',
        '--config',
        'test/fixtures/leak/vitest.config.ts',
      ],
      {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
      },
    );
    started.push(run);
    let out = '';
    run.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    run.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => run.on('close', (c) => r(c)));
    expect(out).toMatch(/1 passed/);
    expect(out).toMatch(/\[leak check\] 2 process\(es\) outlived the tests \(killed now\)/);
    expect(out).toMatch(/vigil-leak-child .*started under test\/fixtures\/leak\/leaves-child\.fixture\.ts/);
    expect(out).toMatch(
      /vigil-leak-grandchild .*started under test\/fixtures\/leak\/leaves-child\.fixture\.ts/,
    );
    expect(code).not.toBe(0);
    // Killed by the teardown: nothing of that run is left.
    const left = spawn('pgrep', ['-f', 'vigil-leak-(child|grandchild)']);
    const pids = await new Promise<string>((r) => {
      let s = '';
      left.stdout.on('data', (d: Buffer) => (s += d.toString()));
      left.on('close', () => r(s.trim()));
    });
    expect(pids).toBe('');
  }, 120_000);
});
