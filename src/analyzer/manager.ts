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
import { Observable, Subject, tap, type Subscription } from 'rxjs';
import type { Analysis, AudioChunk, Frame, Keyframe, Summary, VigilEvent } from '../core/contracts.js';
import { VigilError } from '../core/errors.js';
import { DEFAULT_INGEST_OPTIONS, type IngestCounters, type IngestOptions } from '../ingest/frames.js';
import { openStream } from '../ingest/stream-source.js';
import { parseSource, type SourceSpec } from '../ingest/source.js';
import { validateStreamId } from '../publish/subjects.js';
import {
  AnalysisCache,
  parseEventOptions,
  parseKeyframeOptions,
  type CacheOptions,
  type EventOptions,
  type KeyframeOptions,
  type Summarizer,
} from '../stream/index.js';
import {
  newCounters,
  newRunId,
  streamPipeline,
  type AnalyzeKeyframe,
  type StreamCounters,
  type StreamSink,
} from './stream-runner.js';
import { checkMaxKeyframeAgeMs, DEFAULT_MAX_KEYFRAME_AGE_MS, InferenceSlots } from './admission.js';
import { COCO_LABELS } from '../infer/index.js';
import { validateTrackOptions, type TrackStreamOptions } from '../stream/track-options.js';
import { DetectScheduler } from './detect-scheduler.js';
import { AudioPacer, vadSamples, type VadProvider } from './speech.js';

export type ManagerErrorCode =
  | 'VIGIL_ERR_STREAM_EXISTS'
  | 'VIGIL_ERR_STREAM_NOT_FOUND'
  | 'VIGIL_ERR_STREAM_LIMIT'
  | 'VIGIL_ERR_INVALID_ARGUMENT'
  | 'VIGIL_ERR_CLOSED';

export class ManagerError extends VigilError {
  constructor(code: ManagerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** What a user asks for when attaching a stream (HTTP body, NATS request, config file entry). */
export interface StreamDefinition {
  /** NATS-safe token (1-64 of `A-Z a-z 0-9 _ -`): the `<stream>` in `vigil.<stream>.…`. */
  id: string;
  /** File path, file:, rtsp(s)://, http(s):// (HLS) or test:<pattern>. Credentials stay out of logs. */
  url: string;
  /** true: at the stream's own pace, drop when behind; false: as fast as possible, never drop (default: true). */
  live?: boolean;
  /** Summary window length, ms (default from the manager, 10000). */
  windowMs?: number;
  keyframes?: KeyframeOptions;
  events?: EventOptions;
  /** Keyframes analysed at once for this stream (default 1). */
  inferConcurrency?: number;
  /** Keyframes waiting for inference (default 4); live streams drop the oldest beyond it. */
  inferQueue?: number;
  /**
   * Live streams: a keyframe older than this (ms of wall time since capture) when its turn for the
   * model comes is not analysed but counted as dropped (`stale`) and listed as missing in its
   * window (default from the manager, 2000; 0 = no deadline). Ignored by files in fast mode.
   */
  maxKeyframeAgeMs?: number;
  /** Near-duplicate cache in front of the model: false turns it off, an object tunes it (default on). */
  cache?: CacheOptions | false;
  /**
   * The audio branch. `vad` (default true, but false for RTSP, where it must be asked for): voice
   * activity (Silero VAD) on the source's audio, for speech.started / speech.stopped, when the
   * service has a VAD (the `silero_vad` model is served); false: no audio branch at all.
   */
  audio?: { vad?: boolean };
  /** Detection cadence between keyframes, tracked classes, track settings (stream/track-options.ts). */
  detect?: TrackStreamOptions['detect'];
  objects?: TrackStreamOptions['objects'];
  track?: TrackStreamOptions['track'];
}

const DEFINITION_KEYS = [
  'id',
  'url',
  'live',
  'windowMs',
  'keyframes',
  'events',
  'inferConcurrency',
  'inferQueue',
  'maxKeyframeAgeMs',
  'cache',
  'audio',
  'detect',
  'objects',
  'track',
] as const;

/**
 * Lifecycle: `connecting` → `live` (frames arrive) → `completed` (a file ended) or `failed`
 * (error) or `stopped` (detached). With a reconnecting ingest, `stalled` / `down` / `recovered`
 * come in between.
 */
export type StreamState =
  'connecting' | 'live' | 'stalled' | 'down' | 'recovered' | 'completed' | 'failed' | 'stopped';

/** Ingest-level status as the reconnecting ingest reports it (see `FrameSource`). */
export type IngestState = 'connecting' | 'live' | 'stalled' | 'down' | 'recovered';

export interface IngestStatus {
  state: IngestState;
  /** Why it is down or stalled (redacted). */
  error?: { code: string; message: string };
  /** How long the outage lasted (recovered). */
  outageMs?: number;
  /** Consecutive failed attempts so far (0 when live). */
  attempt?: number;
}

export interface StreamInfo {
  id: string;
  /** Redacted source (never carries a password). */
  source: string;
  state: StreamState;
  live: boolean;
  windowMs: number;
  /** Unique per attach: part of keyframe and event ids, so re-attaching never collides. */
  runId: string;
  attachedAtMs: number;
  /** Wall time of the latest frame, or null before the first. */
  lastFrameAtMs: number | null;
  endedAtMs: number | null;
  counters: StreamCounters & { ingestDropped: number; sinkFailed: number };
  /** Frames per second over the last couple of seconds. */
  fps: number;
  /** Capture → analysis done for the latest keyframe, ms (null before the first). */
  latencyMs: number | null;
  /** The latest error (kept after recovery, replaced by the next one). */
  error: { code: string; message: string } | null;
  /** Consecutive failed connection attempts of the current outage (0 when frames flow). */
  attempt: number;
}

/** Updates for live views (the web page): typed, delivered synchronously, listener errors isolated. */
export type ManagerUpdate =
  | { type: 'attached'; info: StreamInfo }
  | { type: 'detached'; info: StreamInfo }
  | { type: 'state'; info: StreamInfo }
  | { type: 'stats'; streams: StreamInfo[] }
  /** The keyframe still carries its model-size RGB pixels here (use them before returning). */
  | { type: 'keyframe'; streamId: string; keyframe: Keyframe; analysis: Analysis }
  | { type: 'summary'; streamId: string; summary: Summary }
  | { type: 'event'; streamId: string; event: VigilEvent };

/** The sink gains optional hooks for status and analysed keyframes (with pixels). */
export interface ManagerSink extends StreamSink {
  status?(streamId: string, info: StreamInfo): Promise<void>;
  keyframe?(keyframe: Keyframe, analysis: Analysis): Promise<void>;
}

/** Opens a stream's frames; `status` (optional) reports reconnect states of a resilient ingest. */
export type FrameSource = (
  spec: SourceSpec,
  options: IngestOptions,
  counters: IngestCounters,
) => {
  frames: Observable<Frame>;
  /** A bare state, or a state with details (the error of `down`, the outage of `recovered`). */
  status?: Observable<IngestState | IngestStatus>;
  /** Audio chunks (16 kHz mono S16) when `options.audio` is set and the source has audio. */
  audio?: Observable<AudioChunk>;
};

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

interface Entry {
  info: StreamInfo;
  sub: Subscription | undefined;
  statusSub: Subscription | undefined;
  fpsSample: { atMs: number; frames: number };
  ingest: IngestCounters;
}

/**
 * The default: src/ingest's reconnecting StreamSource (backoff, frame watchdog), opened on
 * subscribe and closed on unsubscribe; its transitions become the stream's state.
 */
export const defaultFrameSource: FrameSource = (spec, options, counters) => {
  const details = new Subject<IngestStatus>();
  // Relayed from the source opened by the frames' subscription (the audio's lifetime is the frames').
  const audio = new Subject<AudioChunk>();
  const frames = new Observable<Frame>((subscriber) => {
    const source = openStream(spec, options);
    counters.dropped = source.counters.dropped;
    const audioSub = options.audio ? source.audio.subscribe(audio) : undefined;
    const statusSub = source.status.subscribe((s) => {
      switch (s.state) {
        case 'connecting':
          // A retry carries the failure of the attempt before it.
          return details.next({
            state: 'connecting',
            attempt: s.attempt,
            ...(s.lastError ? { error: s.lastError } : {}),
          });
        case 'live':
          return details.next({ state: s.state, attempt: 0 });
        case 'stalled':
          // A hung source sends nothing at all: as much an outage as a dropped one.
          return details.next({
            state: 'stalled',
            attempt: s.attempt,
            error: {
              code: 'VIGIL_ERR_SOURCE_STALLED',
              message: `source ${s.source}: no frame for ${s.silentMs} ms, reconnecting`,
            },
          });
        case 'down':
          return details.next({ state: 'down', error: s.error, attempt: s.attempt });
        case 'recovered':
          return details.next({ state: 'recovered', outageMs: s.outageMs });
        default:
          // ended / failed / closed arrive as the frames' completion or error.
          return undefined;
      }
    });
    const frameSub = source.frames.subscribe(subscriber);
    return () => {
      statusSub.unsubscribe();
      audioSub?.unsubscribe();
      frameSub.unsubscribe();
      void source.close();
    };
  });
  return options.audio ? { frames, status: details, audio } : { frames, status: details };
};

/** Checks a definition's shape (unknown keys are errors) and returns it typed. */
export function parseStreamDefinition(input: unknown): StreamDefinition {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ManagerError(
      'VIGIL_ERR_INVALID_ARGUMENT',
      'stream definition must be an object with id and url',
    );
  }
  const o = input as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(DEFINITION_KEYS as readonly string[]).includes(key)) {
      throw new ManagerError(
        'VIGIL_ERR_INVALID_ARGUMENT',
        `unknown stream option '${key}' (known: ${DEFINITION_KEYS.join(', ')})`,
      );
    }
  }
  if (typeof o.id !== 'string') throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', 'id: expected a string');
  if (typeof o.url !== 'string' || o.url === '')
    throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', 'url: expected a non-empty string');
  if (o.live !== undefined && typeof o.live !== 'boolean')
    throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', 'live: expected true or false');
  const int = (key: 'windowMs' | 'inferConcurrency' | 'inferQueue', min: number, max: number) => {
    const v = o[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)) {
      throw new ManagerError(
        'VIGIL_ERR_INVALID_ARGUMENT',
        `${key}: expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`,
      );
    }
  };
  int('windowMs', 100, 24 * 3600 * 1000);
  int('inferConcurrency', 1, 64);
  int('inferQueue', 0, 10_000);
  try {
    checkMaxKeyframeAgeMs(o.maxKeyframeAgeMs);
  } catch (cause) {
    throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', (cause as Error).message, { cause });
  }
  if (
    o.cache !== undefined &&
    o.cache !== false &&
    (typeof o.cache !== 'object' || o.cache === null || Array.isArray(o.cache))
  ) {
    throw new ManagerError(
      'VIGIL_ERR_INVALID_ARGUMENT',
      'cache: expected false or an object of cache options',
    );
  }
  for (const key of ['keyframes', 'events', 'audio'] as const) {
    const v = o[key];
    if (v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v))) {
      throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', `${key}: expected an object`);
    }
  }
  if (o.audio !== undefined) {
    const a = o.audio as Record<string, unknown>;
    for (const key of Object.keys(a)) {
      if (key !== 'vad')
        throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', `unknown audio option '${key}' (known: vad)`);
    }
    if (a.vad !== undefined && typeof a.vad !== 'boolean')
      throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', 'audio.vad: expected true or false');
  }
  return o as unknown as StreamDefinition;
}

function errorInfo(err: unknown): { code: string; message: string } {
  if (err instanceof VigilError) return { code: err.code, message: err.message };
  const o = err as { code?: unknown; message?: unknown } | null;
  if (typeof o?.code === 'string' && typeof o.message === 'string')
    return { code: o.code, message: o.message };
  return { code: 'VIGIL_ERR_STREAM', message: err instanceof Error ? err.message : String(err) };
}

const ENDED: readonly StreamState[] = ['completed', 'failed', 'stopped'];

/**
 * The stream state an ingest status leads to (null: ignore it). `connecting` is only the state
 * before the first frame and the first failure: a source retrying after an outage stays `down`
 * (`stalled` while a hung source's retry has not failed yet) with the latest error and attempt
 * until frames return (`recovered`).
 */
export function nextState(
  current: Pick<StreamInfo, 'state' | 'lastFrameAtMs'>,
  s: IngestStatus,
): { state: StreamState; error?: { code: string; message: string }; attempt?: number } | null {
  if (ENDED.includes(current.state)) return null;
  const outage = s.state === 'down' || s.state === 'stalled';
  if (s.state === 'connecting') {
    const retrying = current.state !== 'connecting' || current.lastFrameAtMs !== null;
    if (!retrying) return { state: 'connecting', ...(s.attempt !== undefined ? { attempt: s.attempt } : {}) };
    // A retry. It failed before (an error): down. A hung source's first retry has no error yet: still stalled.
    const state: StreamState = s.error !== undefined || current.state !== 'stalled' ? 'down' : 'stalled';
    return {
      state,
      ...(s.error !== undefined ? { error: s.error } : {}),
      ...(s.attempt !== undefined ? { attempt: s.attempt } : {}),
    };
  }
  const attempt = s.state === 'live' || s.state === 'recovered' ? 0 : s.attempt;
  return {
    state: s.state,
    ...(outage && s.error !== undefined ? { error: s.error } : {}),
    ...(attempt !== undefined ? { attempt } : {}),
  };
}

export function createManager(deps: ManagerDeps): Manager {
  const maxStreams = deps.maxStreams ?? 16;
  if (!Number.isInteger(maxStreams) || maxStreams < 1) throw new RangeError('maxStreams must be >= 1');
  const frameSource = deps.frameSource ?? defaultFrameSource;
  const maxKeyframeAgeMs = checkMaxKeyframeAgeMs(deps.maxKeyframeAgeMs) ?? DEFAULT_MAX_KEYFRAME_AGE_MS;
  // One bound for every live stream of this process (files in fast mode do not take slots).
  const inferenceSlots =
    deps.maxInferInFlight === undefined
      ? undefined
      : new InferenceSlots({ maxInFlight: deps.maxInferInFlight });
  const detectScheduler = new DetectScheduler({ ratePerS: deps.detectBudgetPerS ?? 10 });
  const streams = new Map<string, Entry>();
  const listeners = new Set<(u: ManagerUpdate) => void>();
  let closed = false;
  let closing: Promise<void> | undefined;

  const emit = (u: ManagerUpdate) => {
    for (const l of listeners) {
      try {
        l(u);
      } catch {
        // A bad listener must not break a stream (mediasoup's safeEmit).
      }
    }
  };
  /**
   * An update about entry `e`, only while it is attached: a detached stream's last keyframe,
   * summary or state (its pipeline winding down) must not bring it back in a listener's view. The
   * sink still gets them (nothing published is lost).
   */
  const emitFor = (e: Entry, u: ManagerUpdate) => {
    if (streams.get(e.info.id) === e) emit(u);
  };
  const snapshot = (e: Entry): StreamInfo => ({
    ...e.info,
    counters: { ...e.info.counters },
    error: e.info.error ? { ...e.info.error } : null,
  });
  const sinkCall = (e: Entry, p: Promise<void> | undefined) => {
    // The sink (publisher) buffers and retries itself; a failure here is counted, never fatal.
    void p?.catch(() => {
      e.info.counters.sinkFailed++;
    });
  };
  const setState = (e: Entry, state: StreamState, err?: unknown) => {
    if (e.info.state === state && err === undefined) return;
    if (ENDED.includes(e.info.state)) return;
    e.info.state = state;
    if (err !== undefined) e.info.error = errorInfo(err);
    if (ENDED.includes(state)) e.info.endedAtMs = Date.now();
    const info = snapshot(e);
    sinkCall(e, deps.sink.status?.(e.info.id, info));
    emitFor(e, { type: 'state', info });
  };

  const statsTimer = setInterval(() => {
    const now = Date.now();
    for (const e of streams.values()) {
      const dt = now - e.fpsSample.atMs;
      if (dt <= 0) continue;
      e.info.fps = Math.round(((e.info.counters.frames - e.fpsSample.frames) * 10000) / dt) / 10;
      e.fpsSample = { atMs: now, frames: e.info.counters.frames };
      e.info.counters.ingestDropped = Object.values(e.ingest.dropped).reduce((a, b) => a + b, 0);
    }
    if (streams.size > 0) emit({ type: 'stats', streams: [...streams.values()].map(snapshot) });
  }, deps.statsIntervalMs ?? 1000);
  statsTimer.unref();

  const start = (e: Entry, def: StreamDefinition, spec: SourceSpec) => {
    const live = e.info.live;
    const inferQueue = def.inferQueue ?? 4;
    const pressure = { pending: 0 };
    // RTSP audio is opt-in (`audio: { vad: true }`): requesting the audio stream of a camera that has
    // none keeps rtspsrc from delivering video at all (an ingest limitation, see the README).
    const audioWanted = def.audio?.vad ?? spec.kind !== 'rtsp';
    const vad = audioWanted ? deps.vad : undefined;
    // Fast mode: a file's audio waits for the VAD (decoding pauses) instead of being dropped.
    const vadQueue = live ? (deps.vadQueue ?? 64) : 256;
    const audioPressure = { pending: 0 };
    const pacer = vad && !live ? new AudioPacer() : undefined;
    const opened = frameSource(
      spec,
      {
        ...DEFAULT_INGEST_OPTIONS,
        streamId: e.info.id,
        live,
        ...(vad ? { audio: true } : {}),
        shouldPause: () =>
          pressure.pending >= inferQueue || audioPressure.pending >= vadQueue / 2 || pacer?.ahead === true,
      },
      e.ingest,
    );
    const frames = opened.frames.pipe(
      tap((f) => {
        lastPtsNs = f.ptsNs;
        pacer?.video(f.ptsNs);
        e.info.lastFrameAtMs = Date.now();
        if (e.info.state === 'connecting') setState(e, 'live');
      }),
    );
    e.statusSub = opened.status?.subscribe({
      next: (raw) => {
        const s: IngestStatus = typeof raw === 'string' ? { state: raw } : raw;
        const next = nextState(e.info, s);
        if (next === null) return;
        const outage = s.state === 'down' || s.state === 'stalled';
        // One stream.down per outage, whether the source dropped or hung (stalled), then one recovered.
        if (outage || s.state === 'recovered') streamEvent(e, s);
        if (next.attempt !== undefined) e.info.attempt = next.attempt;
        if (next.state === e.info.state) {
          // A retry within the same outage: the attempt and error are updated in place (status(),
          // stats updates), with no new status message; one transition, one message.
          if (next.error !== undefined) e.info.error = errorInfo(next.error);
          return;
        }
        setState(e, next.state, next.error);
      },
      error: () => undefined,
    });
    const sink: StreamSink = {
      summary: async (s) => sinkCall(e, deps.sink.summary(s)),
      event: async (ev) => sinkCall(e, deps.sink.event(ev)),
      detections: async (a, kf) => sinkCall(e, deps.sink.detections?.(a, kf)),
      object: async (r) => sinkCall(e, deps.sink.object?.(r)),
    };
    let lastPtsNs = 0;
    let outages = 0;
    /** stream.down / stream.recovered as events (published and shown like any other). */
    const streamEvent = (en: Entry, s: IngestStatus) => {
      const down = s.state !== 'recovered';
      const n = down ? ++outages : outages;
      const type = down ? 'stream.down' : 'stream.recovered';
      const event: VigilEvent = {
        id: `${en.info.id}:${en.info.runId}:${type}:${n}`,
        type,
        streamId: en.info.id,
        timeMs: Date.now(),
        ptsNs: lastPtsNs,
        severity: down ? 'warning' : 'info',
        data: down
          ? {
              code:
                s.error?.code ??
                (s.state === 'stalled' ? 'VIGIL_ERR_SOURCE_STALLED' : 'VIGIL_ERR_SOURCE_PIPELINE'),
              message: s.error?.message ?? (s.state === 'stalled' ? 'stream stalled' : 'stream down'),
            }
          : { outageMs: s.outageMs ?? 0 },
        evidence: { streamId: en.info.id, keyframeId: null, ptsNs: lastPtsNs, timeMs: Date.now(), boxes: [] },
      };
      en.info.counters.events++;
      sinkCall(en, deps.sink.event(event));
      emitFor(en, { type: 'event', streamId: en.info.id, event });
    };
    e.sub = streamPipeline(
      {
        streamId: e.info.id,
        frames,
        analyze: deps.analyze,
        sink,
        windowMs: e.info.windowMs,
        runId: e.info.runId,
        live,
        ...(def.keyframes ? { keyframes: def.keyframes } : {}),
        ...(def.events ? { events: def.events } : {}),
        tracking: { detect: def.detect, objects: def.objects, track: def.track },
        knownLabels: COCO_LABELS,
        ...(live ? { detectScheduler } : {}),
        ...(vad && opened.audio
          ? {
              vad: vadSamples(opened.audio, {
                provider: vad,
                streamId: e.info.id,
                counters: e.info.counters,
                maxQueue: vadQueue,
                ...(pacer ? { pressure: audioPressure, pacer } : {}),
              }),
            }
          : {}),
        ...(deps.summarizer ? { summarizer: deps.summarizer() } : {}),
        inferConcurrency: def.inferConcurrency ?? 1,
        // Files in fast mode pause decoding at the bound; leave room for frames already in flight.
        inferQueue: live ? inferQueue : inferQueue + 16,
        ...(live ? {} : { pressure }),
        maxKeyframeAgeMs: def.maxKeyframeAgeMs ?? maxKeyframeAgeMs,
        ...(inferenceSlots ? { inferenceSlots } : {}),
        ...(def.cache !== undefined ? { cache: def.cache } : {}),
        onAnalysed: (kf, analysis) => {
          e.info.latencyMs = Math.max(0, Date.now() - kf.frame.captureTimeMs);
          sinkCall(e, deps.sink.keyframe?.(kf, analysis));
          emitFor(e, { type: 'keyframe', streamId: e.info.id, keyframe: kf, analysis });
        },
        onSummary: (summary) => emitFor(e, { type: 'summary', streamId: e.info.id, summary }),
        onEvent: (event) => emitFor(e, { type: 'event', streamId: e.info.id, event }),
      },
      e.info.counters,
    ).subscribe({
      error: (err: unknown) => {
        e.statusSub?.unsubscribe();
        setState(e, 'failed', err);
      },
      complete: () => {
        e.statusSub?.unsubscribe();
        setState(e, 'completed');
      },
    });
  };

  const get = (id: string): Entry => {
    const e = typeof id === 'string' ? streams.get(id) : undefined;
    if (!e) throw new ManagerError('VIGIL_ERR_STREAM_NOT_FOUND', `no stream named ${JSON.stringify(id)}`);
    return e;
  };

  const stop = (e: Entry) => {
    e.statusSub?.unsubscribe();
    e.sub?.unsubscribe();
    setState(e, 'stopped');
  };

  return {
    maxStreams,
    get closed() {
      return closed;
    },
    attach: async (input) => {
      if (closed) throw new ManagerError('VIGIL_ERR_CLOSED', 'the analyzer is shutting down');
      const def = parseStreamDefinition(input);
      try {
        validateStreamId(def.id);
        // Bad per-stream options fail the attach (with the option named), not the stream later.
        parseKeyframeOptions(def.keyframes ?? {});
        parseEventOptions(def.events ?? {});
        validateTrackOptions(def, { knownLabels: COCO_LABELS });
        if (def.cache) new AnalysisCache(def.cache);
      } catch (cause) {
        throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', (cause as Error).message, { cause });
      }
      if (streams.has(def.id)) {
        throw new ManagerError(
          'VIGIL_ERR_STREAM_EXISTS',
          `a stream named ${JSON.stringify(def.id)} is already attached: detach it first or pick another name`,
        );
      }
      if (streams.size >= maxStreams) {
        throw new ManagerError(
          'VIGIL_ERR_STREAM_LIMIT',
          `at most ${maxStreams} streams can be attached (detach one first)`,
        );
      }
      // Source errors keep their own codes (VIGIL_ERR_SOURCE_*) and carry only the redacted source.
      const spec = parseSource(def.url);
      const now = Date.now();
      const e: Entry = {
        info: {
          id: def.id,
          source: spec.display,
          state: 'connecting',
          live: def.live ?? true,
          windowMs: def.windowMs ?? deps.windowMs ?? 10_000,
          runId: newRunId(),
          attachedAtMs: now,
          lastFrameAtMs: null,
          endedAtMs: null,
          counters: { ...newCounters(), ingestDropped: 0, sinkFailed: 0 },
          fps: 0,
          latencyMs: null,
          error: null,
          attempt: 0,
        },
        sub: undefined,
        statusSub: undefined,
        fpsSample: { atMs: now, frames: 0 },
        ingest: { framesIn: 0, dropped: {} },
      };
      streams.set(def.id, e);
      const info = snapshot(e);
      emit({ type: 'attached', info });
      sinkCall(e, deps.sink.status?.(e.info.id, info));
      try {
        start(e, def, spec);
      } catch (err) {
        // A synchronous failure (bad options) fails this stream only.
        setState(e, 'failed', err);
      }
      return snapshot(e);
    },
    detach: async (id) => {
      const e = get(id);
      stop(e);
      streams.delete(id);
      const info = snapshot(e);
      emit({ type: 'detached', info });
      return info;
    },
    list: () => [...streams.values()].map(snapshot),
    status: (id) => snapshot(get(id)),
    onUpdate: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close: () => {
      closing ??= (async () => {
        closed = true;
        clearInterval(statsTimer);
        for (const [id, e] of [...streams]) {
          stop(e);
          streams.delete(id);
          emit({ type: 'detached', info: snapshot(e) });
        }
        detectScheduler.close();
        listeners.clear();
      })();
      return closing;
    },
  };
}
