/**
 * Regression, issue 22 item 6 ("RSS grows with churn"): `bin/vigil.js` starts a long-running
 * command again with glibc's mmap threshold fixed (src/app/malloc-tuning.ts). The built CLI is
 * started for real: the second process has the tunable in its environment, a Ctrl-C (reaching both
 * processes, and handed on by the first) stops the second in order (one signal, not two: exit 0), and a first
 * process killed outright does not leave the second running.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/run-cli.js';

const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)
  ?.header?.glibcVersionRuntime;

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

const environ = (pid: number) => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');

/** `vigil analyze test:ball --live` (no inference server: analysis waits, the stream runs) until it prints that it is analyzing. */
async function startAnalyze(env: NodeJS.ProcessEnv = {}) {
  const run = runCli(['analyze', 'test:ball', '--live', '--quiet', '--infer', '127.0.0.1:1', '--json'], {
    timeoutMs: 90_000,
    env,
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const look = (d: Buffer) => {
      out += d.toString();
      if (/vigil: analyzing /.test(out)) resolve();
    };
    run.child.stderr!.on('data', look);
    run.child.stdout!.on('data', look);
    run.child.once('close', () => reject(new Error(`exited before analyzing: ${out}`)));
  });
  return run;
}

describe.skipIf(process.platform !== 'linux' || glibc === undefined)(
  'issue 22 item 6: RSS with churn (bin/vigil.js starts long-running commands with malloc tuning)',
  () => {
    it('the second start has the fixed mmap threshold and stops in order on a Ctrl-C', async () => {
      const run = await startAnalyze({ VIGIL_MALLOC_MMAP_THRESHOLD: '' });
      const [child] = childrenOf(run.child.pid!).filter((p) => environ(p).includes('VIGIL_MALLOC_TUNED=1'));
      expect(child, 'no second start').toBeDefined();
      expect(environ(child!)).toContain('GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072');
      // A terminal's Ctrl-C reaches the whole process group: both starts; the first hands it on too.
      run.child.kill('SIGINT');
      process.kill(child!, 'SIGINT');
      const r = await run.result;
      expect(r.timedOut).toBe(false);
      // One signal: an orderly stop (0); the pair counted as two would exit at once with 130.
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/again: exiting now/);
      expect(alive(child!)).toBe(false);
    }, 120_000);

    it('VIGIL_MALLOC_MMAP_THRESHOLD=off runs in one process', async () => {
      const run = await startAnalyze({ VIGIL_MALLOC_MMAP_THRESHOLD: 'off' });
      expect(environ(run.child.pid!).some((e) => e.startsWith('VIGIL_MALLOC_TUNED='))).toBe(false);
      expect(childrenOf(run.child.pid!).filter((p) => environ(p).includes('VIGIL_MALLOC_TUNED=1'))).toEqual(
        [],
      );
      run.child.kill('SIGTERM');
      expect((await run.result).code).toBe(0);
    }, 120_000);

    it('a first process killed outright does not leave the second running', async () => {
      const run = await startAnalyze();
      const [child] = childrenOf(run.child.pid!);
      expect(child).toBeDefined();
      run.child.kill('SIGKILL');
      for (let i = 0; i < 200 && alive(child!); i++) await new Promise((r) => setTimeout(r, 100));
      expect(alive(child!), 'the second start outlived the first by 20 s').toBe(false);
      await run.result;
    }, 120_000);

    it('refuses a bad VIGIL_MALLOC_MMAP_THRESHOLD with exit 2', async () => {
      const r = await runCli(['analyze', 'test:ball'], { env: { VIGIL_MALLOC_MMAP_THRESHOLD: 'lots' } }).result;
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/VIGIL_MALLOC_MMAP_THRESHOLD must be 'off' or a byte count/);
    }, 30_000);
  },
);
