/**
 * The audio branch of a stream: audio chunks from src/ingest (16 kHz mono S16) → Silero VAD over the
 * inference client (one probability per 32 ms window, the model's state kept per stream on the
 * client) → `VadSample`s on the frames' PTS clock, which the stream runner turns into
 * `speech.started` / `speech.stopped` events (src/stream `detectSpeech`).
 *
 * Bounded: at most `maxQueue` chunks wait for the VAD; beyond that the OLDEST waiting chunk is dropped
 * and counted (`vadDropped`), and the VAD state is reset at the gap. Degraded, never fatal: when the
 * model is not served (ModelReady false, asked once) chunks are skipped and counted (`vadSkipped`);
 * while the inference client's circuit is open too; a failed VAD call is counted (`vadFailed`) and
 * resets the state. The video side never waits for, or fails because of, the audio side.
 */
import { defer, from, mergeAll, Observable, tap, type Subscription } from 'rxjs';
import type { AudioChunk, VadSample } from '../core/contracts.js';
import { boundedMergeMap } from '../core/bounded-merge-map.js';
import { createVad, VAD_SAMPLE_RATE, type InferenceClient, type Vad } from '../infer/index.js';

/** Silero VAD's window: 512 samples (32 ms) at 16 kHz. */
const VAD_WINDOW = 512;

export interface SpeechCounters {
  /** Audio chunks that reached the analyzer. */
  audioChunks: number;
  /** VAD windows analysed (one VadSample each). */
  vadWindows: number;
  /** Chunks dropped because the VAD was behind (bounded queue, oldest dropped). */
  vadDropped: number;
  /** Chunks whose VAD call failed (inference error). */
  vadFailed: number;
  /** Chunks not analysed: VAD model not served, circuit open, or not 16 kHz mono. */
  vadSkipped: number;
}

export function newSpeechCounters(): SpeechCounters {
  return { audioChunks: 0, vadWindows: 0, vadDropped: 0, vadFailed: 0, vadSkipped: 0 };
}

/** Where a stream's VAD comes from; shared by every stream of a service. */
export interface VadProvider {
  /**
   * Whether the VAD model is served. The server's answer (ModelReady) is asked once and kept; an
   * unreachable server is asked again, at most every `retryMs`.
   */
  ready(): Promise<boolean>;
  /** A fresh VAD (its own recurrent state) for one stream. */
  create(): Vad;
  /** false while every inference server is down (the client's circuit breaker): chunks are skipped. */
  readonly health?: { readonly available: boolean };
  readonly model: string;
}

export function vadProvider(
  client: InferenceClient,
  options: { model?: string; retryMs?: number; now?: () => number } = {},
): VadProvider {
  const model = options.model ?? 'silero_vad';
  const retryMs = options.retryMs ?? 30_000;
  const now = options.now ?? Date.now;
  let answer: boolean | undefined;
  let asking: Promise<boolean> | undefined;
  let failedAt = -Infinity;
  return {
    model,
    health: client,
    ready() {
      if (answer !== undefined) return Promise.resolve(answer);
      if (now() - failedAt < retryMs) return Promise.resolve(false);
      asking ??= client
        .modelReady(model)
        .then((r) => (answer = r))
        .catch(() => {
          // Unreachable, or NOT_FOUND from a server that does not know the model: both mean "not
          // now"; a server that answers "not ready" is believed for good.
          failedAt = now();
          return false;
        })
        .finally(() => (asking = undefined));
      return asking;
    },
    create: () => createVad({ client, model }),
  };
}

/**
 * Fast mode (files): keeps video decoding from running ahead of the audio. GStreamer delivers a
 * file's audio at its own pace, and the run ends at the video's end of stream, so audio that lags
 * the video is cut off there. `ahead` is true while audio is flowing (a chunk in the last `idleMs`
 * of wall time) and the latest frame is more than `maxLeadMs` of stream time past the latest audio:
 * the ingest's `shouldPause` then pauses the video. Audio held back for the VAD (`held`) counts as
 * flowing. A source without audio, or whose audio ended, never pauses the video for longer than
 * `idleMs` once nothing is held.
 */
export class AudioPacer {
  private audioEndNs = -Infinity;
  private audioAtMs = -Infinity;
  private videoPtsNs = -Infinity;

  constructor(
    private readonly maxLeadMs = 300,
    private readonly idleMs = 250,
    private readonly now: () => number = Date.now,
    /**
     * True while audio is held back on its way to the VAD (chunks waiting; taking more from the
     * pipeline paused): the audio is not idle then, however long since its last chunk.
     */
    private readonly held: () => boolean = () => false,
  ) {}

  audio(chunk: AudioChunk): void {
    this.audioEndNs = chunk.ptsNs + chunk.durationNs;
    this.audioAtMs = this.now();
  }

  video(ptsNs: number): void {
    this.videoPtsNs = ptsNs;
  }

  get ahead(): boolean {
    const flowing = this.held() || this.now() - this.audioAtMs < this.idleMs;
    return flowing && (this.videoPtsNs - this.audioEndNs) / 1e6 > this.maxLeadMs;
  }
}

export interface VadSamplesOptions {
  provider: VadProvider;
  streamId: string;
  counters: SpeechCounters;
  /** Chunks waiting for the VAD (default 64, about 2 s); the oldest is dropped beyond it. */
  maxQueue?: number;
  /**
   * Kept current: chunks received but not yet analysed. Fast mode pauses decoding on it (see the
   * manager), so a file's audio waits for the VAD instead of being dropped.
   */
  pressure?: { pending: number };
  /** Fast mode: told of every chunk on arrival (see AudioPacer). */
  pacer?: AudioPacer;
}

/**
 * Audio chunks in, one VadSample per 32 ms VAD window out (PTS order). Completes with the audio;
 * unsubscribing stops it.
 */
export function vadSamples(audio: Observable<AudioChunk>, o: VadSamplesOptions): Observable<VadSample> {
  const maxQueue = o.maxQueue ?? 64;
  const c = o.counters;
  return new Observable<VadSample>((subscriber) => {
    let vad: Vad | undefined;
    /** Samples the VAD holds back (less than a window) between calls. */
    let carried = 0;
    let last: { seq: number; runId: number | undefined } | undefined;
    const reset = () => {
      vad?.reset();
      carried = 0;
    };
    const analyse = async (chunk: AudioChunk): Promise<VadSample[]> => {
      try {
        // A gap (dropped chunks) or a new pipeline run (reconnect, PTS restarts): start afresh.
        const gap = last !== undefined && (chunk.seq !== last.seq + 1 || chunk.runId !== last.runId);
        last = { seq: chunk.seq, runId: chunk.runId };
        if (
          !(await o.provider.ready()) ||
          o.provider.health?.available === false ||
          chunk.sampleRate !== VAD_SAMPLE_RATE ||
          chunk.channels !== 1
        ) {
          c.vadSkipped++;
          reset();
          return [];
        }
        vad ??= o.provider.create();
        if (gap) reset();
        const before = carried;
        let windows;
        try {
          ({ windows } = await vad.process(chunk.samples));
        } catch {
          c.vadFailed++;
          reset();
          return [];
        }
        carried = (before + chunk.samples.length) % VAD_WINDOW;
        c.vadWindows += windows.length;
        return windows.map((w, i) => {
          // Window i starts this many samples after the chunk's start (before it, for samples carried over).
          const offset = i * VAD_WINDOW - before;
          return {
            streamId: o.streamId,
            ptsNs: chunk.ptsNs + Math.round((offset * 1e9) / VAD_SAMPLE_RATE),
            captureTimeMs: chunk.captureTimeMs + (offset * 1000) / VAD_SAMPLE_RATE,
            durationNs: Math.round((VAD_WINDOW * 1e9) / VAD_SAMPLE_RATE),
            probability: w.probability,
          };
        });
      } finally {
        if (o.pressure) o.pressure.pending--;
      }
    };
    const sub: Subscription = audio
      .pipe(
        // Counted on arrival, before the bounded queue.
        tap((chunk) => {
          c.audioChunks++;
          if (o.pressure) o.pressure.pending++;
          o.pacer?.audio(chunk);
        }),
        boundedMergeMap((chunk: AudioChunk) => defer(() => from(analyse(chunk))).pipe(mergeAll()), {
          concurrency: 1,
          maxQueue,
          onDrop: () => {
            c.vadDropped++;
            if (o.pressure) o.pressure.pending--;
          },
        }),
      )
      .subscribe(subscriber);
    return () => {
      sub.unsubscribe();
      vad = undefined;
    };
  });
}
