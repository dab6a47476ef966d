/**
 * The captioner edge: a keyframe's model-size RGB image → JPEG → a vision-language model (OpenAI
 * chat with an image_url data-URL part, or KServe v2 as Triton's vLLM backend takes it) → a
 * Caption, inside the bounds of src/infer/model-call.ts (deadline, in-flight bound, per-stream
 * rate). Refusals and answers that say nothing are dropped and counted, never returned.
 *
 * The same model answers alert checks (`verify`): the rule's prompt with the alert's keyframe; the
 * answer's first word decides (yes → confirmed, no → rejected, anything else → unclear).
 */
import type { Caption, Image } from '../core/contracts.js';
import type { LanguageModelConfig } from '../core/language-model.js';
import { DEFAULT_CAPTION_PROMPT } from '../core/language-model.js';
import { createChatModel, type ChatModel } from './language-transport.js';
import { encodeJpeg } from './llm.js';
import { guardedCall, isRefusal, ModelGate, type ModelCallObserver } from './model-call.js';

export interface CaptionerOptions {
  config: LanguageModelConfig;
  apiKey?: string;
  observer?: ModelCallObserver;
  /** The transport (default from config); tests and pooled clients pass their own. */
  chat?: ChatModel;
  now?: () => number;
}

export interface CaptionerStats {
  requested: number;
  captions: number;
  /** Refusals and empty answers, dropped. */
  refusals: number;
  failures: number;
  timeouts: number;
  /** Not sent: the in-flight bound was full, or the stream was over its rate. */
  droppedInFlight: number;
  droppedBudget: number;
}

export type CaptionOutcome =
  | { ok: true; caption: Caption }
  | {
      ok: false;
      why: 'refusal' | 'timeout' | 'error' | 'dropped_in_flight' | 'dropped_budget';
      error?: string;
    };

export interface Verdict {
  verdict: 'confirmed' | 'rejected' | 'unclear' | 'unverified';
  answer: string;
  model: string;
  latencyMs?: number;
  /** Why there is no verdict (unverified): timeout, error, dropped. */
  reason?: string;
}

export class Captioner {
  readonly model: string;
  private readonly chat: ChatModel;
  private readonly gate: ModelGate;
  private readonly verifyGate: ModelGate;
  private readonly now: () => number;
  private readonly st: CaptionerStats = {
    requested: 0,
    captions: 0,
    refusals: 0,
    failures: 0,
    timeouts: 0,
    droppedInFlight: 0,
    droppedBudget: 0,
  };
  private seq = 0;

  constructor(private readonly o: CaptionerOptions) {
    this.chat = o.chat ?? createChatModel(o.config, o.apiKey);
    this.model = o.config.model;
    this.now = o.now ?? Date.now;
    this.gate = new ModelGate({
      maxInFlight: o.config.maxInFlight,
      perMinute: o.config.perMinute,
      now: this.now,
    });
    // Alert checks have their own bound, so captions never starve them (and the other way round).
    this.verifyGate = new ModelGate({ maxInFlight: o.config.maxInFlight, perMinute: 600, now: this.now });
  }

  stats(): CaptionerStats {
    return { ...this.st };
  }

  /** Whether the stream has caption budget now (so the caller need not encode a JPEG for nothing). */
  hasBudget(streamId: string): boolean {
    return this.gate.hasBudget(streamId);
  }

  async caption(
    keyframe: { id: string; streamId: string; ptsNs: number; captureTimeMs: number },
    image: Image,
    why: string,
  ): Promise<CaptionOutcome> {
    this.st.requested++;
    const jpeg = encodeJpeg(image, 80);
    const meta = {
      role: 'captioner' as const,
      model: this.model,
      timeoutMs: this.o.config.timeoutMs,
      observer: this.o.observer,
    };
    const r = await guardedCall(
      this.gate,
      keyframe.streamId,
      meta,
      (signal) => this.chat.ask({ prompt: this.o.config.prompt ?? DEFAULT_CAPTION_PROMPT, jpeg }, signal),
      this.now,
    );
    if (!r.ok) {
      if (r.outcome === 'dropped_in_flight') this.st.droppedInFlight++;
      else if (r.outcome === 'dropped_budget') this.st.droppedBudget++;
      else if (r.outcome === 'timeout') this.st.timeouts++;
      else this.st.failures++;
      return { ok: false, why: r.outcome, ...(r.error ? { error: r.error } : {}) };
    }
    const text = r.value.text.trim().replace(/\s+/g, ' ').slice(0, 500);
    const refused = r.value.refused === true || isRefusal(text);
    this.observe(refused ? (text === '' ? 'empty' : 'refusal') : 'ok', r.latencyMs, r.value.usage);
    if (refused) {
      this.st.refusals++;
      return { ok: false, why: 'refusal' };
    }
    this.st.captions++;
    return {
      ok: true,
      caption: {
        id: `${keyframe.id}:caption:${++this.seq}`,
        streamId: keyframe.streamId,
        keyframeId: keyframe.id,
        ptsNs: keyframe.ptsNs,
        timeMs: keyframe.captureTimeMs,
        text,
        model: this.model,
        latencyMs: Math.round(r.latencyMs),
        why,
      },
    };
  }

  /** Asks the rule's question about a keyframe; never throws (no answer → 'unverified'). */
  async verify(streamId: string, prompt: string, image: Image): Promise<Verdict> {
    const jpeg = encodeJpeg(image, 80);
    const question = `${prompt.trim()}\nAnswer "yes" or "no" first, then one short sentence about what the image shows.`;
    const r = await guardedCall(
      this.verifyGate,
      streamId,
      { role: 'verifier', model: this.model, timeoutMs: this.o.config.timeoutMs, observer: this.o.observer },
      (signal) => this.chat.ask({ prompt: question, jpeg }, signal),
      this.now,
    );
    if (!r.ok) return { verdict: 'unverified', answer: '', model: this.model, reason: r.outcome };
    const answer = r.value.text.trim().replace(/\s+/g, ' ').slice(0, 500);
    const first = /^\W*(yes|no)\b/i.exec(answer)?.[1]?.toLowerCase();
    this.observe(answer === '' ? 'empty' : 'ok', r.latencyMs, r.value.usage, 'verifier');
    return {
      verdict: first === 'yes' ? 'confirmed' : first === 'no' ? 'rejected' : 'unclear',
      answer,
      model: this.model,
      latencyMs: Math.round(r.latencyMs),
    };
  }

  close(): Promise<void> {
    return this.chat.close();
  }

  private observe(
    outcome: 'ok' | 'refusal' | 'empty',
    latencyMs: number,
    usage: { promptTokens?: number; completionTokens?: number } | undefined,
    role: 'captioner' | 'verifier' = 'captioner',
  ): void {
    try {
      this.o.observer?.observe({ role, model: this.model, outcome, latencyMs, ...(usage ? { usage } : {}) });
    } catch {
      // A metrics hook must not break a stream.
    }
  }
}
