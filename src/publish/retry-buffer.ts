/**
 * The publisher's bounded retry buffer: items wait here for their ack. At most `maxInFlight`
 * attempts run at once; a failed one goes back in sequence order and is retried after a backoff
 * (doubling, capped); past `maxPending` the oldest item, waiting or in flight, is dropped and
 * counted. While the connection is down nothing is attempted (nats.js would buffer without bound).
 */
import { PublishError } from '../core/errors.js';

const MAX_BACKOFF_MS = 2_000;

interface Entry<T> {
  readonly value: T;
  readonly seq: number;
  /** Dropped by the bound while in flight. */
  droppedInFlight?: boolean;
}

export interface RetryBufferOptions<T> {
  /** Items waiting or in flight at most; past it the oldest is dropped (counted). */
  maxPending: number;
  /** Attempts at once. */
  maxInFlight: number;
  /** One attempt to deliver `item`; a rejection retries it. */
  attempt: (item: T) => Promise<void>;
  /** Told of every failed attempt before it is retried. */
  onRetry: (err: unknown) => void;
}

export class RetryBuffer<T> {
  /** Dropped because the buffer was full (oldest first). */
  dropped = 0;
  /** Failed attempts that were retried. */
  retries = 0;
  /** Left in the buffer by drain(). */
  abandoned = 0;
  private readonly queue: Entry<T>[] = [];
  /** In flight and still wanted (not dropped by the bound). */
  private readonly flying = new Set<Entry<T>>();
  private readonly idleWaiters = new Set<() => void>();
  private inFlight = 0;
  private nextSeq = 0;
  private backoffMs = 0;
  private blockedUntil = 0;
  private wake: NodeJS.Timeout | undefined;
  private connected = true;

  constructor(private readonly options: RetryBufferOptions<T>) {}

  /** Waiting or in flight. */
  get pending(): number {
    return this.queue.length + this.flying.size;
  }

  push(value: T): void {
    this.queue.push({ value, seq: this.nextSeq++ });
    this.trim();
    this.pump();
  }

  /** Connection state: attempts stop while down, and resume at once on reconnect. */
  setConnected(connected: boolean): void {
    this.connected = connected;
    if (connected) this.pump();
  }

  /** Resolves when the buffer is empty; rejects with VIGIL_ERR_PUBLISH after `timeoutMs`. */
  async flush(timeoutMs: number): Promise<void> {
    if (!(await this.idle(timeoutMs)))
      throw new PublishError(`${this.pending} messages still unacknowledged after ${timeoutMs} ms`);
  }

  /** Waits up to `timeoutMs` for the buffer to empty, then abandons what is left (counted). */
  async drain(timeoutMs: number): Promise<void> {
    await this.idle(timeoutMs);
    if (this.wake) clearTimeout(this.wake);
    this.abandoned += this.pending;
    this.queue.length = 0;
  }

  /** True once the buffer is empty, false when `timeoutMs` passed first. */
  private idle(timeoutMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      if (this.pending === 0) return resolve(true);
      const wait: { timer?: ReturnType<typeof setTimeout> } = {};
      const done = (): void => {
        clearTimeout(wait.timer);
        this.idleWaiters.delete(done);
        resolve(true);
      };
      this.idleWaiters.add(done);
      wait.timer = setTimeout(() => {
        this.idleWaiters.delete(done);
        resolve(false);
      }, timeoutMs);
    });
  }

  private settled(): void {
    if (this.pending === 0) for (const w of [...this.idleWaiters]) w();
  }

  private pump(): void {
    if (!this.connected) return this.settled();
    const now = Date.now();
    if (now < this.blockedUntil) {
      this.wake ??= setTimeout(() => {
        this.wake = undefined;
        this.pump();
      }, this.blockedUntil - now);
      return;
    }
    while (this.inFlight < this.options.maxInFlight && this.queue.length > 0) {
      const entry = this.queue.shift()!;
      this.inFlight++;
      this.flying.add(entry);
      this.options.attempt(entry.value).then(
        () => this.succeeded(entry),
        (err: unknown) => this.failed(entry, err),
      );
    }
    this.settled();
  }

  private succeeded(entry: Entry<T>): void {
    this.inFlight--;
    this.flying.delete(entry);
    // Dropped by the bound while in flight, but it made it after all.
    if (entry.droppedInFlight) this.dropped--;
    this.backoffMs = 0;
    this.settled();
    this.pump();
  }

  private failed(entry: Entry<T>, err: unknown): void {
    this.inFlight--;
    this.flying.delete(entry);
    if (entry.droppedInFlight) {
      this.settled();
      return this.pump();
    }
    this.retries++;
    this.options.onRetry(err);
    // Back in seq order, so retried items keep their original order on the wire.
    let at = 0;
    while (at < this.queue.length && this.queue[at]!.seq < entry.seq) at++;
    this.queue.splice(at, 0, entry);
    this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs === 0 ? 100 : this.backoffMs * 2);
    this.blockedUntil = Date.now() + this.backoffMs;
    this.trim();
    this.settled();
    this.pump();
  }

  /** Drop-oldest over waiting and in-flight items until the bound holds; every drop counted. */
  private trim(): void {
    while (this.pending > this.options.maxPending) {
      let oldestFlying: Entry<T> | undefined;
      for (const f of this.flying) if (!oldestFlying || f.seq < oldestFlying.seq) oldestFlying = f;
      const head = this.queue[0];
      if (head && (!oldestFlying || head.seq < oldestFlying.seq)) this.queue.shift();
      else if (oldestFlying) {
        oldestFlying.droppedInFlight = true;
        this.flying.delete(oldestFlying);
      } else break;
      this.dropped++;
    }
  }
}
