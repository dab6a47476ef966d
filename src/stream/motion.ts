/**
 * Cheap per-frame image scores on the small gray analysis frame: a motion score from frame
 * differencing and a scene-cut score from a luminance histogram distance. Pure functions, no I/O.
 */
import type { Image } from '../core/contracts.js';
import { VigilError } from '../core/errors.js';

/** Default per-pixel difference (0..255) below which a change is treated as sensor noise. */
export const DEFAULT_NOISE_THRESHOLD = 25;
/** Default number of histogram bins for the scene-cut score. */
export const DEFAULT_HISTOGRAM_BINS = 32;

function assertGray(img: Image, what: string): void {
  if (img.format !== 'GRAY8') {
    throw new VigilError('VIGIL_ERR_STREAM_FRAME', `${what}: expected a GRAY8 image, got ${img.format}`);
  }
  if (img.data.length < img.width * img.height) {
    throw new VigilError(
      'VIGIL_ERR_STREAM_FRAME',
      `${what}: GRAY8 ${img.width}x${img.height} needs ${img.width * img.height} bytes, got ${img.data.length}`,
    );
  }
}

/**
 * Fraction (0..1) of pixels whose absolute gray-level difference between `prev` and `cur`
 * exceeds `noiseThreshold` (0..255, default 25). Counting changed pixels rather than averaging
 * differences keeps camera noise (many small differences) at 0 while a moving object of a given
 * size gives the same score however dark or bright it is.
 *
 * Images of different sizes (a resolution change after a reconnect) score 1: everything changed.
 */
export function motionScore(prev: Image, cur: Image, noiseThreshold = DEFAULT_NOISE_THRESHOLD): number {
  assertGray(prev, 'motionScore(prev)');
  assertGray(cur, 'motionScore(cur)');
  if (prev.width !== cur.width || prev.height !== cur.height) return 1;
  const n = cur.width * cur.height;
  if (n === 0) return 0;
  const a = prev.data;
  const b = cur.data;
  let changed = 0;
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d > noiseThreshold || -d > noiseThreshold) changed++;
  }
  return changed / n;
}

/** Mean absolute gray-level difference normalised to 0..1 (1 = black vs white everywhere). */
export function meanAbsDiff(prev: Image, cur: Image): number {
  assertGray(prev, 'meanAbsDiff(prev)');
  assertGray(cur, 'meanAbsDiff(cur)');
  if (prev.width !== cur.width || prev.height !== cur.height) return 1;
  const n = cur.width * cur.height;
  if (n === 0) return 0;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.abs((prev.data[i] as number) - (cur.data[i] as number));
  return sum / (n * 255);
}

/** Normalised luminance histogram (bins sum to 1; all zero for an empty image). */
export function histogram(img: Image, bins = DEFAULT_HISTOGRAM_BINS): Float64Array {
  assertGray(img, 'histogram');
  if (!Number.isInteger(bins) || bins < 1 || bins > 256) {
    throw new VigilError(
      'VIGIL_ERR_STREAM_FRAME',
      `histogram: bins must be an integer in 1..256, got ${bins}`,
    );
  }
  const h = new Float64Array(bins);
  const n = img.width * img.height;
  if (n === 0) return h;
  const scale = bins / 256;
  for (let i = 0; i < n; i++) {
    const bin = Math.floor((img.data[i] as number) * scale);
    h[bin] = (h[bin] as number) + 1;
  }
  for (let i = 0; i < bins; i++) h[i] = (h[i] as number) / n;
  return h;
}

/**
 * Scene-cut score: 1 − histogram intersection, in 0..1 (0 = same distribution,
 * 1 = disjoint, e.g. all black vs all white). Both histograms must have the same number of bins.
 */
export function histogramDistance(a: Float64Array, b: Float64Array): number {
  if (a.length !== b.length) {
    throw new VigilError(
      'VIGIL_ERR_STREAM_FRAME',
      `histogramDistance: bin counts differ (${a.length} vs ${b.length})`,
    );
  }
  let inter = 0;
  for (let i = 0; i < a.length; i++) inter += Math.min(a[i] as number, b[i] as number);
  const d = 1 - inter;
  // Guard against floating-point drift just outside [0, 1].
  return d < 0 ? 0 : d > 1 ? 1 : d;
}
