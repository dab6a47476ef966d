/**
 * Wires one stream end to end: ingest (GStreamer) → keyframe selection → inference (bounded) →
 * windows → chain-of-summary and events → publisher. The pure stages come from src/stream; the
 * edges (pipeline, model call, NATS) are passed in behind small interfaces.
 */
import { concatMap, lastValueFrom, merge, mergeMap, share, tap, type Observable } from 'rxjs';
import type { Analysis, Frame, Keyframe, Summary, VigilEvent } from '../core/contracts.js';
import { boundedMergeMap } from '../core/bounded-merge-map.js';
import {
  chainSummaries,
  createStructuredSummarizer,
  detectEvents,
  selectKeyframes,
  tumblingWindows,
  type AnalysedKeyframe,
  type EventOptions,
  type KeyframeOptions,
  type Summarizer,
} from '../stream/index.js';

export type AnalyzeKeyframe = (keyframe: Keyframe) => Promise<Analysis>;

export interface StreamSink {
  summary(s: Summary): Promise<void>;
  event(e: VigilEvent): Promise<void>;
  detections?(a: Analysis, keyframe: Keyframe): Promise<void>;
}

export interface StreamCounters {
  frames: number;
  keyframes: number;
  analysed: number;
  /** Keyframes dropped because inference was behind (bounded queue, oldest dropped). */
  inferDropped: number;
  inferFailed: number;
  summaries: number;
  events: number;
}

export interface StreamRunnerOptions {
  streamId: string;
  frames: Observable<Frame>;
  analyze: AnalyzeKeyframe;
  sink: StreamSink;
  keyframes?: KeyframeOptions;
  events?: EventOptions;
  windowMs: number;
  maxKeyframesPerWindow?: number;
  summarizer?: Summarizer;
  inferConcurrency?: number;
  inferQueue?: number;
  /**
   * Shared with the ingest's `shouldPause` in fast mode: keyframes selected but not yet analysed.
   * The runner keeps it current; ingest pauses decoding while it is at the queue bound.
   */
  pressure?: { pending: number };
  onSummary?: (s: Summary) => void;
  onEvent?: (e: VigilEvent) => void;
  /**
   * Called once per analysed keyframe while it still carries its model-size RGB pixels (evidence
   * images, live view); must not keep the pixels past the call. Throwing here is ignored.
   */
  onAnalysed?: (keyframe: Keyframe, analysis: Analysis) => void;
}

/** Keyframes keep their small gray frame for evidence, but not the model-size pixels. */
function withoutModelPixels(kf: Keyframe): Keyframe {
  const frame = { ...kf.frame, model: { ...kf.frame.model, data: new Uint8Array(0) } };
  return { ...kf, frame };
}

export function newCounters(): StreamCounters {
  return { frames: 0, keyframes: 0, analysed: 0, inferDropped: 0, inferFailed: 0, summaries: 0, events: 0 };
}

/** Runs until the source completes (a file) or errors; unsubscribe to stop a live stream. */
export function streamPipeline(
  o: StreamRunnerOptions,
  counters: StreamCounters = newCounters(),
): Observable<unknown> {
  const analysed$ = o.frames.pipe(
    tap(() => counters.frames++),
    selectKeyframes(o.keyframes ?? {}),
    tap(() => {
      counters.keyframes++;
      if (o.pressure) o.pressure.pending++;
    }),
    boundedMergeMap(
      async (kf: Keyframe): Promise<AnalysedKeyframe> => {
        let analysis: Analysis;
        try {
          analysis = await o.analyze(kf);
        } finally {
          if (o.pressure) o.pressure.pending--;
        }
        if (analysis.available) counters.analysed++;
        else counters.inferFailed++;
        if (o.onAnalysed) {
          try {
            o.onAnalysed(kf, analysis);
          } catch {
            // A hook must not break the stream.
          }
        }
        const light = withoutModelPixels(kf);
        if (o.sink.detections) await o.sink.detections(analysis, light);
        return { keyframe: light, analysis };
      },
      {
        concurrency: o.inferConcurrency ?? 1,
        maxQueue: o.inferQueue ?? 4,
        onDrop: () => {
          counters.inferDropped++;
          if (o.pressure) o.pressure.pending--;
        },
      },
    ),
    share(),
  );
  const summaries$ = analysed$.pipe(
    tumblingWindows({ windowMs: o.windowMs, maxKeyframesPerWindow: o.maxKeyframesPerWindow ?? 256 }),
    chainSummaries(o.summarizer ?? createStructuredSummarizer()),
    concatMap(async (s) => {
      await o.sink.summary(s);
      counters.summaries++;
      o.onSummary?.(s);
      return s;
    }),
  );
  const events$ = analysed$.pipe(
    detectEvents(o.events ?? {}),
    mergeMap(async (e) => {
      await o.sink.event(e);
      counters.events++;
      o.onEvent?.(e);
      return e;
    }, 8),
  );
  return merge(summaries$, events$);
}

export async function runStreamToEnd(o: StreamRunnerOptions, counters?: StreamCounters): Promise<void> {
  await lastValueFrom(streamPipeline(o, counters), { defaultValue: undefined });
}
