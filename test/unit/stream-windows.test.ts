import { Subject, map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { Analysis, Detection, Frame, KeyframeReason, WindowDigest } from '../../src/core/contracts.js';
import { ConfigError } from '../../src/core/errors.js';
import { tumblingWindows, type AnalysedKeyframe, type WindowOptions } from '../../src/stream/index.js';

const T0 = 1_700_000_000_000;

interface ItemSpec {
  counts?: Record<string, number>;
  /** null analysis (no answer) or available=false (model down). */
  analysis?: 'ok' | 'null' | 'unavailable';
  text?: string[];
  motion?: number;
  reason?: KeyframeReason;
}

function detections(counts: Record<string, number>): Detection[] {
  return Object.entries(counts).flatMap(([label, n]) =>
    Array.from({ length: n }, (_, i) => ({
      label,
      classId: 0,
      score: 0.9,
      box: { x: i, y: 0, w: 10, h: 10 },
    })),
  );
}

function item(seq: number, ptsMs: number, spec: ItemSpec = {}): AnalysedKeyframe {
  const img = { width: 1, height: 1, format: 'GRAY8' as const, data: new Uint8Array(1) };
  const frame: Frame = {
    streamId: 'cam',
    seq,
    ptsNs: ptsMs * 1e6,
    captureTimeMs: T0 + ptsMs,
    sourceWidth: 640,
    sourceHeight: 480,
    analysis: img,
    model: img,
  };
  const id = `cam:${seq}`;
  const kind = spec.analysis ?? 'ok';
  const analysis: Analysis | null =
    kind === 'null'
      ? null
      : {
          keyframeId: id,
          streamId: 'cam',
          ptsNs: frame.ptsNs,
          captureTimeMs: frame.captureTimeMs,
          available: kind === 'ok',
          detections: kind === 'ok' ? detections(spec.counts ?? {}) : [],
          text: spec.text ?? [],
          model: { name: 'test', version: '1' },
          inferenceMs: 5,
        };
  return {
    keyframe: {
      id,
      frame,
      reason: spec.reason ?? 'motion',
      motionScore: spec.motion ?? 0,
      sceneScore: 0,
      sincePreviousMs: 100,
    },
    analysis,
  };
}

function newScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

/** index:ids of a digest, for compact marble values. */
const brief = (d: WindowDigest): string => `${d.index}:${d.keyframes.map((k) => k.id).join(',')}`;

describe('tumblingWindows', () => {
  it('closes a window when an item beyond its end arrives, and flushes the last one on completion', () => {
    const s = newScheduler();
    s.run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('a-b-c-d-e|', {
        a: item(0, 0),
        b: item(1, 400),
        c: item(2, 999),
        d: item(3, 1000), // first item of window 1: closes window 0
        e: item(4, 3500), // window 3 (window 2 empty: never emitted)
      });
      const out = src.pipe(tumblingWindows({ windowMs: 1000, maxKeyframesPerWindow: 10, scheduler: s }));
      expectObservable(out.pipe(map(brief))).toBe('------x-y(z|)', {
        x: '0:cam:0,cam:1,cam:2',
        y: '1:cam:3',
        z: '3:cam:4',
      });
      expectSubscriptions(src.subscriptions).toBe('^--------!');
    });
  });

  it('closes a window on the idle timeout (wall time) when items stop, e.g. the model is down', () => {
    const s = newScheduler();
    s.run(({ hot, expectObservable, expectSubscriptions }) => {
      const src = hot('-a-b------------------c---|', { a: item(0, 0), b: item(1, 200), c: item(2, 1200) });
      const out = src.pipe(
        tumblingWindows({ windowMs: 1000, maxKeyframesPerWindow: 10, idleCloseMs: 10, scheduler: s }),
      );
      // b at frame 3, idle close 10 frames later: frame 13. c opens window 1, flushed on complete.
      expectObservable(out.pipe(map(brief))).toBe('-------------x------------(y|)', {
        x: '0:cam:0,cam:1',
        y: '1:cam:2',
      });
      expectSubscriptions(src.subscriptions).toBe('^-------------------------!');
    });
  });

  it('defaults idleCloseMs to twice the window length', () => {
    const s = newScheduler();
    s.run(({ hot, expectObservable }) => {
      const src = hot('a', { a: item(0, 0) });
      expectObservable(
        src.pipe(tumblingWindows({ windowMs: 5, maxKeyframesPerWindow: 10, scheduler: s }), map(brief)),
      ).toBe('----------x', { x: '0:cam:0' });
    });
  });

  it('counts items for a window already closed by the idle timeout as late, in the next digest', () => {
    const s = newScheduler();
    s.run(({ hot, expectObservable }) => {
      const src = hot('a----b-c|', { a: item(0, 100), b: item(1, 300), c: item(2, 1100) });
      const out = src.pipe(
        tumblingWindows({ windowMs: 1000, maxKeyframesPerWindow: 10, idleCloseMs: 3, scheduler: s }),
        map((d) => [brief(d), d.late]),
      );
      expectObservable(out).toBe('---x----(y|)', { x: ['0:cam:0', undefined], y: ['1:cam:2', 1] });
    });
  });

  it('releases the source and cancels the idle timer when unsubscribed', () => {
    const s = newScheduler();
    s.run(({ hot, expectObservable, expectSubscriptions }) => {
      const src = hot('-a-----|', { a: item(0, 0) });
      const out = src.pipe(
        tumblingWindows({ windowMs: 1000, maxKeyframesPerWindow: 10, idleCloseMs: 4, scheduler: s }),
      );
      expectObservable(out, '^--!').toBe('---');
      expectSubscriptions(src.subscriptions).toBe('^--!');
    });
  });

  it('keeps at most one idle timer and cancels it on unsubscribe', () => {
    const s = newScheduler();
    const input = new Subject<AnalysedKeyframe>();
    const got: WindowDigest[] = [];
    const sub = input
      .pipe(tumblingWindows({ windowMs: 1000, maxKeyframesPerWindow: 10, scheduler: s }))
      .subscribe((d) => got.push(d));
    input.next(item(0, 0));
    input.next(item(1, 10));
    input.next(item(2, 1010));
    expect(s.actions).toHaveLength(1); // re-armed, never stacked
    expect(got.map(brief)).toEqual(['0:cam:0,cam:1']);
    sub.unsubscribe();
    expect(s.actions).toHaveLength(0); // the pending idle close was cancelled
    expect(input.observed).toBe(false);
    s.flush();
    expect(got).toHaveLength(1);
  });

  it('drops the open window on error', () => {
    const s = newScheduler();
    s.run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('a-#', { a: item(0, 0) });
      expectObservable(
        src.pipe(tumblingWindows({ windowMs: 1000, maxKeyframesPerWindow: 5, scheduler: s })),
      ).toBe('--#');
      expectSubscriptions(src.subscriptions).toBe('^-!');
    });
  });

  it('builds the digest: peak and last counts, analysed and missing, mean motion, text, times', () => {
    const s = newScheduler();
    let digest: WindowDigest | undefined;
    s.run(({ cold, expectObservable }) => {
      const src = cold('abcde|', {
        a: item(0, 10_000, { counts: { person: 3 }, motion: 0.1, reason: 'first', text: ['EXIT'] }),
        b: item(1, 12_000, { counts: { person: 5, bicycle: 1 }, motion: 0.3, text: ['EXIT', ' STOP '] }),
        c: item(2, 14_000, { analysis: 'null', motion: 0.2 }),
        d: item(3, 16_000, { counts: { person: 2 }, motion: 0.2, reason: 'scene-cut' }),
        e: item(4, 18_000, { analysis: 'unavailable', motion: 0.2 }),
      });
      const out = src.pipe(
        tumblingWindows({ windowMs: 10_000, maxKeyframesPerWindow: 10, scheduler: s }),
        map((d) => {
          digest = d;
          return d.index;
        }),
      );
      expectObservable(out).toBe('-----(x|)', { x: 1 });
    });
    expect(digest).toEqual({
      streamId: 'cam',
      index: 1,
      startPtsNs: 10_000 * 1e6,
      endPtsNs: 20_000 * 1e6,
      startTimeMs: T0 + 10_000,
      endTimeMs: T0 + 20_000,
      keyframes: [
        { id: 'cam:0', ptsNs: 10_000e6, reason: 'first', detections: 3 },
        { id: 'cam:1', ptsNs: 12_000e6, reason: 'motion', detections: 6 },
        { id: 'cam:2', ptsNs: 14_000e6, reason: 'motion' },
        { id: 'cam:3', ptsNs: 16_000e6, reason: 'scene-cut', detections: 2 },
        { id: 'cam:4', ptsNs: 18_000e6, reason: 'motion' },
      ],
      peakCounts: { bicycle: 1, person: 5 },
      lastCounts: { person: 2 },
      analysed: 3,
      missing: 2,
      meanMotion: expect.closeTo(0.2, 10),
      text: ['EXIT', 'STOP'],
      closedBy: 'flush',
    });
  });

  it('bounds the keyframes kept per window and counts the rest as dropped', () => {
    const s = newScheduler();
    s.run(({ cold, expectObservable }) => {
      const src = cold('abcde|', {
        a: item(0, 0, { counts: { car: 1 } }),
        b: item(1, 10, { counts: { car: 1 } }),
        c: item(2, 20, { counts: { car: 4 } }),
        d: item(3, 30, { analysis: 'null' }),
        e: item(4, 40, { counts: { car: 2 }, text: ['A', 'B', 'C'] }),
      });
      const out = src.pipe(
        tumblingWindows({ windowMs: 1000, maxKeyframesPerWindow: 2, maxTextsPerWindow: 2, scheduler: s }),
        map((d) => ({
          ids: d.keyframes.map((k) => k.id),
          dropped: d.dropped,
          analysed: d.analysed,
          missing: d.missing,
          peak: d.peakCounts,
          text: d.text,
        })),
      );
      expectObservable(out).toBe('-----(x|)', {
        x: {
          ids: ['cam:0', 'cam:1'],
          dropped: 3,
          analysed: 4,
          missing: 1,
          peak: { car: 4 },
          text: ['A', 'B'],
        },
      });
    });
  });

  it('validates options', () => {
    const cases: [unknown, RegExp][] = [
      [{ windowMs: 0, maxKeyframesPerWindow: 5 }, /windowMs must be a number >= 1/],
      [{ windowMs: 1000, maxKeyframesPerWindow: 0 }, /maxKeyframesPerWindow must be an integer >= 1/],
      [{ windowMs: 1000, maxKeyframesPerWindow: 2.5 }, /maxKeyframesPerWindow/],
      [{ windowMs: 1000, maxKeyframesPerWindow: 5, idleCloseMs: -1 }, /idleCloseMs/],
      [{ windowMs: 1000, maxKeyframesPerWindow: 5, windowSize: 3 }, /unknown option 'windowSize'/],
      [undefined, /required/],
    ];
    for (const [opts, msg] of cases) {
      expect(() => tumblingWindows(opts as WindowOptions)).toThrow(ConfigError);
      expect(() => tumblingWindows(opts as WindowOptions)).toThrow(msg);
    }
  });
});
