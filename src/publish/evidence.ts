/**
 * Keyframe evidence images: the model-size RGB frame (the very frame that was analysed),
 * downscaled and encoded as JPEG in pure JS (jpeg-js), kept in a small LRU so the publisher
 * (object store) and the live web view encode each keyframe once.
 */
import jpeg from 'jpeg-js';
import type { Image, Keyframe } from '../core/contracts.js';

export interface JpegOptions {
  /** Longest output width, px; larger frames are downscaled (box filter). Default 320. */
  maxWidth: number;
  /** JPEG quality 1-100 (default 70). */
  quality: number;
}

export const DEFAULT_JPEG_OPTIONS: JpegOptions = { maxWidth: 320, quality: 70 };

export interface EncodedJpeg {
  data: Uint8Array;
  width: number;
  height: number;
  /** The source frame's size (what boxes are measured in), for a keyframe's evidence JPEG. */
  source?: { width: number; height: number };
}

/** Encodes an RGB or GRAY8 image as JPEG, downscaled by an integer box filter to at most maxWidth. */
export function encodeJpeg(image: Image, options: Partial<JpegOptions> = {}): EncodedJpeg {
  const o = { ...DEFAULT_JPEG_OPTIONS, ...options };
  const channels = image.format === 'RGB' ? 3 : 1;
  if (image.width <= 0 || image.height <= 0 || image.data.length < image.width * image.height * channels) {
    throw new RangeError(`image ${image.width}x${image.height} ${image.format} has too few bytes`);
  }
  const f = Math.max(1, Math.ceil(image.width / o.maxWidth));
  const w = Math.floor(image.width / f);
  const h = Math.floor(image.height / f);
  const rgba = new Uint8Array(w * h * 4);
  const src = image.data;
  const area = f * f;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      for (let dy = 0; dy < f; dy++) {
        let i = ((y * f + dy) * image.width + x * f) * channels;
        for (let dx = 0; dx < f; dx++, i += channels) {
          r += src[i]!;
          g += src[i + (channels === 3 ? 1 : 0)]!;
          b += src[i + (channels === 3 ? 2 : 0)]!;
        }
      }
      const o4 = (y * w + x) * 4;
      rgba[o4] = r / area;
      rgba[o4 + 1] = g / area;
      rgba[o4 + 2] = b / area;
      rgba[o4 + 3] = 255;
    }
  }
  const out = jpeg.encode({ data: rgba, width: w, height: h }, o.quality);
  return { data: new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.length), width: w, height: h };
}

/**
 * Bounded LRU of encoded keyframes by keyframe id. `put` encodes from the keyframe's model frame
 * (falling back to the gray analysis frame when the model pixels are gone).
 */
export class JpegCache {
  private readonly entries = new Map<string, EncodedJpeg>();
  /** Keyframes whose image could not be encoded (no pixels). */
  failed = 0;

  constructor(
    readonly capacity = 64,
    private readonly options: Partial<JpegOptions> = {},
  ) {}

  put(kf: Keyframe): EncodedJpeg | undefined {
    const hit = this.get(kf.id);
    if (hit) return hit;
    const image = kf.frame.model.data.length > 0 ? kf.frame.model : kf.frame.analysis;
    let encoded: EncodedJpeg;
    try {
      encoded = {
        ...encodeJpeg(image, this.options),
        source: { width: kf.frame.sourceWidth, height: kf.frame.sourceHeight },
      };
    } catch {
      this.failed++;
      return undefined;
    }
    this.entries.set(kf.id, encoded);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    return encoded;
  }

  get(id: string): EncodedJpeg | undefined {
    const v = this.entries.get(id);
    if (v) {
      this.entries.delete(id);
      this.entries.set(id, v);
    }
    return v;
  }

  get size(): number {
    return this.entries.size;
  }
}
