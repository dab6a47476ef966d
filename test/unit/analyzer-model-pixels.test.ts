/**
 * Keyframes passed on after analysis drop their model-size pixels without converting them: a
 * cache hit or a stale keyframe never pays for the lazy I420 → RGB conversion.
 */
import { describe, expect, it } from 'vitest';
import type { Analysis, Frame, Image, Keyframe } from '../../src/core/contracts.js';
import { Subject } from 'rxjs';
import { runStreamToEnd, withoutModelPixels } from '../../src/analyzer/stream-runner.js';
import { defineLazyModel } from '../../src/ingest/frames.js';
import { i420Layout } from '../../src/ingest/yuv.js';

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

describe('the stream runner and frames from ingest', () => {
  it('gives back the pixels of frames the selector passes over without converting them; keyframes get theirs', async () => {
    const layout = i420Layout(16, 8);
    const frames = new Subject<Frame>();
    const made: Frame[] = [];
    const modelBytesSeen: number[] = [];
    const done = runStreamToEnd({
      streamId: 's',
      frames,
      analyze: async (kf) => {
        modelBytesSeen.push(kf.frame.model.data.byteLength);
        return {
          keyframeId: kf.id,
          streamId: 's',
          ptsNs: kf.frame.ptsNs,
          captureTimeMs: kf.frame.captureTimeMs,
          available: true,
          detections: [],
          text: [],
          model: { name: 'm', version: '1' },
          inferenceMs: 1,
        } satisfies Analysis;
      },
      sink: { summary: async () => undefined, event: async () => undefined },
      keyframes: { maxIntervalMs: 1000 },
      windowMs: 60_000,
      live: false,
      cache: false,
    });
    for (let i = 0; i < 30; i++) {
      const frame = {
        streamId: 's',
        seq: i,
        ptsNs: i * 100e6,
        captureTimeMs: 1_000 + i * 100,
        sourceWidth: 16,
        sourceHeight: 8,
        analysis: { width: 16, height: 8, format: 'GRAY8', data: new Uint8Array(128).fill(80) },
      } as unknown as Frame;
      defineLazyModel(frame, new Uint8Array(layout.size).fill(128), layout, {
        matrix: 'bt601',
        fullRange: false,
      });
      made.push(frame);
      frames.next(frame);
    }
    frames.complete();
    await done;
    // A keyframe every second of stream time: frames 0, 10, 20; their model was converted for the model.
    expect(modelBytesSeen).toEqual([16 * 8 * 3, 16 * 8 * 3, 16 * 8 * 3]);
    // The others were released: reading their model now gives its size and no pixels.
    const passed = made.filter((f) => f.seq % 10 !== 0);
    expect(passed.every((f) => f.model.data.byteLength === 0 && f.model.width === 16)).toBe(true);
  });
});
