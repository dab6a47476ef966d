/**
 * A dynamic batcher in the spirit of Triton's: requests wait in a bounded queue; a batch is
 * dispatched at once when the queue head can form one of the preferred batch sizes (the largest
 * one reachable) or the max batch size, otherwise when the oldest request has waited
 * `maxQueueDelayMs` (then with everything that fits). Only requests with the same `key` (same
 * non-batch shape, same requested outputs) are merged. At most `maxConcurrentBatches` batches run at
 * once (one per model instance). A full queue rejects at once with `BatcherFullError`
 * (→ RESOURCE_EXHAUSTED); a request whose deadline passed (or whose caller went away) while it
 * waited is dropped before it runs with `BatcherExpiredError` (→ DEADLINE_EXCEEDED). Every drop is
 * counted in `getStats()`.
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
  /** True when a waiting request is no longer worth running (deadline passed, caller gone). */
  isExpired?: (item: T, now: number) => boolean;
  /** Called once per finished batch (metrics). Must not throw. */
  onBatch?: (info: BatchInfo) => void;
  timers?: BatcherTimers;
}

export interface BatchInfo {
  /** Batch-dimension size (sum of `sizeOf`). */
  size: number;
  /** Requests merged into the batch. */
  requests: number;
  /** Time each request waited in the queue, ms. */
  queueMs: number[];
  /** Time `execute` took, ms. */
  computeMs: number;
  ok: boolean;
}

export class BatcherExpiredError extends Error {
  constructor() {
    super('request expired in the queue (deadline passed or caller cancelled) before it ran');
    this.name = 'BatcherExpiredError';
  }
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
  /** Requests waiting now. */
  queued: number;
  /** Batches running now. */
  running: number;
  /** Batches dispatched so far. */
  batches: number;
  /** Requests dispatched so far (in any batch). */
  requests: number;
  /** Largest batch so far, in batch-dimension units. */
  largestBatch: number;
  /** Refused because the queue was full. */
  rejected: number;
  /** Dropped before running because they expired while waiting. */
  expired: number;
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
  private readonly preferred: number[];
  private readonly stats = { batches: 0, requests: 0, largestBatch: 0, rejected: 0, expired: 0 };

  constructor(
    private readonly opts: BatcherOptions<T, R>,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(opts.maxBatchSize >= 1)) throw new RangeError('maxBatchSize must be >= 1');
    if (!(opts.maxQueueSize >= 1)) throw new RangeError('maxQueueSize must be >= 1');
    if (!(opts.maxConcurrentBatches >= 1)) throw new RangeError('maxConcurrentBatches must be >= 1');
    if (!(opts.maxQueueDelayMs >= 0)) throw new RangeError('maxQueueDelayMs must be >= 0');
    this.timers = opts.timers ?? realTimers;
    for (const n of opts.preferredBatchSizes ?? []) {
      if (!(Number.isInteger(n) && n >= 1 && n <= opts.maxBatchSize)) {
        throw new RangeError(`preferred batch size ${n} outside 1..${opts.maxBatchSize}`);
      }
    }
    this.preferred = [...new Set(opts.preferredBatchSizes ?? [])].sort((a, b) => a - b);
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

  /**
   * The batch the queue head can form: same key, total size <= maxBatchSize. `preferredCount` is the
   * number of requests of the longest prefix whose size is a preferred batch size (0 if none).
   */
  private candidate(): { count: number; total: number; preferredCount: number } {
    const head = this.queue[0];
    if (!head) return { count: 0, total: 0, preferredCount: 0 };
    let total = 0;
    let count = 0;
    let preferredCount = 0;
    for (const p of this.queue) {
      if (p.key !== head.key) break;
      if (total + p.size > this.opts.maxBatchSize) break;
      total += p.size;
      count++;
      if (this.preferred.includes(total)) preferredCount = count;
    }
    return { count, total, preferredCount };
  }

  /** Drops queued requests that expired while waiting (rejecting them). */
  private dropExpired(): void {
    const isExpired = this.opts.isExpired;
    if (!isExpired) return;
    const now = this.now();
    for (let i = 0; i < this.queue.length;) {
      const p = this.queue[i]!;
      if (isExpired(p.item, now)) {
        this.queue.splice(i, 1);
        this.stats.expired++;
        p.reject(new BatcherExpiredError());
      } else i++;
    }
  }

  private pump(): void {
    this.dropExpired();
    while (this.running < this.opts.maxConcurrentBatches && this.queue.length > 0) {
      const head = this.queue[0]!;
      const { count, total, preferredCount } = this.candidate();
      const waited = this.now() - head.enqueuedAt;
      const blocked = count < this.queue.length; // the next request cannot join this batch
      const full = total >= this.opts.maxBatchSize;
      // The largest preferred size reachable now wins as long as no larger one can still form.
      const largestPreferred = this.preferred[this.preferred.length - 1] ?? 0;
      let take = 0;
      if (this.closing || this.opts.maxQueueDelayMs === 0 || full || waited >= this.opts.maxQueueDelayMs) {
        take = count;
      } else if (preferredCount > 0 && (blocked || total >= largestPreferred)) {
        take = preferredCount;
      } else if (blocked) {
        take = count;
      }
      if (take === 0) {
        this.armTimer(head.enqueuedAt + this.opts.maxQueueDelayMs);
        return;
      }
      this.dispatch(this.queue.splice(0, take));
    }
    if (this.queue.length === 0) this.clearTimer();
  }

  private dispatch(batch: Pending<T, R>[]): void {
    this.running++;
    this.stats.batches++;
    this.stats.requests += batch.length;
    const size = batch.reduce((n, p) => n + p.size, 0);
    this.stats.largestBatch = Math.max(this.stats.largestBatch, size);
    const started = this.now();
    const queueMs = batch.map((p) => started - p.enqueuedAt);
    const report = (ok: boolean): void => {
      try {
        this.opts.onBatch?.({ size, requests: batch.length, queueMs, computeMs: this.now() - started, ok });
      } catch {
        // A metrics callback never breaks inference.
      }
    };
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
        report(true);
        batch.forEach((p, i) => p.resolve(results[i]!));
      })
      .catch((e: unknown) => {
        report(false);
        batch.forEach((p) => p.reject(e));
      })
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
