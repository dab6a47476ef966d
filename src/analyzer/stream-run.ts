/**
 * One attached stream's lifetime: opens its source, runs its pipeline (src/analyzer/stream-runner),
 * keeps its StreamInfo (state, counters, fps, latency), turns ingest outages into stream.down /
 * stream.recovered events, and tells the sink and the manager's listeners. It owns every
 * subscription it makes; `stop()` ends them and resolves once the source is closed.
 */
import type { Subscription } from 'rxjs';
import { tap } from 'rxjs';
import type { Analysis, Keyframe, KeyframeTracks, VigilEvent } from '../core/contracts.js';
import { DEFAULT_INGEST_OPTIONS, type IngestCounters } from '../ingest/frames.js';
import type { SourceSpec } from '../ingest/source.js';
import type { Summarizer } from '../stream/index.js';
import type { InferenceSlots } from './admission.js';
import type { StreamDefinition } from './definition.js';
import type { FrameSource, OpenedFrames } from './frame-source.js';
import { StreamFlow } from './flow.js';
import { vadSamples, type VadProvider } from './speech.js';
import {
  newCounters,
  newRunId,
  streamPipeline,
  type AnalyzeKeyframe,
  type StreamSink,
} from './stream-runner.js';
import {
  ENDED,
  errorInfo,
  nextState,
  type IngestStatus,
  type ManagerUpdate,
  type StreamInfo,
  type StreamState,
} from './stream-state.js';
import { COCO_LABELS } from '../infer/index.js';
import type { DetectScheduler } from './detect-scheduler.js';
import type { StreamLanguage, StreamLanguageLease } from './language.js';

/** The sink gains optional hooks for status and analysed keyframes (with pixels). */
export interface ManagerSink extends StreamSink {
  status?(streamId: string, info: StreamInfo): Promise<void>;
  keyframe?(keyframe: Keyframe, analysis: Analysis): Promise<void>;
  /** A keyframe's confirmed tracks, after tracking (annotated evidence). */
  tracked?(tracks: KeyframeTracks): Promise<void>;
}

/** What every stream of a manager shares. */
export interface StreamRunShared {
  analyze: AnalyzeKeyframe;
  sink: ManagerSink;
  frameSource: FrameSource;
  summarizer?: () => Summarizer;
  vad?: VadProvider;
  /** Audio chunks waiting for the VAD per live stream. */
  liveVadQueue: number;
  defaultWindowMs: number;
  maxKeyframeAgeMs: number;
  inferenceSlots?: InferenceSlots;
  /** The detection budget between keyframes that every live stream shares. */
  detectScheduler: DetectScheduler;
  /** Language stages (captions, model summaries, speech to text) per stream; absent: none. */
  language?: StreamLanguage;
}

export class StreamRun {
  readonly info: StreamInfo;
  readonly ingest: IngestCounters = { framesIn: 0, dropped: {} };
  private fpsSample: { atMs: number; frames: number };
  private readonly subscriptions: Subscription[] = [];
  private opened: OpenedFrames | undefined;
  private lastPtsNs = 0;
  private outages = 0;
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly def: StreamDefinition,
    private readonly spec: SourceSpec,
    private readonly shared: StreamRunShared,
    /** Where updates go (the manager forwards them while this run is attached). */
    private readonly emit: (u: ManagerUpdate) => void,
    /** This stream's language stages (released when it stops); absent: none. */
    private readonly language?: StreamLanguageLease,
  ) {
    const now = Date.now();
    this.info = {
      id: def.id,
      source: spec.display,
      state: 'connecting',
      live: def.live ?? true,
      windowMs: def.windowMs ?? shared.defaultWindowMs,
      runId: newRunId(),
      attachedAtMs: now,
      lastFrameAtMs: null,
      endedAtMs: null,
      counters: { ...newCounters(), ingestDropped: 0, sinkFailed: 0 },
      fps: 0,
      latencyMs: null,
      error: null,
      attempt: 0,
    };
    this.fpsSample = { atMs: now, frames: 0 };
  }

  get id(): string {
    return this.info.id;
  }

  get ended(): boolean {
    return ENDED.includes(this.info.state);
  }

  /** A copy of the info (listeners and callers cannot change the run's own). */
  snapshot(): StreamInfo {
    return {
      ...this.info,
      counters: { ...this.info.counters },
      error: this.info.error ? { ...this.info.error } : null,
    };
  }

  /** Tells the sink the run exists (state `connecting`). */
  announce(): void {
    this.sinkCall(this.shared.sink.status?.(this.info.id, this.snapshot()));
  }

  /** Opens the source and starts the pipeline; a synchronous failure fails this stream only. */
  start(): void {
    try {
      this.open();
    } catch (err) {
      this.setState('failed', err);
    }
  }

  /**
   * Stops the pipeline (state `stopped` unless it had ended) and resolves once the source is closed.
   * Idempotent.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.unsubscribe();
      this.setState('stopped');
      this.language?.release();
      await this.opened?.close?.();
    })();
    return this.stopping;
  }

  /** Recomputes fps and the ingest's drop total (the manager's stats tick). */
  sample(now: number): void {
    const dt = now - this.fpsSample.atMs;
    if (dt <= 0) return;
    const frames = this.info.counters.frames;
    this.info.fps = Math.round(((frames - this.fpsSample.frames) * 10000) / dt) / 10;
    this.fpsSample = { atMs: now, frames };
    this.info.counters.ingestDropped = Object.values(this.ingest.dropped).reduce((a, b) => a + b, 0);
  }

  private unsubscribe(): void {
    for (const s of this.subscriptions.splice(0)) s.unsubscribe();
  }

  private sinkCall(p: Promise<void> | undefined): void {
    // The sink (publisher) buffers and retries itself; a failure here is counted, never fatal.
    void p?.catch(() => {
      this.info.counters.sinkFailed++;
    });
  }

  private setState(state: StreamState, err?: unknown): void {
    if (this.info.state === state && err === undefined) return;
    if (this.ended) return;
    this.info.state = state;
    if (err !== undefined) this.info.error = errorInfo(err);
    if (ENDED.includes(state)) this.info.endedAtMs = Date.now();
    const info = this.snapshot();
    this.sinkCall(this.shared.sink.status?.(this.info.id, info));
    this.emit({ type: 'state', info });
  }

  private open(): void {
    const { def, spec, shared, info } = this;
    const live = info.live;
    // RTSP audio is opt-in (`audio: { vad: true }`): requesting the audio stream of a camera that has
    // none keeps rtspsrc from delivering video at all (an ingest limitation, see the README).
    const audioWanted = def.audio?.vad ?? spec.kind !== 'rtsp';
    const vad = audioWanted ? shared.vad : undefined;
    const flow = new StreamFlow(live, def.inferQueue ?? 4, shared.liveVadQueue, vad !== undefined);
    const opened = shared.frameSource(
      spec,
      {
        ...DEFAULT_INGEST_OPTIONS,
        streamId: info.id,
        live,
        ...(vad ? { audio: true } : {}),
        ...(def.oneShot ? { oneShot: true } : {}),
        shouldPause: flow.shouldPause,
        shouldPauseAudio: flow.shouldPauseAudio,
      },
      this.ingest,
    );
    this.opened = opened;
    const frames = opened.frames.pipe(
      tap((f) => {
        this.lastPtsNs = f.ptsNs;
        flow.video(f.ptsNs);
        info.lastFrameAtMs = Date.now();
        if (info.state === 'connecting') this.setState('live');
      }),
    );
    if (opened.status) {
      this.subscriptions.push(
        opened.status.subscribe({
          next: (raw) => this.onIngestStatus(typeof raw === 'string' ? { state: raw } : raw),
          error: () => undefined,
        }),
      );
    }
    const sink: StreamSink = {
      summary: async (s) => this.sinkCall(shared.sink.summary(s)),
      event: async (ev) => this.sinkCall(shared.sink.event(ev)),
      detections: async (a, kf) => this.sinkCall(shared.sink.detections?.(a, kf)),
      object: async (r) => this.sinkCall(shared.sink.object?.(r)),
      shot: async (r) => this.sinkCall(shared.sink.shot?.(r)),
      caption: async (c) => this.sinkCall(shared.sink.caption?.(c)),
      transcript: async (t) => this.sinkCall(shared.sink.transcript?.(t)),
    };
    const pipeline = streamPipeline(
      {
        streamId: info.id,
        frames,
        analyze: shared.analyze,
        sink,
        windowMs: info.windowMs,
        runId: info.runId,
        live,
        ...(def.keyframes ? { keyframes: def.keyframes } : {}),
        ...(def.events ? { events: def.events } : {}),
        tracking: {
          ...(def.detect ? { detect: def.detect } : {}),
          ...(def.objects ? { objects: def.objects } : {}),
          ...(def.track ? { track: def.track } : {}),
        },
        knownLabels: COCO_LABELS,
        ...(live ? { detectScheduler: shared.detectScheduler } : {}),
        ...(vad && opened.audio
          ? {
              vad: vadSamples(opened.audio, {
                provider: vad,
                streamId: info.id,
                counters: info.counters,
                maxQueue: flow.vadQueue,
                ...(flow.pacer ? { pressure: flow.audioPressure, pacer: flow.pacer } : {}),
              }),
            }
          : {}),
        ...(shared.summarizer ? { summarizer: shared.summarizer() } : {}),
        // The language stages' summarizer (if any) replaces the default one; the transcriber needs the audio.
        ...(this.language && Object.keys(this.language.fields).length > 0
          ? {
              ...this.language.fields,
              ...(vad && opened.audio ? { audio: opened.audio } : {}),
              onCaption: (caption) => this.emit({ type: 'caption', streamId: info.id, caption }),
              onTranscript: (transcript) => this.emit({ type: 'transcript', streamId: info.id, transcript }),
            }
          : {}),
        inferConcurrency: def.inferConcurrency ?? 1,
        inferQueue: flow.inferQueue,
        ...(live ? {} : { pressure: flow.inferPressure }),
        maxKeyframeAgeMs: def.maxKeyframeAgeMs ?? shared.maxKeyframeAgeMs,
        ...(shared.inferenceSlots ? { inferenceSlots: shared.inferenceSlots } : {}),
        ...(def.cache !== undefined ? { cache: def.cache } : {}),
        onAnalysed: (kf, analysis) => {
          info.latencyMs = Math.max(0, Date.now() - kf.frame.captureTimeMs);
          this.sinkCall(shared.sink.keyframe?.(kf, analysis));
          this.emit({ type: 'keyframe', streamId: info.id, keyframe: kf, analysis });
        },
        onSummary: (summary) => this.emit({ type: 'summary', streamId: info.id, summary }),
        onEvent: (event) => this.emit({ type: 'event', streamId: info.id, event }),
        onTracked: (tracks) => {
          this.sinkCall(shared.sink.tracked?.(tracks));
          this.emit({ type: 'tracked', streamId: info.id, tracks });
        },
        onObject: (record) => this.emit({ type: 'object', streamId: info.id, record }),
        onShot: (shot) => this.emit({ type: 'shot', streamId: info.id, shot }),
      },
      info.counters,
    );
    this.subscriptions.push(
      pipeline.subscribe({
        error: (err: unknown) => {
          this.unsubscribe();
          this.setState('failed', err);
        },
        complete: () => {
          this.unsubscribe();
          this.setState('completed');
        },
      }),
    );
  }

  private onIngestStatus(s: IngestStatus): void {
    const next = nextState(this.info, s);
    if (next === null) return;
    const outage = s.state === 'down' || s.state === 'stalled';
    // One stream.down per outage, whether the source dropped or hung (stalled), then one recovered.
    if (outage || s.state === 'recovered') this.streamEvent(s);
    if (next.attempt !== undefined) this.info.attempt = next.attempt;
    if (next.state === this.info.state) {
      // A retry within the same outage: the attempt and error are updated in place (status(),
      // stats updates), with no new status message; one transition, one message.
      if (next.error !== undefined) this.info.error = errorInfo(next.error);
      return;
    }
    this.setState(next.state, next.error);
  }

  /** stream.down / stream.recovered as events (published and shown like any other). */
  private streamEvent(s: IngestStatus): void {
    const { info } = this;
    const down = s.state !== 'recovered';
    const n = down ? ++this.outages : this.outages;
    const type = down ? 'stream.down' : 'stream.recovered';
    const now = Date.now();
    const event: VigilEvent = {
      id: `${info.id}:${info.runId}:${type}:${n}`,
      type,
      streamId: info.id,
      timeMs: now,
      ptsNs: this.lastPtsNs,
      severity: down ? 'warning' : 'info',
      data: down
        ? {
            code:
              s.error?.code ??
              (s.state === 'stalled' ? 'VIGIL_ERR_SOURCE_STALLED' : 'VIGIL_ERR_SOURCE_PIPELINE'),
            message: s.error?.message ?? (s.state === 'stalled' ? 'stream stalled' : 'stream down'),
          }
        : { outageMs: s.outageMs ?? 0 },
      evidence: { streamId: info.id, keyframeId: null, ptsNs: this.lastPtsNs, timeMs: now, boxes: [] },
    };
    info.counters.events++;
    this.sinkCall(this.shared.sink.event(event));
    this.emit({ type: 'event', streamId: info.id, event });
  }
}
