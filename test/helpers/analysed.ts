/** Builds the analysed keyframes the stream operators consume, for unit tests (1x1 gray pixels). */
import type { Analysis, Detection, Frame, KeyframeReason } from '../../src/core/contracts.js';
import type { AnalysedKeyframe } from '../../src/stream/index.js';

/** Wall-clock time of PTS 0 in these fixtures. */
export const T0 = 1_700_000_000_000;

export interface AnalysedSpec {
  /** Detections of an available analysis; `null` = no analysis; `'unavailable'` = model down. */
  detections?: Detection[] | null | 'unavailable';
  text?: string[];
  reason?: KeyframeReason;
  motionScore?: number;
  sceneScore?: number;
  sincePreviousMs?: number;
  sourceWidth?: number;
  sourceHeight?: number;
  inferenceMs?: number;
  streamId?: string;
}

export function analysedKeyframe(seq: number, ptsMs: number, spec: AnalysedSpec = {}): AnalysedKeyframe {
  const streamId = spec.streamId ?? 'cam';
  const img = { width: 1, height: 1, format: 'GRAY8' as const, data: new Uint8Array(1) };
  const frame: Frame = {
    streamId,
    seq,
    ptsNs: ptsMs * 1e6,
    captureTimeMs: T0 + ptsMs,
    sourceWidth: spec.sourceWidth ?? 640,
    sourceHeight: spec.sourceHeight ?? 480,
    analysis: img,
    model: img,
  };
  const id = `${streamId}:${seq}`;
  const dets = spec.detections === undefined ? [] : spec.detections;
  const analysis: Analysis | null =
    dets === null
      ? null
      : {
          keyframeId: id,
          streamId,
          ptsNs: frame.ptsNs,
          captureTimeMs: frame.captureTimeMs,
          available: dets !== 'unavailable',
          detections: dets === 'unavailable' ? [] : dets,
          text: spec.text ?? [],
          model: { name: 'test', version: '1' },
          inferenceMs: spec.inferenceMs ?? 1,
        };
  return {
    keyframe: {
      id,
      frame,
      reason: spec.reason ?? 'motion',
      motionScore: spec.motionScore ?? 0,
      sceneScore: spec.sceneScore ?? 0,
      sincePreviousMs: spec.sincePreviousMs ?? 100,
    },
    analysis,
  };
}
