/**
 * What a user asks for when attaching a stream (HTTP body, NATS request, config file entry, the
 * CLI's one-shot `analyze`), its shape check, and the manager's typed errors.
 */
import { VigilError } from '../core/errors.js';
import type { CacheOptions, EventOptions, KeyframeOptions } from '../stream/index.js';
import { checkMaxKeyframeAgeMs } from './admission.js';

export type ManagerErrorCode =
  | 'VIGIL_ERR_STREAM_EXISTS'
  | 'VIGIL_ERR_STREAM_NOT_FOUND'
  | 'VIGIL_ERR_STREAM_LIMIT'
  | 'VIGIL_ERR_INVALID_ARGUMENT'
  | 'VIGIL_ERR_CLOSED';

export class ManagerError extends VigilError {
  constructor(code: ManagerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** What a user asks for when attaching a stream (HTTP body, NATS request, config file entry). */
export interface StreamDefinition {
  /** NATS-safe token (1-64 of `A-Z a-z 0-9 _ -`): the `<stream>` in `vigil.<stream>.…`. */
  id: string;
  /** File path, file:, rtsp(s)://, http(s):// (HLS) or test:<pattern>. Credentials stay out of logs. */
  url: string;
  /** true: at the stream's own pace, drop when behind; false: as fast as possible, never drop (default: true). */
  live?: boolean;
  /** Summary window length, ms (default from the manager, 10000). */
  windowMs?: number;
  keyframes?: KeyframeOptions;
  events?: EventOptions;
  /** Keyframes analysed at once for this stream (default 1). */
  inferConcurrency?: number;
  /** Keyframes waiting for inference (default 4); live streams drop the oldest beyond it. */
  inferQueue?: number;
  /**
   * Live streams: a keyframe older than this (ms of wall time since capture) when its turn for the
   * model comes is not analysed but counted as dropped (`stale`) and listed as missing in its
   * window (default from the manager, 2000; 0 = no deadline). Ignored by files in fast mode.
   */
  maxKeyframeAgeMs?: number;
  /** Near-duplicate cache in front of the model: false turns it off, an object tunes it (default on). */
  cache?: CacheOptions | false;
  /**
   * The audio branch. `vad` (default true, but false for RTSP, where it must be asked for): voice
   * activity (Silero VAD) on the source's audio, for speech.started / speech.stopped, when the
   * service has a VAD (the `silero_vad` model is served); false: no audio branch at all.
   */
  audio?: { vad?: boolean };
  /**
   * One run of the source, no reconnect (`vigil analyze` / `demo`): the stream ends (`completed`)
   * at the source's end of stream, in live mode too, and fails at the first source error instead of
   * retrying (default false: live sources reconnect forever).
   */
  oneShot?: boolean;
}

const DEFINITION_KEYS = [
  'id',
  'url',
  'live',
  'windowMs',
  'keyframes',
  'events',
  'inferConcurrency',
  'inferQueue',
  'maxKeyframeAgeMs',
  'cache',
  'audio',
  'oneShot',
] as const;

/** Checks a definition's shape (unknown keys are errors) and returns it typed. */
export function parseStreamDefinition(input: unknown): StreamDefinition {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ManagerError(
      'VIGIL_ERR_INVALID_ARGUMENT',
      'stream definition must be an object with id and url',
    );
  }
  const o = input as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(DEFINITION_KEYS as readonly string[]).includes(key)) {
      throw new ManagerError(
        'VIGIL_ERR_INVALID_ARGUMENT',
        `unknown stream option '${key}' (known: ${DEFINITION_KEYS.join(', ')})`,
      );
    }
  }
  if (typeof o.id !== 'string') throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', 'id: expected a string');
  if (typeof o.url !== 'string' || o.url === '')
    throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', 'url: expected a non-empty string');
  for (const key of ['live', 'oneShot'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean')
      throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', `${key}: expected true or false`);
  }
  const int = (key: 'windowMs' | 'inferConcurrency' | 'inferQueue', min: number, max: number) => {
    const v = o[key];
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)) {
      throw new ManagerError(
        'VIGIL_ERR_INVALID_ARGUMENT',
        `${key}: expected an integer from ${min} to ${max}, got ${JSON.stringify(v)}`,
      );
    }
  };
  int('windowMs', 100, 24 * 3600 * 1000);
  int('inferConcurrency', 1, 64);
  int('inferQueue', 0, 10_000);
  try {
    checkMaxKeyframeAgeMs(o.maxKeyframeAgeMs);
  } catch (cause) {
    throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', (cause as Error).message, { cause });
  }
  if (
    o.cache !== undefined &&
    o.cache !== false &&
    (typeof o.cache !== 'object' || o.cache === null || Array.isArray(o.cache))
  ) {
    throw new ManagerError(
      'VIGIL_ERR_INVALID_ARGUMENT',
      'cache: expected false or an object of cache options',
    );
  }
  for (const key of ['keyframes', 'events', 'audio'] as const) {
    const v = o[key];
    if (v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v))) {
      throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', `${key}: expected an object`);
    }
  }
  if (o.audio !== undefined) {
    const a = o.audio as Record<string, unknown>;
    for (const key of Object.keys(a)) {
      if (key !== 'vad')
        throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', `unknown audio option '${key}' (known: vad)`);
    }
    if (a.vad !== undefined && typeof a.vad !== 'boolean')
      throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', 'audio.vad: expected true or false');
  }
  return o as unknown as StreamDefinition;
}
