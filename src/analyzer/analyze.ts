/**
 * Turns the inference edge (detector, optional OCR and captioner) into the stream runner's analyze
 * function, with degraded mode: when inference is down the analysis comes back `available: false`
 * (motion and scene events keep flowing), at once while the client's circuit breaker is open (no
 * model calls queue up), and analyses recover by themselves when the breaker's probe succeeds.
 */
import type { Analysis, Detection, Image, Keyframe } from '../core/contracts.js';
import { InferenceError } from '../core/errors.js';

export interface DetectorLike {
  detect(
    image: Image,
    sourceWidth: number,
    sourceHeight: number,
  ): Promise<{ detections: Detection[]; model: { name: string; version: string }; inferenceMs: number }>;
}

export interface OcrLike {
  recognize(image: Image): Promise<{ lines: { text: string }[] }>;
}

export interface CaptionerLike {
  caption(image: Image): Promise<string>;
}

export interface AnalyzeOptions {
  /** On-screen text: recognised lines go to `Analysis.text`. */
  ocr?: OcrLike;
  /** Keyframe captions (e.g. a VLM over an OpenAI-compatible endpoint) go to `Analysis.caption`. */
  captioner?: CaptionerLike;
  /** The inference client (or anything with `available`): false while every server's breaker is open. */
  health?: { readonly available: boolean };
}

/** The server answered too late (busy, not down): the one failure worth asking again for a file. */
function isDeadline(err: unknown): boolean {
  return err instanceof InferenceError && err.code === 'VIGIL_ERR_INFER_DEADLINE';
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function analyzeWith(detector: DetectorLike, modelName: string, options: AnalyzeOptions = {}) {
  const { ocr, captioner, health } = options;
  return async (kf: Keyframe): Promise<Analysis> => {
    const base = {
      keyframeId: kf.id,
      streamId: kf.frame.streamId,
      ptsNs: kf.frame.ptsNs,
      captureTimeMs: kf.frame.captureTimeMs,
    };
    const started = performance.now();
    const degraded = (error: string, retryable = false): Analysis => ({
      ...base,
      available: false,
      detections: [],
      text: [],
      model: { name: modelName, version: '' },
      inferenceMs: performance.now() - started,
      error,
      ...(retryable ? { retryable } : {}),
    });
    if (health && !health.available) {
      return degraded('analysis unavailable: inference circuit open (servers down), retrying by itself');
    }
    const image = kf.frame.model;
    // Detection decides availability; OCR and captions are extras whose failure is reported, not fatal.
    const [det, text, caption] = await Promise.allSettled([
      detector.detect(image, kf.frame.sourceWidth, kf.frame.sourceHeight),
      ocr ? ocr.recognize(image) : Promise.resolve(undefined),
      captioner ? captioner.caption(image) : Promise.resolve(undefined),
    ]);
    if (det.status === 'rejected')
      return degraded(`analysis unavailable: ${message(det.reason)}`, isDeadline(det.reason));
    const errors: string[] = [];
    if (text.status === 'rejected') errors.push(`ocr: ${message(text.reason)}`);
    if (caption.status === 'rejected') errors.push(`caption: ${message(caption.reason)}`);
    const lines = text.status === 'fulfilled' && text.value ? text.value.lines.map((l) => l.text) : [];
    return {
      ...base,
      available: true,
      detections: det.value.detections,
      text: lines,
      ...(caption.status === 'fulfilled' && caption.value ? { caption: caption.value } : {}),
      model: det.value.model,
      inferenceMs: ocr || captioner ? performance.now() - started : det.value.inferenceMs,
      ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
    };
  };
}
