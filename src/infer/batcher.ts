/**
 * A dynamic batcher in the spirit of Triton's: requests wait in a bounded queue; a batch is
 * dispatched when it reaches the max batch size (or the largest preferred size), or when the oldest
 * request has waited `maxQueueDelayMs`. Only requests with the same `key` (same non-batch shape,
 * same requested outputs) are merged. At most `maxConcurrentBatches` batches run at once (one per
 * model instance). A full queue rejects at once with `BatcherFullError` (→ RESOURCE_EXHAUSTED).
 */

export interface BatcherTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface BatcherOptions<T, R> {
  /** Largest batch, in batch-dimension units (sum of `sizeOf`). */
  maxBatchSize: number;
  /** Longest a request waits for companions before its batch goes out anyway. 0 = never wait. */
  maxQueueDelayMs: number;
  /** Dispatch as soon as a batch reaches the largest of these (Triton's preferred_batch_size). */
  preferredBatchSizes?: readonly number[];
  /** Requests that may wait (not counting running batches); beyond this `submit` rejects. */
  maxQueueSize: number;
  /** Batches running at once (model instances). */
  maxConcurrentBatches: number;
  /** Batch-dimension size of one request (default 1). */
  sizeOf?: (item: T) => number;
  /** Requests with different keys never share a batch (default: all share). */
  keyOf?: (item: T) => string;
  /** Runs one batch; must resolve with one result per item, in order. */
  execute: (items: T[]) => Promise<R[]>;
  timers?: BatcherTimers;
}

export class BatcherFullError extends Error {
  constructor(readonly queued: number) {
    super(`inference queue full (${queued} requests waiting)`);
    this.name = 'BatcherFullError';
  }
}

export class BatcherClosedError extends Error {
  constructor() {
    super('batcher is closed');
    this.name = 'BatcherClosedError';
  }
}

interface Pending<T, R> {
  item: T;
  size: number;
  key: string;
  enqueuedAt: number;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

export interface BatcherStats {
  queued: number;
  running: number;
  batches: number;
  rejected: number;
}

const realTimers: BatcherTimers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export class DynamicBatcher<T, R> {
  private readonly queue: Pending<T, R>[] = [];
  private running = 0;
  private timer: unknown;
  private timerDue = Infinity;
  private closing = false;
  private closedPromise: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];
  private readonly timers: BatcherTimers;
  private readonly dispatchAt: number;
  private readonly stats = { batches: 0, rejected: 0 };

  constructor(
    private readonly opts: BatcherOptions<T, R>,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(opts.maxBatchSize >= 1)) throw new RangeError('maxBatchSize must be >= 1');
    if (!(opts.maxQueueSize >= 1)) throw new RangeError('maxQueueSize must be >= 1');
    if (!(opts.maxConcurrentBatches >= 1)) throw new RangeError('maxConcurrentBatches must be >= 1');
    if (!(opts.maxQueueDelayMs >= 0)) throw new RangeError('maxQueueDelayMs must be >= 0');
    this.timers = opts.timers ?? realTimers;
    const preferred = (opts.preferredBatchSizes ?? []).filter((n) => n <= opts.maxBatchSize);
    this.dispatchAt = preferred.length > 0 ? Math.max(...preferred) : opts.maxBatchSize;
  }

  getStats(): BatcherStats {
    return { queued: this.queue.length, running: this.running, ...this.stats };
  }

  submit(item: T): Promise<R> {
    if (this.closing) return Promise.reject(new BatcherClosedError());
    const size = this.opts.sizeOf?.(item) ?? 1;
    if (!(size >= 1 && size <= this.opts.maxBatchSize)) {
      return Promise.reject(new RangeError(`batch size ${size} outside 1..${this.opts.maxBatchSize}`));
    }
    if (this.queue.length >= this.opts.maxQueueSize) {
      this.stats.rejected++;
      return Promise.reject(new BatcherFullError(this.queue.length));
    }
    return new Promise<R>((resolve, reject) => {
      this.queue.push({
        item,
        size,
        key: this.opts.keyOf?.(item) ?? '',
        enqueuedAt: this.now(),
        resolve,
        reject,
      });
      this.pump();
    });
  }

  /** Stops accepting; dispatches what is queued without waiting for delays; resolves when all ran. */
  close(): Promise<void> {
    if (!this.closedPromise) {
      this.closing = true;
      this.clearTimer();
      this.closedPromise = new Promise<void>((resolve) => {
        this.idleWaiters.push(resolve);
        this.pump();
        this.checkIdle();
      });
    }
    return this.closedPromise;
  }

  /** The longest prefix-compatible batch from the head: same key, total size ≤ maxBatchSize. */
  private candidate(): { count: number; total: number } {
    const head = this.queue[0];
    if (!head) return { count: 0, total: 0 };
    let total = 0;
    let count = 0;
    for (const p of this.queue) {
      if (p.key !== head.key) break;
      if (total + p.size > this.opts.maxBatchSize) break;
      total += p.size;
      count++;
    }
    return { count, total };
  }

  private pump(): void {
    while (this.running < this.opts.maxConcurrentBatches && this.queue.length > 0) {
      const head = this.queue[0]!;
      const { count, total } = this.candidate();
      const waited = this.now() - head.enqueuedAt;
      const blocked = count < this.queue.length; // the next request cannot join this batch
      const ready =
        this.closing ||
        this.opts.maxQueueDelayMs === 0 ||
        total >= this.dispatchAt ||
        blocked ||
        waited >= this.opts.maxQueueDelayMs;
      if (!ready) {
        this.armTimer(head.enqueuedAt + this.opts.maxQueueDelayMs);
        return;
      }
      this.dispatch(this.queue.splice(0, count));
    }
    if (this.queue.length === 0) this.clearTimer();
  }

  private dispatch(batch: Pending<T, R>[]): void {
    this.running++;
    this.stats.batches++;
    let work: Promise<R[]>;
    try {
      work = this.opts.execute(batch.map((p) => p.item));
    } catch (e) {
      work = Promise.reject(e);
    }
    work
      .then((results) => {
        if (results.length !== batch.length) {
          throw new Error(`batch returned ${results.length} results for ${batch.length} requests`);
        }
        batch.forEach((p, i) => p.resolve(results[i]!));
      })
      .catch((e: unknown) => batch.forEach((p) => p.reject(e)))
      .finally(() => {
        this.running--;
        this.pump();
        this.checkIdle();
      });
  }

  private armTimer(due: number): void {
    if (this.timer !== undefined && this.timerDue <= due) return;
    this.clearTimer();
    this.timerDue = due;
    this.timer = this.timers.setTimeout(
      () => {
        this.timer = undefined;
        this.timerDue = Infinity;
        this.pump();
      },
      Math.max(0, due - this.now()),
    );
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Infinity;
  }

  private checkIdle(): void {
    if (this.closing && this.running === 0 && this.queue.length === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      waiters.forEach((w) => w());
    }
  }
}
