/**
 * Instruments one stream's runner without touching its stages: the frame source, the model call,
 * the summarizer and the sink are wrapped, and the runner's own counters are read at scrape time.
 *
 *   const counters = newCounters();
 *   streamPipeline(instrumentStream(options, metrics.stream(id), counters), counters)
 *
 * Stage boundaries (all wall-clock, per stream):
 *   ingest             capture time reported by the ingest → the frame enters the runner
 *   selection          synchronous work on one frame in the runner (scores, keyframe decision)
 *   inference_queue    frame entered the runner → its keyframe's model call starts
 *   inference_compute  the model call (gRPC round trip, cache lookup included)
 *   summary            one summarize() call (window, segment or stream level)
 *   publish            one sink call (NATS publish; JetStream ack for events and summaries)
 */
import { Observable } from 'rxjs';
import type { Analysis, Frame, Keyframe, Summary, VigilEvent } from '../core/contracts.js';
import type { StreamCounters, StreamRunnerOptions, StreamSink } from '../analyzer/stream-runner.js';
import { createStructuredSummarizer, type Summarizer } from '../stream/index.js';
import type { StreamMetrics } from './metrics.js';
import { NominalFps } from './nominal-fps.js';

/** Frames remembered for queue timing (by seq): a keyframe is at most this many frames behind. */
const ARRIVALS_KEPT = 512;

const seconds = (fromMs: number) => (performance.now() - fromMs) / 1000;

/**
 * Returns runner options that report to `metrics`; `counters` (the object also given to
 * streamPipeline) supplies keyframes selected and keyframes dropped by the bounded queue.
 */
export function instrumentStream(
  o: StreamRunnerOptions,
  metrics: StreamMetrics,
  counters?: StreamCounters,
): StreamRunnerOptions {
  if (counters) metrics.track(counters);
  const arrivals = new Map<number, number>();

  const frames = new Observable<Frame>((subscriber) => {
    metrics.completed(false);
    const nominal = new NominalFps();
    const sub = o.frames.subscribe({
      next: (frame) => {
        const now = Date.now();
        metrics.frame(frame.captureTimeMs, now);
        const fps = nominal.observe(frame.ptsNs, frame.runId);
        if (fps !== undefined) metrics.setTargetFps(fps);
        metrics.up(true);
        metrics.stage('ingest', Math.max(0, now - frame.captureTimeMs) / 1000);
        const t0 = performance.now();
        arrivals.set(frame.seq, t0);
        if (arrivals.size > ARRIVALS_KEPT) arrivals.delete(arrivals.keys().next().value as number);
        // The runner's synchronous part (scores, keyframe decision, enqueue) runs inside next().
        subscriber.next(frame);
        metrics.stage('selection', seconds(t0));
      },
      error: (err: unknown) => {
        metrics.up(false);
        subscriber.error(err);
      },
      complete: () => {
        metrics.completed(true);
        metrics.setTargetFps(undefined);
        subscriber.complete();
      },
    });
    return () => {
      sub.unsubscribe();
      metrics.up(false);
      arrivals.clear();
    };
  });

  const analyze = async (kf: Keyframe): Promise<Analysis> => {
    const arrived = arrivals.get(kf.frame.seq);
    arrivals.delete(kf.frame.seq);
    if (arrived !== undefined) metrics.stage('inference_queue', seconds(arrived));
    const t0 = performance.now();
    try {
      const a = await o.analyze(kf);
      // Cache hits (cachedFrom) are counted from the runner's counters (cacheHits), not here.
      if (a.cachedFrom === undefined) metrics.inference(a.available ? 'ok' : 'unavailable');
      return a;
    } catch (err) {
      metrics.inference('unavailable');
      throw err;
    } finally {
      metrics.stage('inference_compute', seconds(t0));
    }
  };

  const inner: Summarizer = o.summarizer ?? createStructuredSummarizer();
  const summarizer: Summarizer = {
    summarize: async (digest, previous, context) => {
      const t0 = performance.now();
      try {
        return await inner.summarize(digest, previous, context);
      } finally {
        metrics.stage('summary', seconds(t0));
      }
    },
  };

  const timed = async (
    kind: 'detections' | 'event' | 'summary',
    captureTimeMs: number,
    fn: () => Promise<void>,
  ) => {
    const t0 = performance.now();
    try {
      await fn();
    } catch (err) {
      metrics.publishFailed(kind);
      throw err;
    }
    metrics.published(kind, captureTimeMs, seconds(t0));
  };
  const sink: StreamSink = {
    summary: (s: Summary) =>
      timed('summary', s.endTimeMs, async () => {
        await o.sink.summary(s);
        metrics.summary();
      }),
    event: (e: VigilEvent) =>
      timed('event', e.evidence.timeMs || e.timeMs, async () => {
        await o.sink.event(e);
        metrics.event(e.severity);
      }),
  };
  if (o.sink.detections) {
    const detections = o.sink.detections.bind(o.sink);
    sink.detections = (a: Analysis, kf: Keyframe) =>
      timed('detections', a.captureTimeMs, () => detections(a, kf));
  }

  return { ...o, frames, analyze, summarizer, sink };
}
