/**
 * One GStreamer pipeline per stream. `startPipeline` builds one and runs it (pipeline-run.ts), calling handlers (the building
 * block of StreamSource's reconnect loop); `openFrames` wraps one run as an Observable<Frame>:
 * subscribing starts the pipeline, unsubscribing stops it (idempotently). Errors are typed
 * SourceErrors naming the redacted source.
 */
import { Observable } from 'rxjs';
import type { AudioChunk, Frame } from '../core/contracts.js';
import { SourceError } from '../core/errors.js';
import type { IngestCounters } from './counters.js';
import { describePipeline, ELEMENT, sourceProperties, type DescribeOptions } from './describe.js';
import { FrameAssembler } from './frame-assembler.js';
import { gst, pooledDecodeEnabled, type GstAppSink, type GstBusMessage, type GstPipeline } from './gst.js';
import { PipelineRunner, type PipelineRun, type RunContext, type RunHandlers } from './pipeline-run.js';
import type { SourceSpec } from './source.js';

export type { IngestCounters } from './counters.js';
export { frameDurationNs, levelDb, wallClockUs } from './frame-assembler.js';
export {
  convertI420ToRgb,
  convertI420ToRgbScaled,
  defineLazyModel,
  modelSize,
  nativeI420ToRgb,
  releaseFrame,
} from './lazy-model.js';
export type { PipelineRun, RunContext, RunHandlers } from './pipeline-run.js';

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
  // rtspsrc reports a server gone mid-stream as a failed read or write on its connection (over UDP
  // often from the RTCP or keep-alive path), not as a refused connection.
  if (spec.kind === 'rtsp' && /could not (read from|write to) resource|unhandled error/.test(lower)) {
    return new SourceError('VIGIL_ERR_SOURCE_UNREACHABLE', spec.display, `${where}: unreachable (${text})`);
  }
  // An HLS playlist that is empty (typefind gets no data) or not a playlist (issue 22 item 14: it
  // was the generic pipeline error).
  if (
    spec.kind === 'http' &&
    spec.hls === true &&
    /enough data|could not determine type|appears to be a text file|playlist|hlsdemux/.test(
      `${lower} ${from.toLowerCase()}`,
    )
  ) {
    return new SourceError(
      'VIGIL_ERR_SOURCE_PLAYLIST',
      spec.display,
      `${where}: not a usable HLS playlist: empty or unparsable (${text})`,
    );
  }
  if (/doesn't contain enough data/.test(lower)) {
    return new SourceError('VIGIL_ERR_SOURCE_DECODE', spec.display, `${where}: empty or truncated (${text})`);
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
  if (pooledDecodeEnabled()) pipeline.copyDecodedFrames?.();

  const assembler = new FrameAssembler(
    {
      streamId: options.streamId,
      analysisWidth: options.analysisWidth,
      modelWidth: options.modelWidth,
      ...ctx,
    },
    scaler,
    counters,
  );
  const runner = new PipelineRunner(
    { pipeline, frameSink, audioSink, assembler, busError: (msg) => mapBusError(spec, msg) },
    options,
    handlers,
  );
  runner.start();
  return runner;
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
    let run: PipelineRun | undefined;
    let firstFrameTimer: ReturnType<typeof setTimeout> | undefined;
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
    const started = run;
    // Not armed when the run already ended, or its first frame came, while it started.
    if (!seen && !subscriber.closed) {
      firstFrameTimer = setTimeout(() => {
        started.stop();
        subscriber.error(
          new SourceError(
            'VIGIL_ERR_SOURCE_NO_FRAMES',
            spec.display,
            `source ${spec.display}: no video frame within ${options.firstFrameTimeoutMs} ms`,
          ),
        );
      }, options.firstFrameTimeoutMs);
      firstFrameTimer.unref?.();
    }
    return () => {
      clearTimeout(firstFrameTimer);
      started.stop();
    };
  });
}
