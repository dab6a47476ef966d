import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { Box, VigilEvent } from '../../src/core/contracts.js';
import { ConfigError } from '../../src/core/errors.js';
import {
  EventDetector,
  Tracker,
  iou,
  trackObjects,
  type AnalysedKeyframe,
  type TrackerOptions,
} from '../../src/stream/index.js';
import { T0, analysedKeyframe } from '../helpers/analysed.js';

type Obj = [label: string, x: number, y: number, w?: number, h?: number];

/** One analysed keyframe at `ptsMs` with boxes; 'null' = analysis missing. */
function kf(seq: number, ptsMs: number, objs: Obj[] | 'null'): AnalysedKeyframe {
  const detections =
    objs === 'null'
      ? null
      : objs.map(([label, x, y, w = 40, h = 80]) => ({
          label,
          classId: label === 'person' ? 0 : 2,
          score: 0.9,
          box: { x, y, w, h },
        }));
  return analysedKeyframe(seq, ptsMs, { detections, motionScore: 0.1, sourceWidth: 1000, sourceHeight: 500 });
}

function seq(list: (Obj[] | 'null')[], stepMs = 200): AnalysedKeyframe[] {
  return list.map((objs, i) => kf(i, i * stepMs, objs));
}

/** trackId of the detection nearest to x, per step. */
function idsByX(options: TrackerOptions, items: AnalysedKeyframe[]): number[][] {
  const t = new Tracker(options);
  return items.map((item) => {
    const step = t.update(item);
    return [...step.tracks]
      .filter((v) => !v.occluded)
      .sort((a, b) => a.box.x - b.box.x)
      .map((v) => v.id);
  });
}

describe('Tracker', () => {
  it('iou: identical 1, disjoint 0, half overlap 1/3', () => {
    const a: Box = { x: 0, y: 0, w: 10, h: 10 };
    expect(iou(a, a)).toBe(1);
    expect(iou(a, { x: 20, y: 0, w: 10, h: 10 })).toBe(0);
    expect(iou(a, { x: 5, y: 0, w: 10, h: 10 })).toBeCloseTo(1 / 3, 10);
  });

  it('keeps ids of two people whose paths cross (motion prediction)', () => {
    // A walks right from x=100, B walks left from x=500, 40 px per keyframe; they cross at x=300.
    const items = seq(
      Array.from({ length: 11 }, (_, i): Obj[] => [
        ['person', 100 + i * 40, 100],
        ['person', 500 - i * 40, 104],
      ]),
    );
    const t = new Tracker({ minHits: 2 });
    const trail = new Map<number, number[]>();
    for (const item of items) {
      for (const v of t.update(item).tracks) trail.set(v.id, [...(trail.get(v.id) ?? []), v.box.x]);
    }
    expect([...trail.keys()]).toEqual([1, 2]);
    // Track 1 moved monotonically right all along, track 2 left: no swap at the crossing.
    const [a, b] = [trail.get(1) ?? [], trail.get(2) ?? []];
    expect(a.every((x, i) => i === 0 || x > (a[i - 1] as number))).toBe(true);
    expect(b.every((x, i) => i === 0 || x < (b[i - 1] as number))).toBe(true);
    expect(a.at(-1)).toBe(500);
    expect(b.at(-1)).toBe(100);
  });

  it('bridges an occlusion gap: same id after 2 steps unseen, left once unseen longer than maxLostMs', () => {
    const walk = (i: number): Obj[] => [['person', 100 + i * 20, 100]];
    const items = seq([walk(0), walk(1), walk(2), [], [], walk(5), walk(6), [], [], [], [], []]);
    const t = new Tracker({ minHits: 2, maxLostMs: 700, maxLostDetections: 0 });
    const steps = items.map((i) => t.update(i));
    expect(steps.map((s) => s.tracks.map((v) => `${v.id}${v.occluded ? '?' : ''}`).join())).toEqual([
      '', // tentative
      '1',
      '1',
      '1?',
      '1?',
      '1', // re-acquired at the predicted position, same id
      '1',
      '1?',
      '1?',
      '1?',
      '', // unseen 800 ms > maxLostMs: left
      '',
    ]);
    expect(steps[10]?.left.map((v) => [v.id, v.reason, v.dwellMs])).toEqual([[1, 'lost', 1200]]);
    expect(t.stats()).toMatchObject({ tracks: 0, created: 1 });
  });

  it('missing analyses neither age nor end tracks; the next analysed step does', () => {
    const p: Obj[] = [['person', 100, 100]];
    const t = new Tracker({ minHits: 2, maxLostMs: 1000, maxLostDetections: 0 });
    const steps = [
      kf(0, 0, p),
      kf(1, 100, p),
      kf(2, 200, 'null'),
      kf(3, 300, 'null'),
      kf(4, 400, p),
      kf(5, 2000, 'null'),
      kf(6, 2100, []),
    ].map((i) => t.update(i));
    expect(steps.map((s) => s.tracks.length)).toEqual([0, 1, 1, 1, 1, 1, 0]);
    expect(steps[6]?.left.map((v) => [v.reason, v.lastPtsNs])).toEqual([['lost', 400e6]]);
  });

  it('matches per class and counts confirmed tracks per class', () => {
    const t = new Tracker({ minHits: 1 });
    const s = t.update(
      kf(0, 0, [
        ['person', 100, 100],
        ['car', 102, 100],
        ['person', 600, 100],
      ]),
    );
    expect(s.counts).toEqual({ car: 1, person: 2 });
    expect(s.entered.map((v) => v.label)).toEqual(['person', 'car', 'person']);
    const s2 = t.update(kf(1, 100, [['car', 100, 100]]));
    expect(s2.tracks.filter((v) => !v.occluded).map((v) => [v.id, v.label])).toEqual([[2, 'car']]);
  });

  it('bounds tracks and counts the detections it could not track', () => {
    const t = new Tracker({ maxTracks: 2, minHits: 1 });
    t.update(
      kf(0, 0, [
        ['a', 0, 0],
        ['b', 200, 0],
        ['c', 400, 0],
      ]),
    );
    expect(t.stats()).toMatchObject({ tracks: 2, dropped: 1 });
  });

  it('validates options', () => {
    expect(() => new Tracker({ iouThreshold: 0 })).toThrow(ConfigError);
    expect(() => new Tracker({ minHits: 0 })).toThrow(/minHits/);
    expect(() => new Tracker({ maxLost: 1 } as unknown as TrackerOptions)).toThrow(
      /unknown option 'maxLost'/,
    );
    expect(() => new Tracker({ threshold: 1.5 })).toThrow(/threshold/);
    expect(() => new Tracker({ classes: { person: { minScore: -0.1 } } })).toThrow(/classes.person.minScore/);
    expect(() => new Tracker({ classes: { person: { floor: 1 } } as never })).toThrow(
      /unknown option 'floor'/,
    );
    expect(idsByX({}, seq([[['x', 0, 0]]]))).toEqual([[]]);
  });

  it('confirms a track on the median of its scores, per class; a track never confirmed shows nowhere', () => {
    const scored = (seqNo: number, score: number, label = 'person'): AnalysedKeyframe => {
      const item = kf(seqNo, seqNo * 200, [[label, 100 + seqNo * 5, 100]]);
      for (const d of item.analysis?.detections ?? []) d.score = score;
      return item;
    };
    // Scores 0.45, 0.45, 0.45: high enough to track (minScore 0.4), median below 0.5: never confirmed.
    const t = new Tracker();
    const weak = [0, 1, 2, 3, 4].map((i) => t.update(scored(i, 0.45)));
    expect(weak.flatMap((s) => [...s.entered, ...s.tracks, ...s.left, ...s.confirmedDetections])).toEqual([]);
    expect(weak.at(-1)?.counts).toEqual({});
    // The same scores confirm a class whose threshold is 0.4, at the third sighting.
    const t2 = new Tracker({ classes: { dog: { threshold: 0.4 } } });
    const dogs = [0, 1, 2].map((i) => t2.update(scored(i, 0.45, 'dog')));
    expect(dogs.map((s) => s.entered.length)).toEqual([0, 0, 1]);
    expect(dogs[2]?.entered[0]).toMatchObject({ hits: 3, medianScore: 0.45, peakScore: 0.45 });
    expect(dogs[2]?.confirmedDetections.length).toBe(1);
  });

  it('third stage: one object whose class flickers stays one track, confirmed under the class seen minHits times', () => {
    const t = new Tracker({ minHits: 3 });
    const labels = ['dog', 'bird', 'teddy bear', 'bird', 'dog', 'bird', 'bird'];
    const steps = labels.map((label, i) => t.update(kf(i, i * 200, [[label, 300 + i * 4, 100]])));
    expect(t.stats().created).toBe(1);
    // dog, bird, teddy bear, bird, dog: no class has 3 sightings yet; the 3rd bird confirms it.
    expect(steps.map((s) => s.entered.map((v) => `${v.id} ${v.label}`).join())).toEqual([
      '',
      '',
      '',
      '',
      '',
      '1 bird',
      '',
    ]);
    // Once confirmed the label stays, whatever comes next.
    const later = t.update(kf(7, 1400, [['dog', 330, 100]]));
    expect(later.tracks.map((v) => `${v.id} ${v.label}${v.occluded ? '?' : ''}`)).toEqual(['1 bird']);
    // Off (crossClassIou 1): a track per class.
    const t2 = new Tracker({ minHits: 1, crossClassIou: 1 });
    labels.forEach((label, i) => t2.update(kf(i, i * 200, [[label, 300 + i * 4, 100]])));
    expect(t2.stats().created).toBe(3);
  });

  it('a second box of another class on an object already matched starts no track; a rider and a bike both do', () => {
    const t = new Tracker({ minHits: 1 });
    t.update(kf(0, 0, [['car', 100, 100, 200, 100]]));
    const s = t.update(
      kf(1, 200, [
        ['car', 102, 100, 200, 100],
        ['truck', 104, 102, 198, 98],
      ]),
    );
    expect(s.tracks.map((v) => v.label)).toEqual(['car']);
    expect(t.stats().created).toBe(1);
    // A rider's box over the bike's (IoU about 0.4): two objects, two tracks.
    const r = new Tracker({ minHits: 1 });
    r.update(kf(0, 0, [['person', 500, 100, 60, 140]]));
    const s2 = r.update(
      kf(1, 200, [
        ['person', 502, 100, 60, 140],
        ['bicycle', 490, 170, 80, 90],
      ]),
    );
    expect(s2.tracks.map((v) => v.label).sort()).toEqual(['bicycle', 'person']);
  });

  it('second stage: low-score detections keep an unmatched track alive but start none', () => {
    const at = (i: number, score: number, x = 100 + i * 10): AnalysedKeyframe => {
      const item = kf(i, i * 200, [['person', x, 100]]);
      for (const d of item.analysis?.detections ?? []) d.score = score;
      return item;
    };
    const t = new Tracker({ minHits: 2, maxLostMs: 300 });
    const steps = [at(0, 0.9), at(1, 0.9), at(2, 0.3), at(3, 0.3), at(4, 0.3), at(5, 0.9)].map((i) =>
      t.update(i),
    );
    // Partly hidden (0.3 < minScore 0.4) for 600 ms > maxLostMs, yet the same id all along.
    expect(steps.map((s) => s.tracks.map((v) => `${v.id}${v.occluded ? '?' : ''}`).join())).toEqual([
      '',
      '1',
      '1',
      '1',
      '1',
      '1',
    ]);
    expect(steps.flatMap((s) => s.left)).toEqual([]);
    // Alone, low-score detections start nothing.
    const t2 = new Tracker({ minHits: 1 });
    expect([at(0, 0.3), at(1, 0.3)].map((i) => t2.update(i).tracks.length)).toEqual([0, 0]);
    expect(t2.stats().created).toBe(0);
  });

  it('keeps ids through a crossing with an occlusion at 5 fps (Kalman prediction)', () => {
    // A walks right, B walks left, 30 px per 200 ms; around the crossing B is hidden behind A for 3 steps.
    const items = Array.from({ length: 16 }, (_, i) => {
      const objs: Obj[] = [['person', 100 + i * 30, 100]];
      if (i < 6 || i > 8) objs.push(['person', 550 - i * 30, 102]);
      return kf(i, i * 200, objs);
    });
    const t = new Tracker({ minHits: 2, maxLostMs: 1000 });
    const trail = new Map<number, number[]>();
    for (const item of items) {
      for (const v of t.update(item).tracks)
        if (!v.occluded) trail.set(v.id, [...(trail.get(v.id) ?? []), v.box.x]);
    }
    expect([...trail.keys()]).toEqual([1, 2]);
    const [a, b] = [trail.get(1) ?? [], trail.get(2) ?? []];
    expect(a.every((x, i) => i === 0 || x > (a[i - 1] as number))).toBe(true);
    expect(b.every((x, i) => i === 0 || x < (b[i - 1] as number))).toBe(true);
    expect(t.stats().created).toBe(2);
  });

  it('says which edge a track entered and left by', () => {
    // Frame 1000 x 500; a person walks in from the left edge and out at the right.
    const t = new Tracker({ minHits: 2, maxLostMs: 300, maxLostDetections: 0 });
    const steps = Array.from({ length: 14 }, (_, i) =>
      t.update(kf(i, i * 200, i < 10 ? [['person', i * 97, 200, 120, 80]] : [])),
    );
    const left = steps.flatMap((s) => s.left);
    expect(left.map((v) => [v.entryEdge, v.exitEdge, v.reason])).toEqual([['left', 'right', 'lost']]);
    // Within maxLostMs (+ one step) of the last sighting.
    expect(steps.findIndex((s) => s.left.length > 0)).toBe(11);
    expect(left[0]?.path.length).toBeGreaterThan(3);
    expect(left[0]?.best).toMatchObject({ keyframeId: 'cam:0' });
  });
});

describe('Tracker at a low detection cadence (a shared budget, a busy model)', () => {
  /** Steps `stepMs` apart: each entry is the detections of one detected frame. */
  const run = (options: TrackerOptions, list: Obj[][], stepMs: number) => {
    const t = new Tracker(options);
    const steps = list.map((objs, i) => t.update(kf(i, i * stepMs, objs)));
    return { t, steps };
  };

  it('counts loss in missed detections: at 1 detection/s a track survives 3 s unseen, then leaves with the maxLost it was held to', () => {
    // A person walks 30 px per second; detections come once a second; the person is missed
    // for 3 detections (3 s), seen again, then gone for good.
    const walk = (i: number): Obj[] => [['person', 100 + i * 30, 100]];
    const list: Obj[][] = [walk(0), walk(1), walk(2), walk(3), [], [], [], walk(7), walk(8)];
    for (let i = 0; i < 8; i++) list.push([]);
    const { t, steps } = run({ minHits: 2 }, list, 1000);
    const ids = steps.map((s) => s.tracks.filter((v) => !v.occluded).map((v) => v.id));
    expect(ids[7]).toEqual([1]); // same id after 3 missed detections (maxLostMs alone is 1500)
    expect(t.stats().created).toBe(1);
    const left = steps.flatMap((s, i) => s.left.map((v) => ({ i, id: v.id, maxLostMs: v.maxLostMs })));
    // 5 detections at 1 per second: effective maxLost 5000 ms; last seen at step 8 (8 s), left at
    // the first step more than 5 s later (14 s).
    expect(left).toEqual([{ i: 14, id: 1, maxLostMs: 5000 }]);
  });

  it('a detection stall is no miss: ticks alone end a track only at maxLostLimitMs; nextLoss says when', () => {
    const t = new Tracker({ minHits: 2 });
    for (let i = 0; i < 4; i++) t.update(kf(i, i * 200, [['person', 100, 100]]));
    // No detection after 600 ms (the model is stalled, frames go by undetected).
    expect(t.nextLoss).toEqual({ timeMs: T0 + 600 + 6000, ptsNs: 6600e6 });
    const at = (ms: number) => ({
      streamId: 'cam',
      ptsNs: ms * 1e6,
      timeMs: T0 + ms,
      width: 1000,
      height: 500,
    });
    expect(t.tick(at(2200)).left).toEqual([]); // 1.6 s unseen but no detection missed: stays
    expect(t.tick(at(6700)).left.map((v) => [v.id, v.reason, v.maxLostMs])).toEqual([[1, 'lost', 6000]]);
  });

  it('at full cadence the time rules; a slow cadence stretches maxLost up to maxLostLimitMs; maxLostDetections 0 is time only', () => {
    /** Seen for 5 steps `stepMs` apart, then missed: the step index it left at and its maxLost. */
    const leave = (stepMs: number, options: TrackerOptions) => {
      const t = new Tracker({ minHits: 1, ...options });
      for (let i = 0; i < 40; i++) {
        const left = t.update(kf(i, i * stepMs, i < 5 ? [['person', 100, 100]] : [])).left;
        if (left.length > 0) return { goneMs: (i - 4) * stepMs, maxLostMs: left[0]!.maxLostMs };
      }
      return null;
    };
    expect(leave(200, {})).toEqual({ goneMs: 1600, maxLostMs: 1500 });
    expect(leave(500, {})).toEqual({ goneMs: 3000, maxLostMs: 2500 }); // 5 misses: 2.5 s
    expect(leave(2000, {})).toEqual({ goneMs: 8000, maxLostMs: 6000 }); // the limit
    expect(leave(500, { maxLostLimitMs: 2000 })).toEqual({ goneMs: 2500, maxLostMs: 2000 });
    expect(leave(500, { maxLostDetections: 0 })).toEqual({ goneMs: 2000, maxLostMs: 1500 });
    expect(() => new Tracker({ maxLostDetections: -1 })).toThrow(/maxLostDetections/);
    expect(() => new Tracker({ reacquireGrowth: -1 })).toThrow(/reacquireGrowth/);
  });

  it('two people crossing at 1 detection/s, one hidden for 3 detections at the crossing: ids kept, no swap', () => {
    // A walks right, B walks left, 60 px per second on nearly the same line; B is hidden behind A
    // at 3 s, 4 s and 5 s.
    const list = Array.from({ length: 10 }, (_, i): Obj[] => {
      const objs: Obj[] = [['person', 100 + i * 60, 100]];
      if (i < 3 || i > 5) objs.push(['person', 700 - i * 60, 104]);
      return objs;
    });
    const { t, steps } = run({ minHits: 2 }, list, 1000);
    const trail = new Map<number, number[]>();
    for (const s of steps)
      for (const v of s.tracks) if (!v.occluded) trail.set(v.id, [...(trail.get(v.id) ?? []), v.box.x]);
    expect([...trail.keys()]).toEqual([1, 2]);
    const [a, b] = [trail.get(1) ?? [], trail.get(2) ?? []];
    expect(a.every((x, i) => i === 0 || x > (a[i - 1] as number))).toBe(true);
    expect(b.every((x, i) => i === 0 || x < (b[i - 1] as number))).toBe(true);
    expect(b.at(-1)).toBe(700 - 9 * 60);
    expect(steps.flatMap((s) => s.left)).toEqual([]);
    expect(t.stats().created).toBe(2);
  });

  it('re-acquires a person who stopped while unseen (the prediction overshoots): same id, by the widened gate', () => {
    // Walks right 50 px per second (seen each second), hidden 3 s, during which they stop; seen
    // again where they were last seen. The motion prediction is 200 px ahead (2 diagonals).
    const walk = (x: number): Obj[] => [['person', x, 100]];
    const list: Obj[][] = [walk(100), walk(150), walk(200), walk(250), [], [], walk(255), walk(255)];
    const { t, steps } = run({ minHits: 2 }, list, 1000);
    expect(steps.map((s) => s.tracks.filter((v) => !v.occluded).map((v) => v.id))).toEqual([
      [],
      [1],
      [1],
      [1],
      [],
      [],
      [1],
      [1],
    ]);
    expect(t.stats()).toMatchObject({ created: 1, reacquired: 1 });
    // Off: a new track starts instead.
    const off = run({ minHits: 2, reacquireGrowth: 0 }, list, 1000);
    expect(off.t.stats().created).toBe(2);
  });

  it('the widened gate does not take a far detection of the same class', () => {
    const list: Obj[][] = [
      [['person', 100, 100]],
      [['person', 110, 100]],
      [['person', 120, 100]],
      [],
      [['person', 800, 100]],
    ];
    const { t } = run({ minHits: 2 }, list, 1000);
    expect(t.stats()).toMatchObject({ created: 2, reacquired: 0 });
  });
});

describe('object.entered / object.left events', () => {
  const brief = (e: VigilEvent): string =>
    `${e.type}#${String(e.data['trackId'])}@${String(e.evidence.keyframeId)}` +
    (e.type === 'object.left' ? `/dwell=${String(e.data['dwellMs'])}` : '');

  it('says who entered and when, and who left with the dwell time', () => {
    const items = seq([
      [['person', 100, 100]],
      [['person', 120, 100]],
      [
        ['person', 140, 100],
        ['person', 700, 100],
      ],
      [
        ['person', 160, 100],
        ['person', 690, 100],
      ],
      [['person', 680, 100]],
      [['person', 670, 100]],
      [['person', 660, 100]],
      [['person', 650, 100]],
    ]);
    const d = new EventDetector({
      tracker: { minHits: 2, maxLostMs: 500, maxLostDetections: 0 },
      confirmKeyframes: 100,
    });
    const events = items.flatMap((i) => d.next(i)).filter((e) => e.type.startsWith('object.'));
    expect(events.map(brief)).toEqual([
      'object.entered#1@cam:1',
      'object.entered#2@cam:3',
      // Person 1 last seen in cam:3 (600 ms), entered at 0: dwell 600 ms; decided at cam:6 (unseen 600 ms > maxLostMs 500).
      'object.left#1@cam:3/dwell=600',
    ]);
    const left = events[2] as VigilEvent;
    expect(left.ptsNs).toBe(1200e6);
    expect(left.data).toMatchObject({
      label: 'person',
      enteredPtsNs: 0,
      lastSeenPtsNs: 600e6,
      reason: 'lost',
    });
    expect(left.id).toBe('cam:object.left:0');
    expect(events[0]?.evidence.boxes).toEqual([
      { label: 'person', classId: 0, score: 0.9, box: { x: 120, y: 100, w: 40, h: 80 } },
    ]);
  });

  it('trackObjects: one tracked keyframe per input; unsubscribing releases the source', () => {
    new TestScheduler((a, e) => expect(a).toEqual(e)).run(
      ({ hot, expectObservable, expectSubscriptions }) => {
        const [a, b, c] = seq([[['dog', 10, 10]], [['dog', 12, 10]], [['dog', 14, 10]]]) as [
          AnalysedKeyframe,
          AnalysedKeyframe,
          AnalysedKeyframe,
        ];
        const src = hot('-a-b-c|', { a, b, c });
        const out = src.pipe(
          trackObjects({ minHits: 2 }),
          map((t) => `${t.keyframe.id}:${JSON.stringify(t.tracking.counts)}:${t.tracking.entered.length}`),
        );
        expectObservable(out, '^----!').toBe('-a-b-', { a: 'cam:0:{}:0', b: 'cam:1:{"dog":1}:1' });
        expectSubscriptions(src.subscriptions).toBe('^----!');
      },
    );
  });
});
