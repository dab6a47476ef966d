/**
 * Admission of live keyframes to the model, so that waiting for inference stays bounded in TIME
 * and not only in count, whatever the number of streams sharing the inference servers:
 *
 * - a staleness deadline: a keyframe captured more than `maxKeyframeAgeMs` of wall time ago when
 *   its turn comes is not sent to the model (its result would be history); the runner counts it
 *   (`inferStale`, drop reason `stale`) and passes it on with a missing analysis, so its window
 *   lists it and motion / scene-cut events still see it;
 * - `InferenceSlots`: an optional process-wide bound on keyframes in flight to the model across
 *   streams. Streams wait in their own bounded queue (drop-oldest per stream, counted by the
 *   caller) and free slots go round-robin to the streams that wait, so a busy stream cannot take
 *   the share of a quiet one.
 *
 * Files in fast mode use neither: they apply back-pressure and never drop.
 */
import { of, type ObservableInput, type OperatorFunction } from 'rxjs';
import type { Keyframe } from '../core/contracts.js';
import { boundedMergeMap } from '../core/bounded-merge-map.js';
import { ConfigError } from '../core/errors.js';
import { STREAM_FIELDS } from '../config/stream-spec.js';

/** Default deadline for live keyframes, ms of wall time from capture to the model call. */
export const DEFAULT_MAX_KEYFRAME_AGE_MS = 2000;

/** Wall time since capture, ms (never negative: clocks of other machines may run ahead). */
export function keyframeAgeMs(kf: Keyframe, nowMs: number): number {
  return Math.max(0, nowMs - kf.frame.captureTimeMs);
}

/** True when the keyframe is past its deadline; a deadline of 0 (or none) never expires. */
export function isStale(kf: Keyframe, nowMs: number, maxAgeMs: number | undefined): boolean {
  return maxAgeMs !== undefined && maxAgeMs > 0 && keyframeAgeMs(kf, nowMs) > maxAgeMs;
}

/** Checks a deadline option (an integer of ms, 0 = off). */
export function checkMaxKeyframeAgeMs(v: unknown, name = 'maxKeyframeAgeMs'): number | undefined {
  if (v === undefined) return undefined;
  const { min, max } = STREAM_FIELDS.maxKeyframeAgeMs;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(
      `${name}: expected an integer of ms from ${min} (off) to ${max}, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

export interface AdmitOptions<R> {
  /** Deadline from capture to the model call, ms of wall time; 0 = none (files in fast mode). */
  maxAgeMs: number;
  /** Wall clock (ms): `Date.now` in service, the TestScheduler's `now` in tests. */
  now: () => number;
  /** Keyframes at the model at once for this stream. */
  concurrency: number;
  /** Keyframes waiting; beyond it the oldest is dropped (`onDrop`). */
  maxQueue: number;
  onDrop?: (kf: Keyframe) => void;
  /** What a stale keyframe becomes instead of a model call (the runner: a missing analysis). */
  onStale: (kf: Keyframe, ageMs: number) => R;
}

/**
 * The per-stream inference queue: `boundedMergeMap` (drop-oldest past `maxQueue`) whose items are
 * checked against their deadline when their turn comes, so time spent waiting in the queue counts.
 * `call` may re-check (e.g. after waiting for an `InferenceSlots` slot).
 */
export function admitKeyframes<R>(
  call: (kf: Keyframe) => ObservableInput<R>,
  options: AdmitOptions<R>,
): OperatorFunction<Keyframe, R> {
  const { maxAgeMs, now, onStale } = options;
  return boundedMergeMap(
    (kf: Keyframe) => {
      const t = now();
      return isStale(kf, t, maxAgeMs) ? of(onStale(kf, keyframeAgeMs(kf, t))) : call(kf);
    },
    {
      concurrency: options.concurrency,
      maxQueue: options.maxQueue,
      ...(options.onDrop ? { onDrop: options.onDrop } : {}),
    },
  );
}

export interface InferenceSlotsOptions {
  /** Keyframes in flight to the model at once, all streams together. */
  maxInFlight: number;
  /** Keyframes of one stream waiting for a slot; beyond it the stream's oldest is dropped (default 1). */
  maxWaitingPerStream?: number;
}

export interface InferenceSlotsStats {
  inFlight: number;
  waiting: number;
  granted: number;
  /** Waiters dropped (oldest of their stream) because their stream's queue was full. */
  dropped: number;
  /** Waiters that gave up (stream detached) before a slot came. */
  cancelled: number;
}

/** A granted slot: call `release()` once the model call is over (idempotent). */
export interface Slot {
  release(): void;
}

interface Waiter {
  streamId: string;
  resolve: (slot: Slot | null) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/**
 * A counting semaphore shared by the streams of one process, fair across streams.
 *
 * `acquire(streamId, signal)` resolves with a `Slot`, or with null when the waiter was dropped (a
 * newer keyframe of the same stream pushed it out) or aborted (`signal`). Never rejects.
 */
export class InferenceSlots {
  readonly maxInFlight: number;
  readonly maxWaitingPerStream: number;
  private inFlight = 0;
  /** Waiting streams in turn order (Map keeps insertion order): the head is served next. */
  private readonly waiting = new Map<string, Waiter[]>();
  private waitingCount = 0;
  private granted = 0;
  private dropped = 0;
  private cancelled = 0;

  constructor(options: InferenceSlotsOptions) {
    const { maxInFlight, maxWaitingPerStream = 1 } = options;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > 4096)
      throw new ConfigError(
        `maxInferInFlight: expected an integer from 1 to 4096, got ${String(maxInFlight)}`,
      );
    if (!Number.isInteger(maxWaitingPerStream) || maxWaitingPerStream < 1 || maxWaitingPerStream > 10_000)
      throw new ConfigError(
        `maxWaitingPerStream: expected an integer from 1 to 10000, got ${String(maxWaitingPerStream)}`,
      );
    this.maxInFlight = maxInFlight;
    this.maxWaitingPerStream = maxWaitingPerStream;
  }

  acquire(streamId: string, signal?: AbortSignal): Promise<Slot | null> {
    if (signal?.aborted) {
      this.cancelled++;
      return Promise.resolve(null);
    }
    if (this.inFlight < this.maxInFlight && this.waitingCount === 0) return Promise.resolve(this.grant());
    return new Promise<Slot | null>((resolve) => {
      const w: Waiter = { streamId, resolve, signal, onAbort: undefined };
      if (signal) {
        w.onAbort = () => {
          if (this.remove(w)) {
            this.cancelled++;
            resolve(null);
          }
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      let queue = this.waiting.get(streamId);
      if (!queue) {
        queue = [];
        this.waiting.set(streamId, queue);
      }
      queue.push(w);
      this.waitingCount++;
      if (queue.length > this.maxWaitingPerStream) {
        const oldest = queue.shift()!;
        this.waitingCount--;
        this.dropped++;
        this.settle(oldest, null);
      }
    });
  }

  stats(): InferenceSlotsStats {
    return {
      inFlight: this.inFlight,
      waiting: this.waitingCount,
      granted: this.granted,
      dropped: this.dropped,
      cancelled: this.cancelled,
    };
  }

  private grant(): Slot {
    this.inFlight++;
    this.granted++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.inFlight--;
        this.pump();
      },
    };
  }

  /** Gives free slots to waiting streams, one per stream per turn (round-robin). */
  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.waitingCount > 0) {
      const [streamId, queue] = this.waiting.entries().next().value as [string, Waiter[]];
      const w = queue.shift()!;
      this.waitingCount--;
      // The stream goes to the back of the turn order (or leaves it when it has no one waiting).
      this.waiting.delete(streamId);
      if (queue.length > 0) this.waiting.set(streamId, queue);
      this.settle(w, this.grant());
    }
  }

  private settle(w: Waiter, slot: Slot | null): void {
    if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
    w.resolve(slot);
  }

  private remove(w: Waiter): boolean {
    const queue = this.waiting.get(w.streamId);
    const i = queue ? queue.indexOf(w) : -1;
    if (!queue || i < 0) return false;
    queue.splice(i, 1);
    this.waitingCount--;
    if (queue.length === 0) this.waiting.delete(w.streamId);
    return true;
  }
}
