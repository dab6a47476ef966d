/**
 * Keyframe selection: decides which frames go to the model. Duration-adaptive on STREAM time
 * (frame.ptsNs), so a clip yields the same keyframes whether it plays live or as fast as it decodes.
 *
 * Policy, evaluated per frame in this order:
 *  1. the first frame (or the first after PTS went backwards: a new run) → 'first';
 *  2. shot start: a shot boundary found by the ShotDetector (shots.ts: hard cuts, dissolves,
 *     fades, wipes; not flashes, brightness steps or pans) on this frame's thumbnail and histogram
 *     (no extra pass over the pixels). The boundary is final a few frames after the transition
 *     ends (look-ahead), and the keyframe is the frame at which it became final: the new shot's
 *     first clean frames, never the middle of a dissolve. It carries the transition
 *     (Keyframe.shot). Shot starts bypass minIntervalMs but not sceneCutMinIntervalMs (held back,
 *     they stay pending) → 'scene-cut'. A resolution change alone is not one (the thumbnail is
 *     cell means, the same scene gives the same thumbnail at any size);
 *  3. motion, spent on NEW activity (see ActivityGrid): motion in a cell of the grid
 *     (gridCols x gridRows) whose cell and neighbours were quiet — someone entering at the border or
 *     starting to move in a still part of the scene; at the frame's edge the neighbours further in
 *     need only be out of contact (edgeNeighbourQuietMs), so someone coming in just after another
 *     person who is walking away is new too — confirmed confirmMs later (still moving, not
 *     a one-frame flicker); or a surge on a busy scene: the whole frame's motion above
 *     busyFactor × the scene's average motion, once per excursion. Continued motion of movers
 *     already seen (cells next to recently active cells) is not new, so busy scenes adapt by
 *     themselves. At least minIntervalMs apart; new activity confirmed while the min interval
 *     holds stays pending, and so does new activity while a shot transition may be under way
 *     (holdMotionInTransitions: the shot's keyframe after it takes its place) → 'motion';
 *  4. maxIntervalMs elapsed since the previous keyframe → 'max-interval'.
 *
 * Keyframe.motionScore is the PEAK whole-frame motion score since the previous keyframe (this frame
 * included); Keyframe.sceneScore is, for a shot start, the boundary's score, otherwise this frame's
 * histogram distance to the previous keyframe. State held: copies of the last two analysis images,
 * two frames' features (histogram, thumbnail, cells), the activity grid (O(cells)), the shot
 * detector's bounded history of thumbnails, all released when the subscription ends. One pass over
 * the pixels per frame (frameFeatures), no allocation.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { Frame, Image, Keyframe, KeyframeReason, ShotTransition } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import { ActivityGrid } from './activity.js';
import {
  assertGray,
  DEFAULT_GRID,
  DEFAULT_HISTOGRAM_BINS,
  DEFAULT_NOISE_THRESHOLD,
  frameFeatures,
  histogramDistance,
  type FrameFeatures,
} from './motion.js';
import { checkNumber, checkRunId, idPrefix, rejectUnknownKeys, stripUndefined } from './options.js';
import { dHash } from './phash.js';
import {
  parseShotOptions,
  SHOT_DEFAULTS,
  ShotDetector,
  type ResolvedShotOptions,
  type ShotBoundary,
  type ShotOptions,
} from './shots.js';

export interface KeyframeOptions {
  /** Minimum stream time between motion keyframes, ms (default 500). */
  minIntervalMs?: number;
  /** A keyframe at least this often even on a static scene, ms of stream time (default 5000). */
  maxIntervalMs?: number;
  /**
   * Fraction of changed pixels (0..1] that counts as motion, for a grid cell (new activity) and for
   * the whole frame (surges) (default 0.02).
   */
  motionThreshold?: number;
  /**
   * Least structural change of one frame step that can be a hard cut (the shot detector's
   * cutThreshold, 0.05..2, default 0.7; `shots.cutThreshold` wins where both are given).
   */
  sceneCutThreshold?: number;
  /** Shot starts bypass minIntervalMs but not this shorter guard, ms (default 200). */
  sceneCutMinIntervalMs?: number;
  /**
   * The shot detector (shots.ts): cutAdaptiveRatio, gradualThreshold, gradualMinMs, gradualMaxMs,
   * flashMaxFrames, minShotMs, flatLevel, historyFrames, cutThreshold; each with its range.
   */
  shots?: ShotOptions;
  /** Per-pixel gray difference (0..255) ignored as noise by the motion score (default 25). */
  noiseThreshold?: number;
  /** Histogram bins for the scene-cut score (default 32). */
  histogramBins?: number;
  /**
   * Surges: a motion keyframe also when the whole frame's motion peaks above `busyFactor` × the
   * scene's average motion (over `activityWindowMs`), e.g. a crowd starting to run where everything
   * was already moving; once per excursion (re-armed after `quietMs` under the threshold).
   * 0 disables surges (default 3).
   */
  busyFactor?: number;
  /** Time constant of the activity average, ms of stream time (default 10000). */
  activityWindowMs?: number;
  /** Columns of the new-activity grid (default 16). */
  gridCols?: number;
  /** Rows of the new-activity grid (default 12). */
  gridRows?: number;
  /** A cell's motion is new after this much quiet in the cell, ms (default 1000). */
  quietMs?: number;
  /** ... and this much quiet in its 8 neighbours, ms (default 500: excludes movers crossing cells). */
  neighbourQuietMs?: number;
  /** New activity must still be there this long after its onset to be worth a keyframe, ms (default 400). */
  confirmMs?: number;
  /**
   * For a cell on the frame's edge, the quiet time of its neighbours further into the view, ms
   * (default 200): activity there can come in from outside the view, so only an inward neighbour in
   * contact (active this recently) makes it the motion of a mover already seen.
   */
  edgeNeighbourQuietMs?: number;
  /**
   * Hold motion keyframes while a shot transition may be under way (a dissolve, a dip through
   * black, a step that may be a cut), up to the shot detector's latency plus gradualMaxMs: the new
   * shot's keyframe after the transition takes their place (default true).
   */
  holdMotionInTransitions?: boolean;
  /** Compute a 64-bit perceptual hash of each keyframe (Keyframe.phash) for the memory cache (default true). */
  phash?: boolean;
  /** Short run id put in keyframe ids (`<streamId>:<runId>:<seq>`), unique per attach (default none: `<streamId>:<seq>`). */
  runId?: string;
}

export interface ResolvedKeyframeOptions extends Required<Omit<KeyframeOptions, 'runId' | 'shots'>> {
  runId: string | undefined;
  shots: ResolvedShotOptions;
}

export const KEYFRAME_DEFAULTS: Readonly<ResolvedKeyframeOptions> = Object.freeze({
  minIntervalMs: 500,
  maxIntervalMs: 5000,
  motionThreshold: 0.02,
  sceneCutThreshold: SHOT_DEFAULTS.cutThreshold,
  sceneCutMinIntervalMs: 200,
  noiseThreshold: DEFAULT_NOISE_THRESHOLD,
  histogramBins: DEFAULT_HISTOGRAM_BINS,
  busyFactor: 3,
  activityWindowMs: 10_000,
  gridCols: DEFAULT_GRID.cols,
  gridRows: DEFAULT_GRID.rows,
  quietMs: 1000,
  neighbourQuietMs: 500,
  confirmMs: 400,
  edgeNeighbourQuietMs: 200,
  holdMotionInTransitions: true,
  phash: true,
  runId: undefined,
  shots: SHOT_DEFAULTS,
});

const C = 'selectKeyframes';

/** Validates and fills defaults; throws ConfigError with the fix in the message. */
export function parseKeyframeOptions(options: KeyframeOptions = {}): ResolvedKeyframeOptions {
  rejectUnknownKeys(C, options, Object.keys(KEYFRAME_DEFAULTS));
  const { shots, ...rest } = options;
  const o: ResolvedKeyframeOptions = {
    ...KEYFRAME_DEFAULTS,
    ...stripUndefined(rest),
    shots: SHOT_DEFAULTS,
  };
  o.runId = checkRunId(C, o.runId);
  checkNumber(C, 'busyFactor', o.busyFactor, { min: 0, max: 100 });
  checkNumber(C, 'activityWindowMs', o.activityWindowMs, { min: 0, exclusiveMin: true });
  if (typeof o.phash !== 'boolean') throw new ConfigError(`${C}: phash must be a boolean`);
  if (typeof o.holdMotionInTransitions !== 'boolean') {
    throw new ConfigError(`${C}: holdMotionInTransitions must be a boolean`);
  }
  checkNumber(C, 'minIntervalMs', o.minIntervalMs, { min: 0 });
  checkNumber(C, 'maxIntervalMs', o.maxIntervalMs, { min: 0, exclusiveMin: true });
  checkNumber(C, 'motionThreshold', o.motionThreshold, { min: 0, max: 1, exclusiveMin: true });
  checkNumber(C, 'sceneCutThreshold', o.sceneCutThreshold, { min: 0.05, max: 2 });
  // The shot detector's options; its hard-cut threshold is sceneCutThreshold unless shots names one.
  if (shots !== undefined && (typeof shots !== 'object' || shots === null || Array.isArray(shots))) {
    throw new ConfigError(`${C}: shots must be a mapping of the shot detector's options`);
  }
  o.shots = parseShotOptions(
    { cutThreshold: o.sceneCutThreshold, ...stripUndefined(shots ?? {}) },
    `${C}: shots`,
  );
  checkNumber(C, 'sceneCutMinIntervalMs', o.sceneCutMinIntervalMs, { min: 0 });
  checkNumber(C, 'noiseThreshold', o.noiseThreshold, { min: 0, max: 254, integer: true });
  checkNumber(C, 'histogramBins', o.histogramBins, { min: 2, max: 256, integer: true });
  checkNumber(C, 'gridCols', o.gridCols, { min: 1, max: 64, integer: true });
  checkNumber(C, 'gridRows', o.gridRows, { min: 1, max: 64, integer: true });
  checkNumber(C, 'quietMs', o.quietMs, { min: 0 });
  checkNumber(C, 'neighbourQuietMs', o.neighbourQuietMs, { min: 0 });
  checkNumber(C, 'confirmMs', o.confirmMs, { min: 0 });
  checkNumber(C, 'edgeNeighbourQuietMs', o.edgeNeighbourQuietMs, { min: 0 });
  if (o.minIntervalMs > o.maxIntervalMs) {
    throw new ConfigError(
      `${C}: minIntervalMs (${o.minIntervalMs}) must not exceed maxIntervalMs (${o.maxIntervalMs})`,
    );
  }
  if (o.sceneCutMinIntervalMs > o.maxIntervalMs) {
    throw new ConfigError(
      `${C}: sceneCutMinIntervalMs (${o.sceneCutMinIntervalMs}) must not exceed maxIntervalMs (${o.maxIntervalMs})`,
    );
  }
  return o;
}

interface SelectorState {
  prevImage: Image | null;
  prevPtsNs: number;
  lastKeyPtsNs: number;
  lastKeyHist: Float64Array | null;
  /** A shot boundary found and not yet spent on a keyframe (held back by sceneCutMinIntervalMs). */
  pendingShot: ShotBoundary | null;
  /** Peak motion score since the last keyframe. */
  peakMotion: number;
  /** New activity (or a surge) seen since the last keyframe and not yet spent on one. */
  pendingMotion: boolean;
  /** Exponential average of per-frame motion (activity of the scene), not yet bias-corrected. */
  activity: number;
  /** Stream time the average covers, ms (for the bias correction of a young average). */
  activityMs: number;
  /** A surge may fire (motion stayed under the busy threshold for quietMs since the last one). */
  surgeArmed: boolean;
  /** Since when motion has been under the busy threshold, ms of stream time (NaN: it is not). */
  calmSinceMs: number;
  /** Since when a motion keyframe has been held for a possible shot transition, ms (NaN: none). */
  motionHeldSinceMs: number;
}

const EMPTY_STATE = (): SelectorState => ({
  prevImage: null,
  prevPtsNs: 0,
  lastKeyPtsNs: 0,
  lastKeyHist: null,
  pendingShot: null,
  peakMotion: 0,
  pendingMotion: false,
  activity: 0,
  activityMs: 0,
  surgeArmed: true,
  calmSinceMs: Number.NaN,
  motionHeldSinceMs: Number.NaN,
});

/** What the selector saw in the last frame, for diagnostics and benchmarks. */
export interface KeyframeSignals {
  /** Whole-frame motion score vs the previous frame. */
  motion: number;
  /** Score of the shot boundary that became final at this frame (0 when none). */
  cutScore: number;
  /** Active cells, new regions started and confirmed in this frame. */
  activeCells: number;
  newRegions: number;
  confirmedRegions: number;
}

/**
 * The per-frame decision as a small state machine, separate from RxJS so it can be unit-tested and
 * reused. `next(frame)` returns the keyframe to emit, or null.
 */
export class KeyframeSelector {
  private readonly o: ResolvedKeyframeOptions;
  private s: SelectorState = EMPTY_STATE();
  private readonly grid: ActivityGrid;
  private readonly cells: Float64Array;
  /** This frame's and the previous frame's features (swapped each frame, no allocation). */
  private features: FrameFeatures | null = null;
  private spare: FrameFeatures | null = null;
  /** The copy before the previous frame's, reused for the next frame (no allocation). */
  private spareImage: Image | null = null;
  /** The shot detector, for the grid in use (frames smaller than the grid use one cell). */
  private shots: ShotDetector | null = null;
  private shotCells = 0;
  private signals: KeyframeSignals = {
    motion: 0,
    cutScore: 0,
    activeCells: 0,
    newRegions: 0,
    confirmedRegions: 0,
  };

  constructor(options: KeyframeOptions = {}) {
    this.o = parseKeyframeOptions(options);
    this.grid = new ActivityGrid({
      cols: this.o.gridCols,
      rows: this.o.gridRows,
      cellThreshold: this.o.motionThreshold,
      quietMs: this.o.quietMs,
      neighbourQuietMs: this.o.neighbourQuietMs,
      confirmMs: this.o.confirmMs,
      edgeNeighbourQuietMs: this.o.edgeNeighbourQuietMs,
    });
    this.cells = new Float64Array(this.o.gridCols * this.o.gridRows);
  }

  /** Current scene activity (average motion score) and the surge threshold in force. */
  get activity(): { average: number; motionThreshold: number } {
    return { average: this.averageActivity(), motionThreshold: this.motionThreshold() };
  }

  /** The scores of the last frame (a copy). */
  get lastSignals(): KeyframeSignals {
    return { ...this.signals };
  }

  next(frame: Frame): Keyframe | null {
    const o = this.o;
    const s = this.s;
    const img = frame.analysis;
    const restart = s.prevImage === null || s.lastKeyHist === null || frame.ptsNs < s.prevPtsNs;
    // A resolution change within a run (an HLS variant switch): motion starts afresh, the shot
    // detector carries on (its thumbnails are cell means, comparable at any size).
    const resized =
      !restart &&
      s.prevImage !== null &&
      (s.prevImage.width !== img.width || s.prevImage.height !== img.height);
    // The frame's pixels are copied first (into the buffer of the frame before the previous one):
    // ingest may recycle its buffers, and the selector's own copies start on a word boundary, which
    // frameFeatures reads four pixels at a time.
    assertGray(img, 'selectKeyframes');
    const cur = snapshot(img, this.spareImage);
    this.spareImage = s.prevImage;
    // One pass over the pixels: motion per cell and overall, thumbnail, histogram. Frames smaller
    // than the grid (tiny test images) fall back to one cell: whole-frame scores.
    const grid = img.width >= o.gridCols && img.height >= o.gridRows;
    const f = frameFeatures(
      restart || resized ? null : s.prevImage,
      cur,
      grid ? o.gridCols : 1,
      grid ? o.gridRows : 1,
      o.histogramBins,
      o.noiseThreshold,
      this.spare ?? undefined,
    );
    // Double-buffered: `f` becomes the previous frame's features, the old ones the next spare.
    this.spare = this.features;
    this.features = f;
    const hist = f.hist;
    const cells = grid ? o.gridCols * o.gridRows : 1;
    if (this.shots === null || this.shotCells !== cells) {
      this.shots = new ShotDetector(
        o.shots,
        grid ? { cols: o.gridCols, rows: o.gridRows } : { cols: 1, rows: 1 },
      );
      this.shotCells = cells;
    }
    if (restart) this.shots.reset();
    const boundary = this.shots.push(frame.ptsNs, f.thumb, hist);

    if (restart) {
      this.s = {
        ...EMPTY_STATE(),
        prevImage: cur,
        prevPtsNs: frame.ptsNs,
        lastKeyPtsNs: frame.ptsNs,
        lastKeyHist: Float64Array.from(hist),
      };
      this.grid.reset();
      return this.keyframe(frame, 'first', 0, 0, Infinity);
    }
    if (resized) {
      this.grid.reset();
      s.activity = 0;
      s.activityMs = 0;
    }

    const tMs = frame.ptsNs / 1e6;
    const dtMs = (frame.ptsNs - s.prevPtsNs) / 1e6;
    const motion = f.motion;
    if (grid) this.cells.set(f.cells);
    else this.cells.fill(motion);
    s.prevImage = cur;
    s.prevPtsNs = frame.ptsNs;
    if (motion > s.peakMotion) s.peakMotion = motion;

    const step = this.grid.update(this.cells, tMs);
    if (boundary !== null) {
      if (s.pendingShot === null || boundary.score > s.pendingShot.score) s.pendingShot = boundary;
      // A new shot: nothing in it is new activity yet.
      this.grid.markAllActive(tMs);
    }
    // A surge only on a busy scene (where the activity average, not the fixed threshold, rules),
    // once per excursion: it re-arms when motion has stayed under the threshold for quietMs
    // (hysteresis: frame-to-frame jitter around the threshold is not a new surge).
    const busy = o.busyFactor * this.averageActivity();
    const surge = o.busyFactor > 0 && busy >= o.motionThreshold && motion >= busy && s.surgeArmed;
    if (motion >= busy) s.calmSinceMs = Number.NaN;
    else if (Number.isNaN(s.calmSinceMs)) s.calmSinceMs = tMs;
    if (surge) s.surgeArmed = false;
    else if (!Number.isNaN(s.calmSinceMs) && tMs - s.calmSinceMs >= o.quietMs) s.surgeArmed = true;
    if (step.confirmed > 0 || surge) s.pendingMotion = true;
    this.signals = {
      motion,
      cutScore: boundary?.score ?? 0,
      activeCells: step.active,
      newRegions: step.started,
      confirmedRegions: step.confirmed,
    };

    const sinceMs = (frame.ptsNs - s.lastKeyPtsNs) / 1e6;
    // New activity while a shot transition may be under way waits (up to the detector's latency):
    // the new shot's keyframe after the transition takes its place, not a frame from its middle.
    // (A possible cut: up to the look-ahead; an open transition: up to gradualMaxMs more.)
    let holdMotion = false;
    const unsettled = s.pendingMotion && o.holdMotionInTransitions ? this.shots.unsettled : null;
    if (unsettled !== null) {
      if (Number.isNaN(s.motionHeldSinceMs)) s.motionHeldSinceMs = tMs;
      const latencyMs = this.shots.latencyFrames * Math.max(1, dtMs);
      const maxHoldMs = unsettled === 'step' ? latencyMs : latencyMs + this.shots.options.gradualMaxMs;
      holdMotion = tMs - s.motionHeldSinceMs < maxHoldMs;
    }
    let reason: KeyframeReason | null = null;
    if (s.pendingShot !== null && sinceMs >= o.sceneCutMinIntervalMs) reason = 'scene-cut';
    else if (s.pendingMotion && !holdMotion && sinceMs >= o.minIntervalMs) reason = 'motion';
    else if (sinceMs >= o.maxIntervalMs) reason = 'max-interval';
    // The activity average is updated after the decision, so a sudden change is judged against the
    // scene before it. A scene cut restarts it (the new scene has its own activity).
    const alpha = 1 - Math.exp(-Math.max(0, dtMs) / o.activityWindowMs);
    if (reason === 'scene-cut') {
      s.activity = 0;
      s.activityMs = 0;
    } else {
      s.activity += alpha * (motion - s.activity);
      s.activityMs += Math.max(0, dtMs);
    }
    if (reason === null) return null;

    const shot = reason === 'scene-cut' ? s.pendingShot : null;
    const sceneScore = shot !== null ? shot.score : histogramDistance(s.lastKeyHist ?? hist, hist);
    const kf = this.keyframe(frame, reason, s.peakMotion, sceneScore, sinceMs);
    if (shot !== null) {
      const t: ShotTransition = {
        kind: shot.kind,
        startPtsNs: shot.startPtsNs,
        endPtsNs: shot.endPtsNs,
        confidence: shot.confidence,
      };
      kf.shot = t;
    }
    s.lastKeyPtsNs = frame.ptsNs;
    s.lastKeyHist = Float64Array.from(hist);
    s.peakMotion = 0;
    if (reason === 'scene-cut') s.pendingShot = null;
    s.pendingMotion = false;
    s.motionHeldSinceMs = Number.NaN;
    return kf;
  }

  /** Drops the held image, histograms and activity state. */
  reset(): void {
    this.s = EMPTY_STATE();
    this.grid.reset();
    this.features = null;
    this.spare = null;
    this.spareImage = null;
    this.shots = null;
  }

  private motionThreshold(): number {
    return Math.max(this.o.motionThreshold, this.o.busyFactor * this.averageActivity());
  }

  /**
   * The scene's average motion. The exponential average starts at 0, so while it covers less than
   * its time constant it is divided by the weight it has gathered (bias correction): a steady
   * scene reads its true level from the first seconds, and its warm-up is not mistaken for a surge.
   */
  private averageActivity(): number {
    const weight = 1 - Math.exp(-this.s.activityMs / this.o.activityWindowMs);
    return weight > 0 ? this.s.activity / weight : 0;
  }

  private keyframe(
    frame: Frame,
    reason: KeyframeReason,
    motionScore: number,
    sceneScore: number,
    sincePreviousMs: number,
  ): Keyframe {
    const kf: Keyframe = {
      id: `${idPrefix(frame.streamId, this.o.runId)}:${frame.seq}`,
      frame,
      reason,
      motionScore,
      sceneScore,
      sincePreviousMs,
    };
    if (this.o.phash) kf.phash = dHash(frame.analysis);
    return kf;
  }
}

/**
 * Copies the analysis plane into a buffer owned by the selector (reused across frames), so ingest may
 * recycle its buffers and a subarray view never pins a larger decode buffer.
 */
function snapshot(img: Image, reuse: Image | null): Image {
  const n = img.width * img.height;
  const data = reuse !== null && reuse.data.length === n ? reuse.data : new Uint8Array(n);
  data.set(img.data.subarray(0, n));
  return { width: img.width, height: img.height, format: img.format, data };
}

/**
 * Operator: frames in, keyframes out (see the policy above). Options are validated when this is
 * called, so bad config fails before any stream starts. Each subscription has its own state.
 */
export function selectKeyframes(
  options: KeyframeOptions = {},
  hooks: {
    /**
     * A frame the selector passed over, right after its decision: nothing downstream sees it, so
     * its pixels can go back to the decoder at once (the analyzer passes ingest's releaseFrame).
     */
    passedOver?: (frame: Frame) => void;
  } = {},
): OperatorFunction<Frame, Keyframe> {
  const resolved = parseKeyframeOptions(options);
  const passedOver = hooks.passedOver;
  return (source) =>
    new Observable<Keyframe>((subscriber) => {
      let selector: KeyframeSelector | null = new KeyframeSelector(resolved);
      const sub = source.subscribe({
        next(frame) {
          if (selector === null) return;
          let kf: Keyframe | null;
          try {
            kf = selector.next(frame);
          } catch (err) {
            subscriber.error(err);
            return;
          }
          if (kf !== null) subscriber.next(kf);
          else passedOver?.(frame);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        sub.unsubscribe();
        selector?.reset();
        selector = null;
      };
    });
}
