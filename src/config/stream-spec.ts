/**
 * The stream definition, declared once: every field's type, range, default and meaning together.
 * All three ways a stream arrives are validated against this spec:
 *
 * - a `streams:` entry of the YAML config (src/config/index.ts),
 * - the control API's attach body, HTTP or NATS (src/analyzer/manager.ts, via src/control/api.ts),
 * - an entry of the cluster's desired-streams KV bucket (src/cluster/desired.ts).
 *
 * Unknown keys and bad values are errors naming the key (`windowMs: expected an integer from 100
 * to 86400000, got number 5`); the per-stream stage options (`keyframes`, `events`, `cache`) go
 * through the stream stage's own option parsers, which know every key of theirs.
 */
import { ConfigError } from '../core/errors.js';
import { NATS_NAME, STREAM_ID_HINT, validateStreamId } from '../core/stream-id.js';
import {
  AnalysisCache,
  parseEventOptions,
  parseKeyframeOptions,
  type CacheOptions,
  type EventOptions,
  type KeyframeOptions,
  type TrackStreamOptions,
  validateTrackOptions,
} from '../stream/index.js';
import { COCO_LABELS } from '../infer/index.js';

import { describeValue, isMapping, validate, type Field, type Spec } from './validate.js';
import { LANGUAGE_ROLES, validateLanguageModel } from './language-models.js';
import type { LanguageModelConfig, LanguageRole } from '../core/language-model.js';

/** What a user asks for when attaching a stream (HTTP body, NATS request, config entry, KV entry). */
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
  /** Detection cadence between keyframes, tracked classes, track settings (stream/track-options.ts). */
  detect?: TrackStreamOptions['detect'];
  objects?: TrackStreamOptions['objects'];
  track?: TrackStreamOptions['track'];
  /**
   * This stream's own language models over the service's `inference.captioner` / `summarizer` /
   * `asr`, per role (the same keys as there); `false` turns the service's off for this stream.
   */
  inference?: Partial<Record<LanguageRole, LanguageModelInput | false>>;
}

/** One role's options as written in YAML or an attach body (validated, defaults filled, later). */
export type LanguageModelInput = Partial<LanguageModelConfig> & { model: string };

const HOURS = 3600 * 1000;
const TRACK_CONTEXT = { knownLabels: COCO_LABELS };

/** Defaults of the optional fields that do not come from the analyzer's own settings. */
export const STREAM_DEFAULTS = {
  live: true,
  inferConcurrency: 1,
  inferQueue: 4,
} as const satisfies Partial<StreamDefinition>;

/** The stream definition's fields (the configuration reference is generated from these). */
export const STREAM_FIELDS = {
  id: {
    kind: 'string',
    pattern: NATS_NAME,
    hint: STREAM_ID_HINT,
    required: true,
    check: validateStreamId,
    doc: 'The stream name: one NATS subject token, the <stream> in vigil.<stream>.…',
  },
  url: {
    kind: 'string',
    min: 1,
    required: true,
    doc: 'File path, file:, rtsp(s)://, http(s):// (HLS) or test:<pattern>; credentials stay out of logs',
  },
  live: {
    kind: 'bool',
    default: STREAM_DEFAULTS.live,
    doc: "true: at the stream's own pace, dropping when behind; false: as fast as possible, never dropping",
  },
  windowMs: {
    kind: 'int',
    min: 100,
    max: 24 * HOURS,
    default: 'analyzer.windowMs (10000)',
    doc: 'Summary window length, ms',
  },
  keyframes: {
    kind: 'map',
    check: (v: KeyframeOptions) => parseKeyframeOptions(v),
    doc: 'Keyframe selection (motion and scene-cut thresholds, minimum and maximum interval)',
  },
  events: {
    kind: 'map',
    check: (v: EventOptions) => parseEventOptions(v),
    doc: 'Event rules (confirmation, motion thresholds, rules)',
  },
  inferConcurrency: {
    kind: 'int',
    min: 1,
    max: 64,
    default: STREAM_DEFAULTS.inferConcurrency,
    doc: 'Keyframes of this stream analysed at once',
  },
  inferQueue: {
    kind: 'int',
    min: 0,
    max: 10_000,
    default: STREAM_DEFAULTS.inferQueue,
    doc: 'Keyframes waiting for inference; live streams drop the oldest beyond it',
  },
  maxKeyframeAgeMs: {
    kind: 'int',
    min: 0,
    max: 3_600_000,
    default: 'analyzer.maxKeyframeAgeMs (2000)',
    doc: 'Live streams: a keyframe older than this (ms since capture) when its turn comes is dropped as stale; 0 = no deadline',
  },
  cache: {
    kind: 'off-or',
    spec: { kind: 'map', check: (v: CacheOptions) => new AnalysisCache(v) },
    default: 'on',
    doc: 'Near-duplicate cache in front of the model: false turns it off, a mapping tunes it',
  },
  audio: {
    kind: 'object',
    fields: {
      vad: {
        kind: 'bool',
        default: 'true (false for rtsp://)',
        doc: 'Voice activity (Silero VAD) on the audio, for speech events; false: no audio branch',
      },
    },
    doc: 'The audio branch',
  },
  detect: {
    kind: 'map',
    check: (v: TrackStreamOptions['detect']) => validateTrackOptions({ detect: v }, TRACK_CONTEXT),
    doc: 'Detection cadence while something moves: fps (default 5), maxQueue, motionThreshold',
  },
  objects: {
    kind: 'map',
    orList: true,
    check: (v: TrackStreamOptions['objects']) => validateTrackOptions({ objects: v }, TRACK_CONTEXT),
    doc: 'Classes to track: a list, or per class { minScore, threshold } (default: all)',
  },
  track: {
    kind: 'map',
    check: (v: TrackStreamOptions['track']) => validateTrackOptions({ track: v }, TRACK_CONTEXT),
    doc: 'Tracker: maxLostMs (1500), maxLostDetections (5), maxLostLimitMs (6000), reacquireGrowth (0.5), minHits (3), minScore (0.4), threshold (0.5), exitDeadlineMs (500, live)',
  },
  oneShot: {
    kind: 'bool',
    default: 'false',
    doc: 'One run of the source, no reconnect: the stream ends with its source (analyze, demo)',
  },
  inference: {
    kind: 'object',
    fields: Object.fromEntries(
      LANGUAGE_ROLES.map((role) => [
        role,
        {
          kind: 'off-or',
          spec: { kind: 'map', check: (v: unknown) => validateLanguageModel(v, role, role) },
          default: `the service's inference.${role}`,
          doc: `This stream's own ${role} (the keys of inference.${role}); false: none for this stream`,
        } as Field,
      ]),
    ),
    doc: "Per-stream language models over the service's (docs/language-models.md)",
  },
} as const satisfies Record<keyof StreamDefinition, Field>;

export const STREAM_SPEC: Spec = { kind: 'object', fields: STREAM_FIELDS };

/**
 * Every problem with a stream definition, each prefixed with its key path under `path`
 * (`streams[2].windowMs: …`); empty when it is valid.
 */
export function checkStreamDefinition(input: unknown, path = ''): string[] {
  if (!isMapping(input)) {
    return [
      `${path ? `${path}: ` : ''}expected a stream definition (an object with id and url), got ${describeValue(input)}`,
    ];
  }
  return validate(input, STREAM_SPEC, path);
}

/**
 * Checks a definition against the spec and returns it typed; otherwise throws a ConfigError
 * (VIGIL_ERR_CONFIG) listing every problem, prefixed with `origin` when given.
 */
export function parseStreamDefinition(input: unknown, origin?: string): StreamDefinition {
  const errors = checkStreamDefinition(input);
  if (errors.length > 0) {
    const list = errors.length === 1 ? errors[0]! : `${errors.length} problems: ${errors.join('; ')}`;
    throw new ConfigError(origin ? `${origin}: ${list}` : list);
  }
  return input as unknown as StreamDefinition;
}
