/**
 * Bounds for every language-model call (captioner, summarizer, speech to text, alert checks):
 *
 * - a global bound on calls in flight per model: a call that finds it full is dropped, not queued
 *   (`dropped_in_flight`), so a slow model never builds a queue behind a stream;
 * - a per-stream rate (`perMinute`, a token bucket refilled continuously): over budget, dropped
 *   (`dropped_budget`);
 * - a deadline per call (AbortSignal; the transport aborts the request);
 * - one observer call per outcome (metrics: calls, latency, tokens, refusals, failures).
 *
 * Errors thrown out of here carry no secrets: the transports never put keys in messages, and the
 * message kept for reports is cut to 200 characters.
 */
import { InferenceError } from '../core/errors.js';

export type ModelRole = 'captioner' | 'summarizer' | 'asr' | 'verifier';

export type ModelOutcome =
  'ok' | 'refusal' | 'empty' | 'timeout' | 'error' | 'dropped_in_flight' | 'dropped_budget';

export interface ModelUsage {
  promptTokens?: number;
  completionTokens?: number;
}

/** Told of every call (metrics hook); must not throw. */
export interface ModelCallObserver {
  observe(call: {
    role: ModelRole;
    model: string;
    outcome: ModelOutcome;
    latencyMs?: number;
    usage?: ModelUsage;
  }): void;
}

export interface ModelGateOptions {
  maxInFlight: number;
  perMinute: number;
  /** Streams with a budget remembered at most (least recently used forgotten); default 1024. */
  maxStreams?: number;
  now?: () => number;
}

/** In-flight bound (global) and token bucket (per stream) for one model. */
export class ModelGate {
  private inFlight = 0;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly now: () => number;
  private readonly maxStreams: number;

  constructor(private readonly o: ModelGateOptions) {
    this.now = o.now ?? Date.now;
    this.maxStreams = o.maxStreams ?? 1024;
  }

  get active(): number {
    return this.inFlight;
  }

  /** Whether `streamId` has budget left now (does not take it). */
  hasBudget(streamId: string): boolean {
    return this.refill(streamId).tokens >= 1;
  }

  /** A slot, or why not: the global bound is full, or the stream is over its rate. */
  tryAcquire(streamId: string): { release(): void } | 'in_flight' | 'budget' {
    if (this.inFlight >= this.o.maxInFlight) return 'in_flight';
    const b = this.refill(streamId);
    if (b.tokens < 1) return 'budget';
    b.tokens -= 1;
    this.inFlight++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.inFlight--;
      },
    };
  }

  private refill(streamId: string): { tokens: number; at: number } {
    const now = this.now();
    let b = this.buckets.get(streamId);
    if (b === undefined) {
      b = { tokens: this.o.perMinute, at: now };
      if (this.buckets.size >= this.maxStreams)
        this.buckets.delete(this.buckets.keys().next().value as string);
    } else {
      this.buckets.delete(streamId);
      b.tokens = Math.min(this.o.perMinute, b.tokens + ((now - b.at) / 60_000) * this.o.perMinute);
      b.at = now;
    }
    this.buckets.set(streamId, b);
    return b;
  }
}

export type GuardedResult<T> =
  | { ok: true; value: T; latencyMs: number }
  | { ok: false; outcome: Exclude<ModelOutcome, 'ok' | 'refusal' | 'empty'>; error?: string };

/**
 * Runs `fn` inside the gate with a deadline; never throws. The caller reports refusals and empty
 * answers (it knows what they look like) through `observer` itself; this reports the rest.
 */
export async function guardedCall<T extends { usage?: ModelUsage }>(
  gate: ModelGate,
  streamId: string,
  meta: { role: ModelRole; model: string; timeoutMs: number; observer?: ModelCallObserver | undefined },
  fn: (signal: AbortSignal) => Promise<T>,
  now: () => number = Date.now,
): Promise<GuardedResult<T>> {
  const slot = gate.tryAcquire(streamId);
  const observe = (outcome: ModelOutcome, latencyMs?: number, usage?: ModelUsage) => {
    try {
      meta.observer?.observe({
        role: meta.role,
        model: meta.model,
        outcome,
        ...(latencyMs !== undefined ? { latencyMs } : {}),
        ...(usage ? { usage } : {}),
      });
    } catch {
      // A metrics hook must not break a stream.
    }
  };
  if (slot === 'in_flight' || slot === 'budget') {
    const outcome = slot === 'in_flight' ? 'dropped_in_flight' : 'dropped_budget';
    observe(outcome);
    return { ok: false, outcome };
  }
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), meta.timeoutMs);
  timer.unref?.();
  const started = now();
  try {
    // The race ends the wait on time even when a transport ignores the signal.
    const deadline = new Promise<never>((_, reject) =>
      ac.signal.addEventListener('abort', () =>
        reject(new InferenceError('VIGIL_ERR_INFER_DEADLINE', `no answer within ${meta.timeoutMs} ms`)),
      ),
    );
    const value = await Promise.race([fn(ac.signal), deadline]);
    const latencyMs = now() - started;
    // Success is reported by the caller once it knows whether the answer says anything.
    return { ok: true, value, latencyMs };
  } catch (e) {
    const latencyMs = now() - started;
    const timedOut =
      ac.signal.aborted || (e instanceof InferenceError && e.code === 'VIGIL_ERR_INFER_DEADLINE');
    observe(timedOut ? 'timeout' : 'error', latencyMs);
    return {
      ok: false,
      outcome: timedOut ? 'timeout' : 'error',
      error: (e instanceof Error ? e.message : String(e)).slice(0, 200),
    };
  } finally {
    clearTimeout(timer);
    slot.release();
  }
}

export { isRefusal } from '../core/refusal.js';
