/**
 * Speech to text for one stream: the audio chunks (16 kHz mono S16) go into a bounded ring of PCM;
 * each `speech.stopped` event of the VAD branch (src/stream/speech.ts: the segment's start and end
 * in stream time) cuts its segment out of the ring with a little padding, bounded in length, builds
 * a WAV and sends it to the speech model (src/infer/language-transport.ts) inside the bounds of
 * src/infer/model-call.ts. Out come Transcripts whose times are the VAD segment's (not the padded
 * audio's): the times are Vigil's own measurement, the text the model's.
 *
 * Bounded: the ring holds `maxSegmentMs + 2 * paddingMs + 2 s` of audio; segments wait for the model
 * in a queue of `maxQueue` (oldest dropped, counted); the model's in-flight bound and per-stream
 * rate drop (and count) the rest. A slow or down model costs transcripts, never the stream.
 */
import { defer, filter, from, mergeAll, Observable, type Subscription } from 'rxjs';
import type { AudioChunk, Transcript, VigilEvent } from '../core/contracts.js';
import { isRefusal } from '../core/refusal.js';
import { boundedMergeMap } from '../core/bounded-merge-map.js';
import type { LanguageModelConfig } from '../config/language-models.js';
import { encodeWav, createSpeechModel, type SpeechModel } from '../infer/language-transport.js';
import { guardedCall, ModelGate, type ModelCallObserver } from '../infer/model-call.js';

export interface TranscriberStats {
  segments: number;
  transcripts: number;
  /** Empty answers and refusals, dropped. */
  empty: number;
  failures: number;
  timeouts: number;
  droppedInFlight: number;
  droppedBudget: number;
  /** Segments dropped because transcription was behind (bounded queue). */
  droppedQueue: number;
  /** Segments whose audio was no longer (or never) in the ring. */
  noAudio: number;
}

/** The shared part (one per service): the model, its bounds and counters. */
export class Transcriber {
  readonly model: string;
  readonly gate: ModelGate;
  readonly st: TranscriberStats = {
    segments: 0,
    transcripts: 0,
    empty: 0,
    failures: 0,
    timeouts: 0,
    droppedInFlight: 0,
    droppedBudget: 0,
    droppedQueue: 0,
    noAudio: 0,
  };
  private readonly speech: SpeechModel;
  private seq = 0;

  constructor(
    readonly config: LanguageModelConfig,
    private readonly o: {
      apiKey?: string;
      observer?: ModelCallObserver;
      speech?: SpeechModel;
      now?: () => number;
    } = {},
  ) {
    this.speech = o.speech ?? createSpeechModel(config, o.apiKey);
    this.model = config.model;
    this.gate = new ModelGate({
      maxInFlight: config.maxInFlight,
      perMinute: config.perMinute,
      ...(o.now ? { now: o.now } : {}),
    });
  }

  stats(): TranscriberStats {
    return { ...this.st };
  }

  /** One segment's WAV → a Transcript, or null (dropped, failed or said nothing; counted). */
  async transcribe(
    streamId: string,
    segment: { startPtsNs: number; endPtsNs: number; timeMs: number; id?: string },
    wav: Uint8Array,
  ): Promise<Transcript | null> {
    const observer = this.o.observer;
    const r = await guardedCall(
      this.gate,
      streamId,
      { role: 'asr', model: this.model, timeoutMs: this.config.timeoutMs, observer },
      (signal) => this.speech.transcribe(wav, signal),
      this.o.now,
    );
    if (!r.ok) {
      if (r.outcome === 'dropped_in_flight') this.st.droppedInFlight++;
      else if (r.outcome === 'dropped_budget') this.st.droppedBudget++;
      else if (r.outcome === 'timeout') this.st.timeouts++;
      else this.st.failures++;
      return null;
    }
    const text = r.value.text.trim().replace(/\s+/g, ' ').slice(0, 2000);
    const empty = text === '' || isRefusal(text);
    try {
      observer?.observe({
        role: 'asr',
        model: this.model,
        outcome: empty ? 'empty' : 'ok',
        latencyMs: r.latencyMs,
        ...(r.value.usage ? { usage: r.value.usage } : {}),
      });
    } catch {
      // metrics must not break the stream
    }
    if (empty) {
      this.st.empty++;
      return null;
    }
    this.st.transcripts++;
    return {
      // The speech event's id carries the run id: two runs of one file never share transcript ids.
      id: segment.id ?? `${streamId}:transcript:${segment.startPtsNs}:${++this.seq}`,
      streamId,
      startPtsNs: segment.startPtsNs,
      endPtsNs: segment.endPtsNs,
      timeMs: segment.timeMs,
      text,
      ...(r.value.language !== undefined ? { language: r.value.language } : {}),
      model: this.model,
      latencyMs: Math.round(r.latencyMs),
    };
  }

  close(): Promise<void> {
    return this.speech.close();
  }
}

/** The last few seconds of a stream's audio as 16 kHz mono PCM, by stream time. Bounded. */
export class PcmRing {
  private readonly buf: Int16Array;
  /** Stream time of the sample after the newest one, ns; samples held end there. */
  private endNs = 0;
  private held = 0;
  private write = 0;

  constructor(
    readonly sampleRate: number,
    capacityMs: number,
  ) {
    this.buf = new Int16Array(Math.ceil((capacityMs / 1000) * sampleRate));
  }

  push(chunk: AudioChunk): void {
    const s = chunk.samples;
    // A gap or a jump back (reconnect) starts over: positions must stay on one clock.
    const expected = this.endNs;
    if (this.held > 0 && Math.abs(chunk.ptsNs - expected) > 50e6) this.held = 0;
    for (let i = 0; i < s.length; i++) {
      this.buf[this.write] = s[i]!;
      this.write = (this.write + 1) % this.buf.length;
    }
    this.held = Math.min(this.buf.length, this.held + s.length);
    this.endNs = chunk.ptsNs + Math.round((s.length * 1e9) / this.sampleRate);
  }

  /** Samples of [fromNs, toNs), clipped to what is held; null when none of it is. */
  slice(fromNs: number, toNs: number): Int16Array | null {
    const startNs = this.endNs - (this.held * 1e9) / this.sampleRate;
    const a = Math.max(fromNs, startNs);
    const b = Math.min(toNs, this.endNs);
    if (b <= a) return null;
    const n = Math.round(((b - a) * this.sampleRate) / 1e9);
    const back = Math.round(((this.endNs - a) * this.sampleRate) / 1e9);
    const out = new Int16Array(n);
    let p = (this.write - back + this.buf.length * 2) % this.buf.length;
    for (let i = 0; i < n; i++) {
      out[i] = this.buf[p]!;
      p = (p + 1) % this.buf.length;
    }
    return out;
  }
}

export interface TranscribeStreamOptions {
  streamId: string;
  transcriber: Transcriber;
  /** Segments waiting for the model (default 4); the oldest is dropped beyond it. */
  maxQueue?: number;
}

/**
 * Audio chunks and the stream's speech events in, transcripts out. Completes when both inputs have
 * completed and the queued segments are done.
 */
export function transcribeSpeech(
  audio: Observable<AudioChunk>,
  speechEvents: Observable<VigilEvent>,
  o: TranscribeStreamOptions,
): Observable<Transcript> {
  const t = o.transcriber;
  const padNs = (t.config.paddingMs ?? 200) * 1e6;
  const maxNs = (t.config.maxSegmentMs ?? 30_000) * 1e6;
  return new Observable<Transcript>((subscriber) => {
    let ring: PcmRing | null = null;
    const ringMs = (t.config.maxSegmentMs ?? 30_000) + 2 * (t.config.paddingMs ?? 200) + 2000;
    const audioSub: Subscription = audio.subscribe({
      next: (chunk) => {
        if (chunk.channels !== 1) return;
        if (ring === null || ring.sampleRate !== chunk.sampleRate)
          ring = new PcmRing(chunk.sampleRate, ringMs);
        ring.push(chunk);
      },
      error: () => undefined,
    });
    const job = (e: VigilEvent): Promise<Transcript | null> => {
      const startPtsNs = Number(e.data['startPtsNs']);
      const endPtsNs = Number(e.data['endPtsNs']);
      t.st.segments++;
      const from = startPtsNs - padNs;
      const to = Math.min(endPtsNs + padNs, from + maxNs);
      const pcm = ring?.slice(from, to) ?? null;
      if (pcm === null || pcm.length === 0) {
        t.st.noAudio++;
        return Promise.resolve(null);
      }
      const wav = encodeWav(pcm, ring!.sampleRate);
      return t.transcribe(
        o.streamId,
        { startPtsNs, endPtsNs, timeMs: e.timeMs - (endPtsNs - startPtsNs) / 1e6, id: `${e.id}:transcript` },
        wav,
      );
    };
    const sub = speechEvents
      .pipe(
        filter((e) => e.type === 'speech.stopped' && Number.isFinite(Number(e.data['startPtsNs']))),
        boundedMergeMap(
          (e: VigilEvent) => defer(() => from(job(e).then((x) => (x ? [x] : [])))).pipe(mergeAll()),
          {
            concurrency: 2,
            maxQueue: o.maxQueue ?? 4,
            onDrop: () => t.st.droppedQueue++,
          },
        ),
      )
      .subscribe(subscriber);
    return () => {
      sub.unsubscribe();
      audioSub.unsubscribe();
      ring = null;
    };
  });
}
