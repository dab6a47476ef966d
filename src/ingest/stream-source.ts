/**
 * A stream that never needs a restart: runs one pipeline at a time (see `startPipeline`), restarts
 * it with exponential backoff and jitter (forever by default) when it errors, ends (live sources),
 * delivers nothing for its first frame, or goes silent (the frame watchdog: a hung server sends no
 * bus message at all). Frames of every run flow on one Observable with `seq` continuing and `runId`
 * telling the runs apart. Stream time is monotonic across runs: each run's PTS (which restarts at
 * every pipeline start) is offset so that its first frame lands where the last run ended plus the
 * wall-clock length of the outage, so windows keyed on stream time keep closing through outages.
 * Status transitions are values.
 *
 *   connecting ─first frame─▶ live ─error/EOS─▶ down ─retry─▶ connecting ─first frame─▶ recovered
 *                              └──no frame for stallTimeoutMs──▶ stalled ─retry─▶ …   │
 *                   live ◀── frames steady for reconnect.resetAfterMs ───────────────┘
 *
 * One outage produces exactly one `down` or `stalled` and, when frames come back, one `recovered`
 * (the live state after an outage), then `live` again once the stream has stayed up. Files end
 * (`ended`) instead of reconnecting; a file that fails, or any source after `maxAttempts`, ends in
 * `failed`.
 */
import type { Observable } from 'rxjs';
import { ReplaySubject, Subject } from 'rxjs';
import type { AudioChunk, Frame } from '../core/contracts.js';
import { ConfigError, SourceError } from '../core/errors.js';
import { newIngestCounters, type IngestCounters, type LatencySample } from './counters.js';
import { DEFAULT_INGEST_OPTIONS, startPipeline, type IngestOptions, type PipelineRun } from './frames.js';
import type { SourceSpec } from './source.js';

export interface ReconnectOptions {
  /** First retry delay. */
  initialDelayMs: number;
  /** Cap on the delay. */
  maxDelayMs: number;
  /** Growth per failed attempt. */
  factor: number;
  /** 0..1: each delay is reduced by up to this fraction at random (never above the cap). */
  jitter: number;
  /** Attempts before giving up (`failed`); Infinity = forever. */
  maxAttempts: number;
  /** A run that stayed live this long resets the backoff to initialDelayMs. */
  resetAfterMs: number;
}

export interface StreamSourceOptions extends IngestOptions {
  reconnect: ReconnectOptions;
  /** Watchdog: a live run that delivers no frame this long is restarted (`stalled`). */
  stallTimeoutMs: number;
  /** How often the watchdog looks. */
  watchdogIntervalMs: number;
  /**
   * End of stream: restart or finish (`ended`). Default: restart in live mode unless the source is a
   * file (a camera or live HTTP stream that ends has dropped); fast mode (live: false) finishes.
   */
  restartOnEos?: boolean;
  /** Retry after a failure of a file source (default false: a broken file stays broken). */
  retryFiles?: boolean;
  /** Injected for tests. */
  random?: () => number;
}

export const DEFAULT_RECONNECT: ReconnectOptions = {
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.2,
  maxAttempts: Infinity,
  resetAfterMs: 10_000,
};

export const DEFAULT_STREAM_OPTIONS: Omit<StreamSourceOptions, 'streamId'> = {
  ...DEFAULT_INGEST_OPTIONS,
  reconnect: DEFAULT_RECONNECT,
  stallTimeoutMs: 10_000,
  watchdogIntervalMs: 250,
};

/** Delay before attempt `attempt + 1` after `attempt` consecutive failures (1-based), jittered. */
export function backoffDelayMs(attempt: number, o: ReconnectOptions, random: () => number = Math.random) {
  const raw = o.initialDelayMs * Math.pow(o.factor, Math.max(0, attempt - 1));
  const capped = Math.min(o.maxDelayMs, raw);
  return Math.max(0, Math.round(capped * (1 - o.jitter * random())));
}

interface StatusBase {
  streamId: string;
  /** Redacted source, safe to print. */
  source: string;
  /** Unix epoch ms. */
  timeMs: number;
  /** Pipeline run this status belongs to (0-based, the same as Frame.runId). */
  runId: number;
  /** Consecutive failed attempts so far (0 when live). */
  attempt: number;
}

export interface StatusError {
  code: string;
  /** Redacted message (never a password). */
  message: string;
}

export type StreamStatus =
  | (StatusBase & { state: 'connecting'; lastError?: StatusError })
  | (StatusBase & { state: 'live' })
  | (StatusBase & { state: 'stalled'; silentMs: number; retryInMs: number })
  | (StatusBase & { state: 'down'; error: StatusError; retryInMs: number })
  | (StatusBase & { state: 'recovered'; outageMs: number })
  | (StatusBase & { state: 'ended' })
  | (StatusBase & { state: 'failed'; error: StatusError })
  | (StatusBase & { state: 'closed' });

export type StreamState = StreamStatus['state'];

export interface StreamCounters extends Required<IngestCounters> {
  /** Pipeline runs started. */
  runs: number;
  /** Restarts after an outage. */
  reconnects: number;
  /** Watchdog firings. */
  stalls: number;
  latency: LatencySample;
}

function validate(o: StreamSourceOptions): void {
  const r = o.reconnect;
  const bad = (what: string) => {
    throw new ConfigError(`stream ${o.streamId}: ${what}`);
  };
  if (!(r.initialDelayMs >= 0)) bad('reconnect.initialDelayMs must be >= 0');
  if (!(r.maxDelayMs >= r.initialDelayMs)) bad('reconnect.maxDelayMs must be >= initialDelayMs');
  if (!(r.factor >= 1)) bad('reconnect.factor must be >= 1');
  if (!(r.jitter >= 0 && r.jitter <= 1)) bad('reconnect.jitter must be in [0, 1]');
  if (!(r.maxAttempts >= 1)) bad('reconnect.maxAttempts must be >= 1');
  if (!(o.stallTimeoutMs > 0)) bad('stallTimeoutMs must be > 0');
  if (!(o.firstFrameTimeoutMs > 0)) bad('firstFrameTimeoutMs must be > 0');
  if (!(o.maxBuffers >= 1)) bad('maxBuffers must be >= 1');
}

const toStatusError = (err: unknown): StatusError =>
  err instanceof SourceError
    ? { code: err.code, message: err.message }
    : { code: 'VIGIL_ERR_SOURCE_PIPELINE', message: 'pipeline failed' };

export class StreamSource {
  /** Frames of every run; completes on `ended`/`closed`, errors on `failed`. Hot. */
  readonly frames: Observable<Frame>;
  /** Audio chunks (when options.audio and the source has audio); same lifetime as frames. */
  readonly audio: Observable<AudioChunk>;
  /** Status transitions; a new subscriber first gets the current one. Completes after a terminal one. */
  readonly status: Observable<StreamStatus>;
  readonly counters: StreamCounters;

  private readonly options: StreamSourceOptions;
  private readonly frames$ = new Subject<Frame>();
  private readonly audio$ = new Subject<AudioChunk>();
  private readonly status$ = new ReplaySubject<StreamStatus>(1);
  private readonly random: () => number;
  private current: StreamStatus | undefined;
  private run: PipelineRun | undefined;
  private runId = -1;
  private attempt = 0;
  private seq = 0;
  private audioSeq = 0;
  private started = false;
  private done = false;
  private lastError: StatusError | undefined;
  private outageSince: number | null = null;
  private liveSince = 0;
  private lastFrameAt = 0;
  private runStartedAt = 0;
  private runLive = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private closedPromise: Promise<void> | undefined;
  /** Stream time: the offset of the current run's PTS, and the last stream time handed out. */
  private ptsOffsetNs = 0;
  private offsetRunId = 0;
  private lastStreamPtsNs = -1;
  private lastStreamPtsAt = 0;

  constructor(
    readonly spec: SourceSpec,
    options: Partial<StreamSourceOptions> & { streamId: string },
  ) {
    this.options = {
      ...DEFAULT_STREAM_OPTIONS,
      ...options,
      reconnect: { ...DEFAULT_RECONNECT, ...options.reconnect },
    };
    validate(this.options);
    this.random = this.options.random ?? Math.random;
    const c = newIngestCounters();
    this.counters = { ...c, runs: 0, reconnects: 0, stalls: 0 };
    this.frames = this.frames$.asObservable();
    this.audio = this.audio$.asObservable();
    this.status = this.status$.asObservable();
  }

  /** The latest status (undefined before start). */
  get state(): StreamStatus | undefined {
    return this.current;
  }

  /** Starts the first run. Idempotent. */
  start(): this {
    if (this.started || this.done) return this;
    this.started = true;
    this.watchdog = setInterval(() => this.checkWatchdog(), this.options.watchdogIntervalMs);
    this.watchdog.unref?.();
    this.startRun();
    return this;
  }

  /** Stops the pipeline and every timer; completes all observables. Idempotent, never rejects. */
  close(): Promise<void> {
    this.closedPromise ??= Promise.resolve().then(() => {
      if (this.done) return;
      this.terminate({ state: 'closed' });
    });
    return this.closedPromise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private emit(status: DistributiveOmit<StreamStatus, keyof StatusBase>): void {
    const full = {
      streamId: this.options.streamId,
      source: this.spec.display,
      timeMs: Date.now(),
      runId: Math.max(0, this.runId),
      attempt: this.attempt,
      ...status,
    } as StreamStatus;
    this.current = full;
    this.status$.next(full);
  }

  private startRun(): void {
    if (this.done) return;
    this.retryTimer = undefined;
    this.runId++;
    this.counters.runs++;
    if (this.runId > 0) this.counters.reconnects++;
    this.runLive = false;
    this.runStartedAt = Date.now();
    const lastError = this.lastError;
    this.emit(lastError ? { state: 'connecting', lastError } : { state: 'connecting' });
    const runId = this.runId;
    const isCurrent = () => runId === this.runId && !this.done;
    try {
      this.run = startPipeline(
        this.spec,
        this.options,
        {
          frame: (frame) => {
            if (!isCurrent()) return;
            this.lastFrameAt = Date.now();
            if (!this.runLive) this.onLive();
            frame.ptsNs = this.streamTime(runId, frame.ptsNs);
            this.frames$.next(frame);
          },
          audio: this.options.audio
            ? (chunk) => {
                if (!isCurrent()) return;
                chunk.ptsNs = this.streamTime(runId, chunk.ptsNs);
                this.audio$.next(chunk);
              }
            : undefined,
          end: () => {
            if (isCurrent()) this.onEnd();
          },
          error: (err) => {
            if (isCurrent()) this.onFailure(err);
          },
        },
        this.counters,
        { runId, nextSeq: () => this.seq++, nextAudioSeq: () => this.audioSeq++ },
      );
    } catch (err) {
      this.run = undefined;
      this.onFailure(err);
    }
  }

  /**
   * Maps a run's PTS to stream time. The first buffer (video or audio) of a later run fixes that
   * run's offset: it lands after the last stream time handed out by the outage's wall-clock length
   * (at least 1 ms), so stream time never goes back and keeps pace with the clock through outages.
   */
  private streamTime(runId: number, ptsNs: number): number {
    const now = Date.now();
    if (runId !== this.offsetRunId) {
      this.offsetRunId = runId;
      const gapNs = Math.max(1_000_000, (now - this.lastStreamPtsAt) * 1_000_000);
      this.ptsOffsetNs = this.lastStreamPtsNs < 0 ? 0 : this.lastStreamPtsNs + gapNs - ptsNs;
    }
    const t = ptsNs + this.ptsOffsetNs;
    if (t > this.lastStreamPtsNs) {
      this.lastStreamPtsNs = t;
      this.lastStreamPtsAt = now;
    }
    return t;
  }

  private onLive(): void {
    this.runLive = true;
    this.lastError = undefined;
    this.liveSince = this.lastFrameAt;
    this.attempt = 0;
    if (this.outageSince !== null) {
      const outageMs = Date.now() - this.outageSince;
      this.outageSince = null;
      this.emit({ state: 'recovered', outageMs });
    } else {
      this.emit({ state: 'live' });
    }
  }

  private checkWatchdog(): void {
    if (this.done || this.retryTimer !== undefined || this.run === undefined) return;
    const now = Date.now();
    // Recovered, and up long enough to count as healthy again: back to live (no stale outage).
    if (
      this.runLive &&
      this.current?.state === 'recovered' &&
      now - this.liveSince >= this.options.reconnect.resetAfterMs &&
      now - this.lastFrameAt < this.options.stallTimeoutMs
    ) {
      this.emit({ state: 'live' });
    }
    if (this.runLive) {
      const silentMs = now - this.lastFrameAt;
      if (silentMs >= this.options.stallTimeoutMs) {
        this.counters.stalls++;
        this.stopRun();
        const retryInMs = this.nextDelay();
        if (retryInMs === null) return;
        this.outageSince = this.lastFrameAt;
        this.emit({ state: 'stalled', silentMs, retryInMs });
        this.schedule(retryInMs);
      }
    } else if (now - this.runStartedAt >= this.options.firstFrameTimeoutMs) {
      this.onFailure(
        new SourceError(
          'VIGIL_ERR_SOURCE_NO_FRAMES',
          this.spec.display,
          `source ${this.spec.display}: no video frame within ${this.options.firstFrameTimeoutMs} ms`,
        ),
      );
    }
  }

  private onEnd(): void {
    const restart = this.options.restartOnEos ?? (this.spec.kind !== 'file' && this.options.live);
    if (!restart) {
      this.terminate({ state: 'ended' });
      return;
    }
    this.onFailure(
      new SourceError(
        'VIGIL_ERR_SOURCE_UNREACHABLE',
        this.spec.display,
        `source ${this.spec.display}: stream ended (end of stream from the source)`,
      ),
    );
  }

  private onFailure(err: unknown): void {
    if (this.done) return;
    this.stopRun();
    const error = toStatusError(err);
    this.lastError = error;
    if (this.spec.kind === 'file' && !this.options.retryFiles) {
      this.terminate({ state: 'failed', error }, err);
      return;
    }
    const retryInMs = this.nextDelay(error, err);
    if (retryInMs === null) return;
    if (this.outageSince === null) {
      // A new outage (or the first connection failing): one `down` per outage.
      this.outageSince = this.runLive ? this.lastFrameAt : Date.now();
      this.emit({ state: 'down', error, retryInMs });
    }
    this.schedule(retryInMs);
  }

  /** Counts a failed attempt; null (and `failed`) when the attempts are used up. */
  private nextDelay(error?: StatusError, cause?: unknown): number | null {
    const r = this.options.reconnect;
    if (this.runLive && Date.now() - this.liveSince >= r.resetAfterMs) this.attempt = 0;
    this.attempt++;
    if (this.attempt >= r.maxAttempts) {
      const e = error ?? {
        code: 'VIGIL_ERR_SOURCE_NO_FRAMES',
        message: `source ${this.spec.display} stalled`,
      };
      this.terminate({ state: 'failed', error: e }, cause);
      return null;
    }
    return backoffDelayMs(this.attempt, r, this.random);
  }

  private schedule(delayMs: number): void {
    this.runLive = false;
    this.retryTimer = setTimeout(() => this.startRun(), delayMs);
  }

  private stopRun(): void {
    const run = this.run;
    this.run = undefined;
    run?.stop();
  }

  private terminate(
    status: { state: 'ended' } | { state: 'closed' } | { state: 'failed'; error: StatusError },
    cause?: unknown,
  ): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.watchdog);
    this.retryTimer = undefined;
    this.stopRun();
    this.emit(status);
    this.status$.complete();
    this.audio$.complete();
    if (status.state === 'failed') {
      this.frames$.error(
        cause instanceof SourceError
          ? cause
          : new SourceError(
              status.error.code as ConstructorParameters<typeof SourceError>[0],
              this.spec.display,
              status.error.message,
            ),
      );
    } else {
      this.frames$.complete();
    }
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Builds and starts a StreamSource. */
export function openStream(
  spec: SourceSpec,
  options: Partial<StreamSourceOptions> & { streamId: string },
): StreamSource {
  return new StreamSource(spec, options).start();
}
