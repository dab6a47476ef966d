/**
 * Regression: with `pending`, selected keyframes run ahead of their analyses (the model is
 * slower than selection). That lead is not a PTS reset, and it must not close windows that are
 * still waiting for analyses (seen as inflated window indexes and lost detections under load).
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Analysis, Frame, Keyframe, WindowDigest } from '../../src/core/contracts.js';
import { tumblingWindows, type AnalysedKeyframe } from '../../src/stream/index.js';

function keyframe(seq: number, ptsMs: number): Keyframe {
  const img = { width: 1, height: 1, format: 'GRAY8' as const, data: new Uint8Array(1) };
  const frame: Frame = {
    streamId: 'cam',
    seq,
    ptsNs: ptsMs * 1e6,
    captureTimeMs: ptsMs,
    sourceWidth: 4,
    sourceHeight: 4,
    analysis: img,
    model: img,
  };
  return {
    id: `cam:${seq}`,
    frame,
    reason: 'max-interval',
    motionScore: 0,
    sceneScore: 0,
    sincePreviousMs: 5000,
  };
}

function analysed(kf: Keyframe): AnalysedKeyframe {
  const analysis: Analysis = {
    keyframeId: kf.id,
    streamId: 'cam',
    ptsNs: kf.frame.ptsNs,
    captureTimeMs: kf.frame.captureTimeMs,
    available: true,
    detections: [{ label: 'person', classId: 0, score: 0.9, box: { x: 0, y: 0, w: 1, h: 2 } }],
    text: [],
    model: { name: 'm', version: '1' },
    inferenceMs: 1,
  };
  return { keyframe: kf, analysis };
}

describe('tumblingWindows with pending keyframes far ahead of their analyses', () => {
  it('keeps indexes contiguous, sees no PTS reset and counts every analysis', () => {
    const pending = new Subject<Keyframe>();
    const items = new Subject<AnalysedKeyframe>();
    const digests: WindowDigest[] = [];
    items
      .pipe(tumblingWindows({ windowMs: 10_000, maxKeyframesPerWindow: 64, pending, maxOpenMs: 0 }))
      .subscribe((d) => digests.push(d));
    // 80 s of keyframes every 2.5 s, all selected before any analysis arrives.
    const kfs = Array.from({ length: 32 }, (_, i) => keyframe(i, i * 2500));
    for (const kf of kfs) pending.next(kf);
    for (const kf of kfs) items.next(analysed(kf));
    items.complete();

    expect(digests.map((d) => d.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(digests.every((d) => !d.ptsResets)).toBe(true);
    expect(digests.reduce((n, d) => n + d.analysed, 0)).toBe(32);
    expect(digests.every((d) => d.analysed === 4 && d.missing === 0 && !d.late)).toBe(true);
    expect(digests.every((d) => d.peakCounts.person === 1)).toBe(true);
  });

  it('still detects a real PTS reset on the pending (leading) input', () => {
    const pending = new Subject<Keyframe>();
    const items = new Subject<AnalysedKeyframe>();
    const digests: WindowDigest[] = [];
    items
      .pipe(tumblingWindows({ windowMs: 10_000, maxKeyframesPerWindow: 64, pending, maxOpenMs: 0 }))
      .subscribe((d) => digests.push(d));
    const first = [keyframe(0, 0), keyframe(1, 5000), keyframe(2, 15_000)];
    const second = [keyframe(3, 0), keyframe(4, 5000)]; // reconnect: PTS starts over
    for (const kf of [...first, ...second]) {
      pending.next(kf);
      items.next(analysed(kf));
    }
    items.complete();
    const indexes = digests.map((d) => d.index);
    expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
    expect(new Set(indexes).size).toBe(indexes.length);
    expect(digests.some((d) => (d.ptsResets ?? 0) > 0)).toBe(true);
    expect(digests.reduce((n, d) => n + d.analysed, 0)).toBe(5);
  });
});
