/**
 * Regression (issue 17): startAnalyzerDeps started nats-server and the inference server, the clip
 * step threw, the caller got no handle, and nats-server outlived the run. Now a failing step stops
 * what the others started before the error goes up.
 */
import { describe, expect, it } from 'vitest';
import { findMarked, RUN_MARKER } from '../global-leaks.js';
import { startAnalyzerDeps } from '../helpers/analyzer-deps.js';

/** This worker's live child processes, by the run's marker (test/global-setup.ts sets it). */
function myChildren() {
  const marker = process.env[RUN_MARKER];
  if (!marker) throw new Error(`${RUN_MARKER} is not set: run under the project's vitest config`);
  return findMarked(marker).filter((p) => p.ppid === process.pid);
}

describe('startAnalyzerDeps', () => {
  it('stops nats-server and the inference server when the prepare step throws', async () => {
    const before = myChildren().map((p) => p.pid);
    let natsStarted = false;
    await expect(
      startAnalyzerDeps('vigil-deps-cleanup-', async () => {
        // Fail only once nats-server runs, as the clip step did in the report.
        for (let i = 0; i < 400 && !myChildren().some((p) => p.command.startsWith('nats-server')); i++)
          await new Promise((r) => setTimeout(r, 25));
        natsStarted = myChildren().some((p) => p.command.startsWith('nats-server'));
        throw new Error('clip step failed');
      }),
    ).rejects.toThrow('clip step failed');
    expect(natsStarted).toBe(true);
    expect(myChildren().filter((p) => !before.includes(p.pid))).toEqual([]);
  }, 60_000);
});
