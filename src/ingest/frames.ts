/**
 * One GStreamer pipeline per stream, delivered as an Observable<Frame>. Subscribing starts the
 * pipeline; unsubscribing stops it (idempotently). Errors are typed SourceErrors naming the
 * redacted source.
 */
import { Observable } from 'rxjs';
import type { Frame, Image } from '../core/contracts.js';
import { SourceError } from '../core/errors.js';
import { describePipeline, ELEMENT, sourceProperties, type DescribeOptions } from './describe.js';
import { gst, type GstAppSink, type GstBusMessage, type GstCaps, type GstPipeline } from './gst.js';
import type { SourceSpec } from './source.js';

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

export interface IngestCounters {
  /** Frames delivered to JS (paired). */
  framesIn: number;
  /** Frames dropped, by reason. */
  dropped: Record<string, number>;
}

/** How long one native pull may hold a thread-pool thread before giving it back. */
const PULL_TIMEOUT_MS = 100;
/** How often a paused (back-pressured) pull loop looks again. */
const PAUSE_POLL_MS = 5;

export function mapBusError(spec: SourceSpec, msg: GstBusMessage): SourceError {
  const text = String(msg.message ?? 'pipeline error');
  const from = String(msg._src_element_name ?? '');
  const lower = text.toLowerCase();
  const where = `source ${spec.display}`;
  if (/unauthori[sz]ed|401|authenticat/.test(lower)) {
    return new SourceError(
      'VIGIL_ERR_SOURCE_AUTH',
      spec.display,
      `${where}: authentication failed (${text})`,
    );
  }
  if (/not found|no such file|404/.test(lower) && spec.kind !== 'rtsp') {
    return new SourceError('VIGIL_ERR_SOURCE_NOT_FOUND', spec.display, `${where}: not found (${text})`);
  }
  if (
    /could not determine type|appears to be a text file|no suitable plugins|missing.*plugin|decode|demux|codec|not-negotiated|internal data stream/.test(
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
    /could not open|could not connect|connection|resolve|timeout|timed out|unreachable|refused/.test(lower)
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

export function openFrames(
  spec: SourceSpec,
  options: IngestOptions,
  counters?: IngestCounters,
): Observable<Frame> {
  return new Observable<Frame>((subscriber) => {
    let closed = false;
    let pipeline: GstPipeline;
    try {
      pipeline = new (gst().Pipeline)(describePipeline(spec, options));
    } catch (cause) {
      subscriber.error(
        new SourceError(
          'VIGIL_ERR_SOURCE_PIPELINE',
          spec.display,
          `source ${spec.display}: cannot build pipeline`,
          {
            cause,
          },
        ),
      );
      return;
    }
    const src = pipeline.findChild(ELEMENT.source);
    const analysisSink = pipeline.findChild(ELEMENT.analysis) as GstAppSink | undefined;
    const modelSink = pipeline.findChild(ELEMENT.model) as GstAppSink | undefined;
    const probe = pipeline.findChild(ELEMENT.probe);
    if (!src || !analysisSink || !modelSink || !probe) {
      pipeline.stop();
      subscriber.error(
        new SourceError(
          'VIGIL_ERR_SOURCE_PIPELINE',
          spec.display,
          `source ${spec.display}: pipeline elements missing`,
        ),
      );
      return;
    }
    for (const [key, value] of Object.entries(sourceProperties(spec))) src[key] = value;

    const drop = (reason: string) => {
      if (counters) counters.dropped[reason] = (counters.dropped[reason] ?? 0) + 1;
    };
    let seq = 0;
    let sourceSize: { width: number; height: number } | null = null;
    const pending = new Map<number, { analysis?: Image; model?: Image }>();
    let eosCount = 0;

    const finish = (err?: Error) => {
      if (closed) return;
      closed = true;
      clearTimeout(firstFrameTimer);
      pipeline.stop();
      pending.clear();
      if (err) subscriber.error(err);
      else subscriber.complete();
    };

    const firstFrameTimer = setTimeout(() => {
      finish(
        new SourceError(
          'VIGIL_ERR_SOURCE_NO_FRAMES',
          spec.display,
          `source ${spec.display}: no video frame within ${options.firstFrameTimeoutMs} ms`,
        ),
      );
    }, options.firstFrameTimeoutMs);
    firstFrameTimer.unref?.();

    const readSourceSize = (fallback: Image) => {
      const sample = probe['last-sample'] as { caps?: GstCaps } | null | undefined;
      const w = Number(sample?.caps?.width);
      const h = Number(sample?.caps?.height);
      sourceSize =
        w > 0 && h > 0 ? { width: w, height: h } : { width: fallback.width, height: fallback.height };
    };

    const deliver = (ptsNs: number, which: 'analysis' | 'model', image: Image) => {
      let entry = pending.get(ptsNs);
      if (!entry) {
        entry = {};
        pending.set(ptsNs, entry);
        while (pending.size > options.maxUnpaired) {
          const oldest = pending.keys().next().value as number;
          pending.delete(oldest);
          drop('unpaired');
        }
      }
      entry[which] = image;
      if (!entry.analysis || !entry.model) return;
      // Anything older than a completed pair can no longer find its twin.
      for (const key of pending.keys()) {
        if (key === ptsNs) break;
        pending.delete(key);
        drop('unpaired');
      }
      pending.delete(ptsNs);
      if (sourceSize === null || seq % 300 === 0) readSourceSize(entry.model);
      if (seq === 0) clearTimeout(firstFrameTimer);
      const frame: Frame = {
        streamId: options.streamId,
        seq: seq++,
        ptsNs,
        captureTimeMs: Date.now(),
        sourceWidth: sourceSize!.width,
        sourceHeight: sourceSize!.height,
        analysis: entry.analysis,
        model: entry.model,
      };
      if (counters) counters.framesIn++;
      subscriber.next(frame);
    };

    const pullLoop = (sink: GstAppSink, which: 'analysis' | 'model') => {
      const format = which === 'model' ? 'RGB' : 'GRAY8';
      const onSample = (buf: Buffer | null | undefined, caps: GstCaps) => {
        if (closed) return;
        if (buf === null) {
          // Both branches reach EOS; the stream is over when both have.
          if (++eosCount === 2) finish();
          return;
        }
        if (buf !== undefined) {
          const image = toImage(buf, caps, format);
          if (image && typeof caps.pts === 'number') deliver(caps.pts, which, image);
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

    pipeline.play();
    pipeline.pollBus((msg) => {
      if (closed) return;
      if (msg.type === 'error') finish(mapBusError(spec, msg));
    });
    pullLoop(analysisSink, 'analysis');
    pullLoop(modelSink, 'model');

    return () => finish();
  });
}
