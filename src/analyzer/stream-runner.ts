/**
 * Wires one stream end to end: ingest (GStreamer) → keyframe selection → inference (bounded) →
 * windows → chain-of-summary and events → publisher. The pure stages come from src/stream; the
 * edges (pipeline, model call, NATS) are passed in behind small interfaces.
 */
import {
  concatMap,
  connectable,
  EMPTY,
  filter,
  from,
  lastValueFrom,
  merge,
  mergeMap,
  Observable,
  share,
  ignoreElements,
  Subject,
  tap,
} from 'rxjs';
import type {
  Analysis,
  AudioChunk,
  Caption,
  Frame,
  Image,
  Keyframe,
  KeyframeTracks,
  ObjectRecord,
  ShotRecord,
  Summary,
  Transcript,
  VadSample,
  VigilEvent,
} from '../core/contracts.js';
import {
  admitKeyframes,
  DEFAULT_MAX_KEYFRAME_AGE_MS,
  isStale,
  type InferenceSlots,
  type Slot,
} from './admission.js';
import {
  AnalysisCache,
  cachedAnalyze,
  chainSummaries,
  createStructuredSummarizer,
  detectEvents,
  detectSpeech,
  selectKeyframes,
  slidingWindows,
  type AnalysedKeyframe,
  type CacheOptions,
  type CacheStats,
  type EventOptions,
  type KeyframeOptions,
  type Summarizer,
} from '../stream/index.js';
import { newSpeechCounters, type SpeechCounters } from './speech.js';
import { CaptionSelector } from '../stream/caption-select.js';
import { ShotRecorder } from '../stream/shot-records.js';
import type { MediaFrame, WindowAnnotation } from '../stream/windows.js';
import type { Captioner } from '../infer/captioner.js';
import { transcribeSpeech, type Transcriber } from './transcriber.js';
import { releaseFrame } from '../ingest/frames.js';
import { parseRules } from '../stream/rules.js';
import { validateTrackOptions, type TrackStreamOptions } from '../stream/track-options.js';
import { DetectScheduler } from './detect-scheduler.js';
import type { TrackedKeyframe } from '../stream/tracker.js';
import { rebaseStreamTime } from './stream-time.js';
import { TrackingStage, type DetectFrame, type TrackingCounters } from './tracking-stage.js';

/** Files: times a keyframe whose analysis came too late is asked again before it counts as unavailable. */
export const FILE_DEADLINE_RETRIES = 2;

/** Files: wall time without any progress before open windows close anyway (the model every call of which failed). */
const FILE_IDLE_CLOSE_MS = 60_000;

export type AnalyzeKeyframe = (keyframe: Keyframe) => Promise<Analysis>;

export interface StreamSink {
  summary(s: Summary): Promise<void>;
  event(e: VigilEvent): Promise<void>;
  detections?(a: Analysis, keyframe: Keyframe): Promise<void>;
  /** Tracked objects' records (vigil.<stream>.object). */
  object?(r: ObjectRecord): Promise<void>;
  /** Shot records (vigil.<stream>.shot): one per shot, once it has ended. */
  shot?(r: ShotRecord): Promise<void>;
  /** `vigil.<stream>.caption` (language stages). */
  caption?(c: Caption): Promise<void>;
  /** `vigil.<stream>.transcript` (language stages). */
  transcript?(t: Transcript): Promise<void>;
}

/** Includes the audio branch's counters (audio chunks, VAD windows, drops, failures, skips). */
export interface StreamCounters extends SpeechCounters, TrackingCounters {
  frames: number;
  keyframes: number;
  analysed: number;
  /** Keyframes dropped because inference was behind (bounded queue, oldest dropped). */
  inferDropped: number;
  /** Live keyframes past their deadline (`maxKeyframeAgeMs`) when their turn came: not sent to the model. */
  inferStale: number;
  inferFailed: number;
  /** Files only: analyses asked again after the server answered too late (see FILE_DEADLINE_RETRIES). */
  inferRetried: number;
  summaries: number;
  events: number;
  /** Keyframes answered from the near-duplicate cache instead of the model. */
  cacheHits: number;
  /** Object records published. */
  objectRecords: number;
  /** Shot records published. */
  shotRecords: number;
}

export interface StreamRunnerOptions {
  streamId: string;
  frames: Observable<Frame>;
  analyze: AnalyzeKeyframe;
  sink: StreamSink;
  keyframes?: KeyframeOptions;
  events?: EventOptions;
  windowMs: number;
  /** Distance between window starts (default windowMs: tumbling windows). */
  hopMs?: number;
  /** Windows rolled up into one segment summary (default 6). */
  segmentWindows?: number;
  /** Scene cuts after which a segment closes at its last shot boundary (default 8; 0 = off). */
  segmentShots?: number;
  maxKeyframesPerWindow?: number;
  /**
   * Makes message ids unique per attach (JetStream de-duplicates by id): default a fresh
   * base-36 timestamp each time the pipeline is subscribed.
   */
  runId?: string;
  /** Live streams close windows on wall time too; files (fast mode) wait for their analyses. */
  live?: boolean;
  /** Near-duplicate cache in front of the model; false turns it off. */
  cache?: CacheOptions | false;
  /** Voice-activity samples from the audio branch, for speech.started / speech.stopped. */
  vad?: Observable<VadSample>;
  summarizer?: Summarizer;
  inferConcurrency?: number;
  inferQueue?: number;
  /**
   * Live streams: a keyframe captured longer ago than this (ms of wall time) when its turn for the
   * model comes is not analysed; it is counted (`inferStale`) and passed on with a missing analysis.
   * Default 2000; 0 turns the deadline off. Ignored in fast mode (`live: false`).
   */
  maxKeyframeAgeMs?: number;
  /** Process-wide bound on keyframes in flight to the model, shared by streams (fair, round-robin). */
  inferenceSlots?: InferenceSlots;
  /** Wall clock for the deadline (default Date.now). */
  now?: () => number;
  /**
   * Shared with the ingest's `shouldPause` in fast mode: keyframes selected but not yet analysed.
   * The runner keeps it current; ingest pauses decoding while it is at the queue bound.
   */
  pressure?: { pending: number };
  /**
   * Tracking: detection cadence between keyframes (`detect`), the classes tracked (`objects`) and
   * the track confirmation and exit settings (`track`); see stream/track-options.ts. Ignored when
   * `events.tracker` is false.
   */
  tracking?: TrackStreamOptions;
  /** The model's class names: `objects` naming another is a config error. */
  knownLabels?: readonly string[];
  /**
   * Process-wide detection budget for the cadence, shared fairly by streams. Default: one of the
   * stream's own (live: `detect.fps` per second; fast mode: no rate limit, one at a time).
   */
  detectScheduler?: DetectScheduler;
  /** Detection of a frame between keyframes (default: `analyze` on the frame, its detections). */
  detect?: DetectFrame;
  onSummary?: (s: Summary) => void;
  onObject?: (r: ObjectRecord) => void;
  /** Each tracked keyframe's confirmed tracks seen in it (annotated evidence). Throwing is ignored. */
  onTracked?: (t: KeyframeTracks) => void;
  onShot?: (r: ShotRecord) => void;
  onEvent?: (e: VigilEvent) => void;
  /**
   * Called once per analysed keyframe while it still carries its model-size RGB pixels (evidence
   * images, live view); must not keep the pixels past the call. Throwing here is ignored.
   */
  onAnalysed?: (keyframe: Keyframe, analysis: Analysis) => void;
  // --- Language stages (src/analyzer/language.ts); all absent: the stream runs as without them. ---
  /** Captions selected keyframes (and answers the `verify` prompts of alert rules). */
  captioner?: Captioner;
  /** Captions per window at most (default 3). */
  captionsPerWindow?: number;
  /** Speech to text of the VAD's speech segments; needs `vad` and `audio`. */
  transcriber?: Transcriber;
  /** The source's audio chunks (16 kHz mono S16), for the transcriber. */
  audio?: Observable<AudioChunk>;
  onCaption?: (c: Caption) => void;
  onTranscript?: (t: Transcript) => void;
}

/**
 * Keyframes keep their small gray frame for evidence, but not the model-size pixels. Never reads
 * `frame.model` when ingest has not converted it yet (a cache hit, a stale keyframe): reading it
 * would pay for an RGB conversion only to throw the pixels away.
 */
export function withoutModelPixels(kf: Keyframe): Keyframe {
  const source = kf.frame as unknown as Record<string, unknown>;
  const frame: Record<string, unknown> = {};
  for (const key of Object.keys(source)) if (key !== 'model') frame[key] = source[key];
  const d = Object.getOwnPropertyDescriptor(source, 'model');
  const converted = d && 'value' in d ? (d.value as Image) : undefined;
  frame['model'] = converted
    ? { ...converted, data: new Uint8Array(0) }
    : { width: 0, height: 0, format: 'RGB', data: new Uint8Array(0) };
  return { ...kf, frame: frame as unknown as Frame };
}

export function newCounters(): StreamCounters {
  return {
    frames: 0,
    keyframes: 0,
    analysed: 0,
    inferDropped: 0,
    inferStale: 0,
    inferFailed: 0,
    inferRetried: 0,
    summaries: 0,
    events: 0,
    cacheHits: 0,
    objectRecords: 0,
    shotRecords: 0,
    cadenceDetections: 0,
    detectDropped: 0,
    detectFailed: 0,
    detectStale: 0,
    ...newSpeechCounters(),
  };
}

/** Per-attach id token: short, NATS- and id-safe, different on every attach. */
export function newRunId(): string {
  return (
    Date.now().toString(36) +
    Math.floor(Math.random() * 36 ** 2)
      .toString(36)
      .padStart(2, '0')
  );
}

/** Runs until the source completes (a file) or errors; unsubscribe to stop a live stream. */
export function streamPipeline(
  o: StreamRunnerOptions,
  counters: StreamCounters = newCounters(),
  stats?: { cache?: () => CacheStats },
): Observable<unknown> {
  // Built per subscription, and the shared stages are connected only once every consumer is
  // subscribed: no stage runs twice, whatever the timing of the source.
  return new Observable<unknown>((subscriber) => {
    const { keyframes$, analysed$, output$, abort, close } = buildStages(o, counters, stats);
    const sub = output$.subscribe(subscriber);
    sub.add(() => abort.abort());
    sub.add(close);
    sub.add(analysed$.connect());
    sub.add(keyframes$.connect());
    return sub;
  });
}

function buildStages(o: StreamRunnerOptions, counters: StreamCounters, stats?: { cache?: () => CacheStats }) {
  const runId = o.runId ?? newRunId();
  const cache = o.cache === false ? null : new AnalysisCache(o.cache ?? {});
  if (cache && stats) stats.cache = () => cache.stats();
  const model = cache ? cachedAnalyze(cache, o.analyze) : o.analyze;
  const live = o.live !== false;
  const maxAgeMs = live ? (o.maxKeyframeAgeMs ?? DEFAULT_MAX_KEYFRAME_AGE_MS) : 0;
  const now = o.now ?? Date.now;
  const tracking =
    o.events?.tracker === false ? null : trackingStage(o, counters, runId, live, maxAgeMs, now);
  // Shot records: boundaries from the selected keyframes, what was seen from their analyses.
  const shots = new ShotRecorder({ runId });
  const shotRecords$ = new Subject<ShotRecord>();
  const shotOut = (rs: ShotRecord[]): void => rs.forEach((r) => shotRecords$.next(r));
  // Every delivered frame's time, for the windows: a window that received media is published
  // even when none of its frames became a keyframe (#22). Times only: no pixels are held.
  const media$ = new Subject<MediaFrame>();
  const keyframeSource$ = o.frames.pipe(
    // Stream time starts at the first frame (a player's 0.000), whatever the container's first PTS.
    rebaseStreamTime(),
    tap({
      next: (f) => {
        counters.frames++;
        shots.frame(f.ptsNs, f.captureTimeMs);
        media$.next({ ptsNs: f.ptsNs, captureTimeMs: f.captureTimeMs });
      },
      complete: () => media$.complete(),
      error: () => media$.complete(),
    }),
    // Frames the selector passes over (most of them) give their decoded pixels back at once
    // instead of when the garbage collector finds them; the detection cadence may pick one first.
    selectKeyframes(
      { ...o.keyframes, runId },
      {
        passedOver: (frame) => {
          tracking?.stage.passedOver(frame);
          releaseFrame(frame);
        },
      },
    ),
    tap((kf) => {
      tracking?.stage.keyframeSelected(kf);
      counters.keyframes++;
      shotOut(shots.keyframe(kf));
      if (o.pressure) o.pressure.pending++;
    }),
  );
  const keyframes$ = connectable(keyframeSource$, {
    connector: () => new Subject<Keyframe>(),
    resetOnDisconnect: false,
  });
  const slots = live ? o.inferenceSlots : undefined;
  // Waiting for a shared slot ends when the stream is unsubscribed.
  const abort = new AbortController();
  const lang = languageStages(o, live);
  const stale = (kf: Keyframe): AnalysedKeyframe => {
    counters.inferStale++;
    shotOut(shots.analysed(kf, null));
    // Passed on with a missing analysis: its window lists it, motion and scene cuts still count.
    const light = withoutModelPixels(kf);
    releaseFrame(kf.frame);
    return { keyframe: light, analysis: null };
  };
  const analyse = async (kf: Keyframe): Promise<AnalysedKeyframe | null> => {
    let analysis: Analysis;
    let slot: Slot | null = null;
    try {
      if (slots) {
        slot = await slots.acquire(o.streamId, abort.signal);
        if (slot === null) {
          // A newer keyframe of this stream took its place (or the stream stopped).
          if (!abort.signal.aborted) counters.inferDropped++;
          tracking?.stage.keyframeSkipped(kf);
          shotOut(shots.analysed(kf, null));
          return null;
        }
        if (isStale(kf, now(), maxAgeMs)) return stale(kf);
      }
      analysis = await model(kf);
      // A file has no real-time bound: a busy server's late answer is asked again, not lost.
      for (let retry = 0; !live && analysis.retryable === true && retry < FILE_DEADLINE_RETRIES; retry++) {
        counters.inferRetried++;
        analysis = await model(kf);
      }
    } finally {
      slot?.release();
      if (o.pressure) o.pressure.pending--;
    }
    shotOut(shots.analysed(kf, analysis));
    if (analysis.cachedFrom) counters.cacheHits++;
    if (analysis.available) counters.analysed++;
    else counters.inferFailed++;
    if (o.onAnalysed) {
      try {
        o.onAnalysed(kf, analysis);
      } catch {
        // A hook must not break the stream.
      }
    }
    // Reads the model-size pixels now (JPEG encoded before the first await); files wait for the
    // caption so it lands in its window, live streams do not wait.
    const captioned = lang.afterAnalysis(kf, analysis);
    const light = withoutModelPixels(kf);
    // Done with the pixels (a cache hit never read them).
    releaseFrame(kf.frame);
    if (captioned !== null && !live) await captioned;
    if (o.sink.detections) await o.sink.detections(analysis, light);
    return { keyframe: light, analysis };
  };
  const analysedSource$ = keyframes$.pipe(
    admitKeyframes((kf) => from(analyse(kf)), {
      maxAgeMs,
      now,
      concurrency: o.inferConcurrency ?? 1,
      maxQueue: o.inferQueue ?? 4,
      onDrop: (kf) => {
        tracking?.stage.keyframeSkipped(kf);
        shotOut(shots.analysed(kf, null));
        releaseFrame(kf.frame);
        counters.inferDropped++;
        if (o.pressure) o.pressure.pending--;
      },
      onStale: (kf) => {
        if (o.pressure) o.pressure.pending--;
        return stale(kf);
      },
    }),
    filter((x): x is AnalysedKeyframe => x !== null),
    tap({
      next: (item) => tracking?.stage.analysed(item),
      complete: () => {
        tracking?.stage.keyframesComplete();
        shotOut(shots.finish());
        shotRecords$.complete();
      },
      error: (err: unknown) => {
        tracking?.stage.error(err);
        shotRecords$.complete();
      },
    }),
  );
  const analysed$ = connectable(analysedSource$, {
    connector: () => new Subject<AnalysedKeyframe>(),
    resetOnDisconnect: false,
  });
  // With tracking, windows and events see keyframes whose detections are the confirmed tracks'.
  const keyframeView$: Observable<AnalysedKeyframe> = tracking ? tracking.stage.tracked$ : analysed$;
  // One event detector, shared: its scene.cut events and the tracker's object.entered / object.left
  // are both published and counted by the windows, so every level's counts equal the event list.
  const keyframeEvents$ = keyframeView$.pipe(detectEvents({ ...o.events, runId }), share());
  const objectEvents$: Observable<VigilEvent> = tracking
    ? tracking.stage.events$.asObservable()
    : (EMPTY as Observable<VigilEvent>);
  const summaries$ = keyframeView$.pipe(
    slidingWindows({
      windowMs: o.windowMs,
      hopMs: o.hopMs ?? o.windowMs,
      maxKeyframesPerWindow: o.maxKeyframesPerWindow ?? 256,
      // Keyframes that never reached the model are listed as missing in their window.
      pending: keyframes$,
      media: media$,
      // In fast mode analyses arrive in order as fast as the model allows: no wall-clock deadline,
      // and a long idle bound (a loaded machine stalls a file for seconds; its events still count).
      ...(o.live === false
        ? { maxOpenMs: 0, idleCloseMs: Math.max(2 * o.windowMs, FILE_IDLE_CLOSE_MS) }
        : {}),
      ...(lang.annotations ? { annotations: lang.annotations } : {}),
      events: merge(keyframeEvents$, objectEvents$),
      // The tracker's entries and exits come between keyframes: while it works, windows wait.
      ...(tracking ? { progress: tracking.stage.progress$.asObservable() } : {}),
    }),
    chainSummaries(o.summarizer ?? createStructuredSummarizer(), {
      runId,
      rollup: {
        segmentWindows: o.segmentWindows ?? 6,
        ...(o.segmentShots !== undefined ? { segmentShots: o.segmentShots } : {}),
      },
    }),
    concatMap(async (s) => {
      await o.sink.summary(s);
      counters.summaries++;
      o.onSummary?.(s);
      return s;
    }),
  );
  const speech$ = o.vad ? o.vad.pipe(detectSpeech({ runId }), share()) : EMPTY;
  const events$ = merge(keyframeEvents$, objectEvents$, speech$).pipe(
    mergeMap(async (raw) => {
      const e = await lang.verify(raw);
      await o.sink.event(e);
      counters.events++;
      o.onEvent?.(e);
      return e;
    }, 8),
  );
  const records$ = tracking
    ? tracking.stage.records$.pipe(
        mergeMap(async (r) => {
          if (o.sink.object) await o.sink.object(r);
          counters.objectRecords++;
          o.onObject?.(r);
          return r;
        }, 8),
      )
    : EMPTY;
  // Annotated evidence: the confirmed tracks seen in each keyframe, told as the keyframe is tracked.
  const onTracked = o.onTracked;
  const trackedBoxes$ =
    tracking && onTracked
      ? tracking.stage.tracked$.pipe(
          tap((t) => {
            try {
              onTracked(keyframeTracks(t));
            } catch {
              // A hook must not break the stream.
            }
          }),
          ignoreElements(),
        )
      : EMPTY;
  const shotPublished$ = shotRecords$.pipe(
    concatMap(async (r) => {
      if (o.sink.shot) await o.sink.shot(r);
      counters.shotRecords++;
      o.onShot?.(r);
      return r;
    }),
  );
  const close = (): void => {
    shotRecords$.complete();
    tracking?.stage.close();
    tracking?.ownScheduler?.close();
  };
  const transcripts$ =
    o.transcriber && o.audio && o.vad
      ? transcribeSpeech(o.audio, speech$, { streamId: o.streamId, transcriber: o.transcriber }).pipe(
          concatMap(async (t) => {
            lang.annotate({ transcript: t });
            await o.sink.transcript?.(t);
            o.onTranscript?.(t);
            return t;
          }),
        )
      : EMPTY;
  return {
    keyframes$,
    analysed$,
    output$: merge(summaries$, events$, records$, transcripts$, trackedBoxes$, shotPublished$),
    abort,
    close,
  };
}

/** The confirmed tracks seen (not coasting) in a tracked keyframe. */
export function keyframeTracks(t: TrackedKeyframe): KeyframeTracks {
  const f = t.keyframe.frame;
  return {
    streamId: f.streamId,
    keyframeId: t.keyframe.id,
    ptsNs: f.ptsNs,
    sourceWidth: f.sourceWidth,
    sourceHeight: f.sourceHeight,
    tracks: t.tracking.tracks
      .filter((v) => !v.occluded && v.lastKeyframeId === t.keyframe.id)
      .map((v) => ({ trackId: v.id, label: v.label, box: v.box, score: v.score })),
  };
}

/** The stream's tracking stage, its cadence lane and (without a shared one) its own scheduler. */
function trackingStage(
  o: StreamRunnerOptions,
  counters: StreamCounters,
  runId: string,
  live: boolean,
  maxAgeMs: number,
  now: () => number,
): { stage: TrackingStage; ownScheduler: DetectScheduler | null } {
  const resolved = validateTrackOptions(
    o.tracking ?? {},
    o.knownLabels ? { knownLabels: o.knownLabels } : {},
  );
  const base = o.events?.tracker === false ? {} : (o.events?.tracker ?? {});
  const ownScheduler = o.detectScheduler
    ? null
    : new DetectScheduler(
        live ? { ratePerS: resolved.detect.fps, burst: 1 } : { ratePerS: 0, maxInFlight: 1 },
      );
  const scheduler = o.detectScheduler ?? ownScheduler!;
  // Fast mode applies back-pressure instead of dropping: room for what ingest sends before it pauses.
  const maxQueue = live
    ? resolved.detect.maxQueue
    : Math.max(resolved.detect.maxQueue, (o.inferQueue ?? 4) * 2 + 4);
  const lane = scheduler.open(o.streamId, maxQueue);
  const detect: DetectFrame =
    o.detect ??
    (async (frame) => {
      const a = await o.analyze({
        id: `${o.streamId}:${frame.seq}`,
        frame,
        reason: 'motion',
        motionScore: 0,
        sceneScore: 0,
        sincePreviousMs: 0,
      });
      return a.available ? a.detections : null;
    });
  const stage = new TrackingStage({
    streamId: o.streamId,
    runId,
    tracker: { ...base, ...resolved.tracker },
    cadence: { options: resolved.detect, lane, detect },
    zones: parseRules(o.events?.rules, 'events.rules'),
    counters,
    ...(live ? {} : o.pressure ? { pressure: o.pressure } : {}),
    // Fast mode lets ingest run up to inferQueue keyframes ahead of the model: the cadence results
    // waiting behind those analyses must not give any of them up.
    ...(live ? {} : { maxWaiting: Math.max(256, (o.inferQueue ?? 4) * 64) }),
    maxAgeMs,
    // Live: an overdue exit waits for running cadence detections at most `track.exitDeadlineMs`
    // (object.left within maxLostMs + 1 s of the last sighting however slow the model is).
    ...(live ? { exitDeadlineMs: resolved.exitDeadlineMs } : {}),
    now,
    checkSourceFps: o.tracking?.detect?.fps !== undefined,
  });
  return { stage, ownScheduler };
}

const EMPTY_LANGUAGE = {
  annotations: undefined,
  afterAnalysis: (): null => null,
  annotate: (): void => undefined,
  verify: (e: VigilEvent): Promise<VigilEvent> => Promise.resolve(e),
};

/**
 * The per-stream part of the language stages: which keyframes to caption, the captions and
 * transcripts going into the windows, the alert checks. Without a captioner or transcriber it is
 * inert (no subject, no copies, no awaits): the stream runs exactly as before.
 */
function languageStages(o: StreamRunnerOptions, live: boolean) {
  const captioner = o.captioner;
  const verifyPrompts = new Map<string, string>();
  for (const r of (o.events?.rules ?? []) as { name?: string; verify?: { prompt?: string } }[])
    if (r.name && r.verify?.prompt) verifyPrompts.set(`alert.${r.name}`, r.verify.prompt);
  if (captioner === undefined && o.transcriber === undefined) return EMPTY_LANGUAGE;
  const annotations = new Subject<WindowAnnotation>();
  const annotate = (a: WindowAnnotation): void => annotations.next(a);
  const selector = captioner
    ? new CaptionSelector({ windowMs: o.windowMs, maxPerWindow: o.captionsPerWindow ?? 3 })
    : null;
  /** Model-size images of the latest analysed keyframes, for alert checks (only with verify rules). */
  const recent = new Map<string, Image>();
  const publish = async (c: Caption): Promise<void> => {
    annotate({ caption: c });
    try {
      await o.sink.caption?.(c);
    } catch {
      // The publisher counts its own failures; a caption never breaks the stream.
    }
    o.onCaption?.(c);
  };
  const afterAnalysis = (kf: Keyframe, analysis: Analysis): Promise<void> | null => {
    if (captioner === undefined || selector === null) return null;
    if (verifyPrompts.size > 0) {
      const m = kf.frame.model;
      recent.set(kf.id, { ...m, data: Uint8Array.from(m.data) });
      while (recent.size > 8) recent.delete(recent.keys().next().value as string);
    }
    const labels = analysis.available ? [...new Set(analysis.detections.map((d) => d.label))] : [];
    const why = selector.consider({ ptsNs: kf.frame.ptsNs, reason: kf.reason }, labels);
    if (why === null) return null;
    const p = captioner
      .caption(
        { id: kf.id, streamId: o.streamId, ptsNs: kf.frame.ptsNs, captureTimeMs: kf.frame.captureTimeMs },
        kf.frame.model,
        why,
      )
      .then((r) => (r.ok ? publish(r.caption) : undefined))
      .catch(() => undefined);
    return live ? (void p, null) : p;
  };
  const verify = async (e: VigilEvent): Promise<VigilEvent> => {
    const prompt = verifyPrompts.get(e.type);
    if (prompt === undefined || captioner === undefined) return e;
    const image = e.evidence.keyframeId === null ? undefined : recent.get(e.evidence.keyframeId);
    const verification = image
      ? await captioner.verify(o.streamId, prompt, image)
      : { verdict: 'unverified' as const, answer: '', model: captioner.model, reason: 'no-image' };
    const data = { ...e.data, verification };
    if (verification.verdict === 'rejected')
      return { ...e, id: `${e.id}:rejected`, type: `${e.type}.rejected`, data };
    return { ...e, data };
  };
  return { annotations: annotations.asObservable(), afterAnalysis, annotate, verify };
}

export async function runStreamToEnd(o: StreamRunnerOptions, counters?: StreamCounters): Promise<void> {
  await lastValueFrom(streamPipeline(o, counters), { defaultValue: undefined });
}
