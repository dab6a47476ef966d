/**
 * Typed edge over gstreamer-superficial (patched in patches/: bounded bus polling, pull with timeout,
 * appsink watch + non-blocking tryPull, frames without a copy where safe, the gray analysis frame
 * computed natively, buffer PTS, sender NTP time and appsink arrival stamps in the caps object, no
 * leaked element references). Loading it initialises GStreamer once; hardware decoders are preferred (see
 * `decoderPreference`) unless VIGIL_HW_DECODE=off.
 */
import { createRequire } from 'node:module';
import { switchedOff } from '../core/env-switch.js';
import { applyMmapThreshold, mmapThresholdFromEnv } from './mmap-threshold.js';

export interface GstCaps {
  name?: string;
  width?: number;
  height?: number;
  format?: string;
  /** e.g. "30/1"; "0/1" for variable rate. */
  framerate?: string;
  rate?: number;
  channels?: number;
  /** Buffer PTS in nanoseconds (added by Vigil's patch). */
  pts?: number;
  duration?: number;
  /** Sender's NTP time of the buffer, ns since 1900 (RTSP with RTCP sender reports; Vigil's patch). */
  ntpNs?: number;
  /** Wall-clock time (µs since the Unix epoch) the buffer entered the appsink (Vigil's patch). */
  arrivalUs?: number;
  /** Index of the buffer among all that entered this appsink; a gap = buffers the appsink dropped. */
  arrivalIndex?: number;
  /** Height of the gray frame a pull with `grayWidth` computed natively (Vigil's patch). */
  grayHeight?: number;
  [key: string]: unknown;
}

export interface GstBusMessage {
  type: string;
  _src_element_name?: string;
  name?: string;
  message?: string;
  [key: string]: unknown;
}

export interface GstElement {
  [property: string]: unknown;
  /** The negotiated caps of a static pad, null before negotiation or for no such pad (Vigil's patch). */
  padCaps(padName: string): GstCaps | null;
}

export interface GstAppSink extends GstElement {
  /**
   * `buf` is a Buffer, `null` at EOS, `undefined` when `timeoutMs` passed without a sample. With
   * `grayWidth`, the pulling thread also box-filters the frame's luma plane to `grayWidth` x
   * `caps.grayHeight` (height from the aspect ratio, rounded) and passes it as `gray` (Vigil's
   * patch); `gray` is undefined when the format has no 8-bit luma plane or the frame is smaller.
   */
  pull(
    cb: (buf: Buffer | null | undefined, caps: GstCaps, gray?: Buffer) => void,
    timeoutMs?: number,
    grayWidth?: number,
  ): void;
  /**
   * Calls `cb` on the JS thread when samples may be queued or the sink reached EOS; notifications
   * coalesce, so a busy JS thread wakes once for many frames (Vigil's patch). Keeps the event loop
   * alive until `unwatch()`. With `grayWidth`, the gray frame (as `pull`'s) is computed on the
   * streaming thread as each buffer enters the appsink (one thread per stream, not the JS thread),
   * and `tryPull` with the same width takes it over. With `batch` > 1, `cb` is called once per
   * `batch` samples (and at EOS) instead of for each: it must not exceed the appsink's max-buffers,
   * and the caller takes leftovers itself (e.g. on a timer).
   */
  watch?(cb: () => void, grayWidth?: number, batch?: number): void;
  /** Ends `watch` (idempotent). */
  unwatch?(): void;
  /**
   * Takes one queued sample without blocking (`gray` as with `pull`): undefined when none is queued,
   * null at EOS (Vigil's patch).
   */
  tryPull?(
    grayWidth?: number,
  ): { buffer: Buffer | undefined; caps: GstCaps; gray?: Buffer } | null | undefined;
}

export interface GstPipeline {
  play(): void;
  pause(): void;
  stop(): void;
  /** Stops and drops the GStreamer objects now (Vigil's patch); later calls are no-ops. */
  release(): void;
  /**
   * Threads the pipeline starts from now on run at the process's nice value + `n` (0..19; Vigil's
   * patch); call before play(). False when out of range.
   */
  setThreadNice?(n: number): boolean;
  /**
   * libav decoders that decodebin plugs from now on copy each frame into a pooled buffer instead
   * of handing GStreamer a frame it must copy into a fresh malloc'd block (Vigil's patch); call
   * before play().
   */
  copyDecodedFrames?(): boolean;
  sendEOS(): void;
  findChild(name: string): GstElement | undefined;
  pollBus(cb: (msg: GstBusMessage) => void): void;
}

interface GstModule {
  Pipeline: new (description: string) => GstPipeline;
  /**
   * Fills `out` (RGB, tight rows) from an I420 frame with src/ingest/yuv.ts's tables, exactly as
   * `rgbFromI420` does, natively (Vigil's patch); false when an argument does not fit.
   */
  i420ToRgb?(
    src: Uint8Array,
    out: Uint8Array,
    width: number,
    height: number,
    yStride: number,
    uvStride: number,
    uOffset: number,
    vOffset: number,
    y: Int32Array,
    rv: Int32Array,
    gu: Int32Array,
    gv: Int32Array,
    bu: Int32Array,
  ): boolean;
  /**
   * Detaches the ArrayBuffer under `view` (all its views then have length 0), so its memory (a
   * frame's: the decoder's buffer) is given back now rather than at a garbage collection (Vigil's
   * patch); true when detached or already detached.
   */
  releaseBuffer?(view: ArrayBufferView): boolean;
  /**
   * glibc's malloc_trim(0): hands the free memory of every malloc arena back to the system
   * (Vigil's patch; see src/ingest/malloc-trim.ts). With `done`, on a thread-pool thread (the walk
   * can take 100 ms), calling back with true when some was released; without, here, returning it.
   */
  mallocTrim?(done?: (released: boolean) => void): boolean | undefined;
  /** Fixes glibc's mmap threshold at `bytes` (Vigil's patch; see src/ingest/mmap-threshold.ts). */
  mallocMmapThreshold?(bytes: number): boolean;
  /**
   * Fills `out` (RGB, `outWidth` x `outHeight`, tight rows) from an I420 frame of any size in one
   * pass with src/ingest/yuv.ts's resampling and conversion tables, exactly as `rgbFromI420Scaled`
   * does, natively (Vigil's patch); false when an argument does not fit.
   */
  i420ToRgbScaled?(
    src: Uint8Array,
    out: Uint8Array,
    width: number,
    height: number,
    yStride: number,
    uvStride: number,
    uOffset: number,
    vOffset: number,
    outWidth: number,
    outHeight: number,
    yx: Int32Array,
    yy: Int32Array,
    cx: Int32Array,
    cy: Int32Array,
    y: Int32Array,
    rv: Int32Array,
    gu: Int32Array,
    gv: Int32Array,
    bu: Int32Array,
  ): boolean;
}

/** Hardware decoders (NVIDIA nvcodec, VA-API new and legacy), raised above the software ones. */
export const HARDWARE_DECODERS = [
  'nvh264dec',
  'nvh265dec',
  'nvvp9dec',
  'nvav1dec',
  'vah264dec',
  'vah265dec',
  'vavp9dec',
  'vaav1dec',
  'vaapih264dec',
  'vaapih265dec',
  'vaapivp9dec',
] as const;

/**
 * The GST_PLUGIN_FEATURE_RANK value that ranks hardware decoders first (names not installed are
 * ignored by GStreamer); a user's own setting comes after, so it wins.
 */
export function hardwareRankEnv(existing: string | undefined): string {
  const ours = HARDWARE_DECODERS.map((name) => `${name}:MAX`).join(',');
  return existing ? `${ours},${existing}` : ours;
}

export interface DecoderPreference {
  /** 'hardware' when at least one hardware decoder is installed and preferred. */
  mode: 'hardware' | 'software';
  /** Installed hardware decoders decodebin will try first (it falls back when one fails to open). */
  hardware: string[];
}

let cached: GstModule | undefined;
let preference: DecoderPreference | undefined;

/**
 * Whether libav decoders copy each frame into a pooled buffer (`copyDecodedFrames`): on unless
 * VIGIL_POOLED_DECODE=off, which gives libav's direct rendering back (#22 item 6).
 */
export function pooledDecodeEnabled(
  env: Readonly<Record<string, string | undefined>> = process.env,
): boolean {
  return !switchedOff(env.VIGIL_POOLED_DECODE);
}

export function gst(): GstModule {
  if (!cached) {
    const mmapThreshold = mmapThresholdFromEnv(); // a bad value fails here, before anything loads
    const off = switchedOff(process.env.VIGIL_HW_DECODE);
    // Read by gst_init when the addon loads: it must be in the environment before that.
    if (!off) process.env.GST_PLUGIN_FEATURE_RANK = hardwareRankEnv(process.env.GST_PLUGIN_FEATURE_RANK);
    cached = createRequire(import.meta.url)('gstreamer-superficial') as GstModule;
    applyMmapThreshold(cached, mmapThreshold);
    const hardware = off ? [] : HARDWARE_DECODERS.filter((name) => elementExists(cached!, name));
    preference = { mode: hardware.length > 0 ? 'hardware' : 'software', hardware };
  }
  return cached;
}

/** The addon when something has loaded it already, else undefined (does not load GStreamer). */
export function gstIfLoaded(): GstModule | undefined {
  return cached;
}

/** Which decoders decodebin prefers in this process (loads GStreamer if needed). */
export function decoderPreference(): DecoderPreference {
  gst();
  return preference!;
}

/** Whether an element factory is installed: parsing a one-element description fails otherwise. */
export function elementExists(mod: GstModule, factory: string): boolean {
  if (!/^[a-z0-9_-]+$/i.test(factory)) return false;
  try {
    new mod.Pipeline(factory).release();
    return true;
  } catch {
    return false;
  }
}
