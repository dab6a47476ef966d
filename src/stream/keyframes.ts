/**
 * Keyframe selection: decides which frames go to the model. Duration-adaptive on STREAM time
 * (frame.ptsNs), so a clip yields the same keyframes whether it plays live or as fast as it decodes.
 *
 * Policy, evaluated per frame in this order:
 *  1. the first frame (or the first after PTS went backwards: a new run) → 'first';
 *  2. scene cut: some frame since the previous keyframe differed abruptly from ITS previous frame
 *     (histogram distance ≥ sceneCutThreshold) and this frame still differs that much from the
 *     previous KEYFRAME (so gradual drift and one-frame flashes are not cuts), and at least
 *     sceneCutMinIntervalMs since the previous keyframe (scene cuts bypass minIntervalMs; a cut held
 *     back by that guard stays pending) → 'scene-cut';
 *  3. motion: some frame since the previous keyframe had a motion score (vs its previous frame)
 *     ≥ motionThreshold, and minIntervalMs elapsed → 'motion'. Motion seen while the min interval
 *     suppressed it stays pending, so a short burst is not lost;
 *  4. maxIntervalMs elapsed since the previous keyframe → 'max-interval'.
 *
 * Keyframe.motionScore is the PEAK motion score since the previous keyframe (this frame included);
 * Keyframe.sceneScore is this frame's distance to the previous keyframe (for a scene cut, the larger
 * of that and the abrupt change that triggered it). Motion keyframes need a peak above
 * max(motionThreshold, busyFactor × the scene's average motion): activity-adaptive. State held: a copy of the
 * previous analysis image and one histogram (O(1)), released when the subscription ends.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { Frame, Image, Keyframe, KeyframeReason } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import {
  DEFAULT_HISTOGRAM_BINS,
  DEFAULT_NOISE_THRESHOLD,
  histogram,
  histogramDistance,
  motionScore,
} from './motion.js';
import { checkNumber, checkRunId, idPrefix, rejectUnknownKeys, stripUndefined } from './options.js';
import { dHash } from './phash.js';

export interface KeyframeOptions {
  /** Minimum stream time between motion keyframes, ms (default 500). */
  minIntervalMs?: number;
  /** A keyframe at least this often even on a static scene, ms of stream time (default 5000). */
  maxIntervalMs?: number;
  /** Fraction of changed pixels (0..1] that counts as motion (default 0.02). */
  motionThreshold?: number;
  /** Histogram distance to the previous keyframe (0..1] that counts as a scene cut (default 0.35). */
  sceneCutThreshold?: number;
  /** Scene cuts bypass minIntervalMs but not this shorter guard, ms (default 200). */
  sceneCutMinIntervalMs?: number;
  /** Per-pixel gray difference (0..255) ignored as noise by the motion score (default 25). */
  noiseThreshold?: number;
  /** Histogram bins for the scene-cut score (default 32). */
  histogramBins?: number;
  /**
   * Activity adaptation: on a busy scene (the average motion score over `activityWindowMs` stays
   * high), motion keyframes need a peak above `busyFactor` × that average, so continuous motion
   * (crowds, foliage) does not yield a keyframe every minIntervalMs while a change still does.
   * 0 disables adaptation (default 1.5).
   */
  busyFactor?: number;
  /** Time constant of the activity average, ms of stream time (default 10000). */
  activityWindowMs?: number;
  /** Compute a 64-bit perceptual hash of each keyframe (Keyframe.phash) for the memory cache (default true). */
  phash?: boolean;
  /** Short run id put in keyframe ids (`<streamId>:<runId>:<seq>`), unique per attach (default none: `<streamId>:<seq>`). */
  runId?: string;
}

export interface ResolvedKeyframeOptions extends Required<Omit<KeyframeOptions, 'runId'>> {
  runId: string | undefined;
}

export const KEYFRAME_DEFAULTS: Readonly<ResolvedKeyframeOptions> = Object.freeze({
  minIntervalMs: 500,
  maxIntervalMs: 5000,
  motionThreshold: 0.02,
  sceneCutThreshold: 0.35,
  sceneCutMinIntervalMs: 200,
  noiseThreshold: DEFAULT_NOISE_THRESHOLD,
  histogramBins: DEFAULT_HISTOGRAM_BINS,
  busyFactor: 1.5,
  activityWindowMs: 10_000,
  phash: true,
  runId: undefined,
});

const C = 'selectKeyframes';

/** Validates and fills defaults; throws ConfigError with the fix in the message. */
export function parseKeyframeOptions(options: KeyframeOptions = {}): ResolvedKeyframeOptions {
  rejectUnknownKeys(C, options, Object.keys(KEYFRAME_DEFAULTS));
  const o: ResolvedKeyframeOptions = { ...KEYFRAME_DEFAULTS, ...stripUndefined(options) };
  o.runId = checkRunId(C, o.runId);
  checkNumber(C, 'busyFactor', o.busyFactor, { min: 0, max: 100 });
  checkNumber(C, 'activityWindowMs', o.activityWindowMs, { min: 0, exclusiveMin: true });
  if (typeof o.phash !== 'boolean') throw new ConfigError(`${C}: phash must be a boolean`);
  checkNumber(C, 'minIntervalMs', o.minIntervalMs, { min: 0 });
  checkNumber(C, 'maxIntervalMs', o.maxIntervalMs, { min: 0, exclusiveMin: true });
  checkNumber(C, 'motionThreshold', o.motionThreshold, { min: 0, max: 1, exclusiveMin: true });
  checkNumber(C, 'sceneCutThreshold', o.sceneCutThreshold, { min: 0, max: 1, exclusiveMin: true });
  checkNumber(C, 'sceneCutMinIntervalMs', o.sceneCutMinIntervalMs, { min: 0 });
  checkNumber(C, 'noiseThreshold', o.noiseThreshold, { min: 0, max: 254, integer: true });
  checkNumber(C, 'histogramBins', o.histogramBins, { min: 2, max: 256, integer: true });
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
  /** Histogram of the previous frame: scene cuts are abrupt changes between consecutive frames. */
  prevHist: Float64Array | null;
  /** Peak consecutive-frame histogram distance since the last keyframe (an abrupt change seen). */
  peakCut: number;
  /** Peak motion score since the last keyframe. */
  peakMotion: number;
  /** Exponential average of per-frame motion (activity of the scene). */
  activity: number;
}

const EMPTY_STATE = (): SelectorState => ({
  prevImage: null,
  prevPtsNs: 0,
  lastKeyPtsNs: 0,
  lastKeyHist: null,
  prevHist: null,
  peakCut: 0,
  peakMotion: 0,
  activity: 0,
});

/**
 * The per-frame decision as a small state machine, separate from RxJS so it can be unit-tested and
 * reused. `next(frame)` returns the keyframe to emit, or null.
 */
export class KeyframeSelector {
  private readonly o: ResolvedKeyframeOptions;
  private s: SelectorState = EMPTY_STATE();

  constructor(options: KeyframeOptions = {}) {
    this.o = parseKeyframeOptions(options);
  }

  /** Current scene activity (average motion score) and the motion threshold in force. */
  get activity(): { average: number; motionThreshold: number } {
    return { average: this.s.activity, motionThreshold: this.motionThreshold() };
  }

  next(frame: Frame): Keyframe | null {
    const o = this.o;
    const s = this.s;
    const img = frame.analysis;
    const hist = histogram(img, o.histogramBins);

    if (s.prevImage === null || s.lastKeyHist === null || frame.ptsNs < s.prevPtsNs) {
      this.s = {
        ...EMPTY_STATE(),
        prevImage: snapshot(img, null),
        prevPtsNs: frame.ptsNs,
        lastKeyPtsNs: frame.ptsNs,
        lastKeyHist: hist,
        prevHist: hist,
      };
      return this.keyframe(frame, 'first', 0, 0, Infinity);
    }

    const motion = motionScore(s.prevImage, img, o.noiseThreshold);
    const dtMs = (frame.ptsNs - s.prevPtsNs) / 1e6;
    s.prevImage = snapshot(img, s.prevImage);
    s.prevPtsNs = frame.ptsNs;
    if (motion > s.peakMotion) s.peakMotion = motion;
    // A cut is an ABRUPT change (consecutive frames far apart) that stuck (this frame still far from
    // the previous keyframe): gradual drift (pans, lighting) and one-frame flashes are not cuts.
    const step = histogramDistance(s.prevHist ?? s.lastKeyHist, hist);
    s.prevHist = hist;
    if (step > s.peakCut) s.peakCut = step;
    const fromKey = histogramDistance(s.lastKeyHist, hist);
    const cut = s.peakCut >= o.sceneCutThreshold && fromKey >= o.sceneCutThreshold;
    const scene = cut ? Math.max(s.peakCut, fromKey) : fromKey;
    const sinceMs = (frame.ptsNs - s.lastKeyPtsNs) / 1e6;

    let reason: KeyframeReason | null = null;
    if (cut && sinceMs >= o.sceneCutMinIntervalMs) reason = 'scene-cut';
    else if (s.peakMotion >= this.motionThreshold() && sinceMs >= o.minIntervalMs) reason = 'motion';
    else if (sinceMs >= o.maxIntervalMs) reason = 'max-interval';
    // The activity average is updated after the decision, so a sudden change is judged against the
    // scene before it. A scene cut restarts it (the new scene has its own activity).
    const alpha = 1 - Math.exp(-Math.max(0, dtMs) / o.activityWindowMs);
    s.activity = reason === 'scene-cut' ? 0 : s.activity + alpha * (motion - s.activity);
    if (reason === null) return null;

    const kf = this.keyframe(frame, reason, s.peakMotion, scene, sinceMs);
    s.lastKeyPtsNs = frame.ptsNs;
    s.lastKeyHist = hist;
    s.peakMotion = 0;
    s.peakCut = 0;
    return kf;
  }

  /** Drops the held image and histogram. */
  reset(): void {
    this.s = EMPTY_STATE();
  }

  private motionThreshold(): number {
    return Math.max(this.o.motionThreshold, this.o.busyFactor * this.s.activity);
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
export function selectKeyframes(options: KeyframeOptions = {}): OperatorFunction<Frame, Keyframe> {
  const resolved = parseKeyframeOptions(options);
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
