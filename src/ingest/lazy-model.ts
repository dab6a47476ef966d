/**
 * A frame's model pixels, made on first access: the I420 pixels ingest delivered stay with the
 * frame until its `model` is read (converted natively, scaled to the model size) or the frame is
 * released.
 */
import type { Frame, Image } from '../core/contracts.js';
import { gst } from './gst.js';
import {
  rgbFromI420,
  rgbFromI420Scaled,
  rgbTables,
  scaleTables,
  type Colorimetry,
  type I420Layout,
  type RgbTables,
} from './yuv.js';

/**
 * The RGB pixels of an I420 frame at `width` x `height` (default: its own size) from the native
 * module, scaled and converted in one pass with src/ingest/yuv.ts's tables: the same bytes as
 * rgbFromI420 / rgbFromI420Scaled. Null when the module lacks the function or refuses an argument.
 */
export function nativeI420ToRgb(
  i420: Uint8Array,
  layout: I420Layout,
  colorimetry: Colorimetry,
  width = layout.width,
  height = layout.height,
  /** The conversion tables (default: the colorimetry's); others only to test the native code's paths. */
  t: RgbTables = rgbTables(colorimetry),
): Uint8Array | null {
  const mod = gst();
  const out = new Uint8Array(width * height * 3);
  const { yStride, uvStride, uOffset, vOffset } = layout;
  if (width === layout.width && height === layout.height) {
    const ok = mod.i420ToRgb?.(
      i420,
      out,
      width,
      height,
      yStride,
      uvStride,
      uOffset,
      vOffset,
      t.y,
      t.rv,
      t.gu,
      t.gv,
      t.bu,
    );
    return ok ? out : null;
  }
  const s = scaleTables(layout, width, height);
  const ok = mod.i420ToRgbScaled?.(
    i420,
    out,
    layout.width,
    layout.height,
    yStride,
    uvStride,
    uOffset,
    vOffset,
    width,
    height,
    s.yx,
    s.yy,
    s.cx,
    s.cy,
    t.y,
    t.rv,
    t.gu,
    t.gv,
    t.bu,
  );
  return ok ? out : null;
}

/** The RGB frame of I420 pixels: natively when the module can (same tables, same result), else in JS. */
export function convertI420ToRgb(i420: Uint8Array, layout: I420Layout, colorimetry: Colorimetry): Image {
  const data = nativeI420ToRgb(i420, layout, colorimetry);
  return data
    ? { width: layout.width, height: layout.height, format: 'RGB', data }
    : rgbFromI420(i420, layout, colorimetry);
}

/**
 * The RGB frame of I420 pixels at `width` x `height` (scaled and converted in one pass, natively
 * when the module can, else in JS with the same tables and integer arithmetic: the same bytes). At
 * the frame's own size, convertI420ToRgb.
 */
export function convertI420ToRgbScaled(
  i420: Uint8Array,
  layout: I420Layout,
  colorimetry: Colorimetry,
  width: number,
  height: number,
): Image {
  if (width === layout.width && height === layout.height) return convertI420ToRgb(i420, layout, colorimetry);
  const data = nativeI420ToRgb(i420, layout, colorimetry, width, height);
  return data
    ? { width, height, format: 'RGB', data }
    : rgbFromI420Scaled(i420, layout, colorimetry, width, height);
}

/** The model frame's size for a frame of `width` x `height`: `modelWidth` wide, aspect preserved. */
export function modelSize(
  width: number,
  height: number,
  modelWidth: number,
): { width: number; height: number } {
  return { width: modelWidth, height: Math.max(1, Math.round((modelWidth * height) / width)) };
}

/** Where a frame from ingest keeps its model's makings (non-enumerable: spreading leaves it). */
const LAZY = Symbol('vigil.lazyModel');

interface LazyModel {
  /** The I420 pixels until the model frame is made or the frame released. */
  pixels: Uint8Array | null;
  layout: I420Layout;
  colorimetry: Colorimetry;
  size: { width: number; height: number };
  owned: boolean;
}

type LazyFrame = Frame & { [LAZY]?: LazyModel };

function letGo(lazy: LazyModel): void {
  const p = lazy.pixels;
  lazy.pixels = null;
  if (p !== null && lazy.owned) gst().releaseBuffer?.(p);
}

function settleModel(frame: LazyFrame, value: Image): Image {
  const lazy = frame[LAZY];
  if (lazy) letGo(lazy);
  Object.defineProperty(frame, 'model', { value, writable: true, enumerable: true, configurable: true });
  return value;
}

// One getter and one setter for every frame: a frame that gains this accessor keeps V8's fast
// properties and shares its hidden class with the others (per-frame closures, or turning an existing
// data property into an accessor, would leave each frame a slow dictionary object, for every stage
// that reads it).
function lazyModelGet(this: LazyFrame): Image {
  const lazy = this[LAZY]!;
  const { pixels, layout, colorimetry, size } = lazy;
  return settleModel(
    this,
    pixels !== null
      ? convertI420ToRgbScaled(pixels, layout, colorimetry, size.width, size.height)
      : { width: size.width, height: size.height, format: 'RGB', data: new Uint8Array(0) },
  );
}

function lazyModelSet(this: LazyFrame, value: Image): void {
  settleModel(this, value);
}

const LAZY_MODEL: PropertyDescriptor = {
  get: lazyModelGet,
  set: lazyModelSet,
  enumerable: true,
  configurable: true,
};

/**
 * Makes `frame.model` the RGB frame of the frame's I420 pixels at `size` (default: the I420 frame's
 * own size), scaled and converted on first read (convertI420ToRgbScaled; only keyframes are ever
 * read: a few per second) and then an ordinary property; the I420 pixels are let go at that point.
 * Until then the frame holds them (the decoded frame, 1.5 bytes per pixel). Spreading or cloning
 * the frame reads it. `owned`: the pixels are the frame's alone (ingest's buffers), so letting go
 * detaches them and gives their memory back at once (see releaseFrame). Cheapest on a frame that
 * has no `model` property yet (see LAZY_MODEL).
 */
export function defineLazyModel(
  frame: Frame | Omit<Frame, 'model'>,
  i420: Uint8Array,
  layout: I420Layout,
  colorimetry: Colorimetry,
  size: { width: number; height: number } = layout,
  owned = false,
): asserts frame is Frame {
  const lazy: LazyModel = { pixels: i420, layout, colorimetry, size, owned };
  Object.defineProperty(frame, LAZY, { value: lazy, writable: true, configurable: true });
  Object.defineProperty(frame, 'model', LAZY_MODEL);
}

/**
 * Gives a frame's decoded pixels back now (to the decoder's buffer pool) instead of when the garbage
 * collector finds the frame: for consumers that are done with a frame whose `model` they will not
 * read (e.g. one the keyframe selector passed over). Afterwards `frame.model`, if not read before,
 * is the model frame's size with no pixels (as withoutModelPixels leaves it); a model frame read
 * before stays. Idempotent; a no-op for frames not from ingest.
 */
export function releaseFrame(frame: Frame): void {
  const lazy = (frame as LazyFrame)[LAZY];
  if (lazy) letGo(lazy);
}
