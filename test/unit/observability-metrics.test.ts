import { Counter, Registry } from 'prom-client';
import { asyncScheduler, from, lastValueFrom, scheduled, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Analysis, Frame, Image, Keyframe } from '../../src/core/contracts.js';
import { newCounters, streamPipeline, type StreamSink } from '../../src/analyzer/stream-runner.js';
import type { FrameSource, StreamInfo } from '../../src/analyzer/manager.js';
import {
  AnalyzerMetrics,
  instrumentManagerDeps,
  observeManager,
  instrumentStream,
  normalizeDropReason,
  OVERFLOW_STREAM,
} from '../../src/observability/index.js';
import { NominalFps } from '../../src/observability/nominal-fps.js';

/** Value of one sample in the text exposition (undefined when absent). */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const inside = /\{(.*)\}/.exec(line)?.[1] ?? '';
    const parts = inside.split(',').filter((p) => p !== '');
    if (want.every((w) => parts.includes(w)) && parts.length === want.length) {
      return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return undefined;
}

function image(w: number, h: number, value: number): Image {
  return { width: w, height: h, format: 'GRAY8', data: new Uint8Array(w * h).fill(value) };
}

function frame(seq: number): Frame {
  // Alternating bright/dark frames: every frame past the minimum interval is a keyframe (motion).
  return {
    streamId: 'cam-1',
    seq,
    ptsNs: seq * 100e6,
    captureTimeMs: Date.now() - 5,
    sourceWidth: 64,
    sourceHeight: 48,
    analysis: image(32, 24, seq % 2 ? 250 : 10),
    model: { width: 1, height: 1, format: 'RGB', data: new Uint8Array(3) },
  };
}

describe('analyzer metrics: names, bounded labels, no secrets', () => {
  it('validates stream ids (a URL with credentials can never become a label)', () => {
    const m = new AnalyzerMetrics({ defaultMetrics: false });
    expect(() => m.stream('rtsp://admin:secret@cam/1')).toThrow(/NATS-safe token/);
    expect(() => m.stream('')).toThrow();
    expect(() => new AnalyzerMetrics({ maxStream: 3 } as never)).toThrow(/unknown option 'maxStream'/);
    expect(() => new AnalyzerMetrics({ maxStreams: 0 })).toThrow(/positive integer/);
  });

  it('caps distinct stream labels; the rest share the overflow label and are counted', async () => {
    const m = new AnalyzerMetrics({ maxStreams: 2, defaultMetrics: false });
    m.stream('a').frame(Date.now());
    m.stream('b').frame(Date.now());
    m.stream('c').frame(Date.now());
    m.stream('d').frame(Date.now());
    const text = await m.metrics();
    expect(sample(text, 'vigil_stream_frames_total', { stream: 'a' })).toBe(1);
    expect(sample(text, 'vigil_stream_frames_total', { stream: OVERFLOW_STREAM })).toBe(2);
    expect(sample(text, 'vigil_metrics_stream_overflow_total', {})).toBe(2);
    expect(sample(text, 'vigil_analyzer_streams', {})).toBe(4);
    // Detaching frees the label budget: the next stream gets its own label again.
    m.removeStream('a');
    const after = await m.metrics();
    expect(sample(after, 'vigil_stream_frames_total', { stream: 'a' })).toBeUndefined();
    m.stream('e').frame(Date.now());
    expect(sample(await m.metrics(), 'vigil_stream_frames_total', { stream: 'e' })).toBe(1);
  });

  it('maps drop reasons onto the closed set', () => {
    expect(normalizeDropReason('unpaired')).toBe('unpaired');
    expect(normalizeDropReason('infer-queue-full')).toBe('infer_queue_full');
    expect(normalizeDropReason('something new')).toBe('other');
  });

  it('creates every closed-set series at 0 so alerts and rates work before the first drop', async () => {
    const m = new AnalyzerMetrics({ defaultMetrics: false });
    m.stream('x');
    const text = await m.metrics();
    for (const reason of ['infer_queue_full', 'appsink', 'upstream', 'malformed', 'unpaired', 'other'])
      expect(sample(text, 'vigil_stream_dropped_frames_total', { stream: 'x', reason })).toBe(0);
    expect(sample(text, 'vigil_stream_up', { stream: 'x' })).toBe(0);
    expect(sample(text, 'vigil_stream_queue_depth', { stream: 'x', queue: 'inference' })).toBe(0);
  });

  it('counts cadence detection drops per stream (vigil_detect_dropped_total), from 0, deltas only', async () => {
    const m = new AnalyzerMetrics({ defaultMetrics: false });
    const s = m.stream('cam');
    const counters: Record<string, number> = { detectDropped: 0 };
    s.track(counters);
    let text = await m.metrics();
    expect(sample(text, 'vigil_detect_dropped_total', { stream: 'cam' })).toBe(0);
    counters.detectDropped = 3;
    text = await m.metrics();
    expect(sample(text, 'vigil_detect_dropped_total', { stream: 'cam' })).toBe(3);
    counters.detectDropped = 4;
    text = await m.metrics();
    expect(sample(text, 'vigil_detect_dropped_total', { stream: 'cam' })).toBe(4);
    m.removeStream('cam');
    text = await m.metrics();
    expect(sample(text, 'vigil_detect_dropped_total', { stream: 'cam' })).toBeUndefined();
  });

  it('reads stage counters at scrape time (deltas only) including ingest drops and reconnects', async () => {
    const m = new AnalyzerMetrics({ defaultMetrics: false });
    const s = m.stream('cam');
    const counters: Record<string, number> = { keyframes: 3, inferDropped: 1 };
    const ingest = { dropped: { unpaired: 2, 'weird thing': 1 } as Record<string, number>, reconnects: 1 };
    s.track(counters);
    s.track(ingest);
    let text = await m.metrics();
    expect(sample(text, 'vigil_stream_keyframes_total', { stream: 'cam' })).toBe(3);
    expect(
      sample(text, 'vigil_stream_dropped_frames_total', { stream: 'cam', reason: 'infer_queue_full' }),
    ).toBe(1);
    expect(sample(text, 'vigil_stream_dropped_frames_total', { stream: 'cam', reason: 'unpaired' })).toBe(2);
    expect(sample(text, 'vigil_stream_dropped_frames_total', { stream: 'cam', reason: 'other' })).toBe(1);
    expect(sample(text, 'vigil_stream_reconnects_total', { stream: 'cam' })).toBe(1);
    // 3 selected, 1 dropped, none analysed yet: 2 waiting.
    expect(sample(text, 'vigil_stream_queue_depth', { stream: 'cam', queue: 'inference' })).toBe(2);
    counters.keyframes = 5;
    Object.assign(counters, { analysed: 1, cacheHits: 1 });
    ingest.dropped.unpaired = 4;
    text = await m.metrics();
    expect(sample(text, 'vigil_stream_keyframes_total', { stream: 'cam' })).toBe(5);
    expect(sample(text, 'vigil_stream_dropped_frames_total', { stream: 'cam', reason: 'unpaired' })).toBe(4);
    expect(sample(text, 'vigil_stream_inference_total', { stream: 'cam', result: 'cached' })).toBe(1);
    expect(sample(text, 'vigil_stream_queue_depth', { stream: 'cam', queue: 'inference' })).toBe(3);
  });

  it('instruments a runner: frames, keyframes, inference results, stage histograms, end-to-end latency', async () => {
    const m = new AnalyzerMetrics({ defaultMetrics: false });
    const published: string[] = [];
    const sink: StreamSink = {
      summary: async () => void published.push('summary'),
      event: async () => void published.push('event'),
      detections: async () => void published.push('detections'),
    };
    let calls = 0;
    const analyze = async (kf: Keyframe): Promise<Analysis> => {
      calls++;
      return {
        keyframeId: kf.id,
        streamId: kf.frame.streamId,
        ptsNs: kf.frame.ptsNs,
        captureTimeMs: kf.frame.captureTimeMs,
        available: calls % 2 === 1,
        detections: [],
        text: [],
        model: { name: 'fake', version: '1' },
        inferenceMs: 0,
      };
    };
    const counters = newCounters();
    // Asynchronous like a real source (the runner shares one subscription among its branches).
    const frames = scheduled(
      Array.from({ length: 40 }, (_, i) => frame(i)),
      asyncScheduler,
    );
    const options = instrumentStream(
      {
        streamId: 'cam-1',
        frames,
        analyze,
        sink,
        windowMs: 1000,
        inferQueue: 100,
        // A keyframe at least every 200 ms of stream time (frames are 100 ms apart).
        keyframes: { minIntervalMs: 100, maxIntervalMs: 200 },
      },
      m.stream('cam-1'),
      counters,
    );
    await lastValueFrom(streamPipeline(options, counters), { defaultValue: undefined });
    const text = await m.metrics();
    const s = { stream: 'cam-1' };
    expect(counters.frames).toBe(40);
    expect(sample(text, 'vigil_stream_frames_total', s)).toBe(40);
    expect(sample(text, 'vigil_stream_keyframes_total', s)).toBe(counters.keyframes);
    expect(counters.keyframes).toBeGreaterThan(3);
    // Model answers plus cache hits are the analysed keyframes.
    expect(counters.cacheHits).toBeGreaterThan(0);
    expect(sample(text, 'vigil_stream_inference_total', { ...s, result: 'cached' })).toBe(counters.cacheHits);
    expect(
      sample(text, 'vigil_stream_inference_total', { ...s, result: 'ok' })! +
        sample(text, 'vigil_stream_inference_total', { ...s, result: 'cached' })!,
    ).toBe(counters.analysed);
    expect(sample(text, 'vigil_stream_inference_total', { ...s, result: 'unavailable' })).toBe(
      counters.inferFailed,
    );
    expect(sample(text, 'vigil_stream_summaries_total', s)).toBe(counters.summaries);
    expect(counters.summaries).toBeGreaterThan(0);
    for (const stage of [
      'ingest',
      'selection',
      'inference_queue',
      'inference_compute',
      'summary',
      'publish',
    ]) {
      expect(
        sample(text, 'vigil_stream_stage_duration_seconds_count', { ...s, stage }),
        stage,
      ).toBeGreaterThan(0);
    }
    expect(sample(text, 'vigil_stream_end_to_end_latency_seconds_count', { ...s, kind: 'detections' })).toBe(
      counters.keyframes,
    );
    // The file ended: completed (not down), no rate expected any more, nothing is waiting.
    expect(sample(text, 'vigil_stream_up', s)).toBe(0);
    expect(sample(text, 'vigil_stream_completed', s)).toBe(1);
    expect(sample(text, 'vigil_stream_target_fps', s)).toBeUndefined();
    expect(sample(text, 'vigil_stream_queue_depth', { ...s, queue: 'inference' })).toBe(0);
  });

  it('counts failed publishes by kind and rethrows', async () => {
    const m = new AnalyzerMetrics({ defaultMetrics: false });
    const options = instrumentStream(
      {
        streamId: 'p',
        frames: from([]),
        analyze: async () => {
          throw new Error('unused');
        },
        sink: {
          summary: async () => {
            throw new Error('nats down');
          },
          event: async () => undefined,
        },
        windowMs: 1000,
      },
      m.stream('p'),
    );
    await expect(options.sink.summary({} as never)).rejects.toThrow('nats down');
    const text = await m.metrics();
    expect(sample(text, 'vigil_stream_publish_failures_total', { stream: 'p', kind: 'summary' })).toBe(1);
  });

  it('exposes process metrics (RSS, event loop lag) with the default collectors', async () => {
    const m = new AnalyzerMetrics();
    await new Promise((r) => setTimeout(r, 30));
    const text = await m.metrics();
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it('manager deps: per-stream frames, up/down and reconnects from ingest status values', async () => {
    const m = new AnalyzerMetrics({ defaultMetrics: false });
    const frames$ = new Subject<Frame>();
    const status$ = new Subject<'connecting' | 'live' | 'stalled' | 'down' | 'recovered'>();
    const source: FrameSource = () => ({ frames: frames$, status: status$ });
    const deps = instrumentManagerDeps(
      {
        analyze: async () => ({}) as Analysis,
        sink: { summary: async () => {}, event: async () => {} },
        frameSource: source,
      },
      m,
    );
    const counters = { framesIn: 0, dropped: { appsink: 2 } as Record<string, number> };
    const opened = deps.frameSource!(
      { kind: 'test', location: 'ball', display: 'test:ball' },
      { streamId: 'gate' } as never,
      counters,
    );
    const seen: number[] = [];
    opened.frames.subscribe((f) => seen.push(f.seq));
    opened.status!.subscribe();
    status$.next('live');
    frames$.next({ ...frame(0), streamId: 'gate' });
    status$.next('down');
    let text = await m.metrics();
    expect(sample(text, 'vigil_stream_up', { stream: 'gate' })).toBe(0);
    status$.next('connecting');
    status$.next('recovered');
    frames$.next({ ...frame(1), streamId: 'gate' });
    text = await m.metrics();
    expect(seen).toEqual([0, 1]);
    expect(sample(text, 'vigil_stream_up', { stream: 'gate' })).toBe(1);
    expect(sample(text, 'vigil_stream_reconnects_total', { stream: 'gate' })).toBe(1);
    expect(sample(text, 'vigil_stream_frames_total', { stream: 'gate' })).toBe(2);
    expect(sample(text, 'vigil_stream_dropped_frames_total', { stream: 'gate', reason: 'appsink' })).toBe(2);
  });

  it('regression (#22 item 12): a file that ends is completed, not down; the target fps is its nominal rate', async () => {
    const m = new AnalyzerMetrics({ defaultMetrics: false });
    const frames$ = new Subject<Frame>();
    const deps = instrumentManagerDeps(
      {
        analyze: async () => ({}) as Analysis,
        sink: { summary: async () => {}, event: async () => {} },
        frameSource: () => ({ frames: frames$ }),
      },
      m,
    );
    const opened = deps.frameSource!(
      { kind: 'file', location: '/x.mp4', display: '/x.mp4' },
      { streamId: 'clip' } as never,
      { framesIn: 0, dropped: {} },
    );
    opened.frames.subscribe();
    // 25 fps timestamps with every third frame missing: the target stays the nominal 25 fps.
    for (let i = 0; i < 60; i++)
      if (i % 3 !== 2) frames$.next({ ...frame(i), streamId: 'clip', ptsNs: i * 40e6 });
    let text = await m.metrics();
    expect(sample(text, 'vigil_stream_target_fps', { stream: 'clip' })).toBe(25);
    expect(sample(text, 'vigil_stream_up', { stream: 'clip' })).toBe(1);
    expect(sample(text, 'vigil_stream_completed', { stream: 'clip' })).toBe(0);
    frames$.complete();
    text = await m.metrics();
    expect(sample(text, 'vigil_stream_up', { stream: 'clip' })).toBe(0);
    expect(sample(text, 'vigil_stream_completed', { stream: 'clip' })).toBe(1);
    expect(sample(text, 'vigil_stream_target_fps', { stream: 'clip' })).toBeUndefined();
  });

  it('nominal fps: low percentile of PTS steps per run; ignores run changes and absurd steps', () => {
    const n = new NominalFps();
    const out: (number | undefined)[] = [];
    for (let i = 0; i < 20; i++) out.push(n.observe(i * 66_666_667, 0));
    expect(n.fps).toBeCloseTo(15, 1);
    expect(out.filter((x) => x !== undefined)).toHaveLength(1);
    // A new run restarts PTS near 0: the step across runs is not counted.
    n.observe(1000, 1);
    for (let i = 1; i < 10; i++) n.observe(i * 66_666_667, 1);
    expect(n.fps).toBeCloseTo(15, 1);
    const none = new NominalFps();
    for (let i = 0; i < 20; i++) none.observe(i * 100, 0); // 0.1 µs steps: not frames
    expect(none.fps).toBeUndefined();
  });

  it('regression (#22 item 12): include() serves another registry on the same /metrics, never a name twice', async () => {
    const m = new AnalyzerMetrics({ defaultMetrics: false });
    const infer = new Registry();
    const c = new Counter({
      name: 'vigil_infer_requests_total',
      help: 'x',
      labelNames: ['model'],
      registers: [infer],
    });
    c.inc({ model: 'yolov8n' }, 3);
    m.include(infer);
    m.include(infer); // idempotent
    m.stream('a').frame(Date.now());
    const text = await m.metrics();
    expect(sample(text, 'vigil_infer_requests_total', { model: 'yolov8n' })).toBe(3);
    expect(sample(text, 'vigil_stream_frames_total', { stream: 'a' })).toBe(1);
    expect(text.match(/^# TYPE vigil_infer_requests_total /gm)).toHaveLength(1);
    const clash = new Registry();
    new Counter({ name: 'vigil_stream_frames_total', help: 'x', registers: [clash] });
    expect(() => m.include(clash)).toThrow(/repeats vigil_stream_frames_total/);
    // A name registered in the included registry after include() that repeats ours is left out.
    new Counter({ name: 'vigil_analyzer_streams', help: 'x', registers: [infer] });
    const again = await m.metrics();
    expect(again.match(/^# TYPE vigil_analyzer_streams /gm)).toHaveLength(1);
  });

  it('observeManager: counters per attach (a re-attach restarts from zero), detached streams disappear', async () => {
    const m = new AnalyzerMetrics({ defaultMetrics: false });
    const info = (id: string, runId: string, keyframes: number) =>
      ({ id, runId, counters: { ...newCounters(), keyframes, inferDropped: 1 } }) as unknown as StreamInfo;
    let list = [info('a', 'r1', 5), info('b', 'r1', 2)];
    const stop = observeManager({ list: () => list }, m);
    let text = await m.metrics();
    expect(sample(text, 'vigil_stream_keyframes_total', { stream: 'a' })).toBe(5);
    list = [info('a', 'r2', 3)];
    text = await m.metrics();
    expect(sample(text, 'vigil_stream_keyframes_total', { stream: 'a' })).toBe(8);
    expect(
      sample(text, 'vigil_stream_dropped_frames_total', { stream: 'a', reason: 'infer_queue_full' }),
    ).toBe(2);
    expect(sample(text, 'vigil_stream_keyframes_total', { stream: 'b' })).toBeUndefined();
    stop();
  });
});
