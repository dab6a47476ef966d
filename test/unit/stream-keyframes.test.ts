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

  it('hands every frame it passes over, and only those, to passedOver, right after deciding', () => {
    const list: [number, Image][] = Array.from({ length: 11 }, (_, i) => [i * 100, block(i * 2)]);
    const passed: number[] = [];
    newScheduler().run(({ cold, expectObservable }) => {
      const src = cold('abcdefghijk|', frames(list));
      const out = src.pipe(
        selectKeyframes({}, { passedOver: (f) => passed.push(f.seq) }),
        map((k) => {
          // The keyframe's own frame is never handed over.
          expect(passed).not.toContain(k.frame.seq);
          return k.frame.seq;
        }),
      );
      expectObservable(out).toBe('a----f-----|', { a: 0, f: 5 });
    });
    expect(passed).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10]);
  });

  it('spends motion keyframes on new activity, not on a mover already seen (stream time, not wall time)', () => {
    // 11 frames 100 ms apart; the block walks 2 px per frame across the frame: one mover, one
    // keyframe when its motion is confirmed new (onset 100 ms + confirmMs 400 ms), then none.
    const list: [number, Image][] = Array.from({ length: 11 }, (_, i) => [i * 100, block(i * 2)]);
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      // Frames arrive every 1 ms of wall time ("as fast as it decodes"): PTS alone decides.
      const src = cold('abcdefghijk|', frames(list));
      expectObservable(src.pipe(selectKeyframes({ minIntervalMs: 300 }), map(tag))).toBe('a----f-----|', {
        a: 'cam:0/first',
        f: 'cam:5/motion',
      });
      expectSubscriptions(src.subscriptions).toBe('^----------!');
    });
    const kfs = runSelector(list, { minIntervalMs: 300 });
    expect(kfs[1]?.sincePreviousMs).toBe(500);
    expect(kfs[1]?.motionScore).toBeGreaterThan(0.02);
  });

  it('min interval suppresses floods of new activity', () => {
    // A new object lights up in a different quiet corner every 100 ms and stays (then flickers):
    // each is new, but keyframes come at most every minIntervalMs.
    const spots: [number, number][] = [
      [0, 0],
      [24, 0],
      [0, 16],
      [24, 16],
      [12, 0],
      [12, 16],
    ];
    const list: [number, Image][] = Array.from({ length: 12 }, (_, i) => [
      i * 100,
      gray((x, y) => {
        const on = spots.some(([sx, sy], j) => j < i && x >= sx && x < sx + 6 && y >= sy && y < sy + 6);
        return on ? (i % 2 === 0 ? 250 : 200) : 100;
      }),
    ]);
    const kfs = runSelector(list, { minIntervalMs: 500, confirmMs: 0 });
    expect(kfs.map(tag)).toEqual(['cam:0/first', 'cam:5/motion', 'cam:10/motion']);
  });

  it('a busy scene (everything moving) yields only max-interval keyframes; a surge fires once', () => {
    // Every pixel flickers every frame: no cell is ever quiet, so nothing is new.
    const list: [number, Image][] = Array.from({ length: 60 }, (_, i) => [
      i * 200,
      gray((x, y) => ((x + y + i) % 2 === 0 ? 60 : 160)),
    ]);
    const kfs = runSelector(list, { maxIntervalMs: 5000, busyFactor: 0 });
    expect(kfs.map((k) => k.reason)).toEqual(['first', 'motion', 'max-interval', 'max-interval']);
    // The one motion keyframe is the onset of the flicker (all cells new at once), confirmed.
    expect(kfs[1]?.frame.seq).toBe(3);
  });
  it('a surge on a busy scene yields one keyframe per excursion, not one per jitter (hysteresis)', () => {
    // Pixels of a 8x8 patch flip between 80 and 200 when selected: motion = selected / 768.
    const state = new Uint8Array(W * H).fill(80);
    const patch = (density: number) => (x: number, y: number) =>
      x >= 8 && x < 16 && y >= 8 && y < 16 && (x + y * 8) % density === 0;
    const list: [number, Image][] = [];
    const step = (i: number, sel: (x: number, y: number) => boolean) => {
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) if (sel(x, y)) state[y * W + x] = state[y * W + x] === 80 ? 200 : 80;
      list.push([i * 100, { width: W, height: H, format: 'GRAY8', data: state.slice() }]);
    };
    let i = 0;
    // 12 s of steady activity (a quarter of the patch: motion 0.021), then 2 s of a surge whose
    // motion jitters between 0.083 and 0.042 (above, then below, the busy threshold ~0.044).
    for (; i < 120; i++) step(i, patch(4));
    for (; i < 140; i++) step(i, patch(i % 2 === 0 ? 1 : 2));
    const kfs = runSelector(list, { maxIntervalMs: 20_000 });
    const surge = kfs.filter((k) => k.frame.ptsNs >= 12_000e6);
    expect(surge.map((k) => `${k.reason}@${k.frame.seq}`)).toEqual(['motion@120']);
    // Before it: the onset of the activity (new) and nothing for the steady part.
    expect(kfs.filter((k) => k.frame.ptsNs < 12_000e6).map((k) => k.reason)).toEqual(['first', 'motion']);
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
    // 20 ms frames: the cut at 60 ms is final 7 frames later (look-ahead for flashes and gradual
    // transitions), at 200 ms, and held back to 300 ms by sceneCutMinIntervalMs.
    const list: [number, Image][] = Array.from({ length: 20 }, (_, i) => [i * 20, flat(i < 3 ? 20 : 230)]);
    const kfs = runSelector(list, { minIntervalMs: 500, sceneCutMinIntervalMs: 300 });
    expect(kfs.map(tag)).toEqual(['cam:0/first', 'cam:15/scene-cut']);
    // Confidence: half from the step over the cut threshold (1 against 0.7), half from the ratio.
    expect(kfs[1]?.shot).toEqual({ kind: 'cut', startPtsNs: 60e6, endPtsNs: 60e6, confidence: 0.714 });
    expect(kfs[1]?.sceneScore).toBe(1);
    expect(kfs[1]?.sincePreviousMs).toBe(300);
    const early = runSelector(list, { minIntervalMs: 500, sceneCutMinIntervalMs: 0 });
    expect(early.map(tag)).toEqual(['cam:0/first', 'cam:10/scene-cut']);
  });

  it('a fast pan or shake (several large steps alike) and a one-frame flash are not cuts', () => {
    // A bright bar sweeping across the frame: every step changes a lot, none stands out.
    const bar = (x0: number): Image => gray((x) => (x >= x0 && x < x0 + 12 ? 240 : 30));
    const pan: [number, Image][] = Array.from({ length: 10 }, (_, i) => [i * 100, bar(i * 3)]);
    expect(runSelector(pan, { minIntervalMs: 5000 }).map((k) => k.reason)).toEqual(['first']);
    const flash: [number, Image][] = [
      [0, flat(40)],
      [100, flat(40)],
      [200, flat(250)], // one frame only
      [300, flat(40)],
      [400, flat(40)],
    ];
    expect(runSelector(flash, { minIntervalMs: 5000 }).map((k) => k.reason)).toEqual(['first']);
  });

  it('emits the cut once final (look-ahead), with its transition, and does not spend a motion keyframe on it', () => {
    // A cut into a flat picture may be the start of a dip through white: it waits while the picture
    // stays flat, up to gradualMaxMs (3 s: frame 11, 4.4 s), for the picture to come back.
    const list: [number, Image][] = Array.from({ length: 14 }, (_, i) => [
      i * 400,
      i < 3 ? block(0) : flat(230), // the cut at frame 3
    ]);
    const kfs = runSelector(list, { maxIntervalMs: 60_000 });
    expect(kfs.map(tag)).toEqual(['cam:0/first', 'cam:11/scene-cut']);
    expect(kfs[1]?.shot?.kind).toBe('cut');
    expect(kfs[1]?.shot?.startPtsNs).toBe(1200e6);
  });

  it('a resolution change alone (an HLS variant switch) is not a shot change', () => {
    const at = (w: number, h: number, v: (x: number, y: number) => number): Image => {
      const data = new Uint8Array(w * h);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = v(x / w, y / h);
      return { width: w, height: h, format: 'GRAY8', data };
    };
    const scene = (x: number, y: number): number => (x < 0.5 ? 60 : 200) + (y < 0.5 ? 20 : 0);
    const list: [number, Image][] = Array.from({ length: 30 }, (_, i) => [
      i * 40,
      i < 15 ? at(64, 48, scene) : at(96, 72, scene),
    ]);
    const kfs = runSelector(list, { maxIntervalMs: 60_000 });
    expect(kfs.map(tag)).toEqual(['cam:0/first']);
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
      [100, block(10)], // new motion (onset), confirmed 400 ms later, suppressed by the min interval
      [200, block(12)],
      [500, block(12)], // confirmed, min interval still holds
      [900, block(12)], // static, but the min interval elapsed with motion pending
      [1000, block(12)],
    ];
    const kfs = runSelector(list, { minIntervalMs: 900 });
    expect(kfs.map(tag)).toEqual(['cam:0/first', 'cam:4/motion']);
    expect(kfs[1]?.motionScore).toBeCloseTo(128 / (W * H), 10);
  });

  it('regression (issue #4): a person entering at the edge next to another one still walking away gets a keyframe', () => {
    // A 4x3 grid of 8x8 cells. Two people (4x8 blocks, swaying 1 px per frame so they always show
    // motion) in the middle row: A comes in at the right edge and walks left one cell at a time; B
    // comes in where A did 1.9 s later, while A's trail is 300 ms old in the next cell in.
    const people = (t: number): Image => {
      const sway = (t / 100) % 2;
      const xs = [t < 700 ? 26 : t < 1600 ? 18 : 10];
      if (t >= 1900) xs.push(26);
      return gray((x, y) =>
        y >= 8 && y < 16 && xs.some((bx) => x >= bx + sway && x < bx + sway + 4) ? 240 : 90,
      );
    };
    const list: [number, Image][] = Array.from({ length: 30 }, (_, i) => [i * 100, people(i * 100)]);
    // Surges off: A's jumps from cell to cell are whole-frame motion peaks on this tiny frame.
    // Shot detection off in effect: on a 12-cell thumbnail A's jumps are large structural changes.
    const grid = {
      gridCols: 4,
      gridRows: 3,
      busyFactor: 0,
      shots: { cutThreshold: 2, gradualThreshold: 2 },
    };
    const times = (kfs: Keyframe[]) => kfs.map((k) => [k.reason, k.frame.ptsNs / 1e6]);
    // B's onset at 1900 ms, confirmed confirmMs (400 ms) later.
    expect(times(runSelector(list, grid))).toEqual([
      ['first', 0],
      ['motion', 500],
      ['motion', 2300],
    ]);
    // Judged like the interior (the rule before), A's trail next to B made B look like A.
    expect(times(runSelector(list, { ...grid, edgeNeighbourQuietMs: 500 }))).toEqual([
      ['first', 0],
      ['motion', 500],
    ]);
  });

  it('copies the previous image, so ingest may recycle frame buffers', () => {
    const shared = block(0);
    const sel = new KeyframeSelector({ minIntervalMs: 0, confirmMs: 0 });
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
      [{ gridCols: 0 }, /gridCols must be an integer >= 1/],
      [{ gridRows: 65 }, /gridRows/],
      [{ quietMs: -1 }, /quietMs/],
      [{ confirmMs: Number.POSITIVE_INFINITY }, /confirmMs/],
      [{ edgeNeighbourQuietMs: -1 }, /edgeNeighbourQuietMs must be a number >= 0/],
      [{ sceneCutThreshold: 2.5 }, /sceneCutThreshold/],
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
