/**
 * Instruments the multi-stream manager from the outside: its dependencies (frame source, model
 * call, sink, summarizer) are wrapped per stream, and its stream list is read at scrape time.
 *
 *   const metrics = new AnalyzerMetrics();
 *   const manager = createManager(instrumentManagerDeps(deps, metrics));
 *   observeManager(manager, metrics);
 *   startControlServer({ …, mounts: [metricsMount(metrics)] });
 *
 * Stage boundaries are those of instrumentStream (see instrument.ts).
 */
import { Observable, tap } from 'rxjs';
import type { Analysis, Frame, Keyframe } from '../core/contracts.js';
import {
  defaultFrameSource,
  type FrameSource,
  type Manager,
  type ManagerDeps,
  type ManagerSink,
  type StreamInfo,
} from '../analyzer/manager.js';
import { createStructuredSummarizer, type Summarizer } from '../stream/index.js';
import type { AnalyzerMetrics, CounterSource, PublishKind, StreamMetrics } from './metrics.js';
import { NominalFps } from './nominal-fps.js';

const ARRIVALS_KEPT = 512;
const seconds = (fromMs: number) => (performance.now() - fromMs) / 1000;

/** Ingest states that mean frames are flowing. */
const UP_STATES = new Set(['live', 'recovered']);

export function instrumentManagerDeps(deps: ManagerDeps, metrics: AnalyzerMetrics): ManagerDeps {
  /** Per stream: when each recent frame entered the runner (by seq), for queue timing. */
  const arrivals = new Map<string, Map<number, number>>();

  // The manager's own default: src/ingest's reconnecting stream source.
  const inner: FrameSource = deps.frameSource ?? defaultFrameSource;
  const frameSource: FrameSource = (spec, options, counters) => {
    const id = options.streamId;
    const m = metrics.stream(id);
    const opened = inner(spec, options, counters);
    const frames = new Observable<Frame>((subscriber) => {
      const seen = new Map<number, number>();
      arrivals.set(id, seen);
      m.track(counters as CounterSource);
      m.completed(false);
      // vigil_stream_target_fps: the source's own rate, so VigilStreamFpsBelowTarget works untuned.
      const nominal = new NominalFps();
      const sub = opened.frames.subscribe({
        next: (frame) => {
          const now = Date.now();
          m.frame(frame.captureTimeMs, now);
          const fps = nominal.observe(frame.ptsNs, frame.runId);
          if (fps !== undefined) m.setTargetFps(fps);
          if (!opened.status) m.up(true);
          m.stage('ingest', Math.max(0, now - frame.captureTimeMs) / 1000);
          const t0 = performance.now();
          seen.set(frame.seq, t0);
          if (seen.size > ARRIVALS_KEPT) seen.delete(seen.keys().next().value as number);
          subscriber.next(frame);
          m.stage('selection', seconds(t0));
        },
        error: (err: unknown) => {
          m.up(false);
          subscriber.error(err);
        },
        complete: () => {
          // A file that played to its end: completed, not down, and no longer expected to deliver.
          m.completed(true);
          m.setTargetFps(undefined);
          subscriber.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        m.up(false);
        m.untrack(counters as CounterSource);
        if (arrivals.get(id) === seen) arrivals.delete(id);
      };
    });
    let wasDown = false;
    const status = opened.status?.pipe(
      tap((raw) => {
        // The manager accepts a bare state or an object with one ({ state, error, outageMs }).
        const state: string = typeof raw === 'string' ? raw : (raw as { state: string }).state;
        const up = UP_STATES.has(state);
        m.up(up);
        if (state === 'recovered' && wasDown) m.reconnect();
        if (state === 'down' || state === 'stalled') wasDown = true;
        if (up) wasDown = false;
      }),
    );
    return {
      frames,
      ...(status ? { status } : {}),
      ...(opened.audio ? { audio: opened.audio } : {}),
      ...(opened.close ? { close: opened.close } : {}),
    };
  };

  const analyze = async (kf: Keyframe): Promise<Analysis> => {
    const m = metrics.stream(kf.frame.streamId);
    const seen = arrivals.get(kf.frame.streamId);
    const arrived = seen?.get(kf.frame.seq);
    if (arrived !== undefined) {
      seen!.delete(kf.frame.seq);
      m.stage('inference_queue', seconds(arrived));
    }
    const t0 = performance.now();
    try {
      const a = await deps.analyze(kf);
      // Cache hits (cachedFrom) are counted from the runner's counters (cacheHits), not here.
      if (a.cachedFrom === undefined) m.inference(a.available ? 'ok' : 'unavailable');
      return a;
    } catch (err) {
      m.inference('unavailable');
      throw err;
    } finally {
      m.stage('inference_compute', seconds(t0));
    }
  };

  const timed = async (
    m: StreamMetrics,
    kind: PublishKind,
    captureTimeMs: number,
    call: Promise<void> | undefined,
  ): Promise<void> => {
    if (!call) return;
    const t0 = performance.now();
    try {
      await call;
    } catch (err) {
      m.publishFailed(kind);
      throw err;
    }
    m.published(kind, captureTimeMs, seconds(t0));
  };
  const s = deps.sink;
  const sink: ManagerSink = {
    summary: (summary) => {
      const m = metrics.stream(summary.streamId);
      return timed(m, 'summary', summary.endTimeMs, s.summary(summary)).then(() => m.summary());
    },
    event: (e) => {
      const m = metrics.stream(e.streamId);
      return timed(m, 'event', e.evidence?.timeMs || e.timeMs, s.event(e)).then(() => m.event(e.severity));
    },
  };
  if (s.detections) {
    sink.detections = (a, kf) =>
      timed(metrics.stream(a.streamId), 'detections', a.captureTimeMs, s.detections!(a, kf));
  }
  if (s.status) sink.status = (id, info) => s.status!(id, info);
  if (s.keyframe) sink.keyframe = (kf, a) => s.keyframe!(kf, a);
  // Object records, tracked keyframes (annotated evidence), captions, transcripts and shots pass
  // through untimed (model calls have their own metrics); left out, the service never publishes them.
  if (s.object) sink.object = (r) => s.object!(r);
  if (s.tracked) sink.tracked = (t) => s.tracked!(t);
  if (s.caption) sink.caption = (c) => s.caption!(c);
  if (s.transcript) sink.transcript = (t) => s.transcript!(t);
  if (s.shot) sink.shot = (r) => s.shot!(r);

  return {
    ...deps,
    frameSource,
    analyze,
    sink,
    summarizer: () => timedSummarizer(deps.summarizer?.() ?? createStructuredSummarizer(), metrics),
  };
}

function timedSummarizer(inner: Summarizer, metrics: AnalyzerMetrics): Summarizer {
  return {
    summarize: async (digest, previous, context) => {
      const t0 = performance.now();
      try {
        return await inner.summarize(digest, previous, context);
      } finally {
        metrics.stream(digest.streamId).stage('summary', seconds(t0));
      }
    },
  };
}

/**
 * Reads the manager's stream list at every scrape: keyframes selected and keyframes dropped by the
 * inference queue come from each stream's counters; detached streams lose their series.
 * Returns a function that stops observing.
 */
export function observeManager(manager: Pick<Manager, 'list'>, metrics: AnalyzerMetrics): () => void {
  /** The counters object of a stream's current attach (a re-attach starts from zero). */
  const sources = new Map<string, { runId: string; src: CounterSource }>();
  return metrics.beforeCollect(() => {
    const listed = new Set<string>();
    for (const info of manager.list() as StreamInfo[]) {
      listed.add(info.id);
      const m = metrics.stream(info.id);
      let s = sources.get(info.id);
      if (!s || s.runId !== info.runId) {
        if (s) m.untrack(s.src);
        s = { runId: info.runId, src: {} };
        sources.set(info.id, s);
        m.track(s.src);
      }
      const c = info.counters;
      Object.assign(s.src, {
        keyframes: c.keyframes,
        inferDropped: c.inferDropped,
        inferStale: c.inferStale,
        analysed: c.analysed,
        inferFailed: c.inferFailed,
        cacheHits: c.cacheHits,
        detectDropped: c.detectDropped,
      });
    }
    for (const id of metrics.streamIds()) {
      if (!listed.has(id)) {
        sources.delete(id);
        metrics.removeStream(id);
      }
    }
  });
}
