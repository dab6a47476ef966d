/**
 * One GStreamer pipeline per stream. `startPipeline` runs it once and calls handlers (the building
 * block of StreamSource's reconnect loop); `openFrames` wraps one run as an Observable<Frame>:
 * subscribing starts the pipeline, unsubscribing stops it (idempotently). Errors are typed
 * SourceErrors naming the redacted source.
 */
import { Observable } from 'rxjs';
import type { AudioChunk, Frame, Image } from '../core/contracts.js';
import { SourceError } from '../core/errors.js';
import { UpstreamLoss, type IngestCounters } from './counters.js';
import { describePipeline, ELEMENT, sourceProperties, type DescribeOptions } from './describe.js';
import { gst, type GstAppSink, type GstBusMessage, type GstCaps, type GstPipeline } from './gst.js';
import {
  grayFromI420,
  i420Layout,
  parseColorimetry,
  rgbFromI420,
  rgbFromI420Scaled,
  rgbTables,
  scaleTables,
  type Colorimetry,
  type I420Layout,
  type RgbTables,
} from './yuv.js';
import type { SourceSpec } from './source.js';

export type { IngestCounters } from './counters.js';

export interface IngestOptions extends DescribeOptions {
  streamId: string;
  /** Fails with VIGIL_ERR_SOURCE_NO_FRAMES when no frame arrives this long after start. */
  firstFrameTimeoutMs: number;
  /**
   * Fast (non-live) mode only: while this returns true, pulling pauses, the appsinks fill up and
   * decoding waits, so a slow consumer slows the file down instead of losing frames.
   */
  shouldPause?: () => boolean;
  /**
   * Fast (non-live) mode only: while this returns true, taking audio chunks pauses (the audio
   * appsink fills and the demuxer waits), so a slow VAD slows the file down instead of losing audio.
   */
  shouldPauseAudio?: () => boolean;
  /**
   * Nice value, above the process's own, of the pipeline's threads (GStreamer's streaming threads and
   * the decoder threads they start): with the CPU saturated by decoding many streams, the JS thread
   * that takes their frames then still gets the CPU when it needs it, instead of an equal share among
   * dozens of decoding threads (frames dropped while it waits). 0 turns it off. Default 5.
   */
  threadNice?: number;
}

export const DEFAULT_INGEST_OPTIONS: Omit<IngestOptions, 'streamId'> = {
  analysisWidth: 160,
  modelWidth: 640,
  live: true,
  // Eight I420 frames (11 MB at 720p, decoded size) ride out a JS thread held up for 250 ms by a
  // loaded machine; bench/ingest measured 12 streams at full rate against 10 with four. A live
  // stream's appsink is almost always empty: it fills only while JS is held up.
  maxBuffers: 8,
  rtspTransport: 'tcp',
  rtspLatencyMs: 200,
  firstFrameTimeoutMs: 15_000,
  threadNice: 5,
};

/** How long one native pull may hold a thread-pool thread before giving it back. */
const PULL_TIMEOUT_MS = 100;
/** Frames one wake of a watched appsink takes before yielding to other streams' callbacks. */
const DRAIN_BATCH = 32;
/**
 * Fast mode: how often the pull loop looks for frames the appsink holds without having said so (it
 * wakes JS once per batch of frames, see watchLoop): a source that pauses mid-file, say.
 */
const FAST_SWEEP_MS = 50;
/** How often a paused (back-pressured) pull loop looks again. */
const PAUSE_POLL_MS = 5;
/** NTP (1900) to Unix (1970) epoch, ms. */
const NTP_UNIX_OFFSET_MS = 2_208_988_800_000;

export function mapBusError(spec: SourceSpec, msg: GstBusMessage): SourceError {
  const text = String(msg.message ?? 'pipeline error');
  const from = String(msg._src_element_name ?? '');
  const lower = text.toLowerCase();
  const where = `source ${spec.display}`;
  if (/unauthori[sz]ed|401|authenticat|forbidden|403/.test(lower)) {
    return new SourceError(
      'VIGIL_ERR_SOURCE_AUTH',
      spec.display,
      `${where}: authentication failed (${text})`,
    );
  }
  if (/not found|no such file|404/.test(lower)) {
    return new SourceError('VIGIL_ERR_SOURCE_NOT_FOUND', spec.display, `${where}: not found (${text})`);
  }
  // souphttpsrc reports a refused or failed connection only as a generic flow error of its own.
  if (spec.kind === 'http' && from === ELEMENT.source && /internal data stream/.test(lower)) {
    return new SourceError('VIGIL_ERR_SOURCE_UNREACHABLE', spec.display, `${where}: unreachable (${text})`);
  }
  if (
    /could not determine type|appears to be a text file|no playable streams|no suitable plugins|missing.*plug-?in|decode|demux|codec|not-negotiated|internal data stream/.test(
      lower,
    )
  ) {
    return new SourceError(
      'VIGIL_ERR_SOURCE_DECODE',
      spec.display,
      `${where}: cannot decode as video (${text})`,
    );
  }
  if (
    /could not open|could not connect|connection|resolve|timeout|timed out|unreachable|refused|cannot identify device/.test(
      lower,
    )
  ) {
    return new SourceError('VIGIL_ERR_SOURCE_UNREACHABLE', spec.display, `${where}: unreachable (${text})`);
  }
  return new SourceError(
    'VIGIL_ERR_SOURCE_PIPELINE',
    spec.display,
    `${where}: ${from ? `${from}: ` : ''}${text}`,
  );
}

/** Frame duration in ns from caps like "30/1"; 0 when unknown or variable. */
export function frameDurationNs(framerate: unknown): number {
  const m = /^(\d+)\/(\d+)$/.exec(String(framerate ?? ''));
  if (!m) return 0;
  const num = Number(m[1]);
  const den = Number(m[2]);
  return num > 0 && den > 0 ? (1e9 * den) / num : 0;
}

/** RMS level of S16 samples in dBFS; -Infinity for digital silence. */
export function levelDb(samples: Int16Array): number {
  if (samples.length === 0) return -Infinity;
  let sum = 0;
  for (let i = 0; i < samples.length; i++) sum += samples[i]! * samples[i]!;
  const rms = Math.sqrt(sum / samples.length) / 32768;
  return rms > 0 ? 20 * Math.log10(rms) : -Infinity;
}

function captureTime(caps: GstCaps): { ms: number; clock: 'ntp' | 'arrival' } {
  if (typeof caps.ntpNs === 'number' && caps.ntpNs > 0) {
    return { ms: caps.ntpNs / 1e6 - NTP_UNIX_OFFSET_MS, clock: 'ntp' };
  }
  return { ms: typeof caps.arrivalUs === 'number' ? caps.arrivalUs / 1000 : Date.now(), clock: 'arrival' };
}

/** Wall clock in µs with sub-millisecond resolution (same clock as the patch's g_get_real_time). */
export function wallClockUs(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

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

export interface RunHandlers {
  /** A frame: its gray analysis pixels, and its model pixels on first access (see `Frame.model`). */
  frame(frame: Frame): void;
  audio?(chunk: AudioChunk): void;
  /** The video reached end of stream. */
  end(): void;
  error(err: SourceError): void;
}

export interface RunContext {
  runId?: number;
  /** Sequence numbers continue across runs when the caller supplies them. */
  nextSeq?: () => number;
  nextAudioSeq?: () => number;
}

export interface PipelineRun {
  /** Stops the pipeline; no handler is called afterwards. Idempotent. */
  stop(): void;
}

/**
 * Builds and plays one pipeline. Throws a SourceError when the pipeline cannot be built; later
 * failures arrive through `handlers.error` (at most one of end/error is ever called).
 */
export function startPipeline(
  spec: SourceSpec,
  options: IngestOptions,
  handlers: RunHandlers,
  counters?: IngestCounters,
  ctx: RunContext = {},
): PipelineRun {
  const audioWanted = options.audio === true && handlers.audio !== undefined;
  let pipeline: GstPipeline;
  try {
    pipeline = new (gst().Pipeline)(describePipeline(spec, { ...options, audio: audioWanted }));
  } catch (cause) {
    throw new SourceError(
      'VIGIL_ERR_SOURCE_PIPELINE',
      spec.display,
      `source ${spec.display}: cannot build pipeline`,
      { cause },
    );
  }
  const src = pipeline.findChild(ELEMENT.source);
  const frameSink = pipeline.findChild(ELEMENT.frames) as GstAppSink | undefined;
  const scaler = pipeline.findChild(ELEMENT.scale);
  const audioSink = audioWanted ? (pipeline.findChild(ELEMENT.audio) as GstAppSink | undefined) : undefined;
  if (!src || !frameSink || !scaler || (audioWanted && !audioSink)) {
    pipeline.release();
    throw new SourceError(
      'VIGIL_ERR_SOURCE_PIPELINE',
      spec.display,
      `source ${spec.display}: pipeline elements missing`,
    );
  }
  for (const [key, value] of Object.entries(sourceProperties(spec))) src[key] = value;
  const nice = Math.min(19, Math.trunc(options.threadNice ?? 0));
  if (nice > 0) pipeline.setThreadNice?.(nice);

  let closed = false;
  let localSeq = 0;
  let localAudioSeq = 0;
  const nextSeq = ctx.nextSeq ?? (() => localSeq++);
  const nextAudioSeq = ctx.nextAudioSeq ?? (() => localAudioSeq++);
  const drop = (reason: string, n = 1) => {
    if (counters && n > 0) counters.dropped[reason] = (counters.dropped[reason] ?? 0) + n;
  };
  let delivered = 0;
  let sourceSize: { width: number; height: number } | null = null;
  // Drop accounting: arrival index gaps (the appsink dropped) and PTS steps (lost upstream).
  let lastIndex = -1;

  let sweep: ReturnType<typeof setInterval> | undefined;
  const finish = (outcome: { err?: SourceError } | null) => {
    if (closed) return;
    closed = true;
    clearInterval(sweep);
    // Frees threads, sockets and fds now, not when the garbage collector finds the JS object.
    pipeline.release();
    frameSink.unwatch?.();
    if (outcome?.err) handlers.error(outcome.err);
    else if (outcome) handlers.end();
  };

  // The scaler's input caps: the decoded size, read once and again every 300 frames (a camera may
  // change resolution); the delivered frame's size stands in until they are negotiated.
  const readSourceSize = (fallback: { width: number; height: number }) => {
    const caps = scaler.padCaps('sink');
    const w = Number(caps?.width);
    const h = Number(caps?.height);
    sourceSize =
      w > 0 && h > 0 ? { width: w, height: h } : { width: fallback.width, height: fallback.height };
  };

  // What follows from a frame's caps (layout, colorimetry, model size, frame duration), worked out
  // once per change of caps rather than per frame.
  let shape: {
    width: number;
    height: number;
    colorimetry: unknown;
    framerate: unknown;
    sourceHeight: number;
    layout: I420Layout;
    color: Colorimetry;
    model: { width: number; height: number };
    frameNs: number;
  } | null = null;
  const shapeOf = (caps: GstCaps, width: number, height: number) => {
    const s = shape;
    if (
      s !== null &&
      s.width === width &&
      s.height === height &&
      s.colorimetry === caps.colorimetry &&
      s.framerate === caps.framerate &&
      s.sourceHeight === sourceSize!.height
    )
      return s;
    shape = {
      width,
      height,
      colorimetry: caps.colorimetry,
      framerate: caps.framerate,
      sourceHeight: sourceSize!.height,
      layout: i420Layout(width, height),
      color: parseColorimetry(caps.colorimetry, sourceSize!.height),
      model: modelSize(width, height, options.modelWidth),
      frameNs: frameDurationNs(caps.framerate),
    };
    return shape;
  };

  const upstream = new UpstreamLoss();
  let arrived = 0;
  const account = (caps: GstCaps, frameNs: number) => {
    const index = typeof caps.arrivalIndex === 'number' ? caps.arrivalIndex : -1;
    const sinkDrops = index >= 0 && lastIndex >= 0 ? Math.max(0, index - lastIndex - 1) : 0;
    drop('appsink', sinkDrops);
    if (index >= 0) lastIndex = index;
    arrived = index >= 0 ? index + 1 : arrived + 1;
    drop('upstream', upstream.observe(caps.pts!, arrived, frameNs));
  };

  const deliver = (buf: Buffer, caps: GstCaps, gray: Buffer | undefined) => {
    const width = Number(caps.width);
    const height = Number(caps.height);
    if (!(width > 0 && height > 0) || typeof caps.pts !== 'number') {
      drop('malformed');
      return;
    }
    if (sourceSize === null || delivered % 300 === 0) readSourceSize({ width, height });
    const { layout, color, model, frameNs } = shapeOf(caps, width, height);
    if (buf.length < layout.size) {
      drop('malformed');
      return;
    }
    account(caps, frameNs);
    delivered++;
    const i420 = new Uint8Array(buf.buffer, buf.byteOffset, layout.size);
    const analysisHeight = Math.max(1, Math.round((options.analysisWidth * height) / width));
    // Computed natively (the same box filter) as the frame entered the appsink, on the stream's
    // streaming thread (or by the pull, for frames that came before the watch), unless the native
    // module could not (a format without an 8-bit luma plane, a frame smaller than the gray one).
    const analysis: Image =
      gray !== undefined &&
      caps.grayHeight === analysisHeight &&
      gray.length === options.analysisWidth * analysisHeight
        ? {
            width: options.analysisWidth,
            height: analysisHeight,
            format: 'GRAY8',
            data: new Uint8Array(gray.buffer, gray.byteOffset, gray.length),
          }
        : grayFromI420(i420, layout, options.analysisWidth, analysisHeight);
    const t = captureTime(caps);
    // `model` comes from defineLazyModel (an accessor added to a frame without one stays fast).
    const frame: Omit<Frame, 'model'> = {
      streamId: options.streamId,
      seq: nextSeq(),
      ptsNs: caps.pts,
      captureTimeMs: t.ms,
      sourceWidth: sourceSize!.width,
      sourceHeight: sourceSize!.height,
      analysis,
      captureClock: t.clock,
    };
    defineLazyModel(frame, i420, layout, color, model, true);
    if (ctx.runId !== undefined) frame.runId = ctx.runId;
    if (counters) {
      counters.framesIn++;
      if (typeof caps.arrivalUs === 'number') counters.latency?.record(wallClockUs() - caps.arrivalUs);
    }
    handlers.frame(frame);
  };

  const deliverAudio = (buf: Buffer, caps: GstCaps) => {
    const samples =
      buf.byteOffset % 2 === 0
        ? new Int16Array(buf.buffer, buf.byteOffset, buf.length >> 1)
        : new Int16Array(new Uint8Array(buf).buffer, 0, buf.length >> 1);
    const rate = Number(caps.rate) || 16_000;
    const t = captureTime(caps);
    const chunk: AudioChunk = {
      streamId: options.streamId,
      seq: nextAudioSeq(),
      ptsNs: typeof caps.pts === 'number' ? caps.pts : 0,
      durationNs:
        typeof caps.duration === 'number' ? caps.duration : Math.round((samples.length / rate) * 1e9),
      captureTimeMs: t.ms,
      sampleRate: rate,
      channels: Number(caps.channels) || 1,
      samples,
      levelDb: levelDb(samples),
    };
    if (ctx.runId !== undefined) chunk.runId = ctx.runId;
    if (counters) counters.audioChunks = (counters.audioChunks ?? 0) + 1;
    handlers.audio?.(chunk);
  };

  // Frames are taken on the JS thread when the appsink says it has some (watch + tryPull): no
  // thread-pool round trip per frame, and a JS thread that was held up takes everything queued in
  // one wake. Fast mode pauses taking while the consumer asks (the appsink then fills and decoding
  // waits); live mode never pauses (the appsink drops the oldest, counted).
  const watchLoop = (sink: Required<GstAppSink>) => {
    // A pending retry (paused, or a batch cut short); wakes meanwhile leave the draining to it.
    let retry: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate> | undefined;
    const drainNow = () => {
      retry = undefined;
      drain();
    };
    const drain = () => {
      if (closed || retry !== undefined) return;
      for (let n = 0; n < DRAIN_BATCH; n++) {
        if (!options.live && options.shouldPause?.()) {
          retry = setTimeout(drainNow, PAUSE_POLL_MS);
          return;
        }
        const sample = sink.tryPull(options.analysisWidth);
        if (sample === undefined) return;
        if (sample === null) {
          finish({});
          return;
        }
        if (sample.buffer !== undefined) deliver(sample.buffer, sample.caps, sample.gray);
        if (closed) return;
      }
      // More may be queued with no new arrival to wake us (a full appsink holds decoding back).
      retry = setImmediate(drainNow);
    };
    // The gray frame is computed on the streaming thread as each frame enters the appsink. Live
    // streams wake JS for every frame (its latency counts). Fast mode, where only throughput does,
    // wakes it once per half appsink of frames (and at the end): a wake-up costs the JS thread and the
    // streaming thread a context switch each, and one wake now takes several frames. The batch stays
    // below the appsink's bound (a full appsink holds decoding back: no frame would come to complete
    // a larger one); a slow timer takes what a batch left waiting.
    const batch = options.live ? 1 : Math.max(1, Math.floor(options.maxBuffers / 2));
    sink.watch(drain, options.analysisWidth, batch);
    if (batch > 1) {
      sweep = setInterval(() => {
        if (retry === undefined) drain();
      }, FAST_SWEEP_MS);
      sweep.unref?.();
    }
  };

  const videoLoop = (sink: GstAppSink) => {
    if (sink.watch && sink.unwatch && sink.tryPull) {
      watchLoop(sink as Required<GstAppSink>);
      return;
    }
    const onSample = (buf: Buffer | null | undefined, caps: GstCaps, gray?: Buffer) => {
      if (closed) return;
      if (buf === null) {
        finish({});
        return;
      }
      if (buf !== undefined) deliver(buf, caps, gray);
      pullNext();
    };
    const pullNext = () => {
      if (closed) return;
      if (!options.live && options.shouldPause?.()) {
        setTimeout(pullNext, PAUSE_POLL_MS);
        return;
      }
      sink.pull(onSample, PULL_TIMEOUT_MS, options.analysisWidth);
    };
    pullNext();
  };

  const audioLoop = (sink: GstAppSink) => {
    const pullNext = () => {
      if (closed) return;
      if (!options.live && options.shouldPauseAudio?.()) {
        setTimeout(pullNext, PAUSE_POLL_MS);
        return;
      }
      sink.pull(onSample, PULL_TIMEOUT_MS);
    };
    const onSample = (buf: Buffer | null | undefined, caps: GstCaps) => {
      if (closed || buf === null) return;
      if (buf !== undefined && buf.length >= 2) deliverAudio(buf, caps);
      pullNext();
    };
    pullNext();
  };

  pipeline.play();
  pipeline.pollBus((msg) => {
    if (closed) return;
    if (msg.type === 'error') finish({ err: mapBusError(spec, msg) });
  });
  videoLoop(frameSink);
  if (audioSink) audioLoop(audioSink);

  return { stop: () => finish(null) };
}

/**
 * One pipeline run (no reconnect) as frames; subscribing starts it, unsubscribing stops it. With
 * `onAudio` (and `options.audio`) the run's audio chunks go there. Fails with NO_FRAMES when no
 * video frame arrives within `firstFrameTimeoutMs`.
 */
export function openFrames(
  spec: SourceSpec,
  options: IngestOptions,
  counters?: IngestCounters,
  onAudio?: (chunk: AudioChunk) => void,
): Observable<Frame> {
  return new Observable<Frame>((subscriber) => {
    let run: PipelineRun;
    let seen = false;
    try {
      run = startPipeline(
        spec,
        options,
        {
          frame: (frame) => {
            if (!seen) {
              seen = true;
              clearTimeout(firstFrameTimer);
            }
            subscriber.next(frame);
          },
          ...(onAudio && options.audio ? { audio: onAudio } : {}),
          end: () => {
            clearTimeout(firstFrameTimer);
            subscriber.complete();
          },
          error: (err) => {
            clearTimeout(firstFrameTimer);
            subscriber.error(err);
          },
        },
        counters,
      );
    } catch (err) {
      subscriber.error(err);
      return;
    }
    const firstFrameTimer = setTimeout(() => {
      run.stop();
      subscriber.error(
        new SourceError(
          'VIGIL_ERR_SOURCE_NO_FRAMES',
          spec.display,
          `source ${spec.display}: no video frame within ${options.firstFrameTimeoutMs} ms`,
        ),
      );
    }, options.firstFrameTimeoutMs);
    firstFrameTimer.unref?.();
    return () => {
      clearTimeout(firstFrameTimer);
      run.stop();
    };
  });
}
