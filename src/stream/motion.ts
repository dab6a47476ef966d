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

/**
 * Default grid for per-cell motion (new-activity detection): 16 columns x 12 rows, i.e. cells of
 * about 10x10 pixels on the default 160-pixel-wide analysis frame, about the size of a person at
 * surveillance distance, so separate movers mostly light up separate cells.
 */
export const DEFAULT_GRID = Object.freeze({ cols: 16, rows: 12 });
/** Default thumbnail for the layout distance (scene cuts): 16 x 9 cell means. */
export const DEFAULT_THUMBNAIL = Object.freeze({ cols: 16, rows: 9 });

function checkGrid(what: string, img: Image, cols: number, rows: number): void {
  if (!Number.isInteger(cols) || !Number.isInteger(rows) || cols < 1 || rows < 1 || cols > 64 || rows > 64) {
    throw new VigilError(
      'VIGIL_ERR_STREAM_FRAME',
      `${what}: grid must be 1..64 x 1..64, got ${cols}x${rows}`,
    );
  }
  if (img.width < cols || img.height < rows) {
    throw new VigilError(
      'VIGIL_ERR_STREAM_FRAME',
      `${what}: a ${img.width}x${img.height} image is smaller than the ${cols}x${rows} grid`,
    );
  }
}

/** Cell index of every column (x) and row (y) of a w x h image on a cols x rows grid. */
function cellMaps(w: number, h: number, cols: number, rows: number): { cx: Int32Array; cy: Int32Array } {
  const cx = new Int32Array(w);
  const cy = new Int32Array(h);
  for (let x = 0; x < w; x++) cx[x] = Math.floor((x * cols) / w);
  for (let y = 0; y < h; y++) cy[y] = Math.floor((y * rows) / h) * cols;
  return { cx, cy };
}

/**
 * Motion per cell of a coarse grid in one pass: fills `cells` (length cols x rows, row-major) with
 * the fraction of each cell's pixels whose gray difference exceeds `noiseThreshold`, and returns
 * the whole frame's fraction (= motionScore). Images of different sizes score 1 everywhere.
 */
export function cellMotion(
  prev: Image,
  cur: Image,
  cells: Float64Array,
  cols: number = DEFAULT_GRID.cols,
  rows: number = DEFAULT_GRID.rows,
  noiseThreshold = DEFAULT_NOISE_THRESHOLD,
): number {
  assertGray(prev, 'cellMotion(prev)');
  assertGray(cur, 'cellMotion(cur)');
  checkGrid('cellMotion', cur, cols, rows);
  if (cells.length !== cols * rows) {
    throw new VigilError('VIGIL_ERR_STREAM_FRAME', `cellMotion: cells must have ${cols * rows} entries`);
  }
  if (prev.width !== cur.width || prev.height !== cur.height) {
    cells.fill(1);
    return 1;
  }
  const w = cur.width;
  const h = cur.height;
  const { cx, cy } = cellMaps(w, h, cols, rows);
  const counts = new Float64Array(cols * rows);
  cells.fill(0);
  const a = prev.data;
  const b = cur.data;
  let changed = 0;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    const base = cy[y] as number;
    for (let x = 0; x < w; x++) {
      const c = base + (cx[x] as number);
      counts[c] = (counts[c] as number) + 1;
      const d = (a[row + x] as number) - (b[row + x] as number);
      if (d > noiseThreshold || -d > noiseThreshold) {
        cells[c] = (cells[c] as number) + 1;
        changed++;
      }
    }
  }
  for (let i = 0; i < cells.length; i++) cells[i] = (cells[i] as number) / (counts[i] as number);
  return changed / (w * h);
}

/** A thumbnail: the mean gray level (0..255) of each cell of a cols x rows grid, row-major. */
export function thumbnail(
  img: Image,
  cols: number = DEFAULT_THUMBNAIL.cols,
  rows: number = DEFAULT_THUMBNAIL.rows,
): Float64Array {
  assertGray(img, 'thumbnail');
  checkGrid('thumbnail', img, cols, rows);
  const w = img.width;
  const h = img.height;
  const { cx, cy } = cellMaps(w, h, cols, rows);
  const sums = new Float64Array(cols * rows);
  const counts = new Float64Array(cols * rows);
  const d = img.data;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    const base = cy[y] as number;
    for (let x = 0; x < w; x++) {
      const c = base + (cx[x] as number);
      sums[c] = (sums[c] as number) + (d[row + x] as number);
      counts[c] = (counts[c] as number) + 1;
    }
  }
  for (let i = 0; i < sums.length; i++) sums[i] = (sums[i] as number) / (counts[i] as number);
  return sums;
}

/**
 * Layout distance between two thumbnails: mean absolute difference of cell means, 0..1
 * (1 = black vs white everywhere). Unlike the histogram distance it sees WHERE brightness is, so
 * two scenes with similar tones but a different layout are far apart, while a small moving object
 * barely moves a cell mean.
 */
export function layoutDistance(a: Float64Array, b: Float64Array): number {
  if (a.length !== b.length || a.length === 0) {
    throw new VigilError(
      'VIGIL_ERR_STREAM_FRAME',
      `layoutDistance: thumbnails differ in size (${a.length} vs ${b.length})`,
    );
  }
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs((a[i] as number) - (b[i] as number));
  const d = sum / (a.length * 255);
  return d > 1 ? 1 : d;
}
