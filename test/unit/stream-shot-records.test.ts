import { describe, expect, it } from 'vitest';
import type { Analysis, Keyframe, KeyframeReason, ShotTransition } from '../../src/core/contracts.js';
import { ConfigError } from '../../src/core/errors.js';
import { ShotRecorder } from '../../src/stream/shot-records.js';

const S = 1e9;

function kf(seq: number, t: number, reason: KeyframeReason, shot?: ShotTransition): Keyframe {
  return {
    id: `cam:${seq}`,
    frame: {
      streamId: 'cam',
      seq,
      ptsNs: t * S,
      captureTimeMs: 1_000_000 + t * 1000,
      sourceWidth: 64,
      sourceHeight: 48,
      analysis: { width: 1, height: 1, format: 'GRAY8', data: new Uint8Array(1) },
      model: { width: 1, height: 1, format: 'RGB', data: new Uint8Array(3) },
    },
    reason,
    motionScore: 0,
    sceneScore: 0,
    sincePreviousMs: 0,
    ...(shot ? { shot } : {}),
  };
}

function analysis(k: Keyframe, labels: string[], text: string[] = [], available = true): Analysis {
  return {
    keyframeId: k.id,
    streamId: 'cam',
    ptsNs: k.frame.ptsNs,
    captureTimeMs: k.frame.captureTimeMs,
    available,
    detections: labels.map((label, i) => ({
      label,
      classId: i,
      score: 0.9,
      box: { x: 0, y: 0, w: 1, h: 1 },
    })),
    text,
    model: { name: 'm', version: '1' },
    inferenceMs: 1,
  };
}

const cut = (t: number): ShotTransition => ({
  kind: 'cut',
  startPtsNs: t * S,
  endPtsNs: t * S,
  confidence: 0.9,
});

describe('ShotRecorder', () => {
  it('one record per shot, released when it has ended and its keyframe is analysed, in order', () => {
    const r = new ShotRecorder({ runId: 'r1' });
    const k0 = kf(0, 0, 'first');
    const k1 = kf(10, 1, 'motion');
    const dis: ShotTransition = { kind: 'dissolve', startPtsNs: 4 * S, endPtsNs: 5 * S, confidence: 0.7 };
    const k2 = kf(80, 5.2, 'scene-cut', dis);
    const k3 = kf(150, 9.5, 'scene-cut', cut(9.4));
    for (let i = 0; i <= 10; i++) r.frame(i * S, 1_000_000 + i * 1000);
    expect(r.keyframe(k0)).toEqual([]);
    expect(r.keyframe(k1)).toEqual([]);
    // The second shot opens: the first has ended but its analysis has not come yet.
    expect(r.keyframe(k2)).toEqual([]);
    const first = r.analysed(k0, analysis(k0, ['person', 'person', 'dog'], ['EXIT']));
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({
      id: 'cam:r1:shot:0',
      index: 0,
      transition: 'first',
      startPtsNs: 0,
      endPtsNs: 4 * S,
      startTimeMs: 1_000_000,
      endTimeMs: 1_004_000,
      keyframeId: 'cam:0',
      counts: { person: 2, dog: 1 },
      text: ['EXIT'],
      confidence: 1,
    });
    expect(r.analysed(k1, analysis(k1, []))).toEqual([]);
    expect(r.analysed(k2, analysis(k2, ['horse']))).toEqual([]);
    const second = r.keyframe(k3);
    expect(second).toHaveLength(1);
    expect(second[0]).toMatchObject({
      index: 1,
      transition: 'dissolve',
      transitionStartPtsNs: 4 * S,
      startPtsNs: 5 * S,
      endPtsNs: 9.4 * S,
      keyframeId: 'cam:80',
      keyframePtsNs: 5.2 * S,
      counts: { horse: 1 },
      confidence: 0.7,
    });
    // The end of input closes the last shot at the last frame seen.
    const last = r.finish();
    expect(last).toHaveLength(1);
    expect(last[0]).toMatchObject({
      index: 2,
      transition: 'cut',
      startPtsNs: 9.4 * S,
      endPtsNs: 10 * S,
      counts: {},
    });
    expect(r.finish()).toEqual([]);
  });

  it("a later keyframe of the shot stands in when the representative's analysis is missing", () => {
    const r = new ShotRecorder();
    const k0 = kf(0, 0, 'first');
    const k1 = kf(10, 1, 'max-interval');
    const k2 = kf(40, 3, 'scene-cut', cut(3));
    r.keyframe(k0);
    r.keyframe(k1);
    r.keyframe(k2);
    expect(r.analysed(k0, null)).toEqual([]);
    const out = r.analysed(k1, analysis(k1, ['car']));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({
      id: 'cam:shot:0',
      keyframeId: 'cam:10',
      keyframePtsNs: 1 * S,
      counts: { car: 1 },
    });
    // An unavailable analysis and no other keyframe: released with nothing seen.
    const k3 = kf(60, 5, 'scene-cut', cut(5));
    r.keyframe(k3);
    const none = r.analysed(k2, analysis(k2, ['x'], [], false));
    expect(none).toHaveLength(1);
    expect(none[0]).toMatchObject({ keyframeId: 'cam:40', counts: {}, text: [] });
  });

  it('PTS going backwards (a new run) ends the open shot and opens a new one', () => {
    const r = new ShotRecorder();
    const a = kf(0, 0, 'first');
    r.frame(0, 1_000_000);
    r.keyframe(a);
    r.analysed(a, analysis(a, []));
    r.frame(2 * S, 1_002_000);
    const b = kf(1, 0.5, 'first');
    b.frame.ptsNs = 0.5 * S;
    const out = r.keyframe(b);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ index: 0, endPtsNs: 2 * S });
  });

  it('bounded: past maxPending ended shots, the oldest is released without waiting', () => {
    const r = new ShotRecorder({ maxPending: 2 });
    const ks = [kf(0, 0, 'first'), kf(1, 1, 'scene-cut', cut(1)), kf(2, 2, 'scene-cut', cut(2))];
    const out = ks.flatMap((k) => r.keyframe(k));
    expect(out).toEqual([]);
    const more = r.keyframe(kf(3, 3, 'scene-cut', cut(3)));
    expect(more.map((x) => x.index)).toEqual([0]);
    expect(r.releasedEarly).toBe(1);
  });

  it('rejects bad options with a ConfigError naming the key', () => {
    expect(() => new ShotRecorder({ maxPending: 0 })).toThrow(ConfigError);
    expect(() => new ShotRecorder({ maxPending: 0 })).toThrow(/maxPending/);
    expect(() => new ShotRecorder({ runId: 'a b' })).toThrow(/runId/);
  });
});
