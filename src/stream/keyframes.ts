/**
 * Keyframe selection: decides which frames go to the model. Duration-adaptive on STREAM time
 * (frame.ptsNs), so a clip yields the same keyframes whether it plays live or as fast as it decodes.
 *
 * Policy, evaluated per frame in this order:
 *  1. the first frame (or the first after PTS went backwards: a new run) → 'first';
 *  2. scene cut: histogram distance to the previous KEYFRAME ≥ sceneCutThreshold, and at least
 *     sceneCutMinIntervalMs since the previous keyframe (scene cuts bypass minIntervalMs) → 'scene-cut';
 *  3. motion: some frame since the previous keyframe had a motion score (vs its previous frame)
 *     ≥ motionThreshold, and minIntervalMs elapsed → 'motion'. Motion seen while the min interval
 *     suppressed it stays pending, so a short burst is not lost;
 *  4. maxIntervalMs elapsed since the previous keyframe → 'max-interval'.
 *
 * Keyframe.motionScore is the PEAK motion score since the previous keyframe (this frame included);
 * Keyframe.sceneScore is this frame's distance to the previous keyframe. State held: a copy of the
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
import { checkNumber, rejectUnknownKeys } from './options.js';

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
}

export type ResolvedKeyframeOptions = Required<KeyframeOptions>;

export const KEYFRAME_DEFAULTS: Readonly<ResolvedKeyframeOptions> = Object.freeze({
  minIntervalMs: 500,
  maxIntervalMs: 5000,
  motionThreshold: 0.02,
  sceneCutThreshold: 0.35,
  sceneCutMinIntervalMs: 200,
  noiseThreshold: DEFAULT_NOISE_THRESHOLD,
  histogramBins: DEFAULT_HISTOGRAM_BINS,
});

const C = 'selectKeyframes';

/** Validates and fills defaults; throws ConfigError with the fix in the message. */
export function parseKeyframeOptions(options: KeyframeOptions = {}): ResolvedKeyframeOptions {
  rejectUnknownKeys(C, options, Object.keys(KEYFRAME_DEFAULTS));
  const o: ResolvedKeyframeOptions = { ...KEYFRAME_DEFAULTS, ...stripUndefined(options) };
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

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

interface SelectorState {
  prevImage: Image | null;
  prevPtsNs: number;
  lastKeyPtsNs: number;
  lastKeyHist: Float64Array | null;
  /** Peak motion score since the last keyframe. */
  peakMotion: number;
}

/**
 * The per-frame decision as a small state machine, separate from RxJS so it can be unit-tested and
 * reused. `next(frame)` returns the keyframe to emit, or null.
 */
export class KeyframeSelector {
  private readonly o: ResolvedKeyframeOptions;
  private s: SelectorState = {
    prevImage: null,
    prevPtsNs: 0,
    lastKeyPtsNs: 0,
    lastKeyHist: null,
    peakMotion: 0,
  };

  constructor(options: KeyframeOptions = {}) {
    this.o = parseKeyframeOptions(options);
  }

  next(frame: Frame): Keyframe | null {
    const o = this.o;
    const s = this.s;
    const img = frame.analysis;
    const hist = histogram(img, o.histogramBins);

    if (s.prevImage === null || s.lastKeyHist === null || frame.ptsNs < s.prevPtsNs) {
      this.s = {
        prevImage: snapshot(img, null),
        prevPtsNs: frame.ptsNs,
        lastKeyPtsNs: frame.ptsNs,
        lastKeyHist: hist,
        peakMotion: 0,
      };
      return keyframe(frame, 'first', 0, 0, Infinity);
    }

    const motion = motionScore(s.prevImage, img, o.noiseThreshold);
    s.prevImage = snapshot(img, s.prevImage);
    s.prevPtsNs = frame.ptsNs;
    if (motion > s.peakMotion) s.peakMotion = motion;
    const scene = histogramDistance(s.lastKeyHist, hist);
    const sinceMs = (frame.ptsNs - s.lastKeyPtsNs) / 1e6;

    let reason: KeyframeReason | null = null;
    if (scene >= o.sceneCutThreshold && sinceMs >= o.sceneCutMinIntervalMs) reason = 'scene-cut';
    else if (s.peakMotion >= o.motionThreshold && sinceMs >= o.minIntervalMs) reason = 'motion';
    else if (sinceMs >= o.maxIntervalMs) reason = 'max-interval';
    if (reason === null) return null;

    const kf = keyframe(frame, reason, s.peakMotion, scene, sinceMs);
    s.lastKeyPtsNs = frame.ptsNs;
    s.lastKeyHist = hist;
    s.peakMotion = 0;
    return kf;
  }

  /** Drops the held image and histogram. */
  reset(): void {
    this.s = { prevImage: null, prevPtsNs: 0, lastKeyPtsNs: 0, lastKeyHist: null, peakMotion: 0 };
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

function keyframe(
  frame: Frame,
  reason: KeyframeReason,
  motionScore: number,
  sceneScore: number,
  sincePreviousMs: number,
): Keyframe {
  return { id: `${frame.streamId}:${frame.seq}`, frame, reason, motionScore, sceneScore, sincePreviousMs };
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
