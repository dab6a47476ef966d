/**
 * Builds the gst-launch description for a source. No user input ever goes into this string:
 * locations, devices and credentials are set as element properties afterwards (see
 * `sourceProperties`), and the few words that do go in (test pattern, transport) come from
 * validated closed sets; numbers are truncated integers.
 */
import { isTestPattern, type SourceSpec } from './source.js';

export interface DescribeOptions {
  /**
   * Width of the gray analysis frame; height follows the aspect ratio. It is box-filtered from the
   * decoded frame's Y plane natively as the frame enters the appsink (on the stream's streaming
   * thread, off the JS thread; in JS when the native module cannot). Multiple of 4.
   */
  analysisWidth: number;
  /**
   * Width of the RGB model frame; height follows the aspect ratio. Scaled and converted from the
   * decoded I420 frame in one native pass when a consumer reads `Frame.model` (keyframes only).
   * Multiple of 4.
   */
  modelWidth: number;
  /** true: deliver at the stream's own pace (live); false: as fast as the machine decodes. */
  live: boolean;
  /** Appsink bound; older buffers are dropped in live mode, decoding waits in fast mode. */
  maxBuffers: number;
  rtspTransport: 'tcp' | 'udp';
  rtspLatencyMs: number;
  /**
   * Adds an audio branch (16 kHz mono S16LE chunks) when the source has audio; a source without
   * audio leaves it idle. Default false.
   */
  audio?: boolean;
  /** Audio chunk length in ms (32 ms = 512 samples, the Silero VAD window). */
  audioChunkMs?: number;
}

/**
 * Decoded frames reach JS at their own size up to this many pixels on either side (1080p, portrait
 * 1080x1920 included); larger sources are scaled down to fit (aspect preserved) inside GStreamer,
 * which bounds the memory of the frames in flight.
 */
export const MAX_FRAME_SIDE = 1920;

export const ELEMENT = {
  source: 'src',
  /** The scaler: its sink pad's caps give the decoded source size. */
  scale: 'scale',
  /** The one video appsink: decoded I420 frames (see FRAME_CAPS). */
  frames: 'frames',
  audio: 'audio',
} as const;

/**
 * What follows the decoder, up to the appsink: I420 with square pixels, at most MAX_FRAME_SIDE on
 * either side. For a software decoder's I420 that fits (the common case) videoscale and
 * videoconvert both pass the decoder's buffers through untouched; they convert only other layouts
 * (NV12 from hardware decoders, packed from some cameras), non-square pixels and larger frames.
 */
export const FRAME_CAPS =
  `videoscale name=${ELEMENT.scale} ! videoconvert ! video/x-raw,format=I420,` +
  `width=[1,${MAX_FRAME_SIDE}],height=[1,${MAX_FRAME_SIDE}],pixel-aspect-ratio=1/1`;

export const AUDIO_RATE = 16_000;

const int = (n: number) => Math.max(0, Math.trunc(n));

/**
 * The source part of the description: ends in raw video (system memory) for the scaler, and optionally names `asrc` for audio (raw, any format).
 */
function sourceHead(spec: SourceSpec, o: DescribeOptions): { video: string; audio: string | null } {
  const decoded = (dec: string) => ({
    video: `${dec}. ! video/x-raw`,
    audio: o.audio ? `${dec}. ! audio/x-raw` : null,
  });
  switch (spec.kind) {
    case 'file':
      return head(`filesrc name=${ELEMENT.source} ! decodebin name=dec`, decoded('dec'));
    case 'http':
      // decodebin types the content: progressive files, or HLS (hlsdemux) for playlists.
      return head(`souphttpsrc name=${ELEMENT.source} ! decodebin name=dec`, decoded('dec'));
    case 'v4l2':
      return head(`v4l2src name=${ELEMENT.source} ! decodebin name=dec`, decoded('dec'));
    case 'rtsp': {
      const src =
        `rtspsrc name=${ELEMENT.source} protocols=${o.rtspTransport === 'udp' ? 'udp' : 'tcp'} ` +
        `latency=${int(o.rtspLatencyMs)} add-reference-timestamp-meta=true`;
      const parts = [src, `${ELEMENT.source}. ! application/x-rtp,media=video ! decodebin name=dec`];
      if (o.audio) parts.push(`${ELEMENT.source}. ! application/x-rtp,media=audio ! decodebin name=adec`);
      return {
        video: `${parts.join(' ')} dec. ! video/x-raw`,
        audio: o.audio ? 'adec. ! audio/x-raw' : null,
      };
    }
    case 'test': {
      const pattern = spec.pattern && isTestPattern(spec.pattern) ? spec.pattern : 'smpte';
      const t = spec.test ?? { width: 1280, height: 720, fps: 30 };
      const video = `videotestsrc name=${ELEMENT.source} is-live=true pattern=${pattern} ! video/x-raw,width=${int(t.width)},height=${int(t.height)},framerate=${int(t.fps)}/1,colorimetry=bt601`;
      return {
        video,
        audio: o.audio ? 'audiotestsrc is-live=true wave=sine freq=440 volume=0.2 ! audio/x-raw' : null,
      };
    }
  }
}

function head(prefix: string, d: { video: string; audio: string | null }) {
  return { video: `${prefix} ${d.video}`, audio: d.audio };
}

export function describePipeline(spec: SourceSpec, o: DescribeOptions): string {
  const liveSource = spec.kind === 'rtsp' || spec.kind === 'test' || spec.kind === 'v4l2';
  const sync = o.live && !liveSource ? 'true' : 'false';
  const drop = o.live ? 'true' : 'false';
  const sink = (name: string, extra = '') =>
    `appsink name=${name} sync=${sync} max-buffers=${int(o.maxBuffers)} drop=${drop} emit-signals=false enable-last-sample=false${extra}`;
  const { video, audio } = sourceHead(spec, o);
  // One branch, one appsink: the decoder's own I420 frames, not scaled (FRAME_CAPS). The gray
  // analysis frame (the Y plane, box-filtered as the frame enters the appsink) and the RGB model
  // frame (scaled and converted in one native pass, on demand: keyframes only) are computed from
  // them: no tee, no per-frame scaling or RGB conversion, one pull loop per stream.
  // As fast as the machine decodes (files, `--fast`): a small bounded queue after the decoder lets
  // decoding and the gray frame (and any conversion) run on two threads instead of in turn
  // (decoders without frame threading, e.g. MPEG-4 part 2 or MJPEG, gain most). Live streams pace
  // themselves; there it would only add a thread per stream.
  const handoff = o.live ? '' : ' ! queue max-size-buffers=4 max-size-bytes=0 max-size-time=0';
  const parts = [`${video}${handoff} ! ${FRAME_CAPS} ! ${sink(ELEMENT.frames)}`];
  if (audio) {
    const chunkMs = int(o.audioChunkMs ?? 32) || 32;
    // async=false: a source without audio leaves this branch unlinked, and it must not hold preroll.
    // The bound is in chunks; audio is small, so it gets four times the video bound.
    parts.push(
      `${audio} ! queue max-size-buffers=0 max-size-bytes=0 max-size-time=1000000000 ! audioconvert ! audioresample ` +
        `! audio/x-raw,format=S16LE,rate=${AUDIO_RATE},channels=1,layout=interleaved ` +
        `! audiobuffersplit output-buffer-duration=${chunkMs}/1000 ` +
        `! appsink name=${ELEMENT.audio} sync=${sync} max-buffers=${int(o.maxBuffers) * 4} drop=${drop} emit-signals=false async=false`,
    );
  }
  return parts.join(' ');
}

/** Properties carrying user input, set on the source element after the pipeline is parsed. */
export function sourceProperties(spec: SourceSpec): Record<string, string> {
  switch (spec.kind) {
    case 'file':
      return { location: spec.location };
    case 'rtsp': {
      const props: Record<string, string> = { location: spec.location };
      if (spec.user !== undefined) props['user-id'] = spec.user;
      if (spec.password !== undefined) props['user-pw'] = spec.password;
      return props;
    }
    case 'http':
      return { location: spec.location };
    case 'v4l2':
      return { device: spec.location };
    case 'test':
      return {};
  }
}
