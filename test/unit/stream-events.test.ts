import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { Detection, VigilEvent } from '../../src/core/contracts.js';
import { ConfigError } from '../../src/core/errors.js';
import {
  EventDetector,
  detectEvents,
  type AnalysedKeyframe,
  type EventOptions,
} from '../../src/stream/index.js';
import { analysedKeyframe, T0 } from '../helpers/analysed.js';

function dets(counts: Record<string, number>): Detection[] {
  return Object.entries(counts).flatMap(([label, n]) =>
    Array.from({ length: n }, (_, i) => ({
      label,
      classId: 0,
      score: 0.8,
      box: { x: i * 10, y: 0, w: 8, h: 8 },
    })),
  );
}

function item(
  seq: number,
  ptsMs: number,
  counts: Record<string, number> | 'null' | 'unavailable',
  motion = 0,
): AnalysedKeyframe {
  const detections = counts === 'null' ? null : counts === 'unavailable' ? counts : dets(counts);
  return analysedKeyframe(seq, ptsMs, {
    detections,
    motionScore: motion,
    sincePreviousMs: 1,
    inferenceMs: 3,
  });
}

const brief = (e: VigilEvent): string =>
  e.type === 'count.changed'
    ? `${e.id}:${String(e.data['label'])}:${String(e.data['from'])}->${String(e.data['to'])}@${e.evidence.keyframeId}`
    : `${e.id}@${e.evidence.keyframeId}`;

/** Count and motion tests run without the tracker (object.* events are tested in stream-tracker). */
function run(items: AnalysedKeyframe[], options: EventOptions = {}): VigilEvent[] {
  const d = new EventDetector({ tracker: false, ...options });
  return items.flatMap((i) => d.next(i));
}

describe('detectEvents', () => {
  it('count.changed needs the new count to persist for 2 analysed keyframes (hysteresis)', () => {
    new TestScheduler((a, e) => expect(a).toEqual(e)).run(
      ({ cold, expectObservable, expectSubscriptions }) => {
        const seq = [1, 1, 2, 1, 2, 2, 2, 0, 0];
        const values = Object.fromEntries(
          seq.map((n, i) => [String.fromCharCode(97 + i), item(i, i * 1000, n > 0 ? { person: n } : {})]),
        );
        const src = cold('abcdefghi|', values);
        expectObservable(src.pipe(detectEvents({ tracker: false }), map(brief))).toBe('-x---y--z|', {
          x: 'cam:count.changed:0:person:0->1@cam:1',
          y: 'cam:count.changed:1:person:1->2@cam:5',
          z: 'cam:count.changed:2:person:2->0@cam:8',
        });
        expectSubscriptions(src.subscriptions).toBe('^--------!');
      },
    );
  });

  it('carries evidence: keyframe id, PTS, capture time and the boxes of that label only', () => {
    const events = run([item(0, 0, { person: 2, car: 1 }), item(1, 500, { person: 2, car: 1 })]);
    const person = events.find((e) => e.data['label'] === 'person');
    expect(person).toEqual({
      id: 'cam:count.changed:1',
      type: 'count.changed',
      streamId: 'cam',
      timeMs: T0 + 500,
      ptsNs: 500e6,
      severity: 'info',
      data: { label: 'person', from: 0, to: 2 },
      evidence: {
        streamId: 'cam',
        keyframeId: 'cam:1',
        ptsNs: 500e6,
        timeMs: T0 + 500,
        boxes: dets({ person: 2 }),
      },
    });
    expect(events.map((e) => e.id)).toEqual(['cam:count.changed:0', 'cam:count.changed:1']); // car, person
  });

  it('missing analyses neither confirm nor break a streak', () => {
    const events = run([
      item(0, 0, { dog: 1 }),
      item(1, 100, 'null'),
      item(2, 200, 'unavailable'),
      item(3, 300, { dog: 1 }),
    ]);
    expect(events.map(brief)).toEqual(['cam:count.changed:0:dog:0->1@cam:3']);
  });

  it('confirmKeyframes: 1 reports every change; 3 ignores two-keyframe flickers', () => {
    const seq = [{ cat: 1 }, { cat: 2 }, { cat: 2 }, { cat: 1 }];
    const items = seq.map((c, i) => item(i, i * 100, c));
    expect(run(items, { confirmKeyframes: 1 }).map(brief)).toEqual([
      'cam:count.changed:0:cat:0->1@cam:0',
      'cam:count.changed:1:cat:1->2@cam:1',
      'cam:count.changed:2:cat:2->1@cam:3',
    ]);
    expect(run(items, { confirmKeyframes: 3 })).toEqual([]);
  });

  it('filters labels and bounds the labels tracked', () => {
    const items = [item(0, 0, { a: 1, b: 1, c: 1 }), item(1, 100, { a: 1, b: 1, c: 1 })];
    expect(run(items, { labels: ['b'] }).map((e) => e.data['label'])).toEqual(['b']);
    expect(run(items, { maxLabels: 2 }).map((e) => e.data['label'])).toEqual(['a', 'b']);
  });

  it('motion.started above the threshold, motion.stopped after quiet for motionStopAfterMs of stream time', () => {
    new TestScheduler((a, e) => expect(a).toEqual(e)).run(
      ({ cold, expectObservable, expectSubscriptions }) => {
        const scores = [0, 0.1, 0.05, 0, 0, 0, 0.3];
        const values = Object.fromEntries(
          scores.map((m, i) => [String.fromCharCode(97 + i), item(i, i * 1000, 'null', m)]),
        );
        const src = cold('abcdefg|', values);
        expectObservable(src.pipe(detectEvents({ motionStopAfterMs: 2000 }), map(brief))).toBe('-x--y-z|', {
          x: 'cam:motion.started:0@cam:1',
          y: 'cam:motion.stopped:0@cam:4', // last motion at 2 s, quiet 2 s at 4 s
          z: 'cam:motion.started:1@cam:6',
        });
        expectSubscriptions(src.subscriptions).toBe('^------!');
      },
    );
  });

  it('a lower stop threshold keeps motion going (hysteresis band)', () => {
    const items = [0.1, 0.01, 0.01, 0.01, 0.001, 0.001].map((m, i) => item(i, i * 1000, 'null', m));
    const events = run(items, {
      motionStartThreshold: 0.05,
      motionStopThreshold: 0.005,
      motionStopAfterMs: 1000,
    });
    expect(events.map(brief)).toEqual(['cam:motion.started:0@cam:0', 'cam:motion.stopped:0@cam:4']);
    expect(events[1]?.data).toEqual({ motionScore: 0.001, quietMs: 1000 });
  });

  it('releases the source when the consumer unsubscribes', () => {
    new TestScheduler((a, e) => expect(a).toEqual(e)).run(
      ({ hot, expectObservable, expectSubscriptions }) => {
        const src = hot('-a-b-c|', {
          a: item(0, 0, { x: 1 }),
          b: item(1, 1, { x: 1 }),
          c: item(2, 2, { x: 3 }),
        });
        expectObservable(src.pipe(detectEvents({ tracker: false }), map(brief)), '^---!').toBe('---x', {
          x: 'cam:count.changed:0:x:0->1@cam:1',
        });
        expectSubscriptions(src.subscriptions).toBe('^---!');
      },
    );
  });

  it('validates options up front', () => {
    const bad: [EventOptions, RegExp][] = [
      [{ confirmKeyframes: 0 }, /confirmKeyframes/],
      [{ motionStartThreshold: 2 }, /motionStartThreshold/],
      [{ motionStartThreshold: 0.01, motionStopThreshold: 0.02 }, /must not exceed motionStartThreshold/],
      [{ motionStopAfterMs: -1 }, /motionStopAfterMs/],
      [{ labels: 'person' as unknown as string[] }, /labels must be an array/],
      [{ confirm: 2 } as unknown as EventOptions, /unknown option 'confirm'/],
    ];
    for (const [opts, msg] of bad) {
      expect(() => detectEvents(opts)).toThrow(ConfigError);
      expect(() => detectEvents(opts)).toThrow(msg);
    }
  });
});
