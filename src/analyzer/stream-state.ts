/**
 * A stream's state as the manager reports it (StreamInfo, updates), and the pure transition from
 * an ingest status to the next stream state.
 */
import type {
  Analysis,
  Caption,
  Keyframe,
  KeyframeTracks,
  ObjectRecord,
  ShotRecord,
  Summary,
  Transcript,
  VigilEvent,
} from '../core/contracts.js';
import { VigilError } from '../core/errors.js';
import type { StreamCounters } from './stream-runner.js';

/**
 * Lifecycle: `connecting` → `live` (frames arrive) → `completed` (a file ended) or `failed`
 * (error) or `stopped` (detached). With a reconnecting ingest, `stalled` / `down` / `recovered`
 * come in between.
 */
export type StreamState =
  'connecting' | 'live' | 'stalled' | 'down' | 'recovered' | 'completed' | 'failed' | 'stopped';

/** Ingest-level status as the reconnecting ingest reports it (see `FrameSource`). */
export type IngestState = 'connecting' | 'live' | 'stalled' | 'down' | 'recovered';

export interface IngestStatus {
  state: IngestState;
  /** Why it is down or stalled (redacted). */
  error?: { code: string; message: string };
  /** How long the outage lasted (recovered). */
  outageMs?: number;
  /** Consecutive failed attempts so far (0 when live). */
  attempt?: number;
}

export interface StreamInfo {
  id: string;
  /** Redacted source (never carries a password). */
  source: string;
  state: StreamState;
  live: boolean;
  windowMs: number;
  /** Unique per attach: part of keyframe and event ids, so re-attaching never collides. */
  runId: string;
  attachedAtMs: number;
  /** Wall time of the latest frame, or null before the first. */
  lastFrameAtMs: number | null;
  endedAtMs: number | null;
  counters: StreamCounters & { ingestDropped: number; sinkFailed: number };
  /** Frames per second over the last couple of seconds. */
  fps: number;
  /** Capture → analysis done for the latest keyframe, ms (null before the first). */
  latencyMs: number | null;
  /** The latest error (kept after recovery, replaced by the next one). */
  error: { code: string; message: string } | null;
  /** Consecutive failed connection attempts of the current outage (0 when frames flow). */
  attempt: number;
}

/** Updates for live views (the web page): typed, delivered synchronously, listener errors isolated. */
export type ManagerUpdate =
  | { type: 'attached'; info: StreamInfo }
  | { type: 'detached'; info: StreamInfo }
  | { type: 'state'; info: StreamInfo }
  | { type: 'stats'; streams: StreamInfo[] }
  /** The keyframe still carries its model-size RGB pixels here (use them before returning). */
  | { type: 'keyframe'; streamId: string; keyframe: Keyframe; analysis: Analysis }
  | { type: 'summary'; streamId: string; summary: Summary }
  | { type: 'event'; streamId: string; event: VigilEvent }
  /** A finished shot (its record, as published on vigil.<stream>.shot). */
  | { type: 'shot'; streamId: string; shot: ShotRecord }
  /** Language stages (absent without a captioner / transcriber). */
  | { type: 'caption'; streamId: string; caption: Caption }
  | { type: 'transcript'; streamId: string; transcript: Transcript }
  /** Tracking: a keyframe's confirmed tracks (annotated evidence), and object records. */
  | { type: 'tracked'; streamId: string; tracks: KeyframeTracks }
  | { type: 'object'; streamId: string; record: ObjectRecord };

export function errorInfo(err: unknown): { code: string; message: string } {
  if (err instanceof VigilError) return { code: err.code, message: err.message };
  const o = err as { code?: unknown; message?: unknown } | null;
  if (typeof o?.code === 'string' && typeof o.message === 'string')
    return { code: o.code, message: o.message };
  return { code: 'VIGIL_ERR_STREAM', message: err instanceof Error ? err.message : String(err) };
}

export const ENDED: readonly StreamState[] = ['completed', 'failed', 'stopped'];

/**
 * The stream state an ingest status leads to (null: ignore it). `connecting` is only the state
 * before the first frame and the first failure: a source retrying after an outage stays `down`
 * (`stalled` while a hung source's retry has not failed yet) with the latest error and attempt
 * until frames return (`recovered`).
 */
export function nextState(
  current: Pick<StreamInfo, 'state' | 'lastFrameAtMs'>,
  s: IngestStatus,
): { state: StreamState; error?: { code: string; message: string }; attempt?: number } | null {
  if (ENDED.includes(current.state)) return null;
  const outage = s.state === 'down' || s.state === 'stalled';
  if (s.state === 'connecting') {
    const retrying = current.state !== 'connecting' || current.lastFrameAtMs !== null;
    if (!retrying) return { state: 'connecting', ...(s.attempt !== undefined ? { attempt: s.attempt } : {}) };
    // A retry. It failed before (an error): down. A hung source's first retry has no error yet: still stalled.
    const state: StreamState = s.error !== undefined || current.state !== 'stalled' ? 'down' : 'stalled';
    return {
      state,
      ...(s.error !== undefined ? { error: s.error } : {}),
      ...(s.attempt !== undefined ? { attempt: s.attempt } : {}),
    };
  }
  const attempt = s.state === 'live' || s.state === 'recovered' ? 0 : s.attempt;
  return {
    state: s.state,
    ...(outage && s.error !== undefined ? { error: s.error } : {}),
    ...(attempt !== undefined ? { attempt } : {}),
  };
}
