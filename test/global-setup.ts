/**
 * Vitest global set-up and teardown: marks every process of this run (RUN_MARKER in the
 * environment, inherited by the workers and everything they start), and after the run fails it
 * when any marked process is still alive, naming each (command line, the test file that started
 * it) after killing it. The runner's own workers (direct children of this process) are not leaks.
 */
import { randomUUID } from 'node:crypto';
import { describeProcess, reapLeaks, RUN_MARKER, type MarkedProcess } from './global-leaks.js';

/** Vitest's own workers: children of this process running its fork entry. */
function isRunnerWorker(p: MarkedProcess): boolean {
  return p.ppid === process.pid && /vitest[\\/]dist[\\/]workers[\\/]|esbuild/.test(p.command);
}

export function setup(): () => Promise<void> {
  // Overwritten, not kept: a run started from inside another run (a test of this teardown) has
  // its own marker, and its leaks are its own.
  const marker = `${process.pid}-${randomUUID()}`;
  process.env[RUN_MARKER] = marker;
  return async () => {
    const leaks = await reapLeaks(marker, { exclude: isRunnerWorker });
    if (leaks.length === 0) return;
    const lines = leaks.map((p) => `  ${describeProcess(p)}`);
    console.error(
      `\n[leak check] ${leaks.length} process(es) outlived the tests (killed now):\n${lines.join('\n')}\n`,
    );
    process.exitCode = 1;
    throw new Error(`${leaks.length} process(es) outlived the tests:\n${lines.join('\n')}`);
  };
}
