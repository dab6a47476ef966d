import { describe, expect, it } from 'vitest';
import { DetectScheduler, type DetectJob } from '../../src/analyzer/detect-scheduler.js';
import { ConfigError } from '../../src/core/errors.js';

/** A manual clock and timer queue. */
function fakeClock() {
  let t = 0;
  const timers: { at: number; fn: () => void; live: boolean }[] = [];
  return {
    now: () => t,
    setTimer: (fn: () => void, ms: number) => {
      const timer = { at: t + ms, fn, live: true };
      timers.push(timer);
      return () => {
        timer.live = false;
      };
    },
    /** Advances time, firing due timers in order. */
    advance(ms: number) {
      const end = t + ms;
      for (;;) {
        const due = timers.filter((x) => x.live && x.at <= end).sort((a, b) => a.at - b.at)[0];
        if (due === undefined) break;
        t = due.at;
        due.live = false;
        due.fn();
      }
      t = end;
    },
    pending: () => timers.filter((x) => x.live).length,
  };
}

/** A job that records its run and settles at once (microtask). */
function job(log: string[], name: string): DetectJob {
  return {
    run: () => {
      log.push(name);
      return Promise.resolve();
    },
    drop: () => log.push(`drop:${name}`),
  };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('DetectScheduler', () => {
  it('shares the budget round-robin among streams with work', async () => {
    const clock = fakeClock();
    const s = new DetectScheduler({ ratePerS: 10, burst: 1, maxInFlight: 4, ...clock });
    const log: string[] = [];
    const a = s.open('a', 10);
    const b = s.open('b', 10);
    for (let i = 0; i < 6; i++) a.push(job(log, `a${i}`));
    for (let i = 0; i < 2; i++) b.push(job(log, `b${i}`));
    await flush();
    for (let i = 0; i < 7; i++) {
      clock.advance(100);
      await flush();
    }
    // One token per 100 ms: 8 jobs in 700 ms, alternating while both lanes have work.
    expect(log).toEqual(['a0', 'b0', 'a1', 'b1', 'a2', 'a3', 'a4', 'a5']);
    expect(a.stats).toMatchObject({ started: 6, dropped: 0, queued: 0 });
    s.close();
  });

  it('bounds each lane: the oldest waiting job is dropped and counted', async () => {
    const clock = fakeClock();
    let drops = 0;
    const s = new DetectScheduler({ ratePerS: 1, burst: 1, ...clock });
    const log: string[] = [];
    const a = s.open('a', 2, () => drops++);
    for (let i = 0; i < 5; i++) a.push(job(log, `j${i}`));
    await flush();
    // j0 ran on the first token; j1, j2 dropped for j3, j4.
    expect(log).toEqual(['j0', 'drop:j1', 'drop:j2']);
    expect(drops).toBe(2);
    clock.advance(1000);
    await flush();
    expect(log.at(-1)).toBe('j3');
    s.close();
  });

  it('holds at most maxInFlight detections at once', async () => {
    const s = new DetectScheduler({ ratePerS: 0, maxInFlight: 2 });
    const resolvers: (() => void)[] = [];
    let running = 0;
    let peak = 0;
    const lane = s.open('a', 10);
    for (let i = 0; i < 5; i++) {
      lane.push({
        run: () =>
          new Promise<void>((r) => {
            running++;
            peak = Math.max(peak, running);
            resolvers.push(() => {
              running--;
              r();
            });
          }),
        drop: () => undefined,
      });
    }
    for (let i = 0; i < 5; i++) {
      expect(resolvers.length).toBeGreaterThan(0);
      resolvers.shift()!();
      await flush();
    }
    expect(peak).toBe(2);
    expect(lane.stats.started).toBe(5);
    s.close();
  });

  it('close drops what waits, cancels its timer and is idempotent', async () => {
    const clock = fakeClock();
    const s = new DetectScheduler({ ratePerS: 1, burst: 1, ...clock });
    const log: string[] = [];
    const a = s.open('a', 4);
    a.push(job(log, 'x'));
    a.push(job(log, 'y'));
    await flush();
    expect(clock.pending()).toBe(1);
    s.close();
    s.close();
    expect(log).toEqual(['x', 'drop:y']);
    expect(clock.pending()).toBe(0);
    a.push(job(log, 'z'));
    expect(log.at(-1)).toBe('drop:z');
    expect(s.stats.lanes).toBe(0);
  });

  it('rejects bad budgets with a config error', () => {
    expect(() => new DetectScheduler({ ratePerS: -1 })).toThrow(ConfigError);
    expect(() => new DetectScheduler({ maxInFlight: 0 })).toThrow(/maxInFlight/);
    expect(() => new DetectScheduler().open('a', 0)).toThrow(/maxQueue/);
  });
});
