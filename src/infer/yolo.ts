/**
 * YOLOv8 pre- and post-processing as pure functions: letterbox, decode of `output0`
 * ([4 + classes, anchors], no objectness), class-wise NMS, and the mapping of boxes back to
 * source pixels. No I/O.
 */
import type { Box, Detection } from '../core/contracts.js';

export const YOLO_INPUT_SIZE = 640;
export const LETTERBOX_PAD_VALUE = 114;

// prettier-ignore
export const COCO_LABELS: readonly string[] = [
  'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
  'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
  'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
  'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
  'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple',
  'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch',
  'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone',
  'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear',
  'hair drier', 'toothbrush',
];

export interface Letterbox {
  /** size × size × 3 RGB, HWC. */
  data: Uint8Array;
  size: number;
  /** Source pixels → letterboxed pixels: x' = x * scale + padX. */
  scale: number;
  padX: number;
  padY: number;
  /** Size of the resized image inside the padding. */
  width: number;
  height: number;
}

/**
 * Resizes an RGB HWC image (bilinear, aspect preserved) into a size×size canvas filled with
 * `padValue`, centred. Returns the canvas and the transform from source to letterbox pixels.
 */
export function letterbox(
  src: Uint8Array,
  srcWidth: number,
  srcHeight: number,
  size = YOLO_INPUT_SIZE,
  padValue = LETTERBOX_PAD_VALUE,
): Letterbox {
  if (!(srcWidth > 0 && srcHeight > 0) || src.length !== srcWidth * srcHeight * 3) {
    throw new RangeError(`letterbox: ${src.length} bytes is not a ${srcWidth}x${srcHeight} RGB image`);
  }
  const scale = Math.min(size / srcWidth, size / srcHeight);
  const width = Math.max(1, Math.min(size, Math.round(srcWidth * scale)));
  const height = Math.max(1, Math.min(size, Math.round(srcHeight * scale)));
  const padX = Math.floor((size - width) / 2);
  const padY = Math.floor((size - height) / 2);
  const out = new Uint8Array(size * size * 3).fill(padValue);
  if (width === srcWidth && height === srcHeight) {
    for (let y = 0; y < height; y++) {
      out.set(src.subarray(y * srcWidth * 3, (y + 1) * srcWidth * 3), ((y + padY) * size + padX) * 3);
    }
    return { data: out, size, scale, padX, padY, width, height };
  }
  // Bilinear with half-pixel centres (as OpenCV's INTER_LINEAR).
  const sx = srcWidth / width;
  const sy = srcHeight / height;
  const x0s = new Int32Array(width);
  const x1s = new Int32Array(width);
  const fxs = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), srcWidth - 1);
    const x0 = Math.floor(fx);
    x0s[x] = x0 * 3;
    x1s[x] = Math.min(x0 + 1, srcWidth - 1) * 3;
    fxs[x] = fx - x0;
  }
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), srcHeight - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, srcHeight - 1);
    const wy = fy - y0;
    const row0 = y0 * srcWidth * 3;
    const row1 = y1 * srcWidth * 3;
    let o = ((y + padY) * size + padX) * 3;
    for (let x = 0; x < width; x++) {
      const wx = fxs[x]!;
      const a = row0 + x0s[x]!;
      const b = row0 + x1s[x]!;
      const c = row1 + x0s[x]!;
      const d = row1 + x1s[x]!;
      for (let k = 0; k < 3; k++) {
        const top = src[a + k]! + (src[b + k]! - src[a + k]!) * wx;
        const bottom = src[c + k]! + (src[d + k]! - src[c + k]!) * wx;
        out[o++] = Math.round(top + (bottom - top) * wy);
      }
    }
  }
  return { data: out, size, scale, padX, padY, width, height };
}

/** A candidate in letterbox pixels, corners form. */
export interface Candidate {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
  classId: number;
}

/**
 * Decodes YOLOv8's output `[4 + numClasses, numAnchors]` (channel-major: row c holds channel c of
 * every anchor; rows 0..3 are cx, cy, w, h) into candidates whose best class score ≥ threshold.
 */
export function decodeYolo(
  output: Float32Array,
  numAnchors: number,
  numClasses: number,
  scoreThreshold: number,
): Candidate[] {
  if (output.length !== (4 + numClasses) * numAnchors) {
    throw new RangeError(`decodeYolo: ${output.length} values is not [${4 + numClasses}, ${numAnchors}]`);
  }
  const out: Candidate[] = [];
  for (let a = 0; a < numAnchors; a++) {
    let best = -Infinity;
    let classId = -1;
    for (let c = 0; c < numClasses; c++) {
      const s = output[(4 + c) * numAnchors + a]!;
      if (s > best) {
        best = s;
        classId = c;
      }
    }
    if (best < scoreThreshold) continue;
    const cx = output[a]!;
    const cy = output[numAnchors + a]!;
    const w = output[2 * numAnchors + a]!;
    const h = output[3 * numAnchors + a]!;
    out.push({ x1: cx - w / 2, y1: cy - h / 2, x2: cx + w / 2, y2: cy + h / 2, score: best, classId });
  }
  return out;
}

export function iou(a: Candidate, b: Candidate): number {
  const iw = Math.min(a.x2, b.x2) - Math.max(a.x1, b.x1);
  const ih = Math.min(a.y2, b.y2) - Math.max(a.y1, b.y1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * Greedy non-maximum suppression per class: keeps the highest-scoring box and drops same-class
 * boxes overlapping it by more than `iouThreshold`. Returns at most `maxDetections`, best first.
 */
export function nms(
  candidates: readonly Candidate[],
  iouThreshold: number,
  maxDetections = 300,
): Candidate[] {
  const sorted = [...candidates].sort((a, b) => b.score - a.score);
  const kept: Candidate[] = [];
  const suppressed = new Uint8Array(sorted.length);
  for (let i = 0; i < sorted.length && kept.length < maxDetections; i++) {
    if (suppressed[i]) continue;
    const a = sorted[i]!;
    kept.push(a);
    for (let j = i + 1; j < sorted.length; j++) {
      const b = sorted[j]!;
      if (!suppressed[j] && b.classId === a.classId && iou(a, b) > iouThreshold) suppressed[j] = 1;
    }
  }
  return kept;
}

export interface LetterboxParams {
  scale: number;
  padX: number;
  padY: number;
}

/**
 * Letterbox pixels → source pixels: undo the letterbox (into the image that was letterboxed, of
 * `imageWidth`×`imageHeight`), then scale that image to the source (`sourceWidth`×`sourceHeight`),
 * clipped to the source. Returns the contract's box (top-left x, y, width, height).
 */
export function toSourceBox(
  c: Pick<Candidate, 'x1' | 'y1' | 'x2' | 'y2'>,
  lb: LetterboxParams,
  imageWidth: number,
  imageHeight: number,
  sourceWidth: number,
  sourceHeight: number,
): Box {
  const fx = sourceWidth / imageWidth;
  const fy = sourceHeight / imageHeight;
  const clip = (v: number, max: number): number => Math.min(Math.max(v, 0), max);
  const x1 = clip(((c.x1 - lb.padX) / lb.scale) * fx, sourceWidth);
  const y1 = clip(((c.y1 - lb.padY) / lb.scale) * fy, sourceHeight);
  const x2 = clip(((c.x2 - lb.padX) / lb.scale) * fx, sourceWidth);
  const y2 = clip(((c.y2 - lb.padY) / lb.scale) * fy, sourceHeight);
  return { x: x1, y: y1, w: x2 - x1, h: y2 - y1 };
}

export interface PostprocessOptions {
  numAnchors: number;
  numClasses: number;
  scoreThreshold: number;
  iouThreshold: number;
  maxDetections?: number;
  labels?: readonly string[];
}

/** decode → NMS → source boxes → Detection[] (best first). Boxes of zero area after clipping are dropped. */
export function postprocess(
  output: Float32Array,
  lb: LetterboxParams,
  imageWidth: number,
  imageHeight: number,
  sourceWidth: number,
  sourceHeight: number,
  opts: PostprocessOptions,
): Detection[] {
  const labels = opts.labels ?? COCO_LABELS;
  const kept = nms(
    decodeYolo(output, opts.numAnchors, opts.numClasses, opts.scoreThreshold),
    opts.iouThreshold,
    opts.maxDetections,
  );
  const out: Detection[] = [];
  for (const c of kept) {
    const box = toSourceBox(c, lb, imageWidth, imageHeight, sourceWidth, sourceHeight);
    if (box.w <= 0 || box.h <= 0) continue;
    out.push({ label: labels[c.classId] ?? `class${c.classId}`, classId: c.classId, score: c.score, box });
  }
  return out;
}

/** Values per candidate row in the server's `candidates` output: cx, cy, w, h, score, classId. */
export const CANDIDATE_FIELDS = 6;

/**
 * Server-side reduction of one image's `[4 + numClasses, numAnchors]` output to the anchors whose
 * best class score ≥ `threshold`, as rows of (cx, cy, w, h, score, classId), best first, at most
 * `max`. 8400 × 84 floats (2.8 MB) become a few KB on the wire; NMS stays with the caller.
 */
export function yoloCandidates(
  output: Float32Array,
  numAnchors: number,
  numClasses: number,
  threshold: number,
  max: number,
): Float32Array {
  if (output.length !== (4 + numClasses) * numAnchors) {
    throw new RangeError(`yoloCandidates: ${output.length} values is not [${4 + numClasses}, ${numAnchors}]`);
  }
  // Each class's scores are one contiguous row of numAnchors values: walking row by row reads memory
  // in order (anchor by anchor strides 33 KB per read). Only scores at or above the threshold can be
  // an anchor's best when the anchor is kept, so the rest are skipped with one comparison; the result
  // is decodeYolo's: the first class with the top score wins.
  const best = new Float32Array(numAnchors).fill(-Infinity);
  const classOf = new Int32Array(numAnchors).fill(-1);
  for (let c = 0; c < numClasses; c++) {
    const row = (4 + c) * numAnchors;
    for (let a = 0; a < numAnchors; a++) {
      const s = output[row + a]!;
      if (s >= threshold && s > best[a]!) {
        best[a] = s;
        classOf[a] = c;
      }
    }
  }
  const kept: number[] = [];
  for (let a = 0; a < numAnchors; a++) if (!(best[a]! < threshold)) kept.push(a);
  // Stable: equal scores keep anchor order, as decodeYolo's list sorted by score does.
  kept.sort((i, j) => best[j]! - best[i]!);
  const n = Math.min(kept.length, max);
  const out = new Float32Array(n * CANDIDATE_FIELDS);
  for (let i = 0; i < n; i++) {
    const a = kept[i]!;
    const cx = output[a]!;
    const cy = output[numAnchors + a]!;
    const w = output[2 * numAnchors + a]!;
    const h = output[3 * numAnchors + a]!;
    // Through the corners, as decodeYolo's boxes are, so that the floats are the same.
    const x1 = cx - w / 2;
    const y1 = cy - h / 2;
    const x2 = cx + w / 2;
    const y2 = cy + h / 2;
    const o = i * CANDIDATE_FIELDS;
    out[o] = (x1 + x2) / 2;
    out[o + 1] = (y1 + y2) / 2;
    out[o + 2] = x2 - x1;
    out[o + 3] = y2 - y1;
    out[o + 4] = best[a]!;
    out[o + 5] = classOf[a]!;
  }
  return out;
}

/** Client side of `candidates`: rows → threshold → NMS → source boxes → Detection[] (padding rows have score 0). */
export function postprocessCandidates(
  rows: Float32Array,
  lb: LetterboxParams,
  imageWidth: number,
  imageHeight: number,
  sourceWidth: number,
  sourceHeight: number,
  opts: Omit<PostprocessOptions, 'numAnchors' | 'numClasses'>,
): Detection[] {
  const labels = opts.labels ?? COCO_LABELS;
  const cands: Candidate[] = [];
  for (let i = 0; i + CANDIDATE_FIELDS <= rows.length; i += CANDIDATE_FIELDS) {
    const score = rows[i + 4]!;
    if (!(score >= opts.scoreThreshold) || score <= 0) continue;
    const cx = rows[i]!;
    const cy = rows[i + 1]!;
    const w = rows[i + 2]!;
    const h = rows[i + 3]!;
    cands.push({
      x1: cx - w / 2,
      y1: cy - h / 2,
      x2: cx + w / 2,
      y2: cy + h / 2,
      score,
      classId: rows[i + 5]!,
    });
  }
  const out: Detection[] = [];
  for (const c of nms(cands, opts.iouThreshold, opts.maxDetections)) {
    const box = toSourceBox(c, lb, imageWidth, imageHeight, sourceWidth, sourceHeight);
    if (box.w <= 0 || box.h <= 0) continue;
    out.push({ label: labels[c.classId] ?? `class${c.classId}`, classId: c.classId, score: c.score, box });
  }
  return out;
}
