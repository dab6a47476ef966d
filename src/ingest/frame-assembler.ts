/**
 * Turns the samples a pipeline's appsinks deliver into Frames and AudioChunks: sizes and layout
 * worked out once per change of caps, capture times (NTP when the source gives it), sequence
 * numbers, and drop accounting (appsink gaps, upstream losses, malformed buffers), every drop
 * counted by reason.
 */
import type { AudioChunk, Frame, Image } from '../core/contracts.js';
import { UpstreamLoss, type IngestCounters } from './counters.js';
import type { DescribeOptions } from './describe.js';
import type { GstCaps, GstElement } from './gst.js';
import { defineLazyModel, modelSize } from './lazy-model.js';
import { grayFromI420, i420Layout, parseColorimetry, type Colorimetry, type I420Layout } from './yuv.js';

/** NTP (1900) to Unix (1970) epoch, ms. */
const NTP_UNIX_OFFSET_MS = 2_208_988_800_000;

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

export interface AssemblerOptions extends Pick<DescribeOptions, 'analysisWidth' | 'modelWidth'> {
  streamId: string;
  runId?: number;
  /** Sequence numbers continue across runs when the caller supplies them. */
  nextSeq?: () => number;
  nextAudioSeq?: () => number;
}

/** What follows from a frame's caps, worked out once per change of caps rather than per frame. */
interface Shape {
  width: number;
  height: number;
  colorimetry: unknown;
  framerate: unknown;
  sourceHeight: number;
  layout: I420Layout;
  color: Colorimetry;
  model: { width: number; height: number };
  frameNs: number;
}

export class FrameAssembler {
  private localSeq = 0;
  private localAudioSeq = 0;
  private delivered = 0;
  private sourceSize: { width: number; height: number } | null = null;
  private shape: Shape | null = null;
  // Drop accounting: arrival index gaps (the appsink dropped) and PTS steps (lost upstream).
  private lastIndex = -1;
  private arrived = 0;
  private readonly upstream = new UpstreamLoss();

  constructor(
    private readonly options: AssemblerOptions,
    /** The scaler, whose input caps give the decoded size. */
    private readonly scaler: GstElement,
    private readonly counters: IngestCounters | undefined,
  ) {}

  private drop(reason: string, n = 1): void {
    const c = this.counters;
    if (c && n > 0) c.dropped[reason] = (c.dropped[reason] ?? 0) + n;
  }

  /** The frame in `buf`, or undefined when it is malformed (counted). */
  frame(buf: Buffer, caps: GstCaps, gray: Buffer | undefined): Frame | undefined {
    const { options, counters } = this;
    const width = Number(caps.width);
    const height = Number(caps.height);
    if (!(width > 0 && height > 0) || typeof caps.pts !== 'number') {
      this.drop('malformed');
      return undefined;
    }
    if (this.sourceSize === null || this.delivered % 300 === 0) this.readSourceSize({ width, height });
    const sourceSize = this.sourceSize!;
    const { layout, color, model, frameNs } = this.shapeOf(caps, width, height, sourceSize.height);
    if (buf.length < layout.size) {
      this.drop('malformed');
      return undefined;
    }
    this.account(caps, frameNs);
    this.delivered++;
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
      seq: options.nextSeq ? options.nextSeq() : this.localSeq++,
      ptsNs: caps.pts,
      captureTimeMs: t.ms,
      sourceWidth: sourceSize.width,
      sourceHeight: sourceSize.height,
      analysis,
      captureClock: t.clock,
    };
    defineLazyModel(frame, i420, layout, color, model, true);
    if (options.runId !== undefined) frame.runId = options.runId;
    if (counters) {
      counters.framesIn++;
      if (typeof caps.arrivalUs === 'number') counters.latency?.record(wallClockUs() - caps.arrivalUs);
    }
    return frame;
  }

  audio(buf: Buffer, caps: GstCaps): AudioChunk {
    const samples =
      buf.byteOffset % 2 === 0
        ? new Int16Array(buf.buffer, buf.byteOffset, buf.length >> 1)
        : new Int16Array(new Uint8Array(buf).buffer, 0, buf.length >> 1);
    const rate = Number(caps.rate) || 16_000;
    const t = captureTime(caps);
    const chunk: AudioChunk = {
      streamId: this.options.streamId,
      seq: this.options.nextAudioSeq ? this.options.nextAudioSeq() : this.localAudioSeq++,
      ptsNs: typeof caps.pts === 'number' ? caps.pts : 0,
      durationNs:
        typeof caps.duration === 'number' ? caps.duration : Math.round((samples.length / rate) * 1e9),
      captureTimeMs: t.ms,
      sampleRate: rate,
      channels: Number(caps.channels) || 1,
      samples,
      levelDb: levelDb(samples),
    };
    if (this.options.runId !== undefined) chunk.runId = this.options.runId;
    if (this.counters) this.counters.audioChunks = (this.counters.audioChunks ?? 0) + 1;
    return chunk;
  }

  // The scaler's input caps: the decoded size, read once and again every 300 frames (a camera may
  // change resolution); the delivered frame's size stands in until they are negotiated.
  private readSourceSize(fallback: { width: number; height: number }): void {
    const caps = this.scaler.padCaps('sink');
    const w = Number(caps?.width);
    const h = Number(caps?.height);
    this.sourceSize =
      w > 0 && h > 0 ? { width: w, height: h } : { width: fallback.width, height: fallback.height };
  }

  private shapeOf(caps: GstCaps, width: number, height: number, sourceHeight: number): Shape {
    const s = this.shape;
    if (
      s !== null &&
      s.width === width &&
      s.height === height &&
      s.colorimetry === caps.colorimetry &&
      s.framerate === caps.framerate &&
      s.sourceHeight === sourceHeight
    )
      return s;
    this.shape = {
      width,
      height,
      colorimetry: caps.colorimetry,
      framerate: caps.framerate,
      sourceHeight,
      layout: i420Layout(width, height),
      color: parseColorimetry(caps.colorimetry, sourceHeight),
      model: modelSize(width, height, this.options.modelWidth),
      frameNs: frameDurationNs(caps.framerate),
    };
    return this.shape;
  }

  private account(caps: GstCaps, frameNs: number): void {
    const index = typeof caps.arrivalIndex === 'number' ? caps.arrivalIndex : -1;
    const sinkDrops = index >= 0 && this.lastIndex >= 0 ? Math.max(0, index - this.lastIndex - 1) : 0;
    this.drop('appsink', sinkDrops);
    if (index >= 0) this.lastIndex = index;
    this.arrived = index >= 0 ? index + 1 : this.arrived + 1;
    this.drop('upstream', this.upstream.observe(caps.pts!, this.arrived, frameNs));
  }
}
