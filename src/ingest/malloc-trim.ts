/**
 * Gives glibc's free memory back to the system after a pipeline is released (#22 item 6).
 *
 * Decoded frames are allocated and freed on GStreamer's streaming threads, which glibc serves from
 * per-thread malloc arenas; once a frame-sized block has been freed, glibc stops using mmap for
 * blocks that size and keeps them in the arenas. When a pipeline ends its threads end, and the
 * free memory stays in their arenas, in pieces glibc does not hand back on its own: with
 * attach/detach churn RSS grew from about 550 to 900 MiB in 60 cycles, although calling
 * malloc_trim afterwards gave 116 MiB back at once. So shortly after a pipeline is released (the
 * JS side lets go of its last frames first), one malloc_trim(0) runs on a thread-pool thread (it
 * can take 100 ms: not on the JS thread); releases close together share one. Needs Vigil's patch of gstreamer-superficial (`mallocTrim`); without it, or on a C
 * library other than glibc, this does nothing.
 *
 * Pooled decoding (`pooledDecodeEnabled` in gst.ts) removes the largest of those blocks, libav's
 * per-frame copies; this trim hands back what the other allocations leave.
 *
 * `VIGIL_MALLOC_TRIM=off` turns it off.
 */
import { performance } from 'node:perf_hooks';
import { switchedOff } from '../core/env-switch.js';
import { gstIfLoaded } from './gst.js';

/** How long after a release the trim runs. */
export const TRIM_DELAY_MS = 1000;

export interface TrimStats {
  /** Trims run. */
  calls: number;
  /** Time from asking to the result (on a thread-pool thread), ms: in all and the longest. */
  totalMs: number;
  maxMs: number;
}

const stats: TrimStats = { calls: 0, totalMs: 0, maxMs: 0 };
let timer: ReturnType<typeof setTimeout> | undefined;
let running: Promise<boolean> | undefined;

export function mallocTrimEnabled(env: Readonly<Record<string, string | undefined>> = process.env): boolean {
  return !switchedOff(env.VIGIL_MALLOC_TRIM);
}

/**
 * Runs malloc_trim on a thread-pool thread now; resolves whether memory was released (false when
 * it is off or not available). Trims never overlap: while one runs, this waits for it.
 */
export function mallocTrimNow(): Promise<boolean> {
  const trim = gstIfLoaded()?.mallocTrim;
  if (!trim || !mallocTrimEnabled()) return Promise.resolve(false);
  running ??= new Promise<boolean>((resolve) => {
    const t0 = performance.now();
    trim((released) => {
      const ms = performance.now() - t0;
      stats.calls++;
      stats.totalMs += ms;
      stats.maxMs = Math.max(stats.maxMs, ms);
      running = undefined;
      resolve(released);
    });
  });
  return running;
}

/** Asks for a trim TRIM_DELAY_MS from now (one for all asks meanwhile). Never keeps the process alive. */
export function scheduleMallocTrim(delayMs = TRIM_DELAY_MS): void {
  if (timer !== undefined || !mallocTrimEnabled()) return;
  timer = setTimeout(() => {
    timer = undefined;
    void mallocTrimNow();
  }, delayMs);
  timer.unref();
}

/** Trims run so far in this process (for benches and tests). */
export function mallocTrimStats(): TrimStats {
  return { ...stats };
}
