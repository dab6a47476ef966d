/**
 * Per-stream tracking options from config and the control API, validated in one place:
 *
 *   detect:  { fps: 5, maxQueue: 2, motionThreshold: 0.004 }   # detection cadence between keyframes
 *   objects: [person, car]                                      # classes tracked (default: all)
 *   objects: { person: { minScore: 0.4, threshold: 0.55 }, car: {} }   # or per class
 *   track:   { maxLostMs: 1500, maxLostDetections: 5, maxLostLimitMs: 6000, reacquireGrowth: 0.5,
 *              minHits: 3, minScore: 0.4, threshold: 0.5, exitDeadlineMs: 500 }
 *
 * Errors are ConfigErrors naming the key (`detect.fps`, `objects.person.threshold`, …). Defaults
 * (TRACK_DEFAULTS) were chosen for general footage: a detector floor of 0.25 with COCO YOLO models,
 * a track needing three sightings whose median score reaches 0.5 (single false positives at
 * 0.25-0.45 never confirm), and 1.5 s of absence before an exit (about 7 detections at 5 fps) that
 * also has to span 5 missed detections, so a stream that gets fewer detections (a shared budget, a
 * busy model) loses no more tracks than one at 5 fps, up to 6 s (see tracker.ts).
 */
import { ConfigError } from '../core/errors.js';
import { checkNumber, rejectUnknownKeys } from './options.js';
import type { ClassTrackOptions, TrackerOptions } from './tracker.js';

export interface DetectCadenceOptions {
  /** Detections per second while the stream has motion (default 5); at most the source's frame rate. */
  fps?: number;
  /** Detection requests waiting per stream; the oldest is dropped beyond (default 2). */
  maxQueue?: number;
  /** Motion (fraction of the small gray frame changed) that counts as activity (default 0.004). */
  motionThreshold?: number;
}

export interface TrackStreamOptions {
  detect?: DetectCadenceOptions;
  objects?: readonly string[] | Record<string, ClassTrackOptions | null>;
  track?: {
    maxLostMs?: number;
    /** Detections a confirmed track must also miss before it leaves (0 = time only). */
    maxLostDetections?: number;
    /** Unseen this long, a confirmed track leaves however few detections came, ms. */
    maxLostLimitMs?: number;
    /** Re-acquisition gate growth, box diagonals per second unseen (0 = off). */
    reacquireGrowth?: number;
    minHits?: number;
    minScore?: number;
    threshold?: number;
    /** Live: how long past a track's due exit detections still running are waited for, ms. */
    exitDeadlineMs?: number;
  };
}

export interface ResolvedDetectCadence {
  fps: number;
  maxQueue: number;
  motionThreshold: number;
}

export interface ResolvedTrackStreamOptions {
  detect: ResolvedDetectCadence;
  tracker: TrackerOptions;
  /** Live streams only (see TrackingStageOptions.exitDeadlineMs). */
  exitDeadlineMs: number;
}

export const TRACK_DEFAULTS = {
  detect: { fps: 5, maxQueue: 2, motionThreshold: 0.004 },
  track: {
    maxLostMs: 1500,
    maxLostDetections: 5,
    maxLostLimitMs: 6000,
    reacquireGrowth: 0.5,
    minHits: 3,
    minScore: 0.4,
    threshold: 0.5,
    exitDeadlineMs: 500,
  },
} as const;

/** Highest detect.fps accepted when the source rate is not known yet. */
export const MAX_DETECT_FPS = 60;

const isMap = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Validates and resolves the tracking options of one stream. `knownLabels`: the model's class
 * names (unknown names in `objects` are an error); `sourceFps`: the source's frame rate when
 * known (detect.fps above it is an error).
 */
export function validateTrackOptions(
  input: TrackStreamOptions = {},
  context: { knownLabels?: readonly string[]; sourceFps?: number } = {},
): ResolvedTrackStreamOptions {
  if (!isMap(input)) throw new ConfigError('tracking options must be a mapping');
  const d = input.detect ?? {};
  if (!isMap(d)) throw new ConfigError('detect: must be a mapping (fps, maxQueue, motionThreshold)');
  rejectUnknownKeys('detect', d, ['fps', 'maxQueue', 'motionThreshold']);
  const maxFps =
    context.sourceFps !== undefined && context.sourceFps > 0 ? context.sourceFps : MAX_DETECT_FPS;
  const fps = d.fps ?? TRACK_DEFAULTS.detect.fps;
  if (typeof fps !== 'number' || !Number.isFinite(fps) || fps <= 0 || fps > maxFps) {
    throw new ConfigError(
      `detect.fps must be a number > 0 and <= ${maxFps}${context.sourceFps !== undefined ? ' (the source frame rate)' : ''}, got ${String(fps)}`,
    );
  }
  const detect: ResolvedDetectCadence = {
    fps,
    maxQueue: checkNumber('detect', 'maxQueue', d.maxQueue ?? TRACK_DEFAULTS.detect.maxQueue, {
      min: 1,
      max: 1000,
      integer: true,
    }),
    motionThreshold: checkNumber(
      'detect',
      'motionThreshold',
      d.motionThreshold ?? TRACK_DEFAULTS.detect.motionThreshold,
      { min: 0, max: 1 },
    ),
  };
  const t = input.track ?? {};
  if (!isMap(t))
    throw new ConfigError(
      'track: must be a mapping (maxLostMs, maxLostDetections, maxLostLimitMs, reacquireGrowth, minHits, minScore, threshold, exitDeadlineMs)',
    );
  rejectUnknownKeys('track', t, [
    'maxLostMs',
    'maxLostDetections',
    'maxLostLimitMs',
    'reacquireGrowth',
    'minHits',
    'minScore',
    'threshold',
    'exitDeadlineMs',
  ]);
  const exitDeadlineMs = checkNumber(
    'track',
    'exitDeadlineMs',
    t.exitDeadlineMs ?? TRACK_DEFAULTS.track.exitDeadlineMs,
    { min: 0, max: 60_000 },
  );
  const tracker: TrackerOptions = {
    maxLostMs: checkNumber('track', 'maxLostMs', t.maxLostMs ?? TRACK_DEFAULTS.track.maxLostMs, {
      min: 0,
      max: 600_000,
    }),
    maxLostDetections: checkNumber(
      'track',
      'maxLostDetections',
      t.maxLostDetections ?? TRACK_DEFAULTS.track.maxLostDetections,
      { min: 0, max: 1000, integer: true },
    ),
    maxLostLimitMs: checkNumber(
      'track',
      'maxLostLimitMs',
      t.maxLostLimitMs ?? TRACK_DEFAULTS.track.maxLostLimitMs,
      { min: 0, max: 600_000 },
    ),
    reacquireGrowth: checkNumber(
      'track',
      'reacquireGrowth',
      t.reacquireGrowth ?? TRACK_DEFAULTS.track.reacquireGrowth,
      { min: 0, max: 10 },
    ),
    minHits: checkNumber('track', 'minHits', t.minHits ?? TRACK_DEFAULTS.track.minHits, {
      min: 1,
      max: 1000,
      integer: true,
    }),
    minScore: checkNumber('track', 'minScore', t.minScore ?? TRACK_DEFAULTS.track.minScore, {
      min: 0,
      max: 1,
    }),
    threshold: checkNumber('track', 'threshold', t.threshold ?? TRACK_DEFAULTS.track.threshold, {
      min: 0,
      max: 1,
    }),
  };
  const objects = input.objects;
  if (objects !== undefined) {
    const known = context.knownLabels === undefined ? null : new Set(context.knownLabels);
    const check = (name: unknown): string => {
      if (typeof name !== 'string' || name === '')
        throw new ConfigError('objects: class names must be strings');
      if (known !== null && !known.has(name)) {
        throw new ConfigError(
          `objects.${name}: unknown class name ${JSON.stringify(name)} (not one of the model's classes)`,
        );
      }
      return name;
    };
    if (Array.isArray(objects)) {
      if (objects.length === 0) throw new ConfigError('objects: must name at least one class');
      tracker.labels = (objects as unknown[]).map(check);
    } else if (isMap(objects)) {
      const names = Object.keys(objects);
      if (names.length === 0) throw new ConfigError('objects: must name at least one class');
      const classes: Record<string, ClassTrackOptions> = {};
      for (const name of names) {
        check(name);
        const c = (objects as Record<string, unknown>)[name] ?? {};
        if (!isMap(c))
          throw new ConfigError(`objects.${name}: must be a mapping (minScore, threshold) or empty`);
        rejectUnknownKeys(`objects.${name}`, c, ['minScore', 'threshold']);
        const entry: ClassTrackOptions = {};
        if (c.minScore !== undefined) {
          entry.minScore = checkNumber(`objects.${name}`, 'minScore', c.minScore, { min: 0, max: 1 });
        }
        if (c.threshold !== undefined) {
          entry.threshold = checkNumber(`objects.${name}`, 'threshold', c.threshold, { min: 0, max: 1 });
        }
        classes[name] = entry;
      }
      tracker.labels = names;
      tracker.classes = classes;
    } else {
      throw new ConfigError('objects: must be a list of class names or a mapping of class name to options');
    }
  }
  return { detect, tracker, exitDeadlineMs };
}
