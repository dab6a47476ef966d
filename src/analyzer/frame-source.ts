/**
 * Where a stream's frames come from: the FrameSource seam (tests and instrumentation plug in here)
 * and its default, src/ingest's reconnecting StreamSource, whose transitions become the stream's
 * state. One-shot streams (`vigil analyze`, `demo`) get one run of the source: no reconnect, the
 * end of stream ends them, the first failure fails them.
 */
import { Observable, Subject } from 'rxjs';
import type { AudioChunk, Frame } from '../core/contracts.js';
import type { IngestCounters, IngestOptions } from '../ingest/frames.js';
import {
  openStream,
  type StreamSource,
  type StreamSourceOptions,
  type StreamStatus,
} from '../ingest/stream-source.js';
import type { SourceSpec } from '../ingest/source.js';
import type { IngestState, IngestStatus } from './stream-state.js';

/** What a frame source is asked for: the ingest's options, and whether the source runs once. */
export interface FrameSourceOptions extends IngestOptions {
  /** One run, no reconnect: end of stream completes the frames, a failure errors them. */
  oneShot?: boolean;
}

/** An opened source. Subscribing to `frames` starts it (subscribe to `audio` first). */
export interface OpenedFrames {
  frames: Observable<Frame>;
  /** A bare state, or a state with details (the error of `down`, the outage of `recovered`). */
  status?: Observable<IngestState | IngestStatus>;
  /** Audio chunks (16 kHz mono S16) when `options.audio` is set and the source has audio. */
  audio?: Observable<AudioChunk>;
  /**
   * Resolves once the source's pipeline is closed (unsubscribing from `frames` starts the close).
   * Absent: closing is synchronous with the unsubscribe.
   */
  close?: () => Promise<void>;
}

/** Opens a stream's frames; `status` (optional) reports reconnect states of a resilient ingest. */
export type FrameSource = (
  spec: SourceSpec,
  options: FrameSourceOptions,
  counters: IngestCounters,
) => OpenedFrames;

/** The ingest status of a StreamSource as the manager's IngestStatus (null: not a transition it shows). */
function toIngestStatus(s: StreamStatus): IngestStatus | null {
  switch (s.state) {
    case 'connecting':
      // A retry carries the failure of the attempt before it.
      return { state: 'connecting', attempt: s.attempt, ...(s.lastError ? { error: s.lastError } : {}) };
    case 'live':
      return { state: s.state, attempt: 0 };
    case 'stalled':
      // A hung source sends nothing at all: as much an outage as a dropped one.
      return {
        state: 'stalled',
        attempt: s.attempt,
        error: {
          code: 'VIGIL_ERR_SOURCE_STALLED',
          message: `source ${s.source}: no frame for ${s.silentMs} ms, reconnecting`,
        },
      };
    case 'down':
      return { state: 'down', error: s.error, attempt: s.attempt };
    case 'recovered':
      return { state: 'recovered', outageMs: s.outageMs };
    default:
      // ended / failed / closed arrive as the frames' completion or error.
      return null;
  }
}

/** The reconnect settings of a one-shot source: one attempt, the end of stream is the end. */
const ONE_SHOT: Pick<StreamSourceOptions, 'restartOnEos'> & { reconnect: { maxAttempts: number } } = {
  restartOnEos: false,
  reconnect: { maxAttempts: 1 },
};

/**
 * The default: src/ingest's reconnecting StreamSource (backoff, frame watchdog), opened on
 * subscribe and closed on unsubscribe; `close()` resolves when it is closed.
 */
export const defaultFrameSource: FrameSource = (spec, options, counters) => {
  const { oneShot, ...ingest } = options;
  const details = new Subject<IngestStatus>();
  // Relayed from the source opened by the frames' subscription (the audio's lifetime is the frames').
  const audio = new Subject<AudioChunk>();
  let opened: StreamSource | undefined;
  const frames = new Observable<Frame>((subscriber) => {
    const source = openStream(spec, {
      ...ingest,
      ...(oneShot ? { ...ONE_SHOT, reconnect: { ...ONE_SHOT.reconnect } } : {}),
    } as Partial<StreamSourceOptions> & { streamId: string });
    opened = source;
    counters.dropped = source.counters.dropped;
    const audioSub = ingest.audio ? source.audio.subscribe(audio) : undefined;
    const statusSub = source.status.subscribe((s) => {
      const status = toIngestStatus(s);
      if (status) details.next(status);
    });
    const frameSub = source.frames.subscribe(subscriber);
    return () => {
      statusSub.unsubscribe();
      audioSub?.unsubscribe();
      frameSub.unsubscribe();
      void source.close();
    };
  });
  const close = async () => {
    await opened?.close();
  };
  return ingest.audio ? { frames, status: details, audio, close } : { frames, status: details, close };
};
