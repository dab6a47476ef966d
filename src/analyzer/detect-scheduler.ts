/**
 * The detection budget shared by streams: detections between keyframes (the tracking cadence) are
 * queued per stream in a bounded lane (oldest dropped first, every drop counted) and run under one
 * process-wide budget: a token bucket of `ratePerS` detections per second (burst `burst`) and at
 * most `maxInFlight` at once. Lanes with work are served round-robin, one job per turn, so a busy
 * stream cannot starve a quieter one: with N busy streams each gets about ratePerS / N.
 *
 * The clock and timer are injected (unit tests drive them); the only timer is the one waiting for
 * the next token, cancelled on `close()`. State: O(lanes + queued jobs), each lane bounded.
 */
import { ConfigError } from '../core/errors.js';

export interface DetectJob {
  /** Runs the detection; the budget slot is held until it settles. */
  run(): Promise<void>;
  /** Called instead of run when the job is dropped (its lane was full, or closed). */
  drop(): void;
}

export interface DetectSchedulerOptions {
  /** Detections per second for all streams together; 0 = no rate limit (default 10). */
  ratePerS?: number;
  /** Tokens the bucket holds at most (default max(1, ratePerS / 5)). */
  burst?: number;
  /** Detections in flight at once (default 2). */
  maxInFlight?: number;
  /** Monotonic clock, ms (default performance.now). */
  now?: () => number;
  /** Timer (default setTimeout); returns a cancel function. */
  setTimer?: (fn: () => void, ms: number) => () => void;
}

export interface LaneStats {
  queued: number;
  /** Jobs dropped: the lane was full (oldest first) or closed with jobs waiting. */
  dropped: number;
  started: number;
}

export class DetectLane {
  readonly jobs: DetectJob[] = [];
  readonly stats: LaneStats = { queued: 0, dropped: 0, started: 0 };
  closed = false;

  constructor(
    readonly streamId: string,
    readonly maxQueue: number,
    private readonly owner: DetectScheduler,
    private readonly onDrop: (() => void) | undefined,
  ) {}

  /** Queues a job; when the lane is full the oldest waiting job is dropped. */
  push(job: DetectJob): void {
    if (this.closed) {
      this.dropJob(job);
      return;
    }
    this.jobs.push(job);
    while (this.jobs.length > this.maxQueue) this.dropJob(this.jobs.shift()!);
    this.stats.queued = this.jobs.length;
    this.owner.pump();
  }

  /** Drops what waits and leaves the scheduler. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const job of this.jobs.splice(0)) this.dropJob(job);
    this.stats.queued = 0;
    this.owner.remove(this);
  }

  private dropJob(job: DetectJob): void {
    this.stats.dropped++;
    this.onDrop?.();
    try {
      job.drop();
    } catch {
      // A job's drop hook must not break the lane.
    }
  }
}

export class DetectScheduler {
  private readonly rate: number;
  private readonly burst: number;
  private readonly maxInFlight: number;
  private readonly now: () => number;
  private readonly setTimer: (fn: () => void, ms: number) => () => void;
  private lanes: DetectLane[] = [];
  private turn = 0;
  private tokens: number;
  private refilledAt: number;
  private inFlight = 0;
  private cancelTimer: (() => void) | null = null;
  private closed = false;

  constructor(options: DetectSchedulerOptions = {}) {
    const rate = options.ratePerS ?? 10;
    if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0) {
      throw new ConfigError(`detect.budget: ratePerS must be a number >= 0, got ${String(rate)}`);
    }
    const burst = options.burst ?? Math.max(1, rate / 5);
    if (typeof burst !== 'number' || !Number.isFinite(burst) || burst < 1) {
      throw new ConfigError(`detect.budget: burst must be a number >= 1, got ${String(burst)}`);
    }
    const maxInFlight = options.maxInFlight ?? 2;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) {
      throw new ConfigError(`detect.budget: maxInFlight must be an integer >= 1, got ${String(maxInFlight)}`);
    }
    this.rate = rate;
    this.burst = burst;
    this.maxInFlight = maxInFlight;
    this.now = options.now ?? (() => performance.now());
    this.setTimer =
      options.setTimer ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        return () => clearTimeout(t);
      });
    this.tokens = burst;
    this.refilledAt = this.now();
  }

  /** A stream's lane: at most `maxQueue` jobs wait; `onDrop` counts each drop (a metric). */
  open(streamId: string, maxQueue: number, onDrop?: () => void): DetectLane {
    if (!Number.isInteger(maxQueue) || maxQueue < 1) {
      throw new ConfigError(`detect.maxQueue must be an integer >= 1, got ${String(maxQueue)}`);
    }
    const lane = new DetectLane(streamId, maxQueue, this, onDrop);
    if (this.closed) lane.close();
    else this.lanes.push(lane);
    return lane;
  }

  get stats(): { lanes: number; inFlight: number; tokens: number } {
    this.refill();
    return { lanes: this.lanes.length, inFlight: this.inFlight, tokens: this.tokens };
  }

  /** Closes every lane (dropping what waits) and the timer. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const lane of [...this.lanes]) lane.close();
    this.cancelTimer?.();
    this.cancelTimer = null;
  }

  /** @internal */
  remove(lane: DetectLane): void {
    this.lanes = this.lanes.filter((l) => l !== lane);
    if (this.turn >= this.lanes.length) this.turn = 0;
  }

  /** @internal Starts what the budget allows now; waits for the next token otherwise. */
  pump(): void {
    if (this.closed) return;
    while (this.inFlight < this.maxInFlight) {
      if (!this.lanes.some((l) => l.jobs.length > 0)) return;
      if (this.rate > 0) {
        this.refill();
        if (this.tokens < 1) {
          this.wait();
          return;
        }
        this.tokens -= 1;
      }
      const lane = this.nextLane()!;
      const job = lane.jobs.shift()!;
      lane.stats.queued = lane.jobs.length;
      lane.stats.started++;
      this.inFlight++;
      let run: Promise<void>;
      try {
        run = job.run();
      } catch (err) {
        run = Promise.reject(err as Error);
      }
      void run
        .catch(() => undefined)
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }

  private nextLane(): DetectLane | null {
    const n = this.lanes.length;
    for (let i = 0; i < n; i++) {
      const lane = this.lanes[(this.turn + i) % n]!;
      if (lane.jobs.length > 0) {
        this.turn = (this.turn + i + 1) % n;
        return lane;
      }
    }
    return null;
  }

  private refill(): void {
    const t = this.now();
    if (this.rate > 0 && t > this.refilledAt) {
      this.tokens = Math.min(this.burst, this.tokens + ((t - this.refilledAt) * this.rate) / 1000);
    }
    this.refilledAt = Math.max(this.refilledAt, t);
  }

  private wait(): void {
    if (this.cancelTimer !== null) return;
    const ms = Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.rate));
    this.cancelTimer = this.setTimer(() => {
      this.cancelTimer = null;
      this.pump();
    }, ms);
  }
}
