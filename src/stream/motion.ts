/**
 * Cheap per-frame image scores on the small gray analysis frame: a motion score from frame
 * differencing and a scene-cut score from a luminance histogram distance. Pure functions, no I/O.
 */
import type { Image } from '../core/contracts.js';
import { VigilError } from '../core/errors.js';

/** The empty word view of a frame that cannot be read word by word (see diffPass). */
const NO_WORDS = new Int32Array(0);

/** Default per-pixel difference (0..255) below which a change is treated as sensor noise. */
export const DEFAULT_NOISE_THRESHOLD = 25;
/** Default number of histogram bins for the scene-cut score. */
export const DEFAULT_HISTOGRAM_BINS = 32;

/** Throws unless `img` is GRAY8 with all its bytes (not part of the public surface, see index.ts). */
export function assertGray(img: Image, what: string): void {
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
 * Default grid for per-cell motion (new-activity detection) and thumbnails (layout distance):
 * 16 columns x 12 rows, i.e. cells of about 10x10 pixels on the default 160-pixel-wide analysis
 * frame, about the size of a person at surveillance distance, so separate movers mostly light up
 * separate cells, while a small moving object barely moves a cell mean.
 */
export const DEFAULT_GRID = Object.freeze({ cols: 16, rows: 12 });

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

/**
 * Scratch per-gray-level counts for frameFeatures (synchronous, so shared buffers are safe): four
 * tables, one per pixel of a group of four, so that a run of equal pixels does not make each count
 * wait for the previous one.
 */
const LEVELS0 = new Int32Array(256);
const LEVELS1 = new Int32Array(256);
const LEVELS2 = new Int32Array(256);
const LEVELS3 = new Int32Array(256);

/** Cell boundaries: cell c spans [b[c], b[c+1]) with b[c] = floor(c * size / n). */
function bounds(size: number, n: number): Int32Array {
  const b = new Int32Array(n + 1);
  for (let i = 0; i <= n; i++) b[i] = Math.floor((i * size) / n);
  return b;
}

/** The last frame's cell boundaries (frame and grid sizes rarely change): no allocation per frame. */
interface GridBounds {
  w: number;
  h: number;
  cols: number;
  rows: number;
  xb: Int32Array;
  yb: Int32Array;
}
let lastBounds: GridBounds = { w: -1, h: -1, cols: -1, rows: -1, xb: bounds(0, 0), yb: bounds(0, 0) };
function gridBounds(w: number, h: number, cols: number, rows: number): GridBounds {
  const c = lastBounds;
  if (c.w !== w || c.h !== h || c.cols !== cols || c.rows !== rows) {
    lastBounds = { w, h, cols, rows, xb: bounds(w, cols), yb: bounds(h, rows) };
  }
  return lastBounds;
}

/**
 * The pixel pass of frameFeatures with a previous frame `a`: per cell, the sum of the gray levels of
 * `b` (added to `sums`) and the number of pixels whose difference exceeds `t` (added to `counts`);
 * the gray levels counted into LEVELS0..3. Returns the changed pixels of the whole frame.
 *
 * Where both planes start on a 4-byte boundary (the selector's own copies do), the inside of each
 * cell's row is read as 32-bit words, four pixels at a time, and the differences are tested four at
 * a time too, in 16-bit lanes: less work per pixel. Cell edges that split a word, and planes or
 * thresholds the word test cannot take, go byte by byte; both count the same pixels.
 */
function diffPass(
  a: Uint8Array,
  b: Uint8Array,
  w: number,
  xb: Int32Array,
  yb: Int32Array,
  t: number,
  sums: Float64Array,
  counts: Float64Array,
): number {
  // |d| > t as d * d > t * t: one comparison per pixel.
  const tt = t < 0 ? -1 : t * t;
  // Word test: 16-bit lanes (p | 512) - q - (t + 1) stay in 2..766, and bit 9 is set where p - q > t.
  // A segment counts at most 2 per lane per word: lanes hold w / 2 < 65536.
  const words =
    (a.byteOffset & 3) === 0 &&
    (b.byteOffset & 3) === 0 &&
    Number.isInteger(t) &&
    t >= 0 &&
    t < 255 &&
    w < 131072;
  const a32 = words ? new Int32Array(a.buffer, a.byteOffset, a.length >> 2) : NO_WORDS;
  const b32 = words ? new Int32Array(b.buffer, b.byteOffset, b.length >> 2) : NO_WORDS;
  const k = (t + 1) * 0x00010001;
  const l0 = LEVELS0;
  const l1 = LEVELS1;
  const l2 = LEVELS2;
  const l3 = LEVELS3;
  const cols = xb.length - 1;
  const rows = yb.length - 1;
  let changed = 0;
  for (let r = 0; r < rows; r++) {
    const y1 = yb[r + 1] as number;
    for (let y = yb[r] as number; y < y1; y++) {
      const row = y * w;
      for (let c = 0; c < cols; c++) {
        const x1 = row + (xb[c + 1] as number);
        let i = row + (xb[c] as number);
        // Byte by byte up to a word boundary (words) or four pixels at a time (no words), the
        // words, then the rest of the cell's row byte by byte.
        const head = words ? Math.min(x1, (i + 3) & ~3) : i;
        let sum = 0;
        let ch = 0;
        for (; i < head; i++) {
          const v = b[i] as number;
          sum += v;
          l0[v] = (l0[v] as number) + 1;
          const d = (a[i] as number) - v;
          if (d * d > tt) ch++;
        }
        if (words) {
          // Two counts, one per 16-bit lane: even pixels and odd pixels.
          let lanes = 0;
          for (; i + 3 < x1; i += 4) {
            const p = a32[i >> 2] as number;
            const q = b32[i >> 2] as number;
            const v0 = q & 0xff;
            const v1 = (q >>> 8) & 0xff;
            const v2 = (q >>> 16) & 0xff;
            const v3 = q >>> 24;
            sum += v0 + v1 + v2 + v3;
            l0[v0] = (l0[v0] as number) + 1;
            l1[v1] = (l1[v1] as number) + 1;
            l2[v2] = (l2[v2] as number) + 1;
            l3[v3] = (l3[v3] as number) + 1;
            const pe = p & 0x00ff00ff;
            const qe = q & 0x00ff00ff;
            const po = (p >>> 8) & 0x00ff00ff;
            const qo = (q >>> 8) & 0x00ff00ff;
            lanes +=
              (((((pe | 0x02000200) - qe - k) | ((qe | 0x02000200) - pe - k)) >>> 9) & 0x00010001) +
              (((((po | 0x02000200) - qo - k) | ((qo | 0x02000200) - po - k)) >>> 9) & 0x00010001);
          }
          ch += (lanes & 0xffff) + (lanes >>> 16);
        } else {
          for (; i + 3 < x1; i += 4) {
            const v0 = b[i] as number;
            const v1 = b[i + 1] as number;
            const v2 = b[i + 2] as number;
            const v3 = b[i + 3] as number;
            sum += v0 + v1 + v2 + v3;
            l0[v0] = (l0[v0] as number) + 1;
            l1[v1] = (l1[v1] as number) + 1;
            l2[v2] = (l2[v2] as number) + 1;
            l3[v3] = (l3[v3] as number) + 1;
            const d0 = (a[i] as number) - v0;
            const d1 = (a[i + 1] as number) - v1;
            const d2 = (a[i + 2] as number) - v2;
            const d3 = (a[i + 3] as number) - v3;
            ch +=
              (d0 * d0 > tt ? 1 : 0) +
              (d1 * d1 > tt ? 1 : 0) +
              (d2 * d2 > tt ? 1 : 0) +
              (d3 * d3 > tt ? 1 : 0);
          }
        }
        for (; i < x1; i++) {
          const v = b[i] as number;
          sum += v;
          l0[v] = (l0[v] as number) + 1;
          const d = (a[i] as number) - v;
          if (d * d > tt) ch++;
        }
        const cell = r * cols + c;
        sums[cell] = (sums[cell] as number) + sum;
        counts[cell] = (counts[cell] as number) + ch;
        changed += ch;
      }
    }
  }
  return changed;
}

/** The pixel pass without a previous frame: cell sums and gray levels only (see diffPass). */
function levelPass(b: Uint8Array, w: number, xb: Int32Array, yb: Int32Array, sums: Float64Array): void {
  const l0 = LEVELS0;
  const cols = xb.length - 1;
  const rows = yb.length - 1;
  for (let r = 0; r < rows; r++) {
    const y1 = yb[r + 1] as number;
    for (let y = yb[r] as number; y < y1; y++) {
      const row = y * w;
      for (let c = 0; c < cols; c++) {
        const x1 = row + (xb[c + 1] as number);
        let sum = 0;
        for (let i = row + (xb[c] as number); i < x1; i++) {
          const v = b[i] as number;
          sum += v;
          l0[v] = (l0[v] as number) + 1;
        }
        const k = r * cols + c;
        sums[k] = (sums[k] as number) + sum;
      }
    }
  }
}

/** Per-frame scores of one analysis frame, computed in ONE pass over its pixels (see frameFeatures). */
export interface FrameFeatures {
  /** Whole-frame motion score vs the previous frame (0 without one). */
  motion: number;
  /** Fraction of changed pixels per grid cell, row-major (all 0 without a previous frame). */
  cells: Float64Array;
  /** Mean gray level per grid cell (the thumbnail), row-major. */
  thumb: Float64Array;
  /** Normalised luminance histogram. */
  hist: Float64Array;
}

/**
 * Everything the keyframe selector needs from a frame in one pass: motion per cell and overall
 * (vs `prev`, when given and the same size; a size change scores 1 everywhere), the thumbnail and
 * the histogram. `out` is reused when its shapes fit (no allocation per frame).
 */
export function frameFeatures(
  prev: Image | null,
  cur: Image,
  cols: number = DEFAULT_GRID.cols,
  rows: number = DEFAULT_GRID.rows,
  bins: number = DEFAULT_HISTOGRAM_BINS,
  noiseThreshold: number = DEFAULT_NOISE_THRESHOLD,
  out?: FrameFeatures,
): FrameFeatures {
  assertGray(cur, 'frameFeatures(cur)');
  if (prev !== null) assertGray(prev, 'frameFeatures(prev)');
  checkGrid('frameFeatures', cur, cols, rows);
  if (!Number.isInteger(bins) || bins < 1 || bins > 256) {
    throw new VigilError(
      'VIGIL_ERR_STREAM_FRAME',
      `frameFeatures: bins must be an integer in 1..256, got ${bins}`,
    );
  }
  const n = cols * rows;
  const f: FrameFeatures =
    out !== undefined && out.cells.length === n && out.thumb.length === n && out.hist.length === bins
      ? out
      : { motion: 0, cells: new Float64Array(n), thumb: new Float64Array(n), hist: new Float64Array(bins) };
  const { cells, thumb, hist } = f;
  cells.fill(0);
  thumb.fill(0);
  hist.fill(0);
  const w = cur.width;
  const h = cur.height;
  const { xb, yb } = gridBounds(w, h, cols, rows);
  const b = cur.data;
  const sameSize = prev !== null && prev.width === w && prev.height === h;
  const a = sameSize ? prev.data : null;
  // Counted per gray level (no arithmetic per pixel), folded into `bins` at the end.
  LEVELS0.fill(0);
  LEVELS1.fill(0);
  LEVELS2.fill(0);
  LEVELS3.fill(0);
  let changed = 0;
  if (a !== null) changed = diffPass(a, b, w, xb, yb, noiseThreshold, thumb, cells);
  else levelPass(b, w, xb, yb, thumb);
  for (let r = 0; r < rows; r++) {
    const ch = (yb[r + 1] as number) - (yb[r] as number);
    for (let c = 0; c < cols; c++) {
      const k = r * cols + c;
      const area = ch * ((xb[c + 1] as number) - (xb[c] as number));
      thumb[k] = (thumb[k] as number) / area;
      cells[k] = prev !== null && !sameSize ? 1 : (cells[k] as number) / area;
    }
  }
  const total = w * h;
  for (let v = 0; v < 256; v++) {
    const hb = (v * bins) >>> 8;
    hist[hb] =
      (hist[hb] as number) +
      (LEVELS0[v] as number) +
      (LEVELS1[v] as number) +
      (LEVELS2[v] as number) +
      (LEVELS3[v] as number);
  }
  for (let i = 0; i < bins; i++) hist[i] = (hist[i] as number) / total;
  f.motion = prev === null ? 0 : sameSize ? changed / total : 1;
  return f;
}

/**
 * Motion per cell of a coarse grid: fills `cells` (length cols x rows, row-major) with the
 * fraction of each cell's pixels whose gray difference exceeds `noiseThreshold`, and returns the
 * whole frame's fraction (= motionScore). Images of different sizes score 1 everywhere.
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
  if (cells.length !== cols * rows) {
    throw new VigilError('VIGIL_ERR_STREAM_FRAME', `cellMotion: cells must have ${cols * rows} entries`);
  }
  const f = frameFeatures(prev, cur, cols, rows, DEFAULT_HISTOGRAM_BINS, noiseThreshold);
  cells.set(f.cells);
  return f.motion;
}

/** A thumbnail: the mean gray level (0..255) of each cell of a cols x rows grid, row-major. */
export function thumbnail(
  img: Image,
  cols: number = DEFAULT_GRID.cols,
  rows: number = DEFAULT_GRID.rows,
): Float64Array {
  return frameFeatures(null, img, cols, rows).thumb;
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
