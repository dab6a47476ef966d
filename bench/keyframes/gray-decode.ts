/**
 * Bench helper: Vigil's keyframe selector fed by a GStreamer pipeline that decodes and scales to the
 * small analysis size ONLY (no model-size frame): the like-for-like counterpart of ffmpeg's decode +
 * scene score. Frames go to the selector as they arrive; the wall time covers decoding, scaling and
 * selection together.
 *
 * Like Vigil's ingest it scales in the decoder's own format and delivers I420 (videoconvert passes
 * I420 through and converts only other layouts); the gray frame is the Y plane, as GStreamer's GRAY8
 * from I420 would be, without a conversion step. As the ingest does in fast mode (files decoded as
 * fast as possible), a small bounded queue after the decoder lets decoding and scaling run on two
 * threads: decoders without frame threading (MPEG-4 part 2, MJPEG) otherwise decode and scale in
 * turn on one (vtest: about 14% more frames/s for about 0.02 ms more CPU per frame; H.264,
 * frame-threaded, about the same either way).
 */
import type { Frame, Keyframe } from '../../src/core/contracts.js';
import { gst, type GstAppSink, type GstCaps } from '../../src/ingest/gst.js';
import { i420Layout } from '../../src/ingest/yuv.js';
import { KeyframeSelector, type KeyframeOptions } from '../../src/stream/index.js';

export interface GrayRun {
  /** Decoded frames (kept only when asked). */
  frames: Frame[];
  /** Frames decoded and selected from. */
  count: number;
  keyframes: Keyframe[];
  /** Wall seconds: decode + scale + selection. */
  seconds: number;
  /** CPU seconds of this process over the run (GStreamer's threads and the selector together). */
  cpuSeconds: number;
}

const PULL_TIMEOUT_MS = 100;

/** Decodes `path` to GRAY8 `analysisWidth` wide and selects keyframes on the fly. */
export function grayOnlySelect(
  path: string,
  options: KeyframeOptions = {},
  analysisWidth = 160,
  keepFrames = false,
  /** false: decode and scale only (the pipeline's own cost, for reference). */
  selectFrames = true,
): Promise<GrayRun> {
  const width = Math.max(4, Math.trunc(analysisWidth / 4) * 4);
  // The file location is set as a property, never put into the description.
  const pipeline = new (gst().Pipeline)(
    'filesrc name=src ! decodebin ! queue max-size-buffers=4 max-size-bytes=0 max-size-time=0 ! ' +
      `videoscale ! videoconvert ! video/x-raw,format=I420,width=${width},pixel-aspect-ratio=1/1 ! ` +
      'appsink name=analysis sync=false max-buffers=8 drop=false emit-signals=false',
  );
  const src = pipeline.findChild('src');
  const sink = pipeline.findChild('analysis') as GstAppSink | undefined;
  if (src === undefined || sink === undefined) throw new Error('gray pipeline: elements missing');
  src['location'] = path;
  const selector = new KeyframeSelector(options);
  const frames: Frame[] = [];
  const keyframes: Keyframe[] = [];
  let seq = 0;
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  return new Promise<GrayRun>((resolve, reject) => {
    let done = false;
    const finish = (err?: Error) => {
      if (done) return;
      done = true;
      pipeline.stop();
      if (err) reject(err);
      else {
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu = process.cpuUsage(cpu0);
        resolve({ frames, count: seq, keyframes, seconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 });
      }
    };
    const onSample = (buf: Buffer | null | undefined, caps: GstCaps) => {
      if (done) return;
      if (buf === null) {
        finish();
        return;
      }
      if (buf !== undefined) {
        const w = Number(caps.width);
        const h = Number(caps.height);
        // The Y plane (rows padded to 4 bytes) is the gray frame.
        const stride = i420Layout(w, h).yStride;
        let data = new Uint8Array(buf.buffer, buf.byteOffset, w * h);
        if (stride !== w) {
          data = new Uint8Array(w * h);
          for (let y = 0; y < h; y++) data.set(buf.subarray(y * stride, y * stride + w), y * w);
        }
        const frame: Frame = {
          streamId: 'gray',
          seq: seq++,
          ptsNs: typeof caps.pts === 'number' ? caps.pts : 0,
          captureTimeMs: 0,
          sourceWidth: w,
          sourceHeight: h,
          analysis: { width: w, height: h, format: 'GRAY8', data: keepFrames ? data.slice() : data },
          model: { width: 0, height: 0, format: 'RGB', data: new Uint8Array(0) },
        };
        const k = selectFrames ? selector.next(frame) : null;
        if (k !== null) keyframes.push(k);
        if (keepFrames) frames.push(frame);
      }
      sink.pull(onSample, PULL_TIMEOUT_MS);
    };
    pipeline.play();
    pipeline.pollBus((msg) => {
      if (msg.type === 'error') finish(new Error(`gray pipeline: ${String(msg.message)}`));
    });
    sink.pull(onSample, PULL_TIMEOUT_MS);
  });
}
