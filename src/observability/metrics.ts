/**
 * Prometheus metrics of the analyzer (prom-client, one registry per process). Every per-stream
 * series carries a `stream` label whose value is a validated stream id (NATS-safe token, never a
 * source URL, so no credentials can reach a label); the number of distinct stream labels is capped
 * (`maxStreams`), and every other label comes from a closed set below. Names follow Prometheus
 * conventions: base units in the name (`_seconds`, `_bytes`), `_total` on counters.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { ConfigError } from '../core/errors.js';
import { validateStreamId } from '../core/stream-id.js';

/** Pipeline stages timed per stream (see DESIGN.md, Observability). */
export const STAGES = [
  'ingest',
  'selection',
  'inference_queue',
  'inference_compute',
  'summary',
  'publish',
] as const;
export type Stage = (typeof STAGES)[number];

/** Why a frame or keyframe was dropped. Unknown reasons from other stages count as `other`. */
export const DROP_REASONS = [
  /** A keyframe dropped because the bounded inference queue was full (oldest first). */
  'infer_queue_full',
  /** Ingest: a bounded appsink dropped the frame because JS did not pull in time. */
  'appsink',
  /** Ingest: the frame never reached the appsink (a PTS gap: network loss, late packets). */
  'upstream',
  /** Ingest: a buffer that could not be read as an image. */
  'malformed',
  /** Ingest: a decoded frame whose twin (same PTS) from the other branch never came. */
  'unpaired',
  /** A live keyframe past its deadline (maxKeyframeAgeMs since capture) when its turn came: not analysed. */
  'stale',
  'other',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** What reached NATS: per-keyframe detections (core), events and summaries (JetStream, acked). */
export const PUBLISH_KINDS = ['detections', 'event', 'summary'] as const;
export type PublishKind = (typeof PUBLISH_KINDS)[number];

export const INFERENCE_RESULTS = ['ok', 'unavailable', 'cached'] as const;
export type InferenceResult = (typeof INFERENCE_RESULTS)[number];

export const SEVERITIES = ['info', 'warning', 'critical'] as const;

/** Label value used once `maxStreams` distinct streams have series: `~` is not a valid stream id. */
export const OVERFLOW_STREAM = '~overflow';

export interface AnalyzerMetricsOptions {
  /** Most distinct `stream` label values at once (default 256); further streams share OVERFLOW_STREAM. */
  maxStreams?: number;
  /** Collect process and Node.js metrics (RSS, CPU, event loop lag, GC, heap); default true. */
  defaultMetrics?: boolean;
  /** Event loop lag sampling resolution, ms (default 10). */
  eventLoopMonitoringPrecisionMs?: number;
}

const LINT_FAILING_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

const OPTION_KEYS = ['maxStreams', 'defaultMetrics', 'eventLoopMonitoringPrecisionMs'];

/** Stage latencies range from sub-millisecond (selection) to seconds (a slow model or NATS). */
const STAGE_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Capture → NATS covers queueing and, for summaries, the window itself. */
const E2E_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Numbers a stream's stages keep themselves (StreamCounters, IngestCounters); read at scrape time. */
export interface CounterSource {
  /** Keyframes selected so far. */
  keyframes?: number;
  /** Keyframes dropped because inference was behind. */
  inferDropped?: number;
  /** Live keyframes not analysed because they were past their deadline (reason `stale`). */
  inferStale?: number;
  /** Keyframes analysed (model or cache) and those whose analysis was unavailable. */
  analysed?: number;
  inferFailed?: number;
  /** Keyframes answered from the near-duplicate cache instead of the model. */
  cacheHits?: number;
  /** Frames dropped by the ingest, by reason (any string; mapped onto DROP_REASONS). */
  dropped?: Record<string, number>;
  /** Reconnects of the source so far. */
  reconnects?: number;
  /** Cadence detection requests dropped from the stream's bounded detection queue. */
  detectDropped?: number;
}

/** What observePublisher reads (the publisher's stats()). */
export interface PublisherNumbers {
  acked: number;
  pending: number;
  dropped: number;
  retries: number;
  core: number;
}

export function normalizeDropReason(reason: string): DropReason {
  const r = reason.toLowerCase().replace(/[^a-z0-9]+/g, '_');
  return (DROP_REASONS as readonly string[]).includes(r) ? (r as DropReason) : 'other';
}

export class AnalyzerMetrics {
  readonly registry: Registry;
  readonly maxStreams: number;
  private readonly streams = new Map<string, StreamMetrics>();
  private collectHooks: (() => void)[] = [];
  private readonly included: Registry[] = [];
  private syncing = false;
  /** @internal */ readonly m: ReturnType<typeof defineMetrics>;
  /** Language-model calls (captioner, summarizer, speech to text, alert checks), per model. */
  readonly languageModels: LanguageModelMetrics;

  constructor(options: AnalyzerMetricsOptions = {}) {
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.includes(key))
        throw new ConfigError(`metrics: unknown option '${key}' (known: ${OPTION_KEYS.join(', ')})`);
    }
    const maxStreams = options.maxStreams ?? 256;
    if (!Number.isInteger(maxStreams) || maxStreams < 1)
      throw new ConfigError(`metrics: maxStreams must be a positive integer, got ${String(maxStreams)}`);
    this.maxStreams = maxStreams;
    this.registry = new Registry();
    this.m = defineMetrics(this.registry, () => this.syncAll());
    this.languageModels = new LanguageModelMetrics(this.registry);
    if (options.defaultMetrics ?? true) {
      collectDefaultMetrics({
        register: this.registry,
        eventLoopMonitoringPrecision: options.eventLoopMonitoringPrecisionMs ?? 10,
      });
      // prom-client names these gauges `_total`, which Prometheus reserves for counters (promtool
      // rejects them); the same numbers remain as nodejs_active_{handles,requests,resources}.
      for (const name of LINT_FAILING_DEFAULTS) this.registry.removeSingleMetric(name);
    }
  }

  /**
   * The metrics handle of one stream (created on first use). Throws ConfigError for an invalid id;
   * past `maxStreams` distinct streams the handle reports under OVERFLOW_STREAM.
   */
  stream(streamId: string): StreamMetrics {
    validateStreamId(streamId);
    let s = this.streams.get(streamId);
    if (s) return s;
    let own = 0;
    for (const x of this.streams.values()) if (x.label !== OVERFLOW_STREAM) own++;
    let label = streamId;
    if (own >= this.maxStreams) {
      label = OVERFLOW_STREAM;
      this.m.overflow.inc();
    }
    s = new StreamMetrics(this, streamId, label);
    this.streams.set(streamId, s);
    this.m.streams.set(this.streams.size);
    return s;
  }

  /** Forgets a detached stream: its series disappear from /metrics (frees the label budget). */
  removeStream(streamId: string): void {
    const s = this.streams.get(streamId);
    if (!s) return;
    s.sync();
    this.streams.delete(streamId);
    this.m.streams.set(this.streams.size);
    const stillUsed = [...this.streams.values()].some((x) => x.label === s.label);
    if (!stillUsed) removeStreamSeries(this.m, s.label);
  }

  /**
   * Serves another registry's metrics on the same exposition (e.g. a local inference server's
   * `vigil_infer_*` under `vigil run`). A metric name present in both is a ConfigError: one scrape
   * must never carry two metrics of the same name.
   */
  include(registry: Registry): void {
    if (registry === this.registry || this.included.includes(registry)) return;
    const names = (r: Registry) => r.getMetricsAsArray().map((x) => x.name);
    const ours = new Set([this.registry, ...this.included].flatMap(names));
    const clash = names(registry).filter((n) => ours.has(n));
    if (clash.length > 0) throw new ConfigError(`metrics: the included registry repeats ${clash.join(', ')}`);
    this.included.push(registry);
  }

  /** The text exposition (what /metrics serves): this registry, then each included one. */
  async metrics(): Promise<string> {
    const own = await this.registry.metrics();
    if (this.included.length === 0) return own;
    const parts = [own];
    const seen = new Set(this.registry.getMetricsAsArray().map((x) => x.name));
    for (const r of this.included) {
      // Names registered after include() are checked again here: a repeat is left out, not served twice.
      const clash = r.getMetricsAsArray().some((x) => seen.has(x.name));
      for (const x of r.getMetricsAsArray()) seen.add(x.name);
      if (clash) continue;
      parts.push(await r.metrics());
    }
    return parts.map((p) => (p.endsWith('\n') || p === '' ? p : `${p}\n`)).join('');
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Runs `fn` before every collection (e.g. to read a manager's stream list); returns a remover. */
  beforeCollect(fn: () => void): () => void {
    this.collectHooks.push(fn);
    return () => {
      this.collectHooks = this.collectHooks.filter((f) => f !== fn);
    };
  }

  /**
   * Exposes the NATS publisher's own numbers (read at scrape time): JetStream acks, messages
   * waiting in its retry buffer, drops and retries. One publisher per registry.
   */
  observePublisher(publisher: { stats(): PublisherNumbers }): void {
    if (this.registry.getSingleMetric('vigil_publish_pending'))
      throw new ConfigError('metrics: a publisher is already observed on this registry');
    const registers = [this.registry];
    const last = { acked: 0, dropped: 0, retries: 0, core: 0 };
    const read = () => publisher.stats();
    const counter = (key: keyof typeof last, name: string, help: string) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          const v = read()[key];
          if (v > last[key]) {
            this.inc(v - last[key]);
            last[key] = v;
          }
        },
      });
    counter('acked', 'vigil_publish_acked_total', 'Events and summaries acknowledged by JetStream');
    counter('core', 'vigil_publish_core_total', 'Core NATS publishes (detections, keyframes, status)');
    counter(
      'dropped',
      'vigil_publish_dropped_total',
      'Messages dropped from the full retry buffer (oldest first)',
    );
    counter('retries', 'vigil_publish_retries_total', 'Publish attempts that failed and were retried');
    new Gauge({
      name: 'vigil_publish_pending',
      help: 'Messages waiting in the retry buffer or awaiting their JetStream ack',
      registers,
      collect() {
        this.set(read().pending);
      },
    });
  }

  /** Ids of the streams that currently have a handle. */
  streamIds(): string[] {
    return [...this.streams.keys()];
  }

  private syncAll(): void {
    if (this.syncing) return;
    this.syncing = true;
    try {
      for (const fn of this.collectHooks) {
        try {
          fn();
        } catch {
          // A failing hook must not break the scrape.
        }
      }
      for (const s of this.streams.values()) s.sync();
    } finally {
      this.syncing = false;
    }
  }
}

function defineMetrics(registry: Registry, sync: () => void) {
  const registers = [registry];
  const stream = ['stream'] as const;
  return {
    streams: new Gauge({
      name: 'vigil_analyzer_streams',
      help: 'Streams attached to this analyzer',
      registers,
    }),
    overflow: new Counter({
      name: 'vigil_metrics_stream_overflow_total',
      help: `Streams reported under stream="${OVERFLOW_STREAM}" because the stream label cap was reached`,
      registers,
    }),
    up: new Gauge({
      name: 'vigil_stream_up',
      help: '1 while the stream delivers frames, 0 when it failed, ended or is reconnecting',
      labelNames: stream,
      registers,
    }),
    completed: new Gauge({
      name: 'vigil_stream_completed',
      help: '1 once the source ended normally (a file played to its end): not down, nothing to alert on',
      labelNames: stream,
      registers,
    }),
    lastFrame: new Gauge({
      name: 'vigil_stream_last_frame_timestamp_seconds',
      help: 'Wall-clock time of the last frame received (Unix seconds)',
      labelNames: stream,
      registers,
    }),
    targetFps: new Gauge({
      name: 'vigil_stream_target_fps',
      help: "Frames per second the stream should deliver: the source's nominal rate (from its frame timestamps)",
      labelNames: stream,
      registers,
    }),
    frames: new Counter({
      name: 'vigil_stream_frames_total',
      help: 'Frames received from the source',
      labelNames: stream,
      registers,
    }),
    keyframes: new Counter({
      name: 'vigil_stream_keyframes_total',
      help: 'Keyframes selected for analysis',
      labelNames: stream,
      registers,
      collect: sync,
    }),
    inference: new Counter({
      name: 'vigil_stream_inference_total',
      help: 'Keyframe analyses by result: ok (the model answered), unavailable (degraded mode), cached (a near-duplicate reused an analysis, no model call)',
      labelNames: ['stream', 'result'] as const,
      registers,
    }),
    dropped: new Counter({
      name: 'vigil_stream_dropped_frames_total',
      help: 'Frames or keyframes dropped, by reason',
      labelNames: ['stream', 'reason'] as const,
      registers,
    }),
    detectDropped: new Counter({
      name: 'vigil_detect_dropped_total',
      help: "Detection requests of the tracking cadence dropped from the stream's bounded queue (oldest first)",
      labelNames: stream,
      registers,
    }),
    reconnects: new Counter({
      name: 'vigil_stream_reconnects_total',
      help: 'Source reconnects',
      labelNames: stream,
      registers,
    }),
    summaries: new Counter({
      name: 'vigil_stream_summaries_total',
      help: 'Summaries published',
      labelNames: stream,
      registers,
    }),
    events: new Counter({
      name: 'vigil_stream_events_total',
      help: 'Events published, by severity',
      labelNames: ['stream', 'severity'] as const,
      registers,
    }),
    publishFailures: new Counter({
      name: 'vigil_stream_publish_failures_total',
      help: 'Publishes to NATS that failed, by kind',
      labelNames: ['stream', 'kind'] as const,
      registers,
    }),
    queueDepth: new Gauge({
      name: 'vigil_stream_queue_depth',
      help: 'Items waiting in a bounded queue (inference: keyframes selected, not yet analysed)',
      labelNames: ['stream', 'queue'] as const,
      registers,
      collect: sync,
    }),
    stage: new Histogram({
      name: 'vigil_stream_stage_duration_seconds',
      help: 'Time spent per stage: ingest (capture to runner), selection, inference_queue, inference_compute, summary, publish',
      labelNames: ['stream', 'stage'] as const,
      buckets: STAGE_BUCKETS,
      registers,
    }),
    e2e: new Histogram({
      name: 'vigil_stream_end_to_end_latency_seconds',
      help: 'Capture time of the (last) frame behind a message to its publish on NATS, by kind',
      labelNames: ['stream', 'kind'] as const,
      buckets: E2E_BUCKETS,
      registers,
    }),
  };
}

type Defined = ReturnType<typeof defineMetrics>;

function removeStreamSeries(m: Defined, label: string): void {
  const s = { stream: label };
  m.up.remove(s);
  m.completed.remove(s);
  m.lastFrame.remove(s);
  m.targetFps.remove(s);
  m.frames.remove(s);
  m.keyframes.remove(s);
  m.reconnects.remove(s);
  m.detectDropped.remove(s);
  m.summaries.remove(s);
  for (const result of INFERENCE_RESULTS) m.inference.remove({ ...s, result });
  for (const reason of DROP_REASONS) m.dropped.remove({ ...s, reason });
  for (const severity of SEVERITIES) m.events.remove({ ...s, severity });
  for (const kind of PUBLISH_KINDS) {
    m.publishFailures.remove({ ...s, kind });
    m.e2e.remove({ ...s, kind });
  }
  m.queueDepth.remove({ ...s, queue: 'inference' });
  for (const stage of STAGES) m.stage.remove({ ...s, stage });
}

/** One stream's metrics. Methods are cheap (a map lookup and an add); call them per frame. */
export class StreamMetrics {
  private sources: CounterSource[] = [];
  private readonly seen = new Map<
    CounterSource,
    {
      keyframes: number;
      inferDropped: number;
      inferStale: number;
      cacheHits: number;
      reconnects: number;
      detectDropped: number;
      dropped: Record<string, number>;
    }
  >();

  /** @internal */
  constructor(
    private readonly parent: AnalyzerMetrics,
    readonly streamId: string,
    readonly label: string,
  ) {
    const m = parent.m;
    const s = { stream: label };
    // Every series of a closed label set exists from the start (at 0), so rates and alerts work
    // before the first drop or failure.
    m.up.set(s, 0);
    m.completed.set(s, 0);
    m.frames.inc(s, 0);
    m.keyframes.inc(s, 0);
    m.reconnects.inc(s, 0);
    m.detectDropped.inc(s, 0);
    m.summaries.inc(s, 0);
    for (const result of INFERENCE_RESULTS) m.inference.inc({ ...s, result }, 0);
    for (const reason of DROP_REASONS) m.dropped.inc({ ...s, reason }, 0);
    for (const severity of SEVERITIES) m.events.inc({ ...s, severity }, 0);
    for (const kind of PUBLISH_KINDS) m.publishFailures.inc({ ...s, kind }, 0);
    m.queueDepth.set({ ...s, queue: 'inference' }, 0);
  }

  /** Reads these counters at every scrape (deltas are added; the objects stay owned by their stage). */
  track(source: CounterSource): void {
    if (this.sources.includes(source)) return;
    this.sources.push(source);
    this.seen.set(source, {
      keyframes: 0,
      inferDropped: 0,
      inferStale: 0,
      cacheHits: 0,
      reconnects: 0,
      detectDropped: 0,
      dropped: {},
    });
  }

  untrack(source: CounterSource): void {
    this.sync();
    this.sources = this.sources.filter((x) => x !== source);
    this.seen.delete(source);
  }

  setTargetFps(fps: number | undefined): void {
    if (fps === undefined) this.parent.m.targetFps.remove({ stream: this.label });
    else if (Number.isFinite(fps) && fps > 0) this.parent.m.targetFps.set({ stream: this.label }, fps);
  }

  up(isUp: boolean): void {
    this.parent.m.up.set({ stream: this.label }, isUp ? 1 : 0);
  }

  /** The source ended normally (true) or runs again (false): VigilStreamDown leaves it alone. */
  completed(done: boolean): void {
    const s = { stream: this.label };
    this.parent.m.completed.set(s, done ? 1 : 0);
    if (done) this.parent.m.up.set(s, 0);
  }

  frame(captureTimeMs: number, nowMs = Date.now()): void {
    const s = { stream: this.label };
    this.parent.m.frames.inc(s);
    this.parent.m.lastFrame.set(s, nowMs / 1000);
  }

  stage(stage: Stage, seconds: number): void {
    if (seconds >= 0 && Number.isFinite(seconds))
      this.parent.m.stage.observe({ stream: this.label, stage }, seconds);
  }

  inference(result: InferenceResult): void {
    this.parent.m.inference.inc({ stream: this.label, result });
  }

  dropped(reason: DropReason | string, n = 1): void {
    if (n > 0) this.parent.m.dropped.inc({ stream: this.label, reason: normalizeDropReason(reason) }, n);
  }

  reconnect(): void {
    this.parent.m.reconnects.inc({ stream: this.label });
  }

  summary(): void {
    this.parent.m.summaries.inc({ stream: this.label });
  }

  event(severity: string): void {
    const sev = (SEVERITIES as readonly string[]).includes(severity) ? severity : 'info';
    this.parent.m.events.inc({ stream: this.label, severity: sev });
  }

  published(kind: PublishKind, captureTimeMs: number, publishSeconds: number, nowMs = Date.now()): void {
    this.stage('publish', publishSeconds);
    const e2e = (nowMs - captureTimeMs) / 1000;
    if (e2e >= 0 && Number.isFinite(e2e)) this.parent.m.e2e.observe({ stream: this.label, kind }, e2e);
  }

  publishFailed(kind: PublishKind): void {
    this.parent.m.publishFailures.inc({ stream: this.label, kind });
  }

  /** Adds what the tracked counter sources gained since the last scrape. */
  sync(): void {
    const m = this.parent.m;
    const s = { stream: this.label };
    let depth = 0;
    for (const src of this.sources) {
      const last = this.seen.get(src)!;
      const kf = src.keyframes ?? 0;
      if (kf > last.keyframes) {
        m.keyframes.inc(s, kf - last.keyframes);
        last.keyframes = kf;
      }
      const idr = src.inferDropped ?? 0;
      if (idr > last.inferDropped) {
        m.dropped.inc({ ...s, reason: 'infer_queue_full' }, idr - last.inferDropped);
        last.inferDropped = idr;
      }
      const stale = src.inferStale ?? 0;
      if (stale > last.inferStale) {
        m.dropped.inc({ ...s, reason: 'stale' }, stale - last.inferStale);
        last.inferStale = stale;
      }
      const hits = src.cacheHits ?? 0;
      if (hits > last.cacheHits) {
        m.inference.inc({ ...s, result: 'cached' }, hits - last.cacheHits);
        last.cacheHits = hits;
      }
      const rc = src.reconnects ?? 0;
      if (rc > last.reconnects) {
        m.reconnects.inc(s, rc - last.reconnects);
        last.reconnects = rc;
      }
      const ddr = src.detectDropped ?? 0;
      if (ddr > last.detectDropped) {
        m.detectDropped.inc(s, ddr - last.detectDropped);
        last.detectDropped = ddr;
      }
      for (const [reason, n] of Object.entries(src.dropped ?? {})) {
        const before = last.dropped[reason] ?? 0;
        if (n > before) {
          this.dropped(reason, n - before);
          last.dropped[reason] = n;
        }
      }
      // Selected but neither analysed, unavailable nor dropped yet: waiting for the model.
      if (src.keyframes !== undefined)
        depth += Math.max(0, kf - (src.analysed ?? 0) - (src.inferFailed ?? 0) - idr - stale);
    }
    m.queueDepth.set({ ...s, queue: 'inference' }, depth);
  }
}

// --- Language models (captioner, summarizer, speech to text, alert checks) ---

/** Outcomes of a language-model call; the same closed set as src/infer/model-call.ts. */
export const MODEL_OUTCOMES = [
  'ok',
  'refusal',
  'empty',
  'timeout',
  'error',
  'dropped_in_flight',
  'dropped_budget',
] as const;
export const MODEL_ROLES = ['captioner', 'summarizer', 'asr', 'verifier'] as const;
/** Distinct model label values at most (the rest are 'other'). */
const MAX_MODELS = 32;

/**
 * Per model: calls by outcome (refusals, failures and drops included), latency, tokens. Labels:
 * `role` (closed set), `model` (a configured model name: at most one per role, never a URL or key).
 * Registered on the analyzer's registry; implements the stages' ModelCallObserver.
 */
export class LanguageModelMetrics {
  private readonly calls: Counter<'role' | 'model' | 'outcome'>;
  private readonly latency: Histogram<'role' | 'model'>;
  private readonly tokens: Counter<'role' | 'model' | 'kind'>;
  private readonly models = new Set<string>();
  /** The same counts kept as plain numbers, for a session's closing lines and its report. */
  private readonly totals = new Map<string, ModelCallTotals>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.calls = new Counter({
      name: 'vigil_model_calls_total',
      help: 'Language-model calls by outcome (ok, refusal, empty, timeout, error, dropped_in_flight, dropped_budget)',
      labelNames: ['role', 'model', 'outcome'],
      registers,
    });
    this.latency = new Histogram({
      name: 'vigil_model_latency_seconds',
      help: 'Latency of answered language-model calls',
      labelNames: ['role', 'model'],
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60],
      registers,
    });
    this.tokens = new Counter({
      name: 'vigil_model_tokens_total',
      help: 'Tokens reported by language models (prompt, completion)',
      labelNames: ['role', 'model', 'kind'],
      registers,
    });
  }

  observe(call: {
    role: string;
    model: string;
    outcome: string;
    latencyMs?: number;
    usage?: { promptTokens?: number; completionTokens?: number };
  }): void {
    const role = (MODEL_ROLES as readonly string[]).includes(call.role) ? call.role : 'other';
    const outcome = (MODEL_OUTCOMES as readonly string[]).includes(call.outcome) ? call.outcome : 'error';
    // Streams may bring their own models: past MAX_MODELS distinct names, the rest count as 'other'.
    let model = call.model.slice(0, 128);
    if (!this.models.has(model)) {
      if (this.models.size >= MAX_MODELS) model = 'other';
      else this.models.add(model);
    }
    this.calls.inc({ role, model, outcome });
    const key = `${role}\n${model}`;
    let t = this.totals.get(key);
    if (!t) {
      t = { role, model, calls: {}, answered: 0, latencyMsTotal: 0, promptTokens: 0, completionTokens: 0 };
      this.totals.set(key, t);
    }
    t.calls[outcome] = (t.calls[outcome] ?? 0) + 1;
    if (call.latencyMs !== undefined && outcome !== 'dropped_in_flight' && outcome !== 'dropped_budget') {
      t.answered++;
      t.latencyMsTotal += call.latencyMs;
    }
    t.promptTokens += call.usage?.promptTokens ?? 0;
    t.completionTokens += call.usage?.completionTokens ?? 0;
    if (call.latencyMs !== undefined && outcome !== 'dropped_in_flight' && outcome !== 'dropped_budget')
      this.latency.observe({ role, model }, call.latencyMs / 1000);
    if (call.usage?.promptTokens) this.tokens.inc({ role, model, kind: 'prompt' }, call.usage.promptTokens);
    if (call.usage?.completionTokens)
      this.tokens.inc({ role, model, kind: 'completion' }, call.usage.completionTokens);
  }

  /** Calls per role and model so far: outcomes, mean latency of answered calls, tokens. */
  totalsByModel(): ModelCallTotals[] {
    return [...this.totals.values()].map((t) => ({ ...t, calls: { ...t.calls } }));
  }
}

/** What one model (per role) did in a session: calls by outcome, latency, tokens. */
export interface ModelCallTotals {
  role: string;
  model: string;
  calls: Partial<Record<string, number>>;
  /** Calls that got an answer (or failed after being sent): the latency's denominator. */
  answered: number;
  latencyMsTotal: number;
  promptTokens: number;
  completionTokens: number;
}

/** One line per model for a session's end: `captioner qwen: 12 calls (10 ok, 2 refusal), 480 ms mean, 900 tokens`. */
export function formatModelTotals(t: ModelCallTotals): string {
  const n = Object.values(t.calls).reduce((a: number, b) => a + (b ?? 0), 0);
  const outcomes = Object.entries(t.calls)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ');
  const mean = t.answered > 0 ? `, ${Math.round(t.latencyMsTotal / t.answered)} ms mean` : '';
  const tokens = t.promptTokens + t.completionTokens;
  return `${t.role} ${t.model}: ${n} call${n === 1 ? '' : 's'} (${outcomes})${mean}${tokens > 0 ? `, ${tokens} tokens` : ''}`;
}
