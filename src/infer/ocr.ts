/**
 * On-screen text (captions, signs, scoreboards) with PaddleOCR PP-OCRv4 over the inference client:
 * detection (`ppocr_det`: probability map → boxes) then recognition (`ppocr_rec`: one request per
 * text line, batched by the server, CTC greedy decoding with the model's dictionary). Images travel
 * as UINT8 RGB; the server applies each model's normalisation (see README). The pure steps
 * (resize, components, CTC) are exported for tests.
 */
import { readFileSync } from 'node:fs';
import type { Box, Image } from '../core/contracts.js';
import { ConfigError, InferenceError } from '../core/errors.js';
import { asFloat32, type InferenceClient } from './client.js';

export interface OcrOptions {
  client: InferenceClient;
  /** The recognition model's character list, one entry per class after the CTC blank (see loadOcrDictionary). */
  dictionary: readonly string[];
  /** Default 'ppocr_det'. */
  detModel?: string;
  /** Default 'ppocr_rec'. */
  recModel?: string;
  /** Longest side of the detection input, px (rounded to a multiple of 32). Default 960. */
  detMaxSide?: number;
  /** Probability above which a pixel is text. Default 0.3. */
  pixelThreshold?: number;
  /** Mean probability a text region needs. Default 0.6. */
  boxThreshold?: number;
  /** Box growth (PaddleOCR's unclip ratio). Default 1.5. */
  unclipRatio?: number;
  /** Mean character confidence a recognised line needs. Default 0.5. */
  textThreshold?: number;
  /** Most lines recognised per image (largest first). Default 20. */
  maxLines?: number;
}

export interface TextLine {
  text: string;
  /** Mean probability of the decoded characters. */
  score: number;
  /** In the pixels of the image given to `recognize`. */
  box: Box;
}

export interface OcrResult {
  lines: TextLine[];
  inferenceMs: number;
}

export interface Ocr {
  recognize(image: Image): Promise<OcrResult>;
}

const REC_HEIGHT = 48;
const REC_MAX_WIDTH = 1280;

/** Reads a PaddleOCR dictionary file: one character per line, kept verbatim. */
export function loadOcrDictionary(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new ConfigError(`OCR dictionary ${file} is empty`);
  return lines;
}

/** Bilinear resize of a packed RGB image. */
export function resizeRgb(src: Uint8Array, sw: number, sh: number, dw: number, dh: number): Uint8Array {
  const out = new Uint8Array(dw * dh * 3);
  const sx = sw / dw;
  const sy = sh / dh;
  for (let y = 0; y < dh; y++) {
    const fy = Math.max(0, Math.min(sh - 1, (y + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(sh - 1, y0 + 1);
    const wy = fy - y0;
    for (let x = 0; x < dw; x++) {
      const fx = Math.max(0, Math.min(sw - 1, (x + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(sw - 1, x0 + 1);
      const wx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const a = src[(y0 * sw + x0) * 3 + c]!;
        const b = src[(y0 * sw + x1) * 3 + c]!;
        const d = src[(y1 * sw + x0) * 3 + c]!;
        const e = src[(y1 * sw + x1) * 3 + c]!;
        const top = a + (b - a) * wx;
        const bottom = d + (e - d) * wx;
        out[(y * dw + x) * 3 + c] = Math.round(top + (bottom - top) * wy);
      }
    }
  }
  return out;
}

/** Crops a packed RGB image (box clipped to it). */
export function cropRgb(img: Image, box: Box): { data: Uint8Array; width: number; height: number } {
  const x0 = Math.max(0, Math.floor(box.x));
  const y0 = Math.max(0, Math.floor(box.y));
  const x1 = Math.min(img.width, Math.ceil(box.x + box.w));
  const y1 = Math.min(img.height, Math.ceil(box.y + box.h));
  const width = Math.max(1, x1 - x0);
  const height = Math.max(1, y1 - y0);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = Math.min(img.height - 1, y0 + y);
    const start = (row * img.width + Math.min(img.width - 1, x0)) * 3;
    data.set(img.data.subarray(start, start + width * 3), y * width * 3);
  }
  return { data, width, height };
}

export interface Region {
  box: Box;
  /** Mean probability inside the region. */
  score: number;
}

/**
 * Text regions of a probability map: 8-connected components of pixels above `pixelThreshold`,
 * each as its bounding box grown by PaddleOCR's unclip distance (area × ratio / perimeter), in map
 * pixels. Regions with a mean probability under `boxThreshold` or a side under 3 px are dropped.
 */
export function textRegions(
  prob: Float32Array,
  width: number,
  height: number,
  opts: { pixelThreshold: number; boxThreshold: number; unclipRatio: number },
): Region[] {
  const label = new Int32Array(width * height);
  const stack = new Int32Array(width * height);
  const regions: Region[] = [];
  let next = 0;
  for (let start = 0; start < width * height; start++) {
    if (label[start] !== 0 || prob[start]! <= opts.pixelThreshold) continue;
    next++;
    let top = 0;
    stack[top++] = start;
    label[start] = next;
    let minX = width;
    let minY = height;
    let maxX = -1;
    let maxY = -1;
    let sum = 0;
    let count = 0;
    while (top > 0) {
      const p = stack[--top]!;
      const x = p % width;
      const y = (p - x) / width;
      sum += prob[p]!;
      count++;
      if (x < minX) minX = x;
      if (x > maxX) maxX = x;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if ((dx === 0 && dy === 0) || nx < 0 || nx >= width) continue;
          const q = ny * width + nx;
          if (label[q] === 0 && prob[q]! > opts.pixelThreshold) {
            label[q] = next;
            stack[top++] = q;
          }
        }
      }
    }
    const w = maxX - minX + 1;
    const h = maxY - minY + 1;
    const score = sum / count;
    if (Math.min(w, h) < 3 || score < opts.boxThreshold) continue;
    const d = (w * h * opts.unclipRatio) / (2 * (w + h));
    const x0 = Math.max(0, minX - d);
    const y0 = Math.max(0, minY - d);
    const x1 = Math.min(width, maxX + 1 + d);
    const y1 = Math.min(height, maxY + 1 + d);
    regions.push({ box: { x: x0, y: y0, w: x1 - x0, h: y1 - y0 }, score });
  }
  return regions;
}

/**
 * CTC greedy decoding of [T, C] class probabilities: best class per step, repeats merged, blanks
 * (class 0) dropped; class k is `dictionary[k - 1]`, and the class after the dictionary is a space
 * when the model has one (C = dictionary + 2, as PP-OCR's `use_space_char`).
 */
export function ctcDecode(
  probs: Float32Array,
  steps: number,
  classes: number,
  dictionary: readonly string[],
): { text: string; score: number } {
  const withSpace = classes === dictionary.length + 2;
  if (!withSpace && classes !== dictionary.length + 1) {
    throw new InferenceError(
      'VIGIL_ERR_INFER_BAD_RESPONSE',
      `recognition model has ${classes} classes; the dictionary has ${dictionary.length} entries (expected ${classes - 2} or ${classes - 1})`,
    );
  }
  let text = '';
  let sum = 0;
  let kept = 0;
  let prev = -1;
  for (let t = 0; t < steps; t++) {
    let best = 0;
    let bestP = -Infinity;
    const row = t * classes;
    for (let c = 0; c < classes; c++) {
      const p = probs[row + c]!;
      if (p > bestP) {
        bestP = p;
        best = c;
      }
    }
    if (best !== 0 && best !== prev) {
      text += best - 1 < dictionary.length ? dictionary[best - 1]! : ' ';
      sum += bestP;
      kept++;
    }
    prev = best;
  }
  return { text: text.trim(), score: kept > 0 ? sum / kept : 0 };
}

function roundTo32(n: number): number {
  return Math.max(32, Math.round(n / 32) * 32);
}

export function createOcr(options: OcrOptions): Ocr {
  const known = [
    'client',
    'dictionary',
    'detModel',
    'recModel',
    'detMaxSide',
    'pixelThreshold',
    'boxThreshold',
    'unclipRatio',
    'textThreshold',
    'maxLines',
  ];
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) throw new ConfigError(`ocr: unknown option '${k}' (known: ${known.join(', ')})`);
  }
  if (!Array.isArray(options.dictionary) || options.dictionary.length === 0) {
    throw new ConfigError('ocr: dictionary (the recognition model character list) is required');
  }
  const { client, dictionary } = options;
  const detModel = options.detModel ?? 'ppocr_det';
  const recModel = options.recModel ?? 'ppocr_rec';
  const detMaxSide = options.detMaxSide ?? 960;
  const regionOpts = {
    pixelThreshold: options.pixelThreshold ?? 0.3,
    boxThreshold: options.boxThreshold ?? 0.6,
    unclipRatio: options.unclipRatio ?? 1.5,
  };
  const textThreshold = options.textThreshold ?? 0.5;
  const maxLines = options.maxLines ?? 20;
  if (!(detMaxSide >= 32)) throw new ConfigError('ocr: detMaxSide must be >= 32');

  const recognizeLine = async (img: Image, box: Box): Promise<TextLine | undefined> => {
    const crop = cropRgb(img, box);
    const width = Math.min(REC_MAX_WIDTH, Math.ceil((REC_HEIGHT * crop.width) / crop.height));
    // Widths rounded up to a multiple of 32 so lines of similar length share a batch; the rest is
    // padded with mid-gray (≈ 0 after the model's (x/255 - 0.5) / 0.5).
    const padded = Math.min(REC_MAX_WIDTH, Math.ceil(width / 32) * 32);
    const resized = resizeRgb(crop.data, crop.width, crop.height, width, REC_HEIGHT);
    const data = new Uint8Array(padded * REC_HEIGHT * 3).fill(128);
    for (let y = 0; y < REC_HEIGHT; y++) {
      data.set(resized.subarray(y * width * 3, (y + 1) * width * 3), y * padded * 3);
    }
    const res = await client.infer({
      model: recModel,
      inputs: [{ name: 'x', datatype: 'UINT8', shape: [1, REC_HEIGHT, padded, 3], data }],
    });
    const out = res.outputs[0];
    if (!out || out.shape.length !== 3) {
      throw new InferenceError('VIGIL_ERR_INFER_BAD_RESPONSE', `${recModel}: expected one [1, T, C] output`);
    }
    const { text, score } = ctcDecode(asFloat32(out), out.shape[1]!, out.shape[2]!, dictionary);
    return text && score >= textThreshold ? { text, score, box } : undefined;
  };

  return {
    async recognize(image) {
      if (image.format !== 'RGB') {
        throw new InferenceError(
          'VIGIL_ERR_INFER_INVALID_ARGUMENT',
          `ocr needs an RGB image, got ${image.format}`,
        );
      }
      const t0 = performance.now();
      const ratio = Math.min(1, detMaxSide / Math.max(image.width, image.height));
      const dw = roundTo32(image.width * ratio);
      const dh = roundTo32(image.height * ratio);
      const det = await client.infer({
        model: detModel,
        inputs: [
          {
            name: 'x',
            datatype: 'UINT8',
            shape: [1, dh, dw, 3],
            data: resizeRgb(image.data, image.width, image.height, dw, dh),
          },
        ],
      });
      const map = det.outputs[0];
      if (!map || map.shape.length !== 4 || map.shape[2] !== dh || map.shape[3] !== dw) {
        throw new InferenceError(
          'VIGIL_ERR_INFER_BAD_RESPONSE',
          `${detModel}: expected a [1, 1, ${dh}, ${dw}] map`,
        );
      }
      const sx = image.width / dw;
      const sy = image.height / dh;
      const regions = textRegions(asFloat32(map), dw, dh, regionOpts)
        .map((r) => ({ ...r, box: { x: r.box.x * sx, y: r.box.y * sy, w: r.box.w * sx, h: r.box.h * sy } }))
        .sort((a, b) => b.box.w * b.box.h - a.box.w * a.box.h)
        .slice(0, maxLines);
      const lines = (await Promise.all(regions.map((r) => recognizeLine(image, r.box)))).filter(
        (l): l is TextLine => l !== undefined,
      );
      // Reading order: top to bottom, then left to right.
      lines.sort((a, b) =>
        Math.abs(a.box.y - b.box.y) < a.box.h / 2 ? a.box.x - b.box.x : a.box.y - b.box.y,
      );
      return { lines, inferenceMs: performance.now() - t0 };
    },
  };
}
