/** Turns a detector (the gRPC edge) into the stream runner's analyze function, with degraded mode. */
import type { Analysis, Detection, Image, Keyframe } from '../core/contracts.js';

export interface DetectorLike {
  detect(
    image: Image,
    sourceWidth: number,
    sourceHeight: number,
  ): Promise<{ detections: Detection[]; model: { name: string; version: string }; inferenceMs: number }>;
}

export function analyzeWith(detector: DetectorLike, modelName: string) {
  return async (kf: Keyframe): Promise<Analysis> => {
    const base = {
      keyframeId: kf.id,
      streamId: kf.frame.streamId,
      ptsNs: kf.frame.ptsNs,
      captureTimeMs: kf.frame.captureTimeMs,
      text: [] as string[],
    };
    const started = performance.now();
    try {
      const r = await detector.detect(kf.frame.model, kf.frame.sourceWidth, kf.frame.sourceHeight);
      return {
        ...base,
        available: true,
        detections: r.detections,
        model: r.model,
        inferenceMs: r.inferenceMs,
      };
    } catch (err) {
      // Degraded mode: the stream keeps flowing (motion, windows) and says analysis was unavailable.
      return {
        ...base,
        available: false,
        detections: [],
        model: { name: modelName, version: '' },
        inferenceMs: performance.now() - started,
        error: err instanceof Error ? err.message : String(err),
      };
    }
  };
}
