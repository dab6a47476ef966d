/**
 * Bench helper: Vigil's keyframe selector fed by a GStreamer pipeline that delivers ONLY the small
 * gray analysis frame (no model-size frame is ever read): the like-for-like counterpart of ffmpeg's
 * decode + scene score. Frames go to the selector as they arrive; the wall time covers decoding, the
 * gray frame and selection together.
 *
 * It mirrors Vigil's ingest (src/ingest/describe.ts, frames.ts): the decoder's own I420 frames, not
 * scaled in GStreamer (FRAME_CAPS: videoscale and videoconvert pass them through), the gray frame
 * box-filtered natively from the Y plane as each frame enters the appsink (on the streaming thread,
 * `watch(cb, grayWidth)`; as in the ingest's fast mode, a small bounded queue after the decoder
 * puts that on a thread of its own, so decoders without frame threading (MPEG-4 part 2, MJPEG) do
 * not decode and filter in turn), frames taken on the JS thread when the appsink signals them
 * (`tryPull`; once per half appsink of frames, as in fast mode),
 * and each decoded frame given back to the decoder as soon as its gray frame is taken (what the
 * ingest's releaseFrame does for a frame whose model is not wanted).
 */
import type { Frame, Keyframe } from '../../src/core/contracts.js';
import { FRAME_CAPS } from '../../src/ingest/describe.js';
import { gst, type GstAppSink, type GstCaps } from '../../src/ingest/gst.js';
import { grayFromI420, i420Layout } from '../../src/ingest/yuv.js';
import { KeyframeSelector, type KeyframeOptions } from '../../src/stream/index.js';
export interface GrayRun {
  /** Decoded frames (kept only when asked). */
  frames: Frame[];
  /** Frames decoded and selected from. */
  count: number;
  keyframes: Keyframe[];
  /** Wall seconds: decode + scale + selection, from play() to the end of the stream. */
  seconds: number;
  /**
   * Wall seconds from the first frame delivered to the last: the pipeline's start (typefind, demuxer
   * and decoder set-up, the first frame's decode) left out. Spans count - 1 frames.
   */
  steadySeconds: number;
  /** CPU seconds of this process over the run (GStreamer's threads and the selector together). */
  cpuSeconds: number;
  /** The same from the first frame delivered on (the span of steadySeconds). */
  steadyCpuSeconds: number;
}

/** Frames one wake takes before yielding (as the ingest's watch loop). */
const DRAIN_BATCH = 32;
/** The appsink's bound; JS is woken once per half of it (as the ingest's fast mode). */
const MAX_BUFFERS = 8;
/** How often leftovers of a batch are looked for (as the ingest's fast mode). */
const SWEEP_MS = 50;

/** Decodes `path` and selects keyframes on the fly from gray frames `analysisWidth` wide. */
export function grayOnlySelect(
  path: string,
  options: KeyframeOptions = {},
  analysisWidth = 160,
  keepFrames = false,
  /** false: decode and gray only (the pipeline's own cost, for reference). */
  selectFrames = true,
): Promise<GrayRun> {
  const width = Math.max(4, Math.trunc(analysisWidth / 4) * 4);
  const mod = gst();
  // The file location is set as a property, never put into the description.
  const pipeline = new mod.Pipeline(
    'filesrc name=src ! decodebin ! video/x-raw ! queue max-size-buffers=4 max-size-bytes=0 max-size-time=0 ! ' +
      `${FRAME_CAPS} ! ` +
      `appsink name=analysis sync=false max-buffers=${MAX_BUFFERS} drop=false emit-signals=false enable-last-sample=false`,
  );
  const src = pipeline.findChild('src');
  const sink = pipeline.findChild('analysis') as GstAppSink | undefined;
  if (
    src === undefined ||
    sink?.watch === undefined ||
    sink.tryPull === undefined ||
    sink.unwatch === undefined
  )
    throw new Error('gray pipeline: elements or the patched appsink missing');
  const appsink = sink as Required<GstAppSink>;
  src['location'] = path;
  const selector = new KeyframeSelector(options);
  const frames: Frame[] = [];
  const keyframes: Keyframe[] = [];
  let seq = 0;
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  let first: bigint | null = null;
  let last = t0;
  let firstCpu = cpu0;
  return new Promise<GrayRun>((resolve, reject) => {
    let done = false;
    // Leftovers of a batch (see MAX_BUFFERS), looked for now and then.
    const sweep = setInterval(() => wake(), SWEEP_MS);
    sweep.unref();
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      clearInterval(sweep);
      pipeline.release();
      appsink.unwatch();
      if (err) reject(err);
      else {
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const steadySeconds = first === null ? seconds : Number(last - first) / 1e9;
        const cpu = process.cpuUsage(cpu0);
        const steadyCpu = process.cpuUsage(firstCpu);
        resolve({
          frames,
          count: seq,
          keyframes,
          seconds,
          steadySeconds,
          cpuSeconds: (cpu.user + cpu.system) / 1e6,
          steadyCpuSeconds: (steadyCpu.user + steadyCpu.system) / 1e6,
        });
      }
    };
    const onSample = (buf: Buffer, caps: GstCaps, gray: Buffer | undefined) => {
      const w = Number(caps.width);
      const h = Number(caps.height);
      const gh = Math.max(1, Math.round((width * h) / w));
      // The native gray frame, or the JS box filter when the module could not (as the ingest).
      const data =
        gray !== undefined && caps.grayHeight === gh
          ? new Uint8Array(gray.buffer, gray.byteOffset, gray.length)
          : grayFromI420(new Uint8Array(buf.buffer, buf.byteOffset, buf.length), i420Layout(w, h), width, gh)
              .data;
      // The decoded frame is not needed any more: back to the decoder's pool now.
      mod.releaseBuffer?.(buf);
      const frame: Frame = {
        streamId: 'gray',
        seq: seq++,
        ptsNs: typeof caps.pts === 'number' ? caps.pts : 0,
        captureTimeMs: 0,
        sourceWidth: w,
        sourceHeight: h,
        analysis: { width, height: gh, format: 'GRAY8', data: keepFrames ? data.slice() : data },
        model: { width: 0, height: 0, format: 'RGB', data: new Uint8Array(0) },
      };
      const k = selectFrames ? selector.next(frame) : null;
      if (k !== null) keyframes.push(k);
      if (keepFrames) frames.push(frame);
      last = process.hrtime.bigint();
      if (first === null) {
        first = last;
        firstCpu = process.cpuUsage();
      }
    };
    let retry: ReturnType<typeof setImmediate> | undefined;
    const drain = () => {
      retry = undefined;
      for (let n = 0; n < DRAIN_BATCH && !done; n++) {
        const sample = appsink.tryPull(width);
        if (sample === undefined) return;
        if (sample === null) {
          finish();
          return;
        }
        if (sample.buffer !== undefined) onSample(sample.buffer, sample.caps, sample.gray);
      }
      if (!done && retry === undefined) retry = setImmediate(drain);
    };
    pipeline.play();
    pipeline.pollBus((msg) => {
      if (msg.type === 'error') finish(new Error(`gray pipeline: ${String(msg.message)}`));
    });
    const wake = () => {
      if (retry === undefined) drain();
    };
    appsink.watch(wake, width, MAX_BUFFERS / 2);
  });
}
