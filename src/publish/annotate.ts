/**
 * Evidence a person reads: boxes and labels ("person #12") drawn into a decoded RGB keyframe with
 * the built-in bitmap font (font.ts), and the crop of one object's box. Pure functions on pixel
 * buffers; the JPEG helpers at the end decode the plain evidence JPEG (evidence.ts), draw, and
 * encode again, so nothing but the small JPEG of a keyframe has to be kept to annotate it later.
 *
 * Label placement: each label goes to the first of a few spots around its box (above, inside the
 * top, below; left- then right-aligned) that lies inside the image and overlaps no label placed
 * before it; failing those, the nearest free spot in a scan of the image. A label with no free
 * spot at all is left out (counted in `omitted`), so labels never overlap each other.
 */
import jpeg from 'jpeg-js';
import type { Box, Image } from '../core/contracts.js';
import { encodeJpeg, type EncodedJpeg } from './evidence.js';
import { GLYPH_HEIGHT, GLYPH_WIDTH, glyph, textSize } from './font.js';

export type Rgb = readonly [number, number, number];

/** An RGB image (3 bytes per pixel, rows without padding). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** One box to draw, in the image's pixels. */
export interface Annotation {
  box: Box;
  label: string;
  color: Rgb;
}

export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface AnnotateOptions {
  /** Line width of the boxes, px (default: 2, more on images wider than 640). */
  thickness?: number;
  /** Font scale (default: 1, 2 on images wider than 640). */
  scale?: number;
}

/** Saturated colours that survive JPEG: one per track id (id modulo the palette). */
export const PALETTE: readonly Rgb[] = [
  [255, 56, 56],
  [56, 255, 56],
  [56, 140, 255],
  [255, 210, 0],
  [255, 56, 255],
  [0, 230, 230],
  [255, 140, 0],
  [170, 90, 255],
];

export function trackColor(trackId: number): Rgb {
  const n = PALETTE.length;
  return PALETTE[((Math.trunc(trackId) % n) + n) % n]!;
}

/** "person #12" */
export function trackLabel(label: string, trackId: number): string {
  return `${label} #${trackId}`;
}

const PAD = 1;

function setPixel(img: RgbImage, x: number, y: number, c: Rgb): void {
  if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
  const i = (y * img.width + x) * 3;
  img.data[i] = c[0];
  img.data[i + 1] = c[1];
  img.data[i + 2] = c[2];
}

/** Fills a rectangle, clipped to the image. */
export function fillRect(img: RgbImage, r: Rect, c: Rgb): void {
  const x0 = Math.max(0, Math.round(r.x));
  const y0 = Math.max(0, Math.round(r.y));
  const x1 = Math.min(img.width, Math.round(r.x + r.w));
  const y1 = Math.min(img.height, Math.round(r.y + r.h));
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) setPixel(img, x, y, c);
}

/** Draws a box outline `thickness` px wide, inside the box, clipped to the image. */
export function strokeRect(img: RgbImage, box: Box, c: Rgb, thickness: number): void {
  const x0 = Math.round(box.x);
  const y0 = Math.round(box.y);
  const x1 = Math.round(box.x + box.w);
  const y1 = Math.round(box.y + box.h);
  const t = Math.max(1, Math.min(thickness, Math.ceil((x1 - x0) / 2), Math.ceil((y1 - y0) / 2)));
  fillRect(img, { x: x0, y: y0, w: x1 - x0, h: t }, c);
  fillRect(img, { x: x0, y: y1 - t, w: x1 - x0, h: t }, c);
  fillRect(img, { x: x0, y: y0, w: t, h: y1 - y0 }, c);
  fillRect(img, { x: x1 - t, y: y0, w: t, h: y1 - y0 }, c);
}

/** Draws `text` with its top-left corner at (x, y), each font pixel `scale` px square. */
export function drawText(img: RgbImage, x: number, y: number, text: string, c: Rgb, scale = 1): void {
  let cx = Math.round(x);
  for (const ch of text) {
    const g = glyph(ch);
    for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
      const bits = g[gy]!;
      for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
        if ((bits & (1 << (GLYPH_WIDTH - 1 - gx))) === 0) continue;
        fillRect(img, { x: cx + gx * scale, y: Math.round(y) + gy * scale, w: scale, h: scale }, c);
      }
    }
    cx += (GLYPH_WIDTH + 1) * scale;
  }
}

/** The size of a label's plate (text plus padding) at `scale`. */
export function labelSize(text: string, scale: number): { w: number; h: number } {
  const t = textSize(text, scale);
  return { w: t.w + 2 * PAD * scale, h: t.h + 2 * PAD * scale };
}

export function overlaps(a: Rect, b: Rect): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/**
 * Places one label plate per box so that no two plates overlap and every plate lies inside the
 * image; null for a plate that fits nowhere (or is larger than the image). In order of the input.
 */
export function placeLabels(
  items: readonly { box: Box; w: number; h: number }[],
  width: number,
  height: number,
): (Rect | null)[] {
  const placed: Rect[] = [];
  const free = (r: Rect): boolean =>
    r.x >= 0 && r.y >= 0 && r.x + r.w <= width && r.y + r.h <= height && !placed.some((p) => overlaps(p, r));
  const clampX = (x: number, w: number): number => Math.max(0, Math.min(width - w, Math.round(x)));
  return items.map(({ box, w, h }) => {
    if (w > width || h > height || w <= 0 || h <= 0) return null;
    const left = clampX(box.x, w);
    const right = clampX(box.x + box.w - w, w);
    const top = Math.round(box.y);
    const bottom = Math.round(box.y + box.h);
    const candidates: Rect[] = [];
    for (const x of [left, right]) {
      candidates.push(
        { x, y: top - h, w, h },
        { x, y: top, w, h },
        { x, y: bottom, w, h },
        { x, y: bottom - h, w, h },
      );
    }
    let best = candidates.find(free) ?? null;
    if (best === null) {
      // Nearest free spot to the box's top-left corner (scan in steps of a quarter plate).
      const sx = Math.max(1, Math.floor(w / 4));
      const sy = Math.max(1, Math.floor(h / 4));
      let bestD = Infinity;
      for (let y = 0; y + h <= height; y += sy) {
        for (let x = 0; x + w <= width; x += sx) {
          const d = (x - left) ** 2 + (y - (top - h)) ** 2;
          if (d >= bestD) continue;
          const r = { x, y, w, h };
          if (free(r)) {
            best = r;
            bestD = d;
          }
        }
      }
    }
    if (best !== null) placed.push(best);
    return best;
  });
}

/** Black or white, whichever reads better on `c`. */
function ink(c: Rgb): Rgb {
  return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] > 140 ? [0, 0, 0] : [255, 255, 255];
}

export interface AnnotateResult {
  image: RgbImage;
  /** Where each label went (null: left out, no free spot). */
  labels: (Rect | null)[];
  /** Labels left out for want of room. */
  omitted: number;
}

/** Draws the boxes and their labels into a copy of `image`. */
export function annotate(
  image: RgbImage,
  items: readonly Annotation[],
  options: AnnotateOptions = {},
): AnnotateResult {
  const big = image.width > 640;
  const thickness = options.thickness ?? (big ? Math.max(2, Math.round(image.width / 320)) : 2);
  const scale = options.scale ?? (big ? 2 : 1);
  const out: RgbImage = { width: image.width, height: image.height, data: Uint8Array.from(image.data) };
  for (const a of items) strokeRect(out, a.box, a.color, thickness);
  const labels = placeLabels(
    items.map((a) => ({ box: a.box, ...labelSize(a.label, scale) })),
    out.width,
    out.height,
  );
  labels.forEach((r, i) => {
    if (r === null) return;
    const a = items[i]!;
    fillRect(out, r, a.color);
    drawText(out, r.x + PAD * scale, r.y + PAD * scale, a.label, ink(a.color), scale);
  });
  return { image: out, labels, omitted: labels.filter((r) => r === null).length };
}

/**
 * The pixels of `box` (with `margin` of its size around it), clipped to the image; scaled up by
 * whole pixels (nearest neighbour) until at least `minHeight` px high, so a small figure is legible.
 */
export function crop(
  image: RgbImage,
  box: Box,
  options: { margin?: number; minHeight?: number } = {},
): RgbImage {
  const m = options.margin ?? 0.1;
  const x0 = Math.max(0, Math.floor(box.x - box.w * m));
  const y0 = Math.max(0, Math.floor(box.y - box.h * m));
  const x1 = Math.min(image.width, Math.ceil(box.x + box.w * (1 + m)));
  const y1 = Math.min(image.height, Math.ceil(box.y + box.h * (1 + m)));
  const w = Math.max(1, x1 - x0);
  const h = Math.max(1, y1 - y0);
  const f = Math.max(1, Math.min(8, Math.ceil((options.minHeight ?? 96) / h)));
  const out: RgbImage = { width: w * f, height: h * f, data: new Uint8Array(w * f * h * f * 3) };
  for (let y = 0; y < out.height; y++) {
    const sy = Math.min(image.height - 1, y0 + Math.floor(y / f));
    for (let x = 0; x < out.width; x++) {
      const sx = Math.min(image.width - 1, x0 + Math.floor(x / f));
      const s = (sy * image.width + sx) * 3;
      const d = (y * out.width + x) * 3;
      out.data[d] = image.data[s]!;
      out.data[d + 1] = image.data[s + 1]!;
      out.data[d + 2] = image.data[s + 2]!;
    }
  }
  return out;
}

/** Decodes a JPEG into RGB. */
export function decodeJpeg(data: Uint8Array): RgbImage {
  const d = jpeg.decode(data, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 64 });
  return { width: d.width, height: d.height, data: d.data };
}

const asImage = (img: RgbImage): Image => ({
  width: img.width,
  height: img.height,
  format: 'RGB',
  data: img.data,
});

/** One tracked object in a keyframe, its box in the source's pixels. */
export interface TrackBox {
  trackId: number;
  label: string;
  box: Box;
}

/** Scales a source-pixel box to an image `width` x `height` made from a `sourceWidth` x `sourceHeight` frame. */
export function scaleBox(
  box: Box,
  sourceWidth: number,
  sourceHeight: number,
  width: number,
  height: number,
): Box {
  const sx = sourceWidth > 0 ? width / sourceWidth : 1;
  const sy = sourceHeight > 0 ? height / sourceHeight : 1;
  return { x: box.x * sx, y: box.y * sy, w: box.w * sx, h: box.h * sy };
}

/**
 * The annotated snapshot of a keyframe: its plain evidence JPEG with each tracked object's box and
 * "label #id" drawn (boxes in source pixels of a `source` sized frame).
 */
export function annotateJpeg(
  plain: Uint8Array,
  tracks: readonly TrackBox[],
  source: { width: number; height: number },
  quality = 85,
): EncodedJpeg & { omitted: number } {
  const img = decodeJpeg(plain);
  const items = [...tracks]
    .sort((a, b) => a.trackId - b.trackId)
    .map((t) => ({
      box: scaleBox(t.box, source.width, source.height, img.width, img.height),
      label: trackLabel(t.label, t.trackId),
      color: trackColor(t.trackId),
    }));
  const r = annotate(img, items);
  return { ...encodeJpeg(asImage(r.image), { maxWidth: img.width, quality }), omitted: r.omitted };
}

/** The crop of one box (source pixels) out of a keyframe's plain evidence JPEG. */
export function cropJpeg(
  plain: Uint8Array,
  box: Box,
  source: { width: number; height: number },
  quality = 85,
): EncodedJpeg {
  const img = decodeJpeg(plain);
  const c = crop(img, scaleBox(box, source.width, source.height, img.width, img.height));
  return encodeJpeg(asImage(c), { maxWidth: c.width, quality });
}
