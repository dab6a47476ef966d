/**
 * Pixels from the one I420 frame ingest pulls per video frame: the gray analysis frame is a box
 * filter over the Y plane (every frame, cheap), the RGB model frame a colour conversion of the
 * whole frame (on demand: only keyframes need it). Layout and colorimetry follow GStreamer's.
 */
import type { Image } from '../core/contracts.js';

/** Plane layout of a tightly allocated GStreamer I420 buffer (no video meta: default strides). */
export interface I420Layout {
  width: number;
  height: number;
  yStride: number;
  uvStride: number;
  uOffset: number;
  vOffset: number;
  /** Bytes in the whole buffer. */
  size: number;
}

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m;

/** GStreamer's default I420 layout: rows padded to 4 bytes, chroma at half size rounded up. */
export function i420Layout(width: number, height: number): I420Layout {
  const yStride = roundUp(width, 4);
  const uvStride = roundUp(roundUp(width, 2) / 2, 4);
  const h2 = roundUp(height, 2);
  const uOffset = yStride * h2;
  const vOffset = uOffset + (uvStride * h2) / 2;
  return { width, height, yStride, uvStride, uOffset, vOffset, size: vOffset + (uvStride * h2) / 2 };
}

/** Output rows/columns each input row/column falls in, for an area (box) downsample. */
function bins(input: number, output: number): { of: Int32Array; count: Uint16Array } {
  const of = new Int32Array(input);
  const count = new Uint16Array(output);
  for (let o = 0; o < output; o++) {
    const start = Math.floor((o * input) / output);
    const end = Math.max(start + 1, Math.floor(((o + 1) * input) / output));
    for (let i = start; i < end && i < input; i++) {
      of[i] = o;
      count[o]!++;
    }
  }
  return { of, count };
}

const binCache = new Map<string, { of: Int32Array; count: Uint16Array }>();
function cachedBins(input: number, output: number) {
  const key = `${input}:${output}`;
  let b = binCache.get(key);
  if (!b) {
    if (binCache.size > 64) binCache.clear();
    b = bins(input, output);
    binCache.set(key, b);
  }
  return b;
}

/**
 * The gray frame at `outWidth` x `outHeight`: each output pixel is the mean of the Y samples it
 * covers (GStreamer's GRAY8 from I420 is the Y plane itself, no range change).
 */
export function grayFromI420(
  data: Uint8Array,
  layout: I420Layout,
  outWidth: number,
  outHeight: number,
): Image {
  const { width, height, yStride } = layout;
  const out = new Uint8Array(outWidth * outHeight);
  const rows = cachedBins(height, outHeight);
  const acc = new Uint32Array(outWidth);
  const byFour = width === outWidth * 4 && yStride % 4 === 0 && data.byteOffset % 4 === 0;
  const words = byFour ? new Uint32Array(data.buffer, data.byteOffset, (yStride * height) >> 2) : null;
  const cols = byFour ? null : cachedBins(width, outWidth);
  const wordStride = yStride >> 2;
  let y = 0;
  for (let oy = 0; oy < outHeight; oy++) {
    const rowsHere = rows.count[oy]!;
    const o = oy * outWidth;
    if (words && rowsHere <= 128) {
      // Four pixels per 32-bit word: byte pairs add up in two 16-bit lanes (up to 128 rows
      // before a lane could overflow), and the lanes once per output pixel.
      const first = y * wordStride;
      const n = 4 * rowsHere;
      for (let ox = 0; ox < outWidth; ox++) {
        let lanes = 0;
        for (let r = 0, i = first + ox; r < rowsHere; r++, i += wordStride) {
          const w = words[i]!;
          lanes += (w & 0x00ff00ff) + ((w >>> 8) & 0x00ff00ff);
        }
        out[o + ox] = Math.floor(((lanes & 0xffff) + (lanes >>> 16) + (n >> 1)) / n);
      }
      y += rowsHere;
      continue;
    }
    const colOf = cols?.of ?? cachedBins(width, outWidth).of;
    const count = cols?.count ?? cachedBins(width, outWidth).count;
    acc.fill(0);
    for (let r = 0; r < rowsHere; r++, y++) {
      const base = y * yStride;
      for (let x = 0; x < width; x++) acc[colOf[x]!]! += data[base + x]!;
    }
    for (let ox = 0; ox < outWidth; ox++) {
      const n = count[ox]! * rowsHere;
      out[o + ox] = n > 0 ? Math.floor((acc[ox]! + (n >> 1)) / n) : 0;
    }
  }
  return { width: outWidth, height: outHeight, format: 'GRAY8', data: out };
}

/** Y'CbCr matrix and range of a frame (GStreamer colorimetry). */
export interface Colorimetry {
  matrix: 'bt601' | 'bt709' | 'bt2020' | 'smpte240m' | 'fcc';
  /** true: Y and chroma use 0-255 (JPEG, many webcams); false: 16-235 / 16-240 (video). */
  fullRange: boolean;
}

/** Kr, Kb per matrix. */
const K: Record<Colorimetry['matrix'], [number, number]> = {
  bt601: [0.299, 0.114],
  bt709: [0.2126, 0.0722],
  bt2020: [0.2627, 0.0593],
  smpte240m: [0.212, 0.087],
  fcc: [0.3, 0.11],
};

/** GstVideoColorMatrix values (the second field of "range:matrix:transfer:primaries"). */
const MATRIX_BY_NUMBER: Record<number, Colorimetry['matrix']> = {
  2: 'fcc',
  3: 'bt709',
  4: 'bt601',
  5: 'smpte240m',
  6: 'bt2020',
};

const NAMED: Record<string, Colorimetry> = {
  bt601: { matrix: 'bt601', fullRange: false },
  bt709: { matrix: 'bt709', fullRange: false },
  smpte240m: { matrix: 'smpte240m', fullRange: false },
  bt2020: { matrix: 'bt2020', fullRange: false },
  'bt2020-10': { matrix: 'bt2020', fullRange: false },
  'bt2100-pq': { matrix: 'bt2020', fullRange: false },
  'bt2100-hlg': { matrix: 'bt2020', fullRange: false },
};

/**
 * The colorimetry of caps' `colorimetry` field (a name such as "bt709" or GStreamer's numeric
 * "range:matrix:transfer:primaries"); when absent or unknown, GStreamer's own default for YUV:
 * BT.709 for HD (height ≥ 720), BT.601 below, limited range.
 */
export function parseColorimetry(value: unknown, sourceHeight: number): Colorimetry {
  const fallback: Colorimetry = { matrix: sourceHeight >= 720 ? 'bt709' : 'bt601', fullRange: false };
  if (typeof value !== 'string' || value === '') return fallback;
  const named = NAMED[value];
  if (named) return named;
  const m = /^(\d+):(\d+):(\d+):(\d+)$/.exec(value);
  if (!m) return fallback;
  const range = Number(m[1]);
  const matrix = MATRIX_BY_NUMBER[Number(m[2])] ?? fallback.matrix;
  return { matrix, fullRange: range === 1 };
}

/** Per-byte contributions of Y, V to R, U and V to G, U to B (16.16 fixed point). */
export interface RgbTables {
  y: Int32Array;
  rv: Int32Array;
  gu: Int32Array;
  gv: Int32Array;
  bu: Int32Array;
}

const SHIFT = 16;
const ONE = 1 << SHIFT;
const tableCache = new Map<string, RgbTables>();

/**
 * Per-byte contributions in 16.16 fixed point (rounding offset folded into the Y table). Each table
 * is exactly linear in the byte, one rounded integer coefficient per term (code - offset) x
 * coefficient: the native conversion checks that and then works them out with vector
 * multiplications instead of table lookups, with the same integers.
 */
export function rgbTables(c: Colorimetry): RgbTables {
  const key = `${c.matrix}:${c.fullRange}`;
  const hit = tableCache.get(key);
  if (hit) return hit;
  const [kr, kb] = K[c.matrix];
  const kg = 1 - kr - kb;
  const yScale = c.fullRange ? 1 : 255 / 219;
  const cScale = c.fullRange ? 1 : 255 / 224;
  const yOff = c.fullRange ? 0 : 16;
  const coefficient = (k: number) => Math.round(k * ONE);
  const yc = coefficient(yScale);
  const rv = coefficient(2 * (1 - kr) * cScale);
  const bu = coefficient(2 * (1 - kb) * cScale);
  const gu = coefficient(((2 * kb * (1 - kb)) / kg) * cScale);
  const gv = coefficient(((2 * kr * (1 - kr)) / kg) * cScale);
  const t: RgbTables = {
    y: new Int32Array(256),
    rv: new Int32Array(256),
    gu: new Int32Array(256),
    gv: new Int32Array(256),
    bu: new Int32Array(256),
  };
  for (let i = 0; i < 256; i++) {
    const d = i - 128;
    t.y[i] = (i - yOff) * yc + ONE / 2;
    t.rv[i] = d * rv;
    t.bu[i] = d * bu;
    t.gu[i] = d * gu;
    t.gv[i] = d * gv;
  }
  tableCache.set(key, t);
  return t;
}

/** The RGB (HWC, tight rows) frame of an I420 buffer; chroma is shared by each 2x2 block. */
export function rgbFromI420(data: Uint8Array, layout: I420Layout, c: Colorimetry): Image {
  const { width, height, yStride, uvStride, uOffset, vOffset } = layout;
  const out = new Uint8ClampedArray(width * height * 3);
  const t = rgbTables(c);
  const ty = t.y;
  const trv = t.rv;
  const tgu = t.gu;
  const tgv = t.gv;
  const tbu = t.bu;
  const row = width * 3;
  // Two rows at a time: each chroma sample's three terms serve a 2x2 block.
  for (let y = 0; y < height; y += 2) {
    const y0 = y * yStride;
    const y1 = y + 1 < height ? y0 + yStride : -1;
    const cRow = (y >> 1) * uvStride;
    const o0 = y * row;
    const o1 = o0 + row;
    for (let x = 0; x < width; x += 2) {
      const c = cRow + (x >> 1);
      const u = data[uOffset + c]!;
      const v = data[vOffset + c]!;
      const r = trv[v]!;
      const g = tgu[u]! + tgv[v]!;
      const b = tbu[u]!;
      const pixels = x + 1 < width ? 2 : 1;
      for (let k = 0; k < pixels; k++) {
        let l = ty[data[y0 + x + k]!]!;
        let o = o0 + (x + k) * 3;
        out[o] = (l + r) >> SHIFT;
        out[o + 1] = (l - g) >> SHIFT;
        out[o + 2] = (l + b) >> SHIFT;
        if (y1 < 0) continue;
        l = ty[data[y1 + x + k]!]!;
        o = o1 + (x + k) * 3;
        out[o] = (l + r) >> SHIFT;
        out[o + 1] = (l - g) >> SHIFT;
        out[o + 2] = (l + b) >> SHIFT;
      }
    }
  }
  return { width, height, format: 'RGB', data: new Uint8Array(out.buffer) };
}

/** Fixed-point bits of a resampling weight: the weights of one output sample sum to 1 << 14. */
const WEIGHT_BITS = 14;
const WEIGHT_ONE = 1 << WEIGHT_BITS;

/**
 * How one axis of `input` samples is resampled to `output`: `[taps, then per output sample: the
 * first input sample, then `taps` integer weights summing to 1 << 14]` (unused taps weigh 0; every
 * tap lies inside the input). Shrinking averages the exact area each output sample covers (partial
 * samples weighted by how much of them it covers: no aliasing, no nearest-neighbour); enlarging
 * interpolates linearly between the two nearest sample centres; equal sizes copy.
 */
export function resampleTable(input: number, output: number): Int32Array {
  const scale = input / output;
  // Shrinking: the most input samples one output sample's area touches (ceil(scale) or one more
  // where it starts mid-sample); 1e-9 keeps rounding noise from adding a tap of weight 0.
  let taps = output === input ? 1 : 2;
  if (output < input) {
    taps = 1;
    for (let o = 0; o < output; o++) {
      const span = Math.ceil((o + 1) * scale - 1e-9) - Math.floor(o * scale + 1e-9);
      if (span > taps) taps = span;
    }
  }
  taps = Math.min(input, taps);
  const table = new Int32Array(1 + output * (1 + taps));
  table[0] = taps;
  const weights = new Float64Array(taps);
  for (let o = 0; o < output; o++) {
    weights.fill(0);
    let first: number;
    if (output < input) {
      // Output sample o covers input [o * scale, (o + 1) * scale).
      const from = o * scale;
      const to = Math.min(input, (o + 1) * scale);
      first = Math.min(Math.floor(from), input - taps);
      for (let k = 0; k < taps; k++) {
        const i = first + k;
        weights[k] = Math.max(0, Math.min(to, i + 1) - Math.max(from, i)) / scale;
      }
    } else {
      // Centre of output sample o, in input samples; clamped at the edges.
      const x = Math.min(input - 1, Math.max(0, (o + 0.5) * scale - 0.5));
      const i0 = Math.floor(x);
      first = Math.min(i0, input - taps);
      const f = x - i0;
      weights[i0 - first] = 1 - f;
      if (f > 0) weights[i0 - first + 1] = f;
    }
    // Integer weights that sum to exactly one: the rounding remainder goes to the heaviest tap.
    const at = 1 + o * (1 + taps);
    table[at] = first;
    let sum = 0;
    let heaviest = 0;
    for (let k = 0; k < taps; k++) {
      const w = Math.round(weights[k]! * WEIGHT_ONE);
      table[at + 1 + k] = w;
      sum += w;
      if (weights[k]! > weights[heaviest]!) heaviest = k;
    }
    table[at + 1 + heaviest]! += WEIGHT_ONE - sum;
  }
  return table;
}

const resampleCache = new Map<string, Int32Array>();
/** resampleTable, cached per size pair (a stream's sizes rarely change). */
export function cachedResampleTable(input: number, output: number): Int32Array {
  const key = `${input}:${output}`;
  let t = resampleCache.get(key);
  if (!t) {
    if (resampleCache.size > 64) resampleCache.clear();
    t = resampleTable(input, output);
    resampleCache.set(key, t);
  }
  return t;
}

/**
 * Resamples one 8-bit plane (`width` x `height` at `offset`, rows `stride` apart) to `outWidth` x
 * `outHeight` with the two axes' tables: columns first (into 8.8 fixed point, `outHeight` rows of
 * `width`), then rows, rounded. Integer arithmetic throughout, so the native conversion gets the
 * same bytes.
 */
function resamplePlane(
  data: Uint8Array,
  offset: number,
  stride: number,
  width: number,
  xTable: Int32Array,
  yTable: Int32Array,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  const tmp = new Uint16Array(width * outHeight);
  const yTaps = yTable[0]!;
  const acc = new Int32Array(width);
  for (let oy = 0, at = 1; oy < outHeight; oy++, at += 1 + yTaps) {
    acc.fill(1 << (WEIGHT_BITS - 9));
    for (let k = 0; k < yTaps; k++) {
      const w = yTable[at + 1 + k]!;
      if (w === 0) continue;
      const row = offset + (yTable[at]! + k) * stride;
      for (let x = 0; x < width; x++) acc[x]! += data[row + x]! * w;
    }
    const o = oy * width;
    for (let x = 0; x < width; x++) tmp[o + x] = acc[x]! >> (WEIGHT_BITS - 8);
  }
  const out = new Uint8Array(outWidth * outHeight);
  const xTaps = xTable[0]!;
  const half = 1 << (WEIGHT_BITS + 7);
  for (let oy = 0; oy < outHeight; oy++) {
    const row = oy * width;
    const o = oy * outWidth;
    for (let ox = 0, at = 1; ox < outWidth; ox++, at += 1 + xTaps) {
      const first = row + xTable[at]!;
      let sum = half;
      for (let k = 0; k < xTaps; k++) sum += tmp[first + k]! * xTable[at + 1 + k]!;
      out[o + ox] = sum >> (WEIGHT_BITS + 8);
    }
  }
  return out;
}

/** The resampling tables of a scaled conversion: luma and chroma, each axis. */
export interface ScaleTables {
  yx: Int32Array;
  yy: Int32Array;
  cx: Int32Array;
  cy: Int32Array;
}

/** The tables that take an I420 frame of `layout`'s size to `outWidth` x `outHeight`. */
export function scaleTables(layout: I420Layout, outWidth: number, outHeight: number): ScaleTables {
  const { width, height } = layout;
  return {
    yx: cachedResampleTable(width, outWidth),
    yy: cachedResampleTable(height, outHeight),
    cx: cachedResampleTable((width + 1) >> 1, outWidth),
    cy: cachedResampleTable((height + 1) >> 1, outHeight),
  };
}

/**
 * The RGB (HWC, tight rows) frame of an I420 buffer at `outWidth` x `outHeight`, in one pass:
 * each plane is resampled to the output size (area average when shrinking, linear when
 * enlarging; see resampleTable), then converted with rgbFromI420's tables. The JS reference of
 * the native conversion (byte for byte).
 */
export function rgbFromI420Scaled(
  data: Uint8Array,
  layout: I420Layout,
  c: Colorimetry,
  outWidth: number,
  outHeight: number,
  /** The conversion tables (default: the colorimetry's); others only to test the native code's paths. */
  tables: RgbTables = rgbTables(c),
): Image {
  const { width, yStride, uvStride, uOffset, vOffset } = layout;
  const s = scaleTables(layout, outWidth, outHeight);
  const cw = (width + 1) >> 1;
  const yp = resamplePlane(data, 0, yStride, width, s.yx, s.yy, outWidth, outHeight);
  const up = resamplePlane(data, uOffset, uvStride, cw, s.cx, s.cy, outWidth, outHeight);
  const vp = resamplePlane(data, vOffset, uvStride, cw, s.cx, s.cy, outWidth, outHeight);
  const t = tables;
  const out = new Uint8ClampedArray(outWidth * outHeight * 3);
  for (let i = 0, o = 0; i < yp.length; i++, o += 3) {
    const l = t.y[yp[i]!]!;
    const u = up[i]!;
    const v = vp[i]!;
    out[o] = (l + t.rv[v]!) >> SHIFT;
    out[o + 1] = (l - (t.gu[u]! + t.gv[v]!)) >> SHIFT;
    out[o + 2] = (l + t.bu[u]!) >> SHIFT;
  }
  return { width: outWidth, height: outHeight, format: 'RGB', data: new Uint8Array(out.buffer) };
}
