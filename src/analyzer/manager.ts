/**
 * The multi-stream service: streams attach and detach at run time, each one an isolated runner
 * (its own ingest pipeline and RxJS chain) sharing only the analyze function (the inference
 * client) and the sink (the NATS publisher).
 *
 * Guarantees:
 * - a failing stream (bad source, pipeline error, throwing sink) ends in state `failed` with its
 *   error; it never stalls or ends another stream;
 * - the number of streams is bounded (`maxStreams`); attaching past it fails with
 *   VIGIL_ERR_STREAM_LIMIT, a duplicate id with VIGIL_ERR_STREAM_EXISTS, an unknown one with
 *   VIGIL_ERR_STREAM_NOT_FOUND (stable codes, mapped to HTTP / NATS replies by src/control);
 * - `detach()` stops the stream's pipeline and timers; `close()` detaches everything, is
 *   idempotent, and afterwards `attach()` fails with VIGIL_ERR_CLOSED;
 * - listeners (`onUpdate`) that throw are isolated: they cannot break a stream.
 *
 * ```ts
 * const manager = createManager({ analyze, sink: publisher, maxStreams: 16 });
 * await manager.attach({ id: 'door', url: 'rtsp://cam/stream1' });
 * manager.list();           // StreamInfo[]
 * manager.status('door');   // StreamInfo, or throws VIGIL_ERR_STREAM_NOT_FOUND
 * await manager.detach('door');
 * await manager.close();
 * ```
 */
import { parseSource } from '../ingest/source.js';
import { validateStreamId } from '../core/stream-id.js';
import { AnalysisCache, parseEventOptions, parseKeyframeOptions, type Summarizer } from '../stream/index.js';
import { checkMaxKeyframeAgeMs, DEFAULT_MAX_KEYFRAME_AGE_MS, InferenceSlots } from './admission.js';
import { ManagerError, parseStreamDefinition, type StreamDefinition } from './definition.js';
import { defaultFrameSource, type FrameSource } from './frame-source.js';
import type { VadProvider } from './speech.js';
import type { AnalyzeKeyframe } from './stream-runner.js';
import { DetectScheduler } from './detect-scheduler.js';
import { StreamRun, type ManagerSink, type StreamRunShared } from './stream-run.js';
import type { StreamLanguage, StreamLanguageLease } from './language.js';
import type { ManagerUpdate, StreamInfo } from './stream-state.js';

export { ManagerError, parseStreamDefinition } from './definition.js';
export type { ManagerErrorCode, StreamDefinition } from './definition.js';
export { defaultFrameSource } from './frame-source.js';
export type { FrameSource, FrameSourceOptions, OpenedFrames } from './frame-source.js';
export { nextState } from './stream-state.js';
export type { IngestState, IngestStatus, ManagerUpdate, StreamInfo, StreamState } from './stream-state.js';
export type { ManagerSink } from './stream-run.js';

export interface ManagerDeps {
  analyze: AnalyzeKeyframe;
  sink: ManagerSink;
  /** Default: GStreamer `openFrames` from src/ingest. Tests and the reconnecting ingest plug in here. */
  frameSource?: FrameSource;
  /** At most this many streams at once, whatever their state (default 16). */
  maxStreams?: number;
  /** Default window length for streams that do not set one, ms (default 10000). */
  windowMs?: number;
  /** Fresh summarizer per stream (default: the structured summarizer). */
  summarizer?: () => Summarizer;
  /** How often `stats` updates go out and fps is computed, ms (default 1000). */
  statsIntervalMs?: number;
  /** Default deadline of live keyframes, ms from capture to the model call (default 2000; 0 = none). */
  maxKeyframeAgeMs?: number;
  /**
   * Keyframes in flight to the model at once, all live streams together (fair share, round-robin
   * between streams, each stream's oldest waiting keyframe dropped first). Default: no shared bound.
   */
  maxInferInFlight?: number;
  /**
   * Voice activity for streams with audio (see src/analyzer/speech.ts): absent, no audio branch.
   * Streams opt out with `audio: { vad: false }`.
   */
  vad?: VadProvider;
  /** Audio chunks waiting for the VAD per live stream (default 64, about 2 s); oldest dropped. */
  vadQueue?: number;
  /** Detections per second between keyframes, all live streams together, shared fairly (default 10). */
  detectBudgetPerS?: number;
  /** Language stages (captions, model summaries, speech to text) for every stream; absent: none. */
  language?: StreamLanguage;
}

export interface Manager {
  /** Validates and starts a stream; resolves once it is started (state `connecting`). */
  attach(def: StreamDefinition): Promise<StreamInfo>;
  /** Stops the stream and forgets it; resolves with its final info (state `stopped` unless it had ended). */
  detach(id: string): Promise<StreamInfo>;
  list(): StreamInfo[];
  /** Throws VIGIL_ERR_STREAM_NOT_FOUND for an unknown id. */
  status(id: string): StreamInfo;
  /** Subscribes to updates; returns the unsubscribe function. */
  onUpdate(listener: (u: ManagerUpdate) => void): () => void;
  readonly maxStreams: number;
  readonly closed: boolean;
  /** Detaches every stream; idempotent. */
  close(): Promise<void>;
}

/** The manager: a map of StreamRuns, the listeners, the stats tick. */
class StreamManager implements Manager {
  readonly maxStreams: number;
  private readonly shared: StreamRunShared;
  private readonly streams = new Map<string, StreamRun>();
  private readonly listeners = new Set<(u: ManagerUpdate) => void>();
  private readonly statsTimer: ReturnType<typeof setInterval>;
  private isClosed = false;
  private closing: Promise<void> | undefined;

  constructor(deps: ManagerDeps) {
    this.maxStreams = deps.maxStreams ?? 16;
    if (!Number.isInteger(this.maxStreams) || this.maxStreams < 1)
      throw new RangeError('maxStreams must be >= 1');
    this.shared = {
      analyze: deps.analyze,
      sink: deps.sink,
      frameSource: deps.frameSource ?? defaultFrameSource,
      ...(deps.summarizer ? { summarizer: deps.summarizer } : {}),
      ...(deps.vad ? { vad: deps.vad } : {}),
      ...(deps.language ? { language: deps.language } : {}),
      liveVadQueue: deps.vadQueue ?? 64,
      defaultWindowMs: deps.windowMs ?? 10_000,
      maxKeyframeAgeMs: checkMaxKeyframeAgeMs(deps.maxKeyframeAgeMs) ?? DEFAULT_MAX_KEYFRAME_AGE_MS,
      // One bound for every live stream of this process (files in fast mode do not take slots).
      ...(deps.maxInferInFlight === undefined
        ? {}
        : { inferenceSlots: new InferenceSlots({ maxInFlight: deps.maxInferInFlight }) }),
      detectScheduler: new DetectScheduler({ ratePerS: deps.detectBudgetPerS ?? 10 }),
    };
    this.statsTimer = setInterval(() => this.tick(), deps.statsIntervalMs ?? 1000);
    this.statsTimer.unref();
  }

  get closed(): boolean {
    return this.isClosed;
  }

  async attach(input: StreamDefinition): Promise<StreamInfo> {
    if (this.isClosed) throw new ManagerError('VIGIL_ERR_CLOSED', 'the analyzer is shutting down');
    const def = parseStreamDefinition(input);
    try {
      validateStreamId(def.id);
      // Bad per-stream options fail the attach (with the option named), not the stream later.
      parseKeyframeOptions(def.keyframes ?? {});
      parseEventOptions(def.events ?? {});
      if (def.cache) new AnalysisCache(def.cache);
    } catch (cause) {
      throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', (cause as Error).message, { cause });
    }
    if (this.streams.has(def.id)) {
      throw new ManagerError(
        'VIGIL_ERR_STREAM_EXISTS',
        `a stream named ${JSON.stringify(def.id)} is already attached: detach it first or pick another name`,
      );
    }
    if (this.streams.size >= this.maxStreams) {
      throw new ManagerError(
        'VIGIL_ERR_STREAM_LIMIT',
        `at most ${this.maxStreams} streams can be attached (detach one first)`,
      );
    }
    // Source errors keep their own codes (VIGIL_ERR_SOURCE_*) and carry only the redacted source.
    const spec = parseSource(def.url);
    const language = this.languageFor(def);
    // Updates of a detached run (its pipeline winding down) must not bring it back in a listener's
    // view; the sink still gets them (nothing published is lost).
    const run: StreamRun = new StreamRun(
      def,
      spec,
      this.shared,
      (u) => {
        if (this.streams.get(def.id) === run) this.emit(u);
      },
      language,
    );
    this.streams.set(def.id, run);
    this.emit({ type: 'attached', info: run.snapshot() });
    run.announce();
    run.start();
    return run.snapshot();
  }

  async detach(id: string): Promise<StreamInfo> {
    const run = this.get(id);
    const stopped = run.stop();
    this.streams.delete(id);
    const info = run.snapshot();
    this.emit({ type: 'detached', info });
    await stopped;
    return info;
  }

  list(): StreamInfo[] {
    return [...this.streams.values()].map((r) => r.snapshot());
  }

  status(id: string): StreamInfo {
    return this.get(id).snapshot();
  }

  onUpdate(listener: (u: ManagerUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.isClosed = true;
      clearInterval(this.statsTimer);
      const stopping: Promise<void>[] = [];
      for (const [id, run] of [...this.streams]) {
        stopping.push(run.stop());
        this.streams.delete(id);
        this.emit({ type: 'detached', info: run.snapshot() });
      }
      this.listeners.clear();
      await Promise.all(stopping);
      this.shared.detectScheduler.close();
    })();
    return this.closing;
  }

  /**
   * The stream's language stages (the service's, its own `inference` over them); a config that
   * cannot be used (an unset key variable, a variable a stream may not name) fails the attach.
   */
  private languageFor(def: StreamDefinition): StreamLanguageLease | undefined {
    const language = this.shared.language;
    if (!language) {
      if (def.inference !== undefined && Object.values(def.inference).some((v) => v !== false))
        throw new ManagerError(
          'VIGIL_ERR_INVALID_ARGUMENT',
          'inference: this analyzer runs no language stages (start it with the service, vigil run)',
        );
      return undefined;
    }
    try {
      return language.acquire(def.id, def.inference);
    } catch (cause) {
      throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', (cause as Error).message, { cause });
    }
  }

  private get(id: string): StreamRun {
    const run = typeof id === 'string' ? this.streams.get(id) : undefined;
    if (!run) throw new ManagerError('VIGIL_ERR_STREAM_NOT_FOUND', `no stream named ${JSON.stringify(id)}`);
    return run;
  }

  private emit(u: ManagerUpdate): void {
    for (const l of this.listeners) {
      try {
        l(u);
      } catch {
        // A bad listener must not break a stream (mediasoup's safeEmit).
      }
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const run of this.streams.values()) run.sample(now);
    if (this.streams.size > 0) this.emit({ type: 'stats', streams: this.list() });
  }
}

export function createManager(deps: ManagerDeps): Manager {
  return new StreamManager(deps);
}
