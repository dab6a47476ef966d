/**
 * Issue 8, finding 1: inference waiting grew with the number of streams (4 queued + 1 in flight
 * per stream, one shared server) and nothing was counted. Live keyframes now have a deadline
 * (`maxKeyframeAgeMs`): past it they are counted `stale` and passed on with a missing analysis;
 * an optional process-wide slot bound shares the model fairly between streams. Files in fast mode
 * keep back-pressure and never drop.
 */
import { interval, map, Subject, take, tap, timer } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { Analysis, Frame, Keyframe, Summary } from '../../src/core/contracts.js';
import {
  admitKeyframes,
  InferenceSlots,
  isStale,
  keyframeAgeMs,
  type Slot,
} from '../../src/analyzer/admission.js';
import {
  FILE_DEADLINE_RETRIES,
  newCounters,
  runStreamToEnd,
  streamPipeline,
} from '../../src/analyzer/stream-runner.js';
import { analyzeWith } from '../../src/analyzer/analyze.js';
import { InferenceError } from '../../src/core/errors.js';
import { AnalyzerMetrics } from '../../src/observability/metrics.js';

function keyframe(i: number, captureTimeMs: number): Keyframe {
  return {
    id: `k${i}`,
    frame: {
      streamId: 'cam',
      seq: i,
      ptsNs: i * 1e8,
      captureTimeMs,
      sourceWidth: 4,
      sourceHeight: 4,
      analysis: { width: 1, height: 1, format: 'GRAY8', data: new Uint8Array(1) },
      model: { width: 1, height: 1, format: 'RGB', data: new Uint8Array(3) },
    },
    reason: 'max-interval',
    motionScore: 0,
    sceneScore: 0,
    sincePreviousMs: 100,
  };
}

const newScheduler = () => new TestScheduler((a, b) => expect(a).toEqual(b));

describe('admitKeyframes (virtual time)', () => {
  /**
   * Keyframes every 100 ms (k_i captured when emitted, at 100 * (i + 1)), the model takes 250 ms,
   * 4 may wait, deadline 500 ms. Traced by hand: k3 (at 800) and k5 (at 1000) are pushed out of
   * the full queue; k7 and k9 reach the front 550 and 600 ms after capture and skip the model.
   */
  const trace = (maxAgeMs: number, maxQueue: number) => {
    const scheduler = newScheduler();
    const out: string[] = [];
    const dropped: string[] = [];
    const calls: string[] = [];
    scheduler.run(() => {
      interval(100)
        .pipe(
          take(10),
          map((i) => keyframe(i, scheduler.now())),
          admitKeyframes(
            (kf) => {
              calls.push(kf.id);
              return timer(250).pipe(map(() => `analysed ${kf.id}`));
            },
            {
              maxAgeMs,
              now: () => scheduler.now(),
              concurrency: 1,
              maxQueue,
              onDrop: (kf) => dropped.push(`${kf.id}@${scheduler.now()}`),
              onStale: (kf, ageMs) => `stale ${kf.id} (${ageMs} ms)`,
            },
          ),
          tap({
            next: (v) => out.push(`${scheduler.now()}: ${v}`),
            complete: () => out.push(`${scheduler.now()}: done`),
          }),
        )
        .subscribe();
    });
    return { out, dropped, calls };
  };

  it('drops the oldest waiting keyframe when the queue is full and skips the model past the deadline', () => {
    const { out, dropped, calls } = trace(500, 4);
    expect(dropped).toEqual(['k3@800', 'k5@1000']);
    expect(out).toEqual([
      '350: analysed k0',
      '600: analysed k1',
      '850: analysed k2',
      '1100: analysed k4',
      '1350: analysed k6',
      '1350: stale k7 (550 ms)',
      '1600: analysed k8',
      '1600: stale k9 (600 ms)',
      '1600: done',
    ]);
    expect(calls).toEqual(['k0', 'k1', 'k2', 'k4', 'k6', 'k8']);
  });

  it('with no deadline (fast mode) and room to wait, every keyframe reaches the model in order', () => {
    const { out, dropped, calls } = trace(0, 100);
    expect(dropped).toEqual([]);
    expect(calls).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k8', 'k9']);
    expect(out.at(-2)).toBe('2600: analysed k9');
    expect(out.at(-1)).toBe('2600: done');
  });

  it('isStale: strictly older than the deadline; 0 and undefined never expire; clock skew is age 0', () => {
    const kf = keyframe(0, 1000);
    expect(isStale(kf, 1500, 500)).toBe(false);
    expect(isStale(kf, 1501, 500)).toBe(true);
    expect(isStale(kf, 1e12, 0)).toBe(false);
    expect(isStale(kf, 1e12, undefined)).toBe(false);
    expect(keyframeAgeMs(kf, 900)).toBe(0);
  });
});

describe('InferenceSlots', () => {
  const flush = () => new Promise((r) => setImmediate(r));

  it('grants free slots at once and then round-robin between waiting streams', async () => {
    const slots = new InferenceSlots({ maxInFlight: 1, maxWaitingPerStream: 3 });
    const first = (await slots.acquire('a'))!;
    const order: string[] = [];
    const held: Slot[] = [];
    const wait = (label: string, id: string) =>
      void slots.acquire(id).then((s) => {
        order.push(label);
        held.push(s!);
      });
    wait('a1', 'a');
    wait('a2', 'a');
    wait('a3', 'a');
    wait('b1', 'b');
    wait('c1', 'c');
    expect(slots.stats()).toMatchObject({ inFlight: 1, waiting: 5 });
    first.release();
    first.release(); // idempotent: frees one slot only
    for (let i = 0; i < 5; i++) {
      await flush();
      expect(slots.stats().inFlight).toBe(1);
      expect(order).toHaveLength(i + 1);
      held.shift()!.release();
    }
    await flush();
    // a was first in line, then each stream in turn: a busy stream does not starve b and c.
    expect(order).toEqual(['a1', 'b1', 'c1', 'a2', 'a3']);
    expect(slots.stats()).toEqual({ inFlight: 0, waiting: 0, granted: 6, dropped: 0, cancelled: 0 });
  });

  it("drops a stream's oldest waiter past its bound (null, counted), not another stream's", async () => {
    const slots = new InferenceSlots({ maxInFlight: 1 });
    const held = (await slots.acquire('a'))!;
    const b1 = slots.acquire('b');
    const c1 = slots.acquire('c');
    const b2 = slots.acquire('b');
    expect(await b1).toBeNull();
    expect(slots.stats()).toMatchObject({ dropped: 1, waiting: 2 });
    // b keeps its turn (it was waiting first): b2 goes before c1.
    held.release();
    const b = (await b2)!;
    expect(b).not.toBeNull();
    expect(slots.stats()).toMatchObject({ inFlight: 1, waiting: 1 });
    b.release();
    const c = (await c1)!;
    expect(c).not.toBeNull();
    c.release();
    expect(slots.stats()).toMatchObject({ inFlight: 0, waiting: 0, dropped: 1 });
  });

  it('an aborted waiter (stream detached) leaves without taking a slot', async () => {
    const slots = new InferenceSlots({ maxInFlight: 1 });
    const held = (await slots.acquire('a'))!;
    const ac = new AbortController();
    const w = slots.acquire('b', ac.signal);
    ac.abort();
    expect(await w).toBeNull();
    expect(await slots.acquire('c', ac.signal)).toBeNull();
    held.release();
    expect(slots.stats()).toEqual({ inFlight: 0, waiting: 0, granted: 1, dropped: 0, cancelled: 2 });
  });

  it('rejects bad bounds up front', () => {
    expect(() => new InferenceSlots({ maxInFlight: 0 })).toThrow(/maxInferInFlight/);
    expect(() => new InferenceSlots({ maxInFlight: 2, maxWaitingPerStream: 0 })).toThrow(
      /maxWaitingPerStream/,
    );
  });
});

describe('streamPipeline with a keyframe deadline', () => {
  const T = 1_700_000_000_000;
  const frame = (i: number): Frame => ({
    streamId: 'cam',
    seq: i,
    ptsNs: i * 100e6,
    captureTimeMs: T + i * 100,
    sourceWidth: 4,
    sourceHeight: 4,
    analysis: { width: 8, height: 8, format: 'GRAY8', data: new Uint8Array(64).fill(90) },
    model: { width: 1, height: 1, format: 'RGB', data: new Uint8Array(3) },
  });
  const flush = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };

  const run = async (live: boolean) => {
    let clock = T;
    const frames = new Subject<Frame>();
    const waiting: { kf: Keyframe; resolve: (a: Analysis) => void }[] = [];
    const answer = (kf: Keyframe): Analysis => ({
      keyframeId: kf.id,
      streamId: 'cam',
      ptsNs: kf.frame.ptsNs,
      captureTimeMs: kf.frame.captureTimeMs,
      available: true,
      detections: [],
      text: [],
      model: { name: 'fake', version: '1' },
      inferenceMs: 1,
    });
    const summaries: Summary[] = [];
    const detections: string[] = [];
    const counters = newCounters();
    const done = runStreamToEnd(
      {
        streamId: 'cam',
        frames,
        analyze: (kf) => new Promise((resolve) => waiting.push({ kf, resolve })),
        sink: {
          summary: async (s) => void summaries.push(s),
          event: async () => undefined,
          detections: async (a) => void detections.push(a.keyframeId),
        },
        keyframes: { minIntervalMs: 0, maxIntervalMs: 100, sceneCutMinIntervalMs: 50 },
        windowMs: 60_000,
        live,
        cache: false,
        inferQueue: live ? 4 : 100,
        maxKeyframeAgeMs: 500,
        now: () => clock,
      },
      counters,
    );
    for (let i = 0; i < 6; i++) {
      clock = T + i * 100;
      frames.next(frame(i));
    }
    await flush();
    expect(counters.keyframes).toBe(6);
    expect(waiting).toHaveLength(1);
    // The model answers two seconds later: whatever waited since is past its deadline (live).
    clock = T + 2_500;
    while (waiting.length > 0) {
      const w = waiting.shift()!;
      w.resolve(answer(w.kf));
      await flush();
    }
    frames.complete();
    await done;
    return { counters, summaries, detections };
  };

  it('live: one analysed, one pushed out of the queue, four stale; the window lists all five as missing', async () => {
    const { counters, summaries, detections } = await run(true);
    expect(counters).toMatchObject({
      keyframes: 6,
      analysed: 1,
      inferDropped: 1,
      inferStale: 4,
      inferFailed: 0,
    });
    // Stale keyframes never reach the model, nor the detections subject.
    expect(detections).toHaveLength(1);
    const window = summaries.find((s) => s.level === 'window')!;
    expect(window.facts).toMatchObject({ missing: 5 });
  });

  it('fast mode (live: false): no deadline, every keyframe is analysed however late', async () => {
    const { counters, detections } = await run(false);
    expect(counters).toMatchObject({ keyframes: 6, analysed: 6, inferDropped: 0, inferStale: 0 });
    expect(detections).toHaveLength(6);
  });

  it('a shared slot bound: a second stream waits for the first one, and streams stop cleanly', async () => {
    const slots = new InferenceSlots({ maxInFlight: 1 });
    const calls: string[] = [];
    const resolvers: (() => void)[] = [];
    const make = (id: string) => {
      const frames = new Subject<Frame>();
      const counters = newCounters();
      const sub = streamPipeline(
        {
          streamId: id,
          frames,
          analyze: (kf) =>
            new Promise<Analysis>((resolve) => {
              calls.push(id);
              resolvers.push(() =>
                resolve({
                  keyframeId: kf.id,
                  streamId: id,
                  ptsNs: kf.frame.ptsNs,
                  captureTimeMs: kf.frame.captureTimeMs,
                  available: true,
                  detections: [],
                  text: [],
                  model: { name: 'fake', version: '1' },
                  inferenceMs: 1,
                }),
              );
            }),
          sink: { summary: async () => undefined, event: async () => undefined },
          keyframes: { minIntervalMs: 0, maxIntervalMs: 100, sceneCutMinIntervalMs: 50 },
          windowMs: 60_000,
          cache: false,
          inferenceSlots: slots,
          maxKeyframeAgeMs: 0,
        },
        counters,
      ).subscribe();
      return { frames, counters, sub };
    };
    const a = make('a');
    const b = make('b');
    a.frames.next({ ...frame(0), streamId: 'a' });
    b.frames.next({ ...frame(0), streamId: 'b' });
    await flush();
    expect(calls).toEqual(['a']);
    expect(slots.stats()).toMatchObject({ inFlight: 1, waiting: 1 });
    resolvers.shift()!();
    await flush();
    expect(calls).toEqual(['a', 'b']);
    // b detaches while a waits for the slot b holds: a gets it once b's call ends.
    a.frames.next({ ...frame(1), streamId: 'a' });
    await flush();
    expect(slots.stats()).toMatchObject({ inFlight: 1, waiting: 1 });
    b.sub.unsubscribe();
    resolvers.shift()!();
    await flush();
    expect(calls).toEqual(['a', 'b', 'a']);
    resolvers.shift()!();
    await flush();
    a.sub.unsubscribe();
    expect(slots.stats()).toMatchObject({ inFlight: 0, waiting: 0 });
  });

  it('stale keyframes are a drop reason of their own in the metrics', async () => {
    const m = new AnalyzerMetrics({ defaultMetrics: false });
    const src = { keyframes: 10, analysed: 3, inferFailed: 0, inferDropped: 2, inferStale: 5 };
    m.stream('cam').track(src);
    const text = await m.metrics();
    expect(text).toContain('vigil_stream_dropped_frames_total{stream="cam",reason="stale"} 5');
    expect(text).toContain('vigil_stream_dropped_frames_total{stream="cam",reason="infer_queue_full"} 2');
    expect(text).toContain('vigil_stream_queue_depth{stream="cam",queue="inference"} 0');
  });
});

describe('streamPipeline: a late answer on a file is asked again, not lost', () => {
  const frame = (i: number): Frame => ({
    streamId: 'cam',
    seq: i,
    ptsNs: i * 100e6,
    captureTimeMs: i * 100,
    sourceWidth: 4,
    sourceHeight: 4,
    analysis: { width: 8, height: 8, format: 'GRAY8', data: new Uint8Array(64).fill(90) },
    model: { width: 1, height: 1, format: 'RGB', data: new Uint8Array(3) },
  });
  // Every keyframe's first call comes back late (retryable); a second one answers.
  const run = async (live: boolean, lateCalls: number) => {
    const calls = new Map<string, number>();
    const analyze = async (kf: Keyframe): Promise<Analysis> => {
      const n = (calls.get(kf.id) ?? 0) + 1;
      calls.set(kf.id, n);
      const base = {
        keyframeId: kf.id,
        streamId: 'cam',
        ptsNs: kf.frame.ptsNs,
        captureTimeMs: kf.frame.captureTimeMs,
        text: [],
        model: { name: 'fake', version: '1' },
        inferenceMs: 1,
      };
      return n <= lateCalls
        ? { ...base, available: false, detections: [], error: 'deadline passed', retryable: true }
        : { ...base, available: true, detections: [] };
    };
    const frames = new Subject<Frame>();
    const counters = newCounters();
    const done = runStreamToEnd(
      {
        streamId: 'cam',
        frames,
        analyze,
        sink: { summary: async () => undefined, event: async () => undefined },
        keyframes: { minIntervalMs: 0, maxIntervalMs: 100, sceneCutMinIntervalMs: 50 },
        windowMs: 60_000,
        live,
        cache: false,
        inferQueue: 100,
        maxKeyframeAgeMs: 60_000,
        now: () => 0,
      },
      counters,
    );
    for (let i = 0; i < 4; i++) frames.next(frame(i));
    frames.complete();
    await done;
    return counters;
  };

  it('file: every keyframe analysed after one retry each', async () => {
    const c = await run(false, 1);
    expect(c.keyframes).toBeGreaterThan(0);
    expect(c).toMatchObject({ analysed: c.keyframes, inferFailed: 0, inferRetried: c.keyframes });
  });

  it('file: retries are bounded; a server that is always late leaves the analysis unavailable', async () => {
    const c = await run(false, 100);
    expect(c).toMatchObject({ analysed: 0, inferFailed: c.keyframes });
    expect(c.inferRetried).toBe(c.keyframes * FILE_DEADLINE_RETRIES);
  });

  it('live: never retried (a late analysis is stale anyway)', async () => {
    const c = await run(true, 1);
    expect(c).toMatchObject({ analysed: 0, inferFailed: c.keyframes, inferRetried: 0 });
  });
});

describe('analyzeWith: which failures are worth asking again', () => {
  const kf = keyframe(0, 0);
  const failing = (err: Error) => ({
    detect: () => Promise.reject(err),
  });
  it('a deadline is retryable, a refused connection is not', async () => {
    const late = new InferenceError('VIGIL_ERR_INFER_DEADLINE', 'deadline of 5000 ms passed');
    const down = new InferenceError('VIGIL_ERR_INFER_UNAVAILABLE', 'connection refused');
    expect(await analyzeWith(failing(late), 'm')(kf)).toMatchObject({ available: false, retryable: true });
    const a = await analyzeWith(failing(down), 'm')(kf);
    expect(a.available).toBe(false);
    expect(a.retryable).toBeUndefined();
  });
});
