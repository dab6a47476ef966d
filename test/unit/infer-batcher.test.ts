import { describe, expect, it } from 'vitest';
import {
  BatcherClosedError,
  BatcherExpiredError,
  BatcherFullError,
  DynamicBatcher,
  type BatcherTimers,
} from '../../src/infer/batcher.js';

/** A manual clock: timers fire only when the test advances time. */
class ManualClock implements BatcherTimers {
  now = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 0;
  setTimeout(fn: () => void, ms: number): unknown {
    const t = { at: this.now + ms, fn, id: this.nextId++ };
    this.timers.push(t);
    return t.id;
  }
  clearTimeout(h: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== h);
  }
  get pending(): number {
    return this.timers.length;
  }
  advance(ms: number): void {
    this.now += ms;
    for (;;) {
      const due = this.timers.filter((t) => t.at <= this.now).sort((a, b) => a.at - b.at)[0];
      if (!due) return;
      this.timers = this.timers.filter((t) => t !== due);
      due.fn();
    }
  }
}

interface Item {
  n: number;
  size?: number;
  key?: string;
}

function setup(opts: Partial<ConstructorParameters<typeof DynamicBatcher<Item, number>>[0]> = {}) {
  const clock = new ManualClock();
  const batches: number[][] = [];
  const gates: (() => void)[] = [];
  let hold = false;
  const batcher = new DynamicBatcher<Item, number>(
    {
      maxBatchSize: 4,
      maxQueueDelayMs: 10,
      maxQueueSize: 8,
      maxConcurrentBatches: 1,
      sizeOf: (i) => i.size ?? 1,
      keyOf: (i) => i.key ?? '',
      execute: async (items) => {
        batches.push(items.map((i) => i.n));
        if (hold) await new Promise<void>((r) => gates.push(r));
        return items.map((i) => i.n * 10);
      },
      timers: clock,
      ...opts,
    },
    () => clock.now,
  );
  return {
    clock,
    batches,
    batcher,
    holdBatches: () => (hold = true),
    release: () => {
      hold = false;
      gates.splice(0).forEach((g) => g());
    },
  };
}

const flush = () => new Promise((r) => setImmediate(r));

describe('DynamicBatcher', () => {
  it('waits up to the max queue delay, then sends what it has as one batch', async () => {
    const { clock, batches, batcher } = setup();
    const p = [batcher.submit({ n: 1 }), batcher.submit({ n: 2 })];
    await flush();
    expect(batches).toEqual([]);
    clock.advance(9);
    expect(batches).toEqual([]);
    clock.advance(1);
    expect(batches).toEqual([[1, 2]]);
    expect(await Promise.all(p)).toEqual([10, 20]);
  });

  it('dispatches at once when the batch is full and splits the rest', async () => {
    const { clock, batches, batcher } = setup();
    const p = [1, 2, 3, 4, 5].map((n) => batcher.submit({ n }));
    await flush();
    expect(batches).toEqual([[1, 2, 3, 4]]);
    clock.advance(10);
    await Promise.all(p);
    expect(batches).toEqual([[1, 2, 3, 4], [5]]);
    expect(await Promise.all(p)).toEqual([10, 20, 30, 40, 50]);
  });

  it('counts batch-dimension sizes and dispatches at the largest preferred size', async () => {
    const { batches, batcher } = setup({ preferredBatchSizes: [2, 3] });
    const p = [batcher.submit({ n: 1, size: 2 }), batcher.submit({ n: 2, size: 1 })];
    await flush();
    expect(batches).toEqual([[1, 2]]);
    await Promise.all(p);
  });

  it('never merges requests with different keys', async () => {
    const { clock, batches, batcher } = setup();
    const p = [
      batcher.submit({ n: 1, key: 'a' }),
      batcher.submit({ n: 2, key: 'b' }),
      batcher.submit({ n: 3, key: 'b' }),
    ];
    await flush();
    expect(batches).toEqual([[1]]);
    await flush();
    clock.advance(10);
    await Promise.all(p);
    expect(batches).toEqual([[1], [2, 3]]);
  });

  it('rejects with BatcherFullError when the bounded queue is full, and recovers', async () => {
    const { clock, batches, batcher, holdBatches, release } = setup({
      maxQueueSize: 2,
      maxBatchSize: 1,
      maxQueueDelayMs: 0,
    });
    holdBatches();
    const running = batcher.submit({ n: 1 }); // runs (held)
    await flush();
    const queued = [batcher.submit({ n: 2 }), batcher.submit({ n: 3 })];
    await expect(batcher.submit({ n: 4 })).rejects.toBeInstanceOf(BatcherFullError);
    expect(batcher.getStats()).toMatchObject({ queued: 2, running: 1, rejected: 1 });
    release(); // unblocks the running batch and every later one
    await running;
    expect(await Promise.all(queued)).toEqual([20, 30]);
    expect(batches).toEqual([[1], [2], [3]]);
    expect(await batcher.submit({ n: 5 })).toBe(50);
    expect(clock.pending).toBe(0);
  });

  it('runs at most maxConcurrentBatches at once', async () => {
    const { batches, batcher, holdBatches, release } = setup({
      maxBatchSize: 1,
      maxQueueDelayMs: 0,
      maxConcurrentBatches: 2,
    });
    holdBatches();
    const p = [1, 2, 3].map((n) => batcher.submit({ n }));
    await flush();
    expect(batches).toEqual([[1], [2]]);
    expect(batcher.getStats().running).toBe(2);
    release();
    expect(await Promise.all(p)).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1], [2], [3]]);
  });

  it('rejects oversized requests and propagates execution errors to every request of the batch', async () => {
    const failing = new DynamicBatcher<Item, number>({
      maxBatchSize: 2,
      maxQueueDelayMs: 0,
      maxQueueSize: 4,
      maxConcurrentBatches: 1,
      sizeOf: (i) => i.size ?? 1,
      execute: () => Promise.reject(new Error('boom')),
    });
    await expect(failing.submit({ n: 1, size: 3 })).rejects.toThrow(/outside 1..2/);
    await expect(failing.submit({ n: 1 })).rejects.toThrow('boom');
    const short = new DynamicBatcher<Item, number>({
      maxBatchSize: 2,
      maxQueueDelayMs: 0,
      maxQueueSize: 4,
      maxConcurrentBatches: 1,
      execute: async () => [],
    });
    await expect(short.submit({ n: 1 })).rejects.toThrow(/0 results for 1/);
    await failing.close();
    await short.close();
  });

  it('close() flushes queued requests without waiting for the delay, is idempotent, then refuses', async () => {
    const { clock, batches, batcher } = setup({ maxQueueDelayMs: 1000 });
    const p = [batcher.submit({ n: 1 }), batcher.submit({ n: 2 })];
    await flush();
    expect(batches).toEqual([]);
    const c1 = batcher.close();
    expect(batcher.close()).toBe(c1);
    await c1;
    expect(batches).toEqual([[1, 2]]);
    expect(await Promise.all(p)).toEqual([10, 20]);
    await expect(batcher.submit({ n: 3 })).rejects.toBeInstanceOf(BatcherClosedError);
    expect(clock.pending).toBe(0);
  });

  it('validates its options', () => {
    const execute = async () => [];
    expect(
      () =>
        new DynamicBatcher({
          maxBatchSize: 0,
          maxQueueDelayMs: 0,
          maxQueueSize: 1,
          maxConcurrentBatches: 1,
          execute,
        }),
    ).toThrow(RangeError);
    expect(
      () =>
        new DynamicBatcher({
          maxBatchSize: 1,
          maxQueueDelayMs: 0,
          maxQueueSize: 0,
          maxConcurrentBatches: 1,
          execute,
        }),
    ).toThrow(RangeError);
  });

  it('cuts at a preferred size as soon as no larger preferred size can form (Triton), rest waits', async () => {
    const { clock, batches, batcher } = setup({ preferredBatchSizes: [2], maxBatchSize: 4 });
    const p = [1, 2, 3].map((n) => batcher.submit({ n }));
    await flush();
    expect(batches).toEqual([[1, 2]]);
    clock.advance(10);
    await Promise.all(p);
    expect(batches).toEqual([[1, 2], [3]]);
    // With [2, 4], three requests wait for a fourth until the delay, then go together.
    const b2 = setup({ preferredBatchSizes: [2, 4], maxBatchSize: 4 });
    const q = [1, 2, 3].map((n) => b2.batcher.submit({ n }));
    await flush();
    expect(b2.batches).toEqual([]);
    b2.clock.advance(10);
    await Promise.all(q);
    expect(b2.batches).toEqual([[1, 2, 3]]);
    expect(() => setup({ preferredBatchSizes: [8] })).toThrow(/preferred batch size 8/);
  });

  it('drops requests that expire while queued (never runs them), counts them, reports batches', async () => {
    const infos: { size: number; requests: number; queueMs: number[]; ok: boolean }[] = [];
    const { clock, batches, batcher, holdBatches, release } = setup({
      isExpired: (it, now) => it.n === 2 && now >= 5,
      onBatch: (i) => infos.push(i),
    });
    holdBatches();
    const first = batcher.submit({ n: 1, key: 'a' });
    await flush();
    clock.advance(10); // first batch dispatched after the delay and held
    await flush();
    const expiring = batcher.submit({ n: 2 });
    const later = batcher.submit({ n: 3 });
    clock.advance(10);
    release();
    await first;
    await expect(expiring).rejects.toBeInstanceOf(BatcherExpiredError);
    clock.advance(10);
    expect(await later).toBe(30);
    expect(batches).toEqual([[1], [3]]);
    expect(batcher.getStats()).toMatchObject({ expired: 1, batches: 2, requests: 2, largestBatch: 1 });
    expect(infos.map((i) => [i.size, i.requests, i.ok])).toEqual([
      [1, 1, true],
      [1, 1, true],
    ]);
    expect(infos[0]!.queueMs).toEqual([10]);
  });
});
