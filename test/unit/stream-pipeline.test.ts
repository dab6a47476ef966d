import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { Analysis, Frame, Image, Keyframe } from '../../src/core/contracts.js';
import {
  chainSummaries,
  createStructuredSummarizer,
  selectKeyframes,
  tumblingWindows,
  type AnalysedKeyframe,
} from '../../src/stream/index.js';

const W = 32;
const H = 24;

/** Mid-gray scene with `n` white 4x4 "people" in a row starting at x = shift. */
function scene(n: number, shift: number): Image {
  const data = new Uint8Array(W * H).fill(90);
  for (let p = 0; p < n; p++) {
    for (let y = 10; y < 14; y++) for (let x = 0; x < 4; x++) data[y * W + ((shift + p * 6 + x) % W)] = 250;
  }
  return { width: W, height: H, format: 'GRAY8', data };
}

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

/** A fake model: one person detection per white block it "sees" (its count is known to the test). */
function analyse(kf: Keyframe, people: number): AnalysedKeyframe {
  const analysis: Analysis = {
    keyframeId: kf.id,
    streamId: kf.frame.streamId,
    ptsNs: kf.frame.ptsNs,
    captureTimeMs: kf.frame.captureTimeMs,
    available: true,
    detections: Array.from({ length: people }, (_, i) => ({
      label: 'person',
      classId: 0,
      score: 0.9,
      box: { x: i * 6, y: 10, w: 4, h: 4 },
    })),
    text: [],
    model: { name: 'fake', version: '0' },
    inferenceMs: 1,
  };
  return { keyframe: kf, analysis };
}

describe('stream stage composed: frames → keyframes → windows → chained summaries', () => {
  it('summarizes two 2-second windows of a synthetic clip, the second built on the first', () => {
    // 40 frames at 10 fps: 4 s. First 2 s: 2 people walking; next 2 s: 3 people walking.
    const people = (i: number): number => (i < 20 ? 2 : 3);
    const values: Record<string, Frame> = {};
    let marble = '';
    for (let i = 0; i < 40; i++) {
      const key = String.fromCharCode(i < 26 ? 65 + i : 97 + i - 26);
      values[key] = frame(i, i * 100, scene(people(i), i));
      marble += key;
    }
    const ts = new TestScheduler((a, e) => expect(a).toEqual(e));
    ts.run(({ cold, expectObservable }) => {
      const out = cold(`${marble}|`, values).pipe(
        selectKeyframes({ minIntervalMs: 500 }),
        map((kf) => analyse(kf, people(kf.frame.seq))),
        tumblingWindows({ windowMs: 2000, maxKeyframesPerWindow: 16, scheduler: ts }),
        chainSummaries(createStructuredSummarizer()),
        map((s) => `${s.id}<${s.previousId ?? '-'}|${s.text}`),
      );
      // Motion keyframes are spent on new activity, not on walkers already seen: the third person
      // appearing at frame 20 is new, confirmed 400 ms later, so window 0 closes when that first
      // keyframe of window 1 arrives (frame 24 at 2.4 s); the walkers already seen cost nothing more.
      expectObservable(out).toBe(`${'-'.repeat(24)}x${'-'.repeat(15)}(y|)`, {
        x: 'cam:window:0<-|Up to 2 persons in view. 2 keyframes analysed.',
        y: 'cam:window:1<cam:window:0|Up to 3 persons in view (previous window: 2 persons). 1 keyframe analysed.',
      });
    });
  });
});
