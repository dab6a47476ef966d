/**
 * One playing pipeline: takes frames from its appsink on the JS thread (watch + tryPull, or a pull
 * loop where the native module lacks the watch), audio from its audio appsink, errors from its bus,
 * and hands them to the run's handlers until the end, an error or stop(); then releases the
 * pipeline at once. At most one of end/error is ever called, and none after stop().
 */
import { scheduleMallocTrim } from './malloc-trim.js';
import type { AudioChunk, Frame } from '../core/contracts.js';
import type { SourceError } from '../core/errors.js';
import type { DescribeOptions } from './describe.js';
import type { FrameAssembler } from './frame-assembler.js';
import type { GstAppSink, GstBusMessage, GstCaps, GstPipeline } from './gst.js';

/** How long one native pull may hold a thread-pool thread before giving it back. */
const PULL_TIMEOUT_MS = 100;
/** Frames one wake of a watched appsink takes before yielding to other streams' callbacks. */
const DRAIN_BATCH = 32;
/**
 * Fast mode: how often the pull loop looks for frames the appsink holds without having said so (it
 * wakes JS once per batch of frames, see watch()): a source that pauses mid-file, say.
 */
const FAST_SWEEP_MS = 50;
/** How often a paused (back-pressured) pull loop looks again. */
const PAUSE_POLL_MS = 5;

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

export interface RunnerOptions extends Pick<DescribeOptions, 'analysisWidth' | 'live' | 'maxBuffers'> {
  /** Fast mode: pulling pauses while this returns true (see IngestOptions.shouldPause). */
  shouldPause?: () => boolean;
  /** Fast mode: taking audio pauses while this returns true (see IngestOptions.shouldPauseAudio). */
  shouldPauseAudio?: () => boolean;
}

export interface RunnerParts {
  pipeline: GstPipeline;
  frameSink: GstAppSink;
  audioSink: GstAppSink | undefined;
  assembler: FrameAssembler;
  /** The typed error for a bus error message. */
  busError: (msg: GstBusMessage) => SourceError;
}

export class PipelineRunner implements PipelineRun {
  private closed = false;
  private sweep: ReturnType<typeof setInterval> | undefined;
  /** A pending retry of the watched drain (paused, or a batch cut short); wakes meanwhile leave the draining to it. */
  private retry: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate> | undefined;

  constructor(
    private readonly parts: RunnerParts,
    private readonly options: RunnerOptions,
    private readonly handlers: RunHandlers,
  ) {}

  /** Plays the pipeline and starts taking its samples. */
  start(): void {
    const { pipeline, frameSink, audioSink } = this.parts;
    pipeline.play();
    pipeline.pollBus((msg) => {
      if (this.closed) return;
      if (msg.type === 'error') this.finish({ err: this.parts.busError(msg) });
    });
    if (frameSink.watch && frameSink.unwatch && frameSink.tryPull)
      this.watch(frameSink as Required<GstAppSink>);
    else this.pullVideo();
    if (audioSink) this.pullAudio(audioSink);
  }

  /** Stops the pipeline; no handler is called afterwards. Idempotent. */
  readonly stop = (): void => this.finish(null);

  private finish(outcome: { err?: SourceError } | null): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweep);
    // Frees threads, sockets and fds now, not when the garbage collector finds the JS object.
    this.parts.pipeline.release();
    this.parts.frameSink.unwatch?.();
    // Its threads' free memory back to the system once the last frames are let go (malloc-trim.ts).
    scheduleMallocTrim();
    if (outcome?.err) this.handlers.error(outcome.err);
    else if (outcome) this.handlers.end();
  }

  private deliver(buf: Buffer, caps: GstCaps, gray: Buffer | undefined): void {
    const frame = this.parts.assembler.frame(buf, caps, gray);
    if (frame) this.handlers.frame(frame);
  }

  private paused(): boolean {
    return !this.options.live && this.options.shouldPause?.() === true;
  }

  // Frames are taken on the JS thread when the appsink says it has some (watch + tryPull): no
  // thread-pool round trip per frame, and a JS thread that was held up takes everything queued in
  // one wake. Fast mode pauses taking while the consumer asks (the appsink then fills and decoding
  // waits); live mode never pauses (the appsink drops the oldest, counted).
  private watch(sink: Required<GstAppSink>): void {
    const { options } = this;
    // The gray frame is computed on the streaming thread as each frame enters the appsink. Live
    // streams wake JS for every frame (its latency counts). Fast mode, where only throughput does,
    // wakes it once per half appsink of frames (and at the end): a wake-up costs the JS thread and the
    // streaming thread a context switch each, and one wake now takes several frames. The batch stays
    // below the appsink's bound (a full appsink holds decoding back: no frame would come to complete
    // a larger one); a slow timer takes what a batch left waiting.
    const batch = options.live ? 1 : Math.max(1, Math.floor(options.maxBuffers / 2));
    sink.watch(() => this.drain(sink), options.analysisWidth, batch);
    if (batch > 1) {
      this.sweep = setInterval(() => {
        if (this.retry === undefined) this.drain(sink);
      }, FAST_SWEEP_MS);
      this.sweep.unref?.();
    }
  }

  private drain(sink: Required<GstAppSink>): void {
    if (this.closed || this.retry !== undefined) return;
    const again = (): void => {
      this.retry = undefined;
      this.drain(sink);
    };
    for (let n = 0; n < DRAIN_BATCH; n++) {
      if (this.paused()) {
        this.retry = setTimeout(again, PAUSE_POLL_MS);
        return;
      }
      const sample = sink.tryPull(this.options.analysisWidth);
      if (sample === undefined) return;
      if (sample === null) {
        this.finish({});
        return;
      }
      if (sample.buffer !== undefined) this.deliver(sample.buffer, sample.caps, sample.gray);
      if (this.closed) return;
    }
    // More may be queued with no new arrival to wake us (a full appsink holds decoding back).
    this.retry = setImmediate(again);
  }

  /** The pull loop, for a native module without the appsink watch. */
  private pullVideo(): void {
    if (this.closed) return;
    if (this.paused()) {
      setTimeout(() => this.pullVideo(), PAUSE_POLL_MS);
      return;
    }
    this.parts.frameSink.pull(
      (buf, caps, gray) => {
        if (this.closed) return;
        if (buf === null) {
          this.finish({});
          return;
        }
        if (buf !== undefined) this.deliver(buf, caps, gray);
        this.pullVideo();
      },
      PULL_TIMEOUT_MS,
      this.options.analysisWidth,
    );
  }

  private pullAudio(sink: GstAppSink): void {
    if (this.closed) return;
    if (!this.options.live && this.options.shouldPauseAudio?.() === true) {
      setTimeout(() => this.pullAudio(sink), PAUSE_POLL_MS);
      return;
    }
    sink.pull((buf, caps) => {
      if (this.closed || buf === null) return;
      if (buf !== undefined && buf.length >= 2) this.handlers.audio?.(this.parts.assembler.audio(buf, caps));
      this.pullAudio(sink);
    }, PULL_TIMEOUT_MS);
  }
}
