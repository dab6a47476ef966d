import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { runCli } from '../helpers/run-cli.js';

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

describe('vigil demo', () => {
  it('prints chained window summaries mentioning people, then exits 0 after the clip', async () => {
    const r = await runCli(['demo', '--fast'], { timeoutMs: 240_000 }).result;
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(0);
    const summaries = r.stdout.split('\n').filter((l) => l.startsWith('[summary window'));
    expect(summaries.length).toBeGreaterThanOrEqual(8);
    expect(summaries[0]).toMatch(/first in chain/);
    expect(summaries[1]).toMatch(/builds on demo:[a-z0-9]+:window:0/);
    expect(summaries.filter((l) => /person/.test(l)).length).toBeGreaterThanOrEqual(summaries.length - 1);
    expect(r.stdout).toMatch(/\[event count\.changed \d\d:\d\d\] label=person/);
    expect(r.stderr).toMatch(/done after/);
  }, 260_000);

  it('stops cleanly on Ctrl-C (SIGINT) mid-clip and leaves no child process behind', async () => {
    let sawOutput!: () => void;
    const firstLine = new Promise<void>((resolve) => (sawOutput = resolve));
    const run = runCli(['demo'], { timeoutMs: 120_000, onStdout: () => sawOutput() });
    await firstLine;
    const kids = childrenOf(run.child.pid!);
    expect(kids.length).toBeGreaterThan(0); // the local nats-server
    run.child.kill('SIGINT');
    const r = await run.result;
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/interrupted after/);
    for (const pid of kids) expect(() => process.kill(pid, 0)).toThrow();
  }, 130_000);
});
