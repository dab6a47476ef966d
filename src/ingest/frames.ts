/**
 * One GStreamer pipeline per stream. `startPipeline` runs it once and calls handlers (the building
 * block of StreamSource's reconnect loop); `openFrames` wraps one run as an Observable<Frame>:
 * subscribing starts the pipeline, unsubscribing stops it (idempotently). Errors are typed
 * SourceErrors naming the redacted source.
 */
import { Observable } from 'rxjs';
import type { AudioChunk, Frame, Image } from '../core/contracts.js';
import { SourceError } from '../core/errors.js';
import { type IngestCounters } from './counters.js';
import { describePipeline, ELEMENT, sourceProperties, type DescribeOptions } from './describe.js';
import { gst, type GstAppSink, type GstBusMessage, type GstCaps, type GstPipeline } from './gst.js';
import type { SourceSpec } from './source.js';

export type { IngestCounters } from './counters.js';

export interface IngestOptions extends DescribeOptions {
  streamId: string;
  /** Fails with VIGIL_ERR_SOURCE_NO_FRAMES when no frame arrives this long after start. */
  firstFrameTimeoutMs: number;
  /** Bound on frames waiting for their twin (same PTS) from the other branch. */
  maxUnpaired: number;
  /**
   * Fast (non-live) mode only: while this returns true, pulling pauses, the appsinks fill up and
   * decoding waits, so a slow consumer slows the file down instead of losing frames.
   */
  shouldPause?: () => boolean;
}

export const DEFAULT_INGEST_OPTIONS: Omit<IngestOptions, 'streamId'> = {
  analysisWidth: 160,
  modelWidth: 640,
  live: true,
  maxBuffers: 4,
  rtspTransport: 'tcp',
  rtspLatencyMs: 200,
  firstFrameTimeoutMs: 15_000,
  maxUnpaired: 16,
};

/** How long one native pull may hold a thread-pool thread before giving it back. */
const PULL_TIMEOUT_MS = 100;
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

function toImage(buf: Buffer, caps: GstCaps, format: Image['format']): Image | null {
  const width = Number(caps.width);
  const height = Number(caps.height);
  if (!(width > 0 && height > 0)) return null;
  const channels = format === 'RGB' ? 3 : 1;
  const row = width * channels;
  if (buf.length === row * height) {
    return { width, height, format, data: new Uint8Array(buf.buffer, buf.byteOffset, buf.length) };
  }
  // GStreamer pads rows to 4 bytes; repack to tight rows.
  const stride = Math.floor(buf.length / height);
  if (stride < row) return null;
  const data = new Uint8Array(row * height);
  for (let y = 0; y < height; y++) data.set(buf.subarray(y * stride, y * stride + row), y * row);
  return { width, height, format, data };
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

export interface RunHandlers {
  /** A paired frame (analysis + model of one PTS). */
  frame(frame: Frame): void;
  audio?(chunk: AudioChunk): void;
  /** Both video branches reached end of stream. */
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
  const analysisSink = pipeline.findChild(ELEMENT.analysis) as GstAppSink | undefined;
  const modelSink = pipeline.findChild(ELEMENT.model) as GstAppSink | undefined;
  const probe = pipeline.findChild(ELEMENT.probe);
  const audioSink = audioWanted ? (pipeline.findChild(ELEMENT.audio) as GstAppSink | undefined) : undefined;
  if (!src || !analysisSink || !modelSink || !probe || (audioWanted && !audioSink)) {
    pipeline.release();
    throw new SourceError(
      'VIGIL_ERR_SOURCE_PIPELINE',
      spec.display,
      `source ${spec.display}: pipeline elements missing`,
    );
  }
  for (const [key, value] of Object.entries(sourceProperties(spec))) src[key] = value;

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
  interface Pending {
    analysis?: Image;
    model?: Image;
    arrivalUs: number;
    caps?: GstCaps;
  }
  const pending = new Map<number, Pending>();
  let eosCount = 0;
  // Drop accounting on the model branch: arrival index gaps (appsink) and PTS gaps (upstream).
  let lastModelIndex = -1;
  let lastModelPts = -1;

  const finish = (outcome: { err?: SourceError } | null) => {
    if (closed) return;
    closed = true;
    // Frees threads, sockets and fds now, not when the garbage collector finds the JS object.
    pipeline.release();
    pending.clear();
    if (outcome?.err) handlers.error(outcome.err);
    else if (outcome) handlers.end();
  };

  const readSourceSize = (fallback: Image) => {
    const sample = probe['last-sample'] as { caps?: GstCaps } | null | undefined;
    const w = Number(sample?.caps?.width);
    const h = Number(sample?.caps?.height);
    sourceSize =
      w > 0 && h > 0 ? { width: w, height: h } : { width: fallback.width, height: fallback.height };
  };

  const evict = (entry: Pending) => {
    // A plane without its twin: the twin's appsink dropped it. Planes are counted per frame once:
    // a lone analysis plane means the model plane was dropped, already counted from its index gap.
    if (entry.model && !entry.analysis) drop('appsink');
  };

  const accountModel = (caps: GstCaps) => {
    const index = typeof caps.arrivalIndex === 'number' ? caps.arrivalIndex : -1;
    const sinkDrops = index >= 0 && lastModelIndex >= 0 ? Math.max(0, index - lastModelIndex - 1) : 0;
    drop('appsink', sinkDrops);
    const pts = caps.pts!;
    const frameNs = frameDurationNs(caps.framerate);
    if (frameNs > 0 && lastModelPts >= 0 && pts > lastModelPts + 1.5 * frameNs) {
      const missing = Math.round((pts - lastModelPts) / frameNs) - 1;
      drop('upstream', Math.max(0, missing - sinkDrops));
    }
    if (index >= 0) lastModelIndex = index;
    lastModelPts = pts;
  };

  const deliver = (caps: GstCaps, which: 'analysis' | 'model', image: Image) => {
    const ptsNs = caps.pts!;
    if (which === 'model') accountModel(caps);
    let entry = pending.get(ptsNs);
    if (!entry) {
      entry = { arrivalUs: 0 };
      pending.set(ptsNs, entry);
      while (pending.size > options.maxUnpaired) {
        const oldest = pending.keys().next().value as number;
        evict(pending.get(oldest)!);
        pending.delete(oldest);
      }
    }
    entry[which] = image;
    if (typeof caps.arrivalUs === 'number') entry.arrivalUs = Math.max(entry.arrivalUs, caps.arrivalUs);
    if (which === 'model' || !entry.caps) entry.caps = caps;
    if (!entry.analysis || !entry.model) return;
    // Anything older than a completed pair can no longer find its twin.
    for (const [key, old] of pending) {
      if (key === ptsNs) break;
      evict(old);
      pending.delete(key);
    }
    pending.delete(ptsNs);
    if (sourceSize === null || delivered % 300 === 0) readSourceSize(entry.model);
    delivered++;
    const t = captureTime(entry.caps!);
    const frame: Frame = {
      streamId: options.streamId,
      seq: nextSeq(),
      ptsNs,
      captureTimeMs: t.ms,
      sourceWidth: sourceSize!.width,
      sourceHeight: sourceSize!.height,
      analysis: entry.analysis,
      model: entry.model,
      captureClock: t.clock,
    };
    if (ctx.runId !== undefined) frame.runId = ctx.runId;
    if (counters) {
      counters.framesIn++;
      if (entry.arrivalUs > 0) counters.latency?.record(wallClockUs() - entry.arrivalUs);
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

  const videoLoop = (sink: GstAppSink, which: 'analysis' | 'model') => {
    const format = which === 'model' ? 'RGB' : 'GRAY8';
    const onSample = (buf: Buffer | null | undefined, caps: GstCaps) => {
      if (closed) return;
      if (buf === null) {
        // Both branches reach EOS; the stream is over when both have.
        if (++eosCount === 2) finish({});
        return;
      }
      if (buf !== undefined) {
        const image = toImage(buf, caps, format);
        if (image && typeof caps.pts === 'number') deliver(caps, which, image);
        else drop('malformed');
      }
      pullNext();
    };
    const pullNext = () => {
      if (closed) return;
      if (!options.live && options.shouldPause?.()) {
        setTimeout(pullNext, PAUSE_POLL_MS);
        return;
      }
      sink.pull(onSample, PULL_TIMEOUT_MS);
    };
    pullNext();
  };

  const audioLoop = (sink: GstAppSink) => {
    const onSample = (buf: Buffer | null | undefined, caps: GstCaps) => {
      if (closed || buf === null) return;
      if (buf !== undefined && buf.length >= 2) deliverAudio(buf, caps);
      sink.pull(onSample, PULL_TIMEOUT_MS);
    };
    sink.pull(onSample, PULL_TIMEOUT_MS);
  };

  pipeline.play();
  pipeline.pollBus((msg) => {
    if (closed) return;
    if (msg.type === 'error') finish({ err: mapBusError(spec, msg) });
  });
  videoLoop(analysisSink, 'analysis');
  videoLoop(modelSink, 'model');
  if (audioSink) audioLoop(audioSink);

  return { stop: () => finish(null) };
}

export function openFrames(
  spec: SourceSpec,
  options: IngestOptions,
  counters?: IngestCounters,
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
