import { describe, expect, it } from 'vitest';
import type { VigilEvent } from '../../src/core/contracts.js';
import { ConfigError } from '../../src/core/errors.js';
import {
  EventDetector,
  parseRules,
  pointInPolygon,
  type AnalysedKeyframe,
  type RuleConfig,
} from '../../src/stream/index.js';
import { analysedKeyframe } from '../helpers/analysed.js';

type Obj = [label: string, x: number, y: number];

/** Source frame 1000x500; boxes 40x80 with their feet (bottom centre) at (x+20, y+80). */
function kf(seq: number, ptsMs: number, objs: Obj[]): AnalysedKeyframe {
  return analysedKeyframe(seq, ptsMs, {
    detections: objs.map(([label, x, y]) => ({ label, classId: 0, score: 0.8, box: { x, y, w: 40, h: 80 } })),
    motionScore: 0.1,
    sincePreviousMs: 500,
    sourceWidth: 1000,
    sourceHeight: 500,
  });
}

/** Left half of the frame (normalised). */
const LEFT_HALF: RuleConfig['zone'] = {
  points: [
    [0, 0],
    [0.5, 0],
    [0.5, 1],
    [0, 1],
  ],
};

function alerts(rules: RuleConfig[], frames: Obj[][], stepMs = 500): VigilEvent[] {
  const d = new EventDetector({ rules, tracker: { minHits: 1 } });
  return frames
    .flatMap((objs, i) => d.next(kf(i, i * stepMs, objs)))
    .filter((e) => e.type.startsWith('alert.'));
}

describe('rules', () => {
  it('pointInPolygon: inside, outside, concave notch', () => {
    const u: [number, number][] = [
      [0, 0],
      [10, 0],
      [10, 10],
      [6, 10],
      [6, 4],
      [4, 4],
      [4, 10],
      [0, 10],
    ];
    expect(pointInPolygon(2, 8, u)).toBe(true);
    expect(pointInPolygon(5, 8, u)).toBe(false); // in the notch
    expect(pointInPolygon(11, 5, u)).toBe(false);
  });

  it('alerts when a person stands in the zone for minDwellMs, once per stay, with evidence', () => {
    // Person in the left half (feet x=120) for 0..2500 ms; a car there too (not matching the rule).
    const frames: Obj[][] = Array.from({ length: 6 }, () => [
      ['person', 100, 200],
      ['car', 300, 300],
    ]);
    const events = alerts(
      [{ name: 'loiter', labels: ['person'], zone: LEFT_HALF, minDwellMs: 2000, severity: 'critical' }],
      frames,
    );
    expect(events).toHaveLength(1);
    const e = events[0] as VigilEvent;
    expect(e.type).toBe('alert.loiter');
    expect(e.id).toBe('cam:alert.loiter:0');
    expect(e.severity).toBe('critical');
    expect(e.ptsNs).toBe(2000e6); // dwell reached at the keyframe at 2 s
    expect(e.data).toEqual({ rule: 'loiter', trackIds: [1], labels: ['person'], count: 1, dwellMs: 2000 });
    expect(e.evidence.keyframeId).toBe('cam:4');
    expect(e.evidence.boxes).toEqual([
      { label: 'person', classId: 0, score: 0.8, box: { x: 100, y: 200, w: 40, h: 80 } },
    ]);
  });

  it('dwell restarts when the track leaves the zone; outside the zone never alerts', () => {
    // Walking slowly: feet (x + 20) cross into the right half (x >= 500) at 1 s, back at 1.5 s.
    const xs = [440, 470, 500, 470, 450, 450, 450, 450];
    const frames = xs.map((x): Obj[] => [['person', x, 200]]);
    const events = alerts([{ name: 'stay', zone: LEFT_HALF, minDwellMs: 2000, cooldownMs: 0 }], frames);
    // Back in the zone at 1500 ms: dwell 2 s at 3500 ms (keyframe 7).
    expect(events.map((e) => e.evidence.keyframeId)).toEqual(['cam:7']);
    expect(
      alerts(
        [
          {
            name: 'right',
            zone: {
              points: [
                [600, 0],
                [1000, 0],
                [1000, 500],
                [600, 500],
              ],
              units: 'px',
            },
          },
        ],
        frames,
      ),
    ).toEqual([]);
  });

  it('pixel zones and the centre anchor', () => {
    const zone: RuleConfig['zone'] = {
      points: [
        [0, 0],
        [200, 0],
        [200, 250],
        [0, 250],
      ],
      units: 'px',
    };
    // Box 100..140 x 200..280: centre y = 240 (inside), feet y = 280 (outside).
    const frames: Obj[][] = [[['person', 100, 200]]];
    expect(alerts([{ name: 'feet', zone }], frames)).toHaveLength(0);
    expect(alerts([{ name: 'centre', zone, anchor: 'center' }], frames)).toHaveLength(1);
  });

  it('cooldown limits alerts per rule; a new track can alert once the cooldown passed', () => {
    // A new person arrives (far apart, so a new track) every keyframe.
    const frames: Obj[][] = Array.from({ length: 8 }, (_, i) =>
      Array.from({ length: i + 1 }, (_, j): Obj => ['person', j * 55, 10]),
    );
    const events = alerts([{ name: 'any', cooldownMs: 1500 }], frames);
    expect(events.map((e) => e.ptsNs / 1e6)).toEqual([0, 1500, 3000]);
  });

  it('minCount needs that many qualifying tracks at once', () => {
    const frames: Obj[][] = [
      [['person', 10, 10]],
      [
        ['person', 10, 10],
        ['person', 300, 10],
      ],
      [
        ['person', 10, 10],
        ['person', 300, 10],
      ],
    ];
    const events = alerts([{ name: 'crowd', minCount: 2, zone: LEFT_HALF }], frames);
    expect(events.map((e) => [e.ptsNs / 1e6, e.data['count']])).toEqual([[500, 2]]);
  });

  it('validates rules with the offending key named', () => {
    const bad: [unknown, RegExp][] = [
      [{ name: 'Bad Name' }, /name must be/],
      [[{ name: 'a' }, { name: 'a' }], /duplicate rule name 'a'/],
      [
        {
          name: 'z',
          zone: {
            points: [
              [0, 0],
              [2, 0],
              [0, 1],
            ],
          },
        },
        /points\[1\] must lie in 0..1/,
      ],
      [
        {
          name: 'z',
          zone: {
            points: [
              [0, 0],
              [1, 0],
            ],
          },
        },
        /3 to 256/,
      ],
      [{ name: 'z', severity: 'loud' }, /severity/],
      [{ name: 'z', minDwellMs: -1 }, /minDwellMs/],
      [{ name: 'z', dwell: 1 }, /unknown option 'dwell'/],
    ];
    for (const [r, msg] of bad) {
      const rules = Array.isArray(r) ? r : [r];
      expect(() => parseRules(rules)).toThrow(ConfigError);
      expect(() => parseRules(rules)).toThrow(msg);
    }
    expect(() => new EventDetector({ rules: [{ name: 'x' }], tracker: false })).toThrow(
      /rules need the tracker/,
    );
  });
});
