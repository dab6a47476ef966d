import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { Frame, Image, Keyframe } from '../../src/core/contracts.js';
import { ConfigError } from '../../src/core/errors.js';
import { KeyframeSelector, selectKeyframes, type KeyframeOptions } from '../../src/stream/index.js';

const W = 32;
const H = 24;

function gray(fill: (x: number, y: number) => number): Image {
  const data = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data[y * W + x] = fill(x, y);
  return { width: W, height: H, format: 'GRAY8', data };
}
const flat = (v: number): Image => gray(() => v);
/** Mid-gray scene with an 8x8 white block whose x position is `bx`. */
const block = (bx: number): Image => gray((x, y) => (x >= bx && x < bx + 8 && y >= 8 && y < 16 ? 255 : 100));

function frame(seq: number, ptsMs: number, analysis: Image): Frame {
  return {
    streamId: 'cam',
    seq,
    ptsNs: ptsMs * 1e6,
    captureTimeMs: 1_700_000_000_000 + ptsMs,
    sourceWidth: 640,
    sourceHeight: 480,
    analysis,
    model: { width: 1, height: 1, format: 'RGB', data: new Uint8Array(3) },
  };
}

/** Frames from a list of [ptsMs, image], named a, b, c, ... for marbles. */
function frames(list: [number, Image][]): Record<string, Frame> {
  return Object.fromEntries(list.map(([pts, img], i) => [String.fromCharCode(97 + i), frame(i, pts, img)]));
}

const tag = (k: Keyframe): string => `${k.id}/${k.reason}`;

function newScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

function runSelector(list: [number, Image][], options: KeyframeOptions = {}): Keyframe[] {
  const sel = new KeyframeSelector(options);
  return list.map(([pts, img], i) => sel.next(frame(i, pts, img))).filter((k): k is Keyframe => k !== null);
}

describe('selectKeyframes', () => {
  it('emits the first frame with reason first, id streamId:seq and sincePreviousMs Infinity', () => {
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold(
        'a-b|',
        frames([
          [0, flat(50)],
          [40, flat(50)],
        ]),
      );
      const out = src.pipe(selectKeyframes());
      expectObservable(out.pipe(map((k) => [k.id, k.reason, k.sincePreviousMs, k.motionScore]))).toBe(
        'a--|',
        {
          a: ['cam:0', 'first', Infinity, 0],
        },
      );
      expectSubscriptions(src.subscriptions).toBe('^--!');
    });
  });

  it('min interval suppresses floods of motion keyframes (stream time, not wall time)', () => {
    // 11 frames 100 ms apart, the block moves every frame: motion each frame, keyframes every 500 ms.
    const list: [number, Image][] = Array.from({ length: 11 }, (_, i) => [i * 100, block(i * 2)]);
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      // Frames arrive every 1 ms of wall time ("as fast as it decodes"): PTS alone decides.
      const src = cold('abcdefghijk|', frames(list));
      expectObservable(src.pipe(selectKeyframes({ minIntervalMs: 500 }), map(tag))).toBe('a----f----k|', {
        a: 'cam:0/first',
        f: 'cam:5/motion',
        k: 'cam:10/motion',
      });
      expectSubscriptions(src.subscriptions).toBe('^----------!');
    });
    const kfs = runSelector(list, { minIntervalMs: 500 });
    expect(kfs[1]?.sincePreviousMs).toBe(500);
    expect(kfs[1]?.motionScore).toBeGreaterThan(0.02);
  });

  it('emits max-interval keyframes on a static scene', () => {
    const list: [number, Image][] = Array.from({ length: 12 }, (_, i) => [i * 1000, block(4)]);
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold('abcdefghijkl|', frames(list));
      expectObservable(src.pipe(selectKeyframes({ maxIntervalMs: 5000 }), map(tag))).toBe('a----f----k-|', {
        a: 'cam:0/first',
        f: 'cam:5/max-interval',
        k: 'cam:10/max-interval',
      });
      expectSubscriptions(src.subscriptions).toBe('^-----------!');
    });
  });

  it('emits a scene cut before the min interval, but not within sceneCutMinIntervalMs', () => {
    const list: [number, Image][] = [
      [0, flat(20)], // first
      [100, flat(230)], // cut, but only 100 ms after the keyframe: held back
      [200, flat(230)], // 200 ms: scene-cut (bypasses minIntervalMs 500)
      [300, flat(230)], // same scene, no motion
    ];
    const kfs = runSelector(list, { minIntervalMs: 500, sceneCutMinIntervalMs: 200 });
    expect(kfs.map(tag)).toEqual(['cam:0/first', 'cam:2/scene-cut']);
    expect(kfs[1]?.sceneScore).toBeCloseTo(1, 10);
    expect(kfs[1]?.sincePreviousMs).toBe(200);
  });

  it('ignores sensor noise (no motion keyframes)', () => {
    let s = 7;
    const noise = (): Image =>
      gray(() => {
        s = (s * 1103515245 + 12345) & 0x7fffffff;
        return 120 + ((s % 21) - 10);
      });
    const list: [number, Image][] = Array.from({ length: 30 }, (_, i) => [i * 100, noise()]);
    expect(runSelector(list).map((k) => k.reason)).toEqual(['first']);
  });

  it('keeps motion seen during the min interval pending, reporting its peak', () => {
    const list: [number, Image][] = [
      [0, block(0)],
      [100, block(10)], // burst of motion, suppressed by the min interval
      [200, block(10)],
      [500, block(10)], // static, but min interval elapsed with motion pending
      [900, block(10)],
    ];
    const kfs = runSelector(list, { minIntervalMs: 500 });
    expect(kfs.map(tag)).toEqual(['cam:0/first', 'cam:3/motion']);
    expect(kfs[1]?.motionScore).toBeCloseTo(128 / (W * H), 10);
  });

  it('copies the previous image, so ingest may recycle frame buffers', () => {
    const shared = block(0);
    const sel = new KeyframeSelector({ minIntervalMs: 0 });
    sel.next(frame(0, 0, shared));
    shared.data.set(block(12).data); // ingest reuses the same buffer for the next frame
    const kf = sel.next(frame(1, 100, shared));
    expect(kf?.reason).toBe('motion');
  });

  it('starts a new run when PTS goes backwards', () => {
    const kfs = runSelector([
      [0, block(0)],
      [4000, block(0)],
      [10, block(0)],
    ]);
    expect(kfs.map(tag)).toEqual(['cam:0/first', 'cam:2/first']);
  });

  it('errors on a frame that is not GRAY8 and unsubscribes from the source', () => {
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const bad = frame(1, 40, { width: 2, height: 2, format: 'RGB', data: new Uint8Array(12) });
      const src = cold('ab-c|', { a: frame(0, 0, flat(1)), b: bad, c: frame(2, 80, flat(1)) });
      expectObservable(src.pipe(selectKeyframes(), map(tag))).toBe(
        'a#',
        { a: 'cam:0/first' },
        expect.objectContaining({ code: 'VIGIL_ERR_STREAM_FRAME' }),
      );
      expectSubscriptions(src.subscriptions).toBe('^!');
    });
  });

  it('releases the source when the consumer unsubscribes', () => {
    newScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const src = hot(
        '-a-b-c-d|',
        frames([0, 1000, 6000, 12000].map((t) => [t, flat(9)] as [number, Image])),
      );
      expectObservable(src.pipe(selectKeyframes(), map(tag)), '^-----!').toBe('-a---c', {
        a: 'cam:0/first',
        c: 'cam:2/max-interval',
      });
      expectSubscriptions(src.subscriptions).toBe('^-----!');
    });
  });

  it('gives every subscription its own state', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const out = cold(
        'ab|',
        frames([
          [0, flat(5)],
          [100, flat(5)],
        ]),
      ).pipe(selectKeyframes(), map(tag));
      expectObservable(out).toBe('a-|', { a: 'cam:0/first' });
      expectObservable(out).toBe('a-|', { a: 'cam:0/first' });
    });
  });

  it('validates options up front with ConfigError', () => {
    const bad: [KeyframeOptions, RegExp][] = [
      [{ minIntervalMs: -1 }, /minIntervalMs must be a number >= 0/],
      [{ maxIntervalMs: 0 }, /maxIntervalMs must be a number > 0/],
      [{ minIntervalMs: 6000 }, /minIntervalMs \(6000\) must not exceed maxIntervalMs \(5000\)/],
      [{ motionThreshold: 1.5 }, /motionThreshold/],
      [{ motionThreshold: 0 }, /motionThreshold/],
      [{ sceneCutThreshold: Number.NaN }, /sceneCutThreshold/],
      [{ noiseThreshold: 2.5 }, /noiseThreshold must be an integer/],
      [{ minIntervalMS: 5 } as unknown as KeyframeOptions, /unknown option 'minIntervalMS'/],
    ];
    for (const [opts, msg] of bad) {
      expect(() => selectKeyframes(opts)).toThrow(ConfigError);
      expect(() => selectKeyframes(opts)).toThrow(msg);
    }
    try {
      selectKeyframes({ maxIntervalMs: -5 });
    } catch (err) {
      expect((err as ConfigError).code).toBe('VIGIL_ERR_CONFIG');
    }
    expect(() => selectKeyframes({ minIntervalMs: undefined })).not.toThrow();
  });
});
