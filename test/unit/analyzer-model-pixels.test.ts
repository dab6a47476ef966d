/**
 * Keyframes passed on after analysis drop their model-size pixels without converting them: a
 * cache hit or a stale keyframe never pays for the lazy I420 → RGB conversion.
 */
import { describe, expect, it } from 'vitest';
import type { Frame, Image, Keyframe } from '../../src/core/contracts.js';
import { withoutModelPixels } from '../../src/analyzer/stream-runner.js';

function keyframe(model: () => Image): { kf: Keyframe; reads: () => number } {
  let reads = 0;
  const frame = {
    streamId: 's',
    seq: 7,
    ptsNs: 1_000,
    captureTimeMs: 2_000,
    sourceWidth: 1280,
    sourceHeight: 720,
    analysis: { width: 4, height: 2, format: 'GRAY8', data: new Uint8Array(8).fill(9) },
    runId: 1,
  } as unknown as Frame;
  // As ingest's defineLazyModel: an enumerable getter that converts on first read.
  Object.defineProperty(frame, 'model', {
    enumerable: true,
    configurable: true,
    get: () => {
      reads++;
      return model();
    },
  });
  const kf: Keyframe = {
    id: 's:7',
    frame,
    reason: 'motion',
    motionScore: 0.5,
    sceneScore: 0,
    sincePreviousMs: 500,
  };
  return { kf, reads: () => reads };
}

describe('withoutModelPixels', () => {
  it('does not read an unconverted model frame, keeps everything else', () => {
    const { kf, reads } = keyframe(() => ({
      width: 640,
      height: 360,
      format: 'RGB',
      data: new Uint8Array(640 * 360 * 3),
    }));
    const light = withoutModelPixels(kf);
    expect(reads()).toBe(0);
    expect(light.frame.model.data.byteLength).toBe(0);
    expect(light.frame.analysis).toBe(kf.frame.analysis);
    expect({ ...light.frame, model: undefined, analysis: undefined }).toEqual({
      streamId: 's',
      seq: 7,
      ptsNs: 1_000,
      captureTimeMs: 2_000,
      sourceWidth: 1280,
      sourceHeight: 720,
      runId: 1,
      model: undefined,
      analysis: undefined,
    });
    expect(light.id).toBe('s:7');
  });

  it('keeps the size of a model frame that was converted, without its pixels', () => {
    const frame = {
      streamId: 's',
      seq: 1,
      model: { width: 640, height: 360, format: 'RGB', data: new Uint8Array(10) },
    } as unknown as Frame;
    const kf = {
      id: 's:1',
      frame,
      reason: 'motion',
      motionScore: 0,
      sceneScore: 0,
      sincePreviousMs: 0,
    } as Keyframe;
    const light = withoutModelPixels(kf);
    expect(light.frame.model).toEqual({ width: 640, height: 360, format: 'RGB', data: new Uint8Array(0) });
    expect(kf.frame.model.data.byteLength).toBe(10); // the original is untouched
  });
});
