/**
 * Shot boundaries on the small gray analysis frame: hard cuts and gradual transitions (dissolves,
 * fades to and from black or white, wipes), and no boundary for flashes, brightness or exposure
 * steps, fast pans and zooms. A pure class (`ShotDetector`) fed with the per-frame features the
 * keyframe selector already computes (the cell-mean thumbnail and the luminance histogram: no
 * extra pass over the pixels), plus an operator (`detectShots`) for frames. No I/O, no clock: time
 * is the frames' PTS.
 *
 * Signals, per frame (O(cells)):
 *  - structure: the thumbnail normalised to zero mean and unit variance, so a brightness or
 *    exposure step (a gain and an offset on every cell) leaves it unchanged; a frame whose cells
 *    barely vary (black, white, any flat field) is FLAT and compares by its level;
 *  - tone shape: nine quantiles of the histogram, normalised the same way (shift and scale out).
 *  The frame distance d(a, b) = mean |za - zb| + 0.5 * mean |qa - qb| (0 = same structure,
 *  about 1.1 for unrelated frames).
 *
 * Brightness and exposure steps: a gain and an offset fitted from one frame's cells to the next,
 * clipped to 0..255, explains them (photometricResidual()): no cut, and no raw-level evidence of a
 * wipe or a mix across one (exposureStep()).
 *
 * Hard cut (twin test with look-ahead, as an adaptive detector): step c (frame c-1 → c) is a cut
 * when d(c-1, c) >= cutThreshold, it is `cutAdaptiveRatio` times the mean step of the frames before
 * (a pan or shake changes every step alike), it is the largest step around, and the frames after it
 * do not return to the frame before it within `flashMaxFrames` + 1 frames (a flash, a strobe or a
 * dropped frame goes away again; a cut does not).
 *
 * Gradual transition: for windows [s, e] of several lengths between gradualMinMs and gradualMaxMs
 * ending `flashMaxFrames` + 1 frames ago, the endpoints differ in structure (d >= gradualThreshold:
 * an exposure ramp does not), and the frames inside lie BETWEEN the endpoints, cell by cell, on
 * the raw thumbnails (a dissolve and a fade are linear mixes, a wipe takes each cell from one end
 * to the other; a pan or a zoom moves content through cells, so its middle frames are not between
 * its ends), progressing (the quarter, middle and three-quarter frames advance from one end to the
 * other: a hard cut inside the window does not). Passing windows that overlap form one transition;
 * its start and end are where the frames' progress leaves the first end and reaches the second.
 * Kind: fade-out (to a flat frame), fade-in (from one), dissolve (linear mix), wipe (between but not
 * a mix); a fade-out followed within `gradualMaxMs` by a fade-in is one 'fade' (a dip to black or
 * white).
 *
 * A candidate also ends when the frame a sixth of its span back (at least SETTLE_MS) has already
 * arrived at its far end (a dissolve into a moving shot: windows keep passing as the new shot moves).
 *
 * Dip through a flat picture (flatDip(), on the newest frame): the picture goes flat (its fade-out
 * began where its contrast started to fall), stays flat, comes back and settles (over SETTLE_MS its
 * contrast no longer rises, its level no longer moves); the boundary ('fade', or 'fade-in' out of a
 * picture flat from the start) ends at the first frame at the settled contrast and level, so the new
 * shot's keyframe follows the fade-in. Steps into and out of the flat picture are not cuts; a cut
 * into it waits while it stays flat (up to gradualMaxMs); a dip back to the same picture is nothing.
 *
 * Boundaries are reported once final, at most `flashMaxFrames` + 1 + `holdFrames` frames after the
 * transition ends (a cut inside a gradual transition is merged into it); two boundaries closer than
 * `minShotMs` are one. Memory: a ring of `historyFrames` frames' thumbnails (bounded, allocated once).
 *
 * Cost per frame: one pass over the cells (the step from the previous frame is summed while the
 * frame is stored); the windows every second or third frame. The frame distance of textured frames
 * is a (weighted L1) metric, so a distance whose frames' steps add up to less than a test needs is
 * not computed (the result is the same; the unit tests check the metric on the stored values).
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { Frame, TransitionKind } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import {
  assertGray,
  DEFAULT_GRID,
  DEFAULT_HISTOGRAM_BINS,
  frameFeatures,
  type FrameFeatures,
} from './motion.js';
import { checkNumber, rejectUnknownKeys, stripUndefined } from './options.js';

export type { TransitionKind };

/** One shot boundary: the transition from the previous shot to the next. */
export interface ShotBoundary {
  kind: TransitionKind;
  /** First frame that belongs to the transition (for a cut: the first frame of the new shot), ns. */
  startPtsNs: number;
  /** First clean frame of the new shot, ns (for a cut: = startPtsNs). */
  endPtsNs: number;
  /** 0..1: how far the evidence clears the thresholds. */
  confidence: number;
  /** The frame distance across the transition (structure + tone shape, 0 .. about 1.5). */
  score: number;
}

export interface ShotOptions {
  /** Least structural change of one frame step that can be a hard cut (default 0.7, 0.05..2; half of it on a still shot, see WEAK_CUT). */
  cutThreshold?: number;
  /** A cut's step must be this many times the mean step just before it (default 4, 1..50). */
  cutAdaptiveRatio?: number;
  /** Least structural change across a gradual transition (default 0.5, 0.05..2). */
  gradualThreshold?: number;
  /** Shortest gradual transition looked for, ms (default 300, 50..10000). */
  gradualMinMs?: number;
  /** Longest gradual transition looked for, ms (default 3000, 100..10000; at most historyFrames frames). */
  gradualMaxMs?: number;
  /** Longest flash (frames that go away again) that is not a cut (default 3, 1..10). */
  flashMaxFrames?: number;
  /** Shortest shot, ms: boundaries closer than this are one (default 400, 0..60000). */
  minShotMs?: number;
  /** Standard deviation of the thumbnail's cells (gray levels) below which a frame is flat (default 6, 0..64). */
  flatLevel?: number;
  /** Frames of history kept (default 128, 16..1024): bounds memory and the longest window. */
  historyFrames?: number;
}

export type ResolvedShotOptions = Required<ShotOptions>;

export const SHOT_DEFAULTS: Readonly<ResolvedShotOptions> = Object.freeze({
  cutThreshold: 0.7,
  cutAdaptiveRatio: 4,
  gradualThreshold: 0.5,
  gradualMinMs: 300,
  gradualMaxMs: 3000,
  flashMaxFrames: 3,
  minShotMs: 400,
  flatLevel: 6,
  historyFrames: 128,
});

/** Validates and fills defaults; a bad value throws a ConfigError naming `<component>.<key>`. */
export function parseShotOptions(options: ShotOptions = {}, component = 'shots'): ResolvedShotOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new ConfigError(`${component} must be an object`);
  }
  rejectUnknownKeys(component, options, Object.keys(SHOT_DEFAULTS));
  const o: ResolvedShotOptions = { ...SHOT_DEFAULTS, ...stripUndefined(options) };
  const c = component;
  checkNumber(c, 'cutThreshold', o.cutThreshold, { min: 0.05, max: 2 });
  checkNumber(c, 'cutAdaptiveRatio', o.cutAdaptiveRatio, { min: 1, max: 50 });
  checkNumber(c, 'gradualThreshold', o.gradualThreshold, { min: 0.05, max: 2 });
  checkNumber(c, 'gradualMinMs', o.gradualMinMs, { min: 50, max: 10_000 });
  checkNumber(c, 'gradualMaxMs', o.gradualMaxMs, { min: 100, max: 10_000 });
  checkNumber(c, 'flashMaxFrames', o.flashMaxFrames, { min: 1, max: 10, integer: true });
  checkNumber(c, 'minShotMs', o.minShotMs, { min: 0, max: 60_000 });
  checkNumber(c, 'flatLevel', o.flatLevel, { min: 0, max: 64 });
  checkNumber(c, 'historyFrames', o.historyFrames, { min: 16, max: 1024, integer: true });
  if (o.gradualMinMs > o.gradualMaxMs) {
    throw new ConfigError(
      `${c}: gradualMinMs (${o.gradualMinMs}) must not exceed gradualMaxMs (${o.gradualMaxMs})`,
    );
  }
  return o;
}

/** Quantiles of the tone shape. */
const QUANTILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
const NQ = QUANTILES.length;
/** Weight of the tone-shape distance next to the structure distance. */
const TONE_WEIGHT = 0.5;
/** A step this fraction of cutThreshold is a cut when it is WEAK_CUT_RATIO times the adaptive ratio. */
const WEAK_CUT = 0.5;
const WEAK_CUT_RATIO = 2;
/** A gradual candidate whose best window has not grown for this many frames has ended. */
const SETTLE_FRAMES = 5;
/** A window must beat the candidate's best by this factor to move its end. */
const GROWTH = 1.01;
/** A mix's middle frame has at most this share of the variance its ends' straight line gives. */
const MAX_DIP = 0.75;
/** Betweenness excess under which a window needs neither a variance dip nor an edge. */
const CLEAN_EXCESS = 0.15;
/** Least edge separation (split()) of a wipe's middle frame. */
const MIN_SPLIT = 0.6;
/** Frames a hard cut or a finished gradual transition waits for a transition that may absorb it. */
const HOLD_FRAMES = 3;
/** Steps before a candidate cut whose mean is its reference (adaptive threshold). */
const CUT_WINDOW = 8;
/** Floor of that mean: a step on a perfectly still scene is not infinitely many times larger. */
const STEP_FLOOR = 0.04;
/** A frame after a candidate cut closer to the frame before it than this fraction of the step: a flash. */
const RETURN_RATIO = 0.5;
/** Window lengths tried, as fractions of the way from gradualMinMs to gradualMaxMs (geometric). */
const LAG_STEPS = 5;
/** Mean betweenness excess (0 = every cell between the ends) above which a window is not a transition. */
const MAX_EXCESS = 0.35;
/** The change just before and just after a gradual transition stays under this share of it. */
const STANDOUT = 0.5;
/** Largest share of a window's change one frame step may carry for it to be gradual. */
const MAX_STEP_SHARE = 0.6;
/** Largest shift tried for camera motion, as a fraction of the grid's width and height. */
const SHIFT_MAX = 0.35;
/** A shift explains a change when it matches this well (mean |dz|) ... */
const SHIFT_MATCH = 0.45;
/** ... and clearly better than no shift. */
const SHIFT_GAIN = 0.6;
/** A shift is tried on every row only where every other row matches within this factor of the bound. */
const SCREEN = 1.25;
/** A frame this much less contrasted than the other end of a transition is a fade's end. */
const FADE_CONTRAST = 0.3;
/** Unevenness of progress across cells above which a transition is a wipe, not a dissolve. */
const WIPE_UNEVENNESS = 0.15;
/** A picture coming out of a flat one has settled when, over SETTLE_MS, its contrast rose by at most ... */
const SETTLE_MS = 200;
/** ... this share (or 1 gray level, whichever is more) ... */
const SETTLE_CONTRAST = 0.04;
/** ... and its mean level moved by at most this share (or 3 gray levels). */
const SETTLE_LEVEL = 0.02;
/** Progress from a transition's start past which a frame has arrived at its far end. */
const ARRIVED = 0.9;
/** A frame whose contrast is under this share of the frame before it is fading out (a dip's start). */
const FADING = 0.9;
/** Cells whose level is within this of 0 or 255 may be clipped: a gain and offset is fitted on the others. */
const CLIP_MARGIN = 6;
/** Gains an exposure or brightness change may have (an unrelated picture fits a gain near 0). */
const GAIN_MIN = 0.4;
const GAIN_MAX = 2.5;
/** A change is a gain and an offset when what they leave is at most this share of the raw change. */
const PHOTO_RESIDUAL = 0.35;
/** An exposure step inside a window moves the mean level by at least this (gray levels) ... */
const EXPOSURE_LEVEL = 6;
/** ... and this many times the mean level change of the window's other steps. */
const EXPOSURE_RATIO = 4;

interface Pending {
  b: ShotBoundary;
  readyAt: number;
}

interface Candidate {
  s: number;
  e: number;
  last: number;
  score: number;
  bs: number;
  be: number;
}

/**
 * The detector as a small state machine. `push(ptsNs, thumb, hist)` per frame (the thumbnail and
 * histogram of frameFeatures) returns the boundary that became final with this frame, or null.
 */
export class ShotDetector {
  private readonly o: ResolvedShotOptions;
  private readonly cap: number;
  private readonly cells: number;
  private readonly cols: number;
  private readonly pts: Float64Array;
  private readonly mu: Float64Array;
  private readonly sigma: Float64Array;
  /** Pixel variance of each frame (from its histogram: fine texture included). */
  private readonly pvar: Float64Array;
  private readonly step: Float64Array;
  /** Sum of |raw cell change| from the frame before, computed when first needed (NaN: not yet). */
  private readonly rawStep: Float64Array;
  private readonly thumbs: Float32Array;
  private readonly zs: Float32Array;
  private readonly qs: Float32Array;
  /** Scratch column + row profiles for the camera-motion test. */
  private readonly profA: Float64Array;
  private readonly profB: Float64Array;
  /** Frames pushed in this run (index of the next frame). */
  private n = 0;
  private frameMs = 40;
  private cand: Candidate | null = null;
  /** Windows start at or after this frame (the end of the last gradual transition found). */
  private floor = -1;
  private pending: Pending[] = [];
  private lastEndPtsNs = Number.NEGATIVE_INFINITY;
  private readonly k: number;
  /**
   * A dip through a flat picture (black, white, any flat field), tracked on the newest frame: the
   * first frame of its fade-out (-1: none open), the last clean frame before it (-1: the run began
   * flat or it is out of the history), the first textured frame after the flat run (-1: still flat),
   * and whether a long flat run was already reported as a fade-out.
   */
  private dipStart = -1;
  private dipBefore = -1;
  private dipRise = -1;
  private dipReported = false;
  /** First frame of the current flat run of the dip, and the longest run in it (frames). */
  private flatSince = -1;
  private dipFlatRun = 0;
  /** The window lengths of gradual() for lagMin..lagMax frames (see lagsFor()). */
  private readonly lags = new Int32Array(LAG_STEPS);
  private lagCount = 0;
  private lagMin = -1;
  private lagMax = -1;
  /** dist() from a gradual() call's window end to the newest frame (NaN: not computed yet). */
  private twinAfter = Number.NaN;

  constructor(options: ShotOptions = {}, grid: { cols: number; rows: number } = DEFAULT_GRID) {
    this.o = parseShotOptions(options);
    this.cap = this.o.historyFrames;
    this.cols = grid.cols;
    this.cells = grid.cols * grid.rows;
    this.pts = new Float64Array(this.cap);
    this.mu = new Float64Array(this.cap);
    this.sigma = new Float64Array(this.cap);
    this.pvar = new Float64Array(this.cap);
    this.step = new Float64Array(this.cap);
    this.rawStep = new Float64Array(this.cap).fill(Number.NaN);
    this.thumbs = new Float32Array(this.cap * this.cells);
    this.zs = new Float32Array(this.cap * this.cells);
    this.qs = new Float32Array(this.cap * NQ);
    this.profA = new Float64Array(grid.cols + grid.rows);
    this.profB = new Float64Array(grid.cols + grid.rows);
    this.k = this.o.flashMaxFrames + 1;
  }

  /** Frames of delay before a frame's boundary can be known (look-ahead + hold). */
  get latencyFrames(): number {
    return this.k + HOLD_FRAMES + 1;
  }

  /**
   * A transition may be under way ('transition': a gradual candidate or a dip is open, or a
   * boundary waits to be final; 'step': a step in the look-ahead could be a cut). The selector holds motion keyframes meanwhile
   * (the boundary's keyframe, after the transition, takes their place).
   */
  get unsettled(): 'transition' | 'step' | null {
    if (this.cand !== null || this.pending.length > 0) return 'transition';
    // A picture gone flat for two frames or more (not one flat from the start, nor a flicker).
    if (this.dipStart >= 0 && this.dipBefore >= 0 && this.dipFlatRun >= 2) return 'transition';
    // A step in the look-ahead that stands out like a cut (cheap part of hardCut()'s test).
    const weak = WEAK_CUT * this.o.cutThreshold;
    for (let j = Math.max(2, this.n - this.k - 1); j < this.n; j++) {
      const d = this.step[this.slotOf(j)]!;
      if (d < weak) continue;
      const from = Math.max(1, j - CUT_WINDOW);
      let sum = 0;
      for (let i = from; i < j; i++) sum += this.step[this.slotOf(i)]!;
      if (d >= this.o.cutAdaptiveRatio * Math.max(STEP_FLOOR, sum / (j - from))) return 'step';
    }
    return null;
  }

  /** The options in force. */
  get options(): Readonly<ResolvedShotOptions> {
    return this.o;
  }

  /** Forgets everything (a new run: PTS went backwards). */
  reset(): void {
    this.n = 0;
    this.cand = null;
    this.floor = -1;
    this.pending = [];
    this.lastEndPtsNs = Number.NEGATIVE_INFINITY;
    this.dipStart = -1;
    this.dipBefore = -1;
    this.dipRise = -1;
    this.dipReported = false;
    this.flatSince = -1;
  }

  push(ptsNs: number, thumb: Float64Array, hist: Float64Array): ShotBoundary | null {
    if (thumb.length !== this.cells) {
      throw new ConfigError(`shots: thumbnail has ${thumb.length} cells, the detector ${this.cells}`);
    }
    if (this.n > 0 && ptsNs < this.pts[(this.n - 1) % this.cap]!) this.reset();
    const n = this.n;
    const slot = n % this.cap;
    const prev = n > 0 ? (n - 1) % this.cap : -1;
    const sz = this.ingest(slot, ptsNs, thumb, hist, prev);
    if (n > 0) {
      const dt = (ptsNs - this.pts[prev]!) / 1e6;
      if (dt > 0) this.frameMs = n === 1 ? dt : this.frameMs + 0.1 * (dt - this.frameMs);
      // (Both textured: the structural part came with ingest(), the same sum dist() takes.)
      this.step[slot] = Number.isNaN(sz)
        ? this.dist(prev, slot)
        : sz / this.cells + this.toneDist(prev, slot);
    } else {
      this.step[slot] = 0;
    }
    this.n = n + 1;
    // Most frames are textured with no dip open, their step too small for a cut, nothing pending:
    // those early outs of flatDip(), hardCut() and release() are taken here, in a method small
    // enough that V8 optimises it soon (it optimises a large method that mostly returns at once
    // only after thousands of calls).
    if (this.dipStart >= 0 || this.flat(slot)) this.flatDip(n);
    const at = n - this.k;
    if (at >= 1) {
      if (this.step[this.slotOf(at)]! >= WEAK_CUT * this.o.cutThreshold) this.hardCut(at);
      // Every third frame while no transition is open, every other one while one is (the windows
      // span 4+ frames and overlap: the same transitions, a fraction of the cost).
      if (at % (this.cand !== null ? 2 : 3) === 0) this.gradual(at);
    }
    return this.pending.length > 0 ? this.release(n) : null;
  }

  // -- per-frame features --------------------------------------------------------------------

  /**
   * Stores frame `slot`'s raw and normalised thumbnail, level, contrast and tone shape; returns the
   * structural part of its distance to frame `prev` (sum of |dz| over the cells, as dist() sums it)
   * when both are textured, computed in the same pass (NaN when either is flat or there is none).
   */
  private ingest(slot: number, ptsNs: number, thumb: Float64Array, hist: Float64Array, prev: number): number {
    const m = this.cells;
    const base = slot * m;
    const thumbs = this.thumbs;
    const zs = this.zs;
    let sum = 0;
    for (let i = 0; i < m; i++) {
      const v = thumb[i]!;
      sum += v;
      thumbs[base + i] = v;
    }
    const mu = sum / m;
    let vs = 0;
    for (let i = 0; i < m; i++) {
      const d = thumb[i]! - mu;
      vs += d * d;
    }
    const sigma = Math.sqrt(vs / m);
    const flat = sigma < this.o.flatLevel || sigma === 0;
    let sz = Number.NaN;
    if (flat) {
      // (A flat frame's normalised thumbnail is never read: dist(), progress() and shifted() take
      // flat frames apart.)
      zs.fill(0, base, base + m);
    } else {
      const inv = 1 / sigma;
      if (prev >= 0 && this.sigma[prev] !== 0) {
        // The step from the previous frame in the same pass: |z(prev) - z(this)| on the stored
        // (32-bit) values, summed in cell order as dist() does.
        const pb = prev * m;
        sz = 0;
        for (let i = 0; i < m; i++) {
          const z = Math.fround((thumb[i]! - mu) * inv);
          zs[base + i] = z;
          sz += Math.abs(zs[pb + i]! - z);
        }
      } else {
        for (let i = 0; i < m; i++) zs[base + i] = (thumb[i]! - mu) * inv;
      }
    }
    this.pts[slot] = ptsNs;
    this.rawStep[slot] = Number.NaN;
    this.mu[slot] = mu;
    this.sigma[slot] = flat ? 0 : sigma;
    // Tone shape: quantiles from the histogram's CDF (linear inside a bin), shift and scale out.
    const bins = hist.length;
    const width = 256 / bins;
    let m1 = 0;
    let m2 = 0;
    for (let b = 0; b < bins; b++) {
      const v = (b + 0.5) * width;
      m1 += hist[b]! * v;
      m2 += hist[b]! * v * v;
    }
    this.pvar[slot] = Math.max(0, m2 - m1 * m1);
    const q = slot * NQ;
    let acc = 0;
    let j = 0;
    for (let b = 0; b < bins && j < NQ; b++) {
      const h = hist[b]!;
      while (j < NQ && acc + h >= QUANTILES[j]!) {
        const f = h > 0 ? (QUANTILES[j]! - acc) / h : 0;
        this.qs[q + j] = (b + f) * width;
        j++;
      }
      acc += h;
    }
    for (; j < NQ; j++) this.qs[q + j] = 255;
    const med = this.qs[q + 4]!;
    const spread = this.qs[q + NQ - 1]! - this.qs[q]!;
    const qinv = spread > 1 ? 1 / spread : 0;
    for (let i = 0; i < NQ; i++) this.qs[q + i] = (this.qs[q + i]! - med) * qinv;
    return sz;
  }

  private flat(slot: number): boolean {
    return this.sigma[slot] === 0;
  }

  /** Frame distance: structure (normalised thumbnail) + tone shape (normalised quantiles). */
  private dist(a: number, b: number): number {
    const fa = this.flat(a);
    const fb = this.flat(b);
    if (fa && fb) return Math.min(1, Math.abs(this.mu[a]! - this.mu[b]!) / 128);
    if (fa || fb) {
      // A flat frame against a textured one: as far as the texture is clear of the flat level
      // (the last frames of a fade are barely textured, so a fade does not end in a "cut").
      // A low-contrast picture against a flat one of another level (out of white into a dim shot)
      // is as far as their levels are apart.
      const s = this.sigma[fa ? b : a]!;
      const texture = (s - this.o.flatLevel) / (2 * Math.max(1, this.o.flatLevel));
      const level = Math.abs(this.mu[a]! - this.mu[b]!) / 128;
      return Math.max(0, Math.min(1, Math.max(texture, level)));
    }
    const m = this.cells;
    const z = this.zs;
    const za = a * m;
    const zb = b * m;
    let sz = 0;
    for (let i = 0; i < m; i++) sz += Math.abs(z[za + i]! - z[zb + i]!);
    return sz / m + this.toneDist(a, b);
  }

  /** The tone-shape part of dist(): TONE_WEIGHT x mean |qa - qb|. */
  private toneDist(a: number, b: number): number {
    const q = this.qs;
    const qa = a * NQ;
    const qb = b * NQ;
    let sq = 0;
    for (let i = 0; i < NQ; i++) sq += Math.abs(q[qa + i]! - q[qb + i]!);
    return (TONE_WEIGHT * sq) / NQ;
  }

  private slotOf(i: number): number {
    return i % this.cap;
  }

  // -- dips through a flat picture ----------------------------------------------------------

  /**
   * Fades through black or white (and cuts to and from them), on the newest frame i: the picture
   * goes flat (its fade-out starts where its contrast began to fall), stays flat, then comes back
   * and settles (over SETTLE_MS its contrast no longer rises and its level no longer moves). The
   * first clean frame is the first one at the settled contrast and level: the boundary's end, so the
   * new shot's keyframe comes after the fade-in, not in it. A dip back to the same picture (lights
   * off and on) is no boundary; a flat run longer than gradualMaxMs is a fade-out on its own.
   */
  private flatDip(i: number): void {
    const si = this.slotOf(i);
    const oldest = Math.max(0, this.n - this.cap);
    if (this.flat(si)) {
      if (this.dipStart < 0) {
        // Entering a flat run: its fade-out began where the contrast started to fall.
        let start = i;
        const earliest = Math.max(oldest + 1, i - Math.round(this.o.gradualMaxMs / this.frameMs));
        while (start - 1 >= earliest) {
          const a = this.slotOf(start - 1);
          const b = this.slotOf(start - 2);
          if (this.flat(a) || this.sigma[a]! >= FADING * this.sigma[b]!) break;
          start--;
        }
        this.dipStart = start;
        this.flatSince = i;
        this.dipFlatRun = 1;
        this.dipBefore = start - 1 >= oldest && i > 0 ? start - 1 : -1;
        this.dipReported = false;
      }
      if (this.dipRise >= 0 || this.flatSince < 0) this.flatSince = i;
      this.dipFlatRun = Math.max(this.dipFlatRun, i - this.flatSince + 1);
      this.dipRise = -1;
      // A long flat run: the shot faded out (a fade-in later is a boundary of its own).
      if (!this.dipReported && this.dipBefore >= 0) {
        const flatMs = (this.pts[si]! - this.pts[this.slotOf(this.flatSince)]!) / 1e6;
        if (flatMs > this.o.gradualMaxMs) {
          this.dipReported = true;
          const end = this.firstFlat(this.dipStart, i);
          // Final at once: nothing is left to absorb it (a cut into the flat picture merges in).
          this.offer(
            {
              kind: end === this.dipStart ? 'cut' : 'fade-out',
              startPtsNs: this.pts[this.slotOf(this.dipStart)]!,
              endPtsNs: this.pts[this.slotOf(end)]!,
              confidence: 1,
              score: round3(this.dist(this.slotOf(this.dipBefore), this.slotOf(end))),
            },
            i - this.k - HOLD_FRAMES,
          );
          this.dipBefore = -1;
        }
      }
      return;
    }
    if (this.dipStart < 0) return;
    if (this.dipRise < 0) this.dipRise = i;
    // A picture that keeps flickering in and out of flat is no dip (bounded wait).
    if (this.pts[si]! - this.pts[this.slotOf(this.dipStart)]! > 2 * this.o.gradualMaxMs * 1e6) {
      this.dipStart = -1;
      this.dipBefore = -1;
      this.dipRise = -1;
      return;
    }
    if (this.dipBefore >= 0 && this.dipBefore < oldest) this.dipBefore = -1;
    const m = Math.max(2, Math.round(SETTLE_MS / this.frameMs));
    const riseMs = (this.pts[si]! - this.pts[this.slotOf(this.dipRise)]!) / 1e6;
    const settled = i - m >= this.dipRise && this.steady(this.slotOf(i - m), si);
    if (!settled && riseMs <= this.o.gradualMaxMs) return;
    // The first clean frame: the first one at the settled contrast and level.
    let end = i;
    for (let f = this.dipRise; f < i; f++) {
      const sf = this.slotOf(f);
      const level = Math.max(3, 1.5 * SETTLE_LEVEL * this.mu[si]!);
      if (this.sigma[sf]! >= 0.97 * this.sigma[si]! && Math.abs(this.mu[sf]! - this.mu[si]!) <= level) {
        end = f;
        break;
      }
    }
    const start = this.dipStart;
    const before = this.dipBefore;
    const lastFlat = this.dipRise - 1;
    this.dipStart = -1;
    this.dipBefore = -1;
    this.dipRise = -1;
    const se = this.slotOf(end);
    // Against the picture it left (back to it: no new shot), or against the flat picture (a faint
    // picture coming out of it is no new shot either).
    const score = this.dist(this.slotOf(before >= 0 ? before : lastFlat), se);
    if (score < this.o.gradualThreshold) return;
    // Out of a picture flat from the start, a fade-in keeps its structure while its contrast grows
    // (things appearing one by one on a plain background do not).
    if (
      before < 0 &&
      end > lastFlat + 1 &&
      this.dist(this.slotOf(lastFlat + 1), se) >= this.o.gradualThreshold
    ) {
      return;
    }
    const kind: TransitionKind = before >= 0 ? 'fade' : 'fade-in';
    this.offer(
      {
        kind,
        startPtsNs: this.pts[this.slotOf(start)]!,
        endPtsNs: this.pts[se]!,
        confidence: round3(clamp01(score / this.o.gradualThreshold - 0.5)),
        score: round3(score),
      },
      i - this.k,
      true,
    );
  }

  /** Frame b's contrast has not risen, nor its level moved, since frame a (a settled picture). */
  private steady(a: number, b: number): boolean {
    if (this.flat(a)) return false;
    const rise = this.sigma[b]! - this.sigma[a]!;
    const move = Math.abs(this.mu[b]! - this.mu[a]!);
    return (
      rise <= Math.max(1, SETTLE_CONTRAST * this.sigma[b]!) && move <= Math.max(3, SETTLE_LEVEL * this.mu[b]!)
    );
  }

  /** The first flat frame from `from` to `to` (a dip's start may be fading frames). */
  private firstFlat(from: number, to: number): number {
    for (let f = from; f <= to; f++) if (this.flat(this.slotOf(f))) return f;
    return to;
  }

  // -- hard cuts -----------------------------------------------------------------------------

  private hardCut(c: number): void {
    const o = this.o;
    const sc = this.slotOf(c);
    const d = this.step[sc]!;
    // A weaker step is a cut too where it stands far above the steps around it (a still shot).
    const strong = d >= o.cutThreshold;
    if (!strong && d < WEAK_CUT * o.cutThreshold) return;
    // A step out of a flat picture, or into one at the end of a fade-out, is a dip's edge (see
    // flatDip(): its boundary ends where the picture has come back), not a cut. Flat to flat is.
    if (c >= 2) {
      const p = this.slotOf(c - 1);
      const fp = this.flat(p);
      const fc = this.flat(sc);
      if (fp !== fc && (fp || this.sigma[p]! < FADING * this.sigma[this.slotOf(c - 2)]!)) return;
    }
    // The largest step around (the step before it and every step up to the look-ahead).
    if (c >= 2 && this.step[this.slotOf(c - 1)]! > d) return;
    for (let j = 1; j < this.k; j++) if (this.step[this.slotOf(c + j)]! > d) return;
    // Adaptive: against the mean step of the frames around it (camera motion changes them all).
    if (c < 2) return;
    const from = Math.max(1, c - CUT_WINDOW);
    let sum = 0;
    let count = 0;
    for (let i = from; i < c; i++, count++) sum += this.step[this.slotOf(i)]!;
    for (let j = 1; j < this.k; j++, count++) sum += this.step[this.slotOf(c + j)]!;
    const ref = Math.max(STEP_FLOOR, sum / count);
    const ratio = d / ref;
    if (ratio < (strong ? o.cutAdaptiveRatio : WEAK_CUT_RATIO * o.cutAdaptiveRatio)) return;
    // Flash: the picture before it comes back within flashMaxFrames + 1 frames (the frames before
    // c - 1 are tried too, in case c ends a flash rather than starts one).
    for (let i = 1; i <= this.k && c - i >= 0; i++) {
      const before = this.slotOf(c - i);
      for (let j = i === 1 ? 1 : 0; j <= this.k; j++) {
        if (this.dist(before, this.slotOf(c + j)) < RETURN_RATIO * d) return;
      }
    }
    // A brightness or exposure step that clips part of the picture changes its normalised
    // structure, but a gain and an offset (clipped to 0..255) still explain it: no cut.
    if (this.photometricResidual(this.slotOf(c - 1), sc) <= PHOTO_RESIDUAL) return;
    const conf = clamp01(
      0.5 * Math.min(d / o.cutThreshold - 1, 1) + 0.5 * Math.min(ratio / o.cutAdaptiveRatio - 1, 1),
    );
    const t = this.pts[sc]!;
    this.offer({ kind: 'cut', startPtsNs: t, endPtsNs: t, confidence: round3(conf), score: round3(d) }, c);
  }

  // -- gradual transitions -------------------------------------------------------------------

  private gradual(e: number): void {
    const o = this.o;
    const maxLag = Math.min(this.cap - this.k - HOLD_FRAMES - 2, e);
    const minFrames = Math.max(3, Math.round(o.gradualMinMs / this.frameMs));
    const maxFrames = Math.min(maxLag, Math.round(o.gradualMaxMs / this.frameMs) + 2);
    // The best window ending at e (cheap tests), then the camera-motion test on it alone.
    let best = 0;
    let bestS = -1;
    this.twinAfter = Number.NaN;
    if (maxFrames >= minFrames) {
      const lags = this.lagsFor(minFrames, maxFrames);
      // The steps of frames from..e summed, and whether a frame from - 1..e is flat: the frame
      // distance of textured frames is a (weighted L1) metric, so a window whose steps add up to
      // less than gradualThreshold has ends closer than that (window() would return 0 at its first
      // test), whatever the frames in between. The margin covers rounding in either sum.
      const bound = o.gradualThreshold * (1 - 1e-9);
      let from = e + 1;
      let steps = 0;
      let flat = this.flat(this.slotOf(e));
      for (let i = 0; i < lags; i++) {
        const lag = this.lags[i]!;
        if (e - lag < this.floor) continue;
        for (; from > e - lag + 1;) {
          from--;
          steps += this.step[this.slotOf(from)]!;
          if (this.flat(this.slotOf(from - 1))) flat = true;
        }
        if (!flat && steps < bound) continue;
        const score = this.window(e - lag, e);
        if (score > best) {
          best = score;
          bestS = e - lag;
        }
      }
    }
    let passed = false;
    if (bestS >= 0) {
      const ss = this.slotOf(bestS);
      const se = this.slotOf(e);
      const mid = this.slotOf(bestS + Math.round((e - bestS) / 2));
      // Camera motion: a pan or a tilt moves content across cells, so a shifted thumbnail explains
      // the window (or one of its halves) better than the unshifted one; a mix or a wipe does not.
      passed = !(this.shifted(ss, se, true) || this.shifted(ss, mid, false) || this.shifted(mid, se, false));
    }
    let c = this.cand;
    if (passed) {
      if (c !== null && bestS <= c.e + 1) {
        c.s = Math.min(c.s, bestS);
        c.e = Math.max(c.e, e);
        c.last = e;
        if (best > GROWTH * c.score) {
          c.score = best;
          c.bs = bestS;
          c.be = e;
        }
      } else {
        if (c !== null) this.finish(c);
        c = { s: bestS, e, last: e, score: best, bs: bestS, be: e };
        this.cand = c;
      }
    } else if (c !== null && e - c.last > HOLD_FRAMES) {
      this.finish(c);
      this.cand = null;
    }
    // Windows that keep passing only because the new shot is still (its end frames all alike): the
    // transition has ended where its best window ended.
    c = this.cand;
    if (c !== null && e - c.be > SETTLE_FRAMES) {
      this.finish(c);
      this.cand = null;
    }
    // Windows that keep passing because the new shot moves on: the transition has ended when the
    // frame SETTLE_MS ago is already at the far end (progress from the start), so the new shot's
    // keyframe need not wait for the windows to stop passing.
    c = this.cand;
    if (c !== null) {
      // (A sixth of the span back: on a steady ramp that frame is at most 5/6 of the way.)
      const lag = Math.max(2, Math.round(SETTLE_MS / this.frameMs), Math.round((e - c.s) / 6));
      if (
        e - lag > c.s + lag &&
        this.progress(this.slotOf(c.s), this.slotOf(e), this.slotOf(e - lag)) >= ARRIVED
      ) {
        this.finish(c);
        this.cand = null;
      }
    }
  }

  /**
   * False when frames a..b are all textured and their steps add up to at most `bound`: then
   * dist(a, b) <= bound (the distance of textured frames is a metric; the margin covers rounding).
   */
  private stepsAbove(a: number, b: number, bound: number): boolean {
    let sum = 0;
    for (let f = b; f > a; f--) {
      const sf = this.slotOf(f);
      if (this.flat(sf)) return true;
      sum += this.step[sf]!;
    }
    return this.flat(this.slotOf(a)) || sum > bound * (1 - 1e-9);
  }

  /**
   * The window lengths tried (this.lags[0..count), frames, rising, distinct): LAG_STEPS lengths
   * spaced geometrically from minFrames to maxFrames. Kept while the two stay the same.
   */
  private lagsFor(minFrames: number, maxFrames: number): number {
    if (minFrames === this.lagMin && maxFrames === this.lagMax) return this.lagCount;
    const ratio = LAG_STEPS > 1 ? Math.pow(maxFrames / minFrames, 1 / (LAG_STEPS - 1)) : 1;
    let prevLag = 0;
    let count = 0;
    for (let i = 0; i < LAG_STEPS; i++) {
      const lag = Math.round(minFrames * Math.pow(ratio, i));
      if (lag === prevLag || lag > maxFrames) continue;
      prevLag = lag;
      this.lags[count++] = lag;
    }
    this.lagMin = minFrames;
    this.lagMax = maxFrames;
    this.lagCount = count;
    return count;
  }

  /** Score (> 0) of frames s..e as one gradual transition, or 0. */
  private window(s: number, e: number): number {
    const ss = this.slotOf(s);
    const se = this.slotOf(e);
    const d = this.dist(ss, se);
    if (d < this.o.gradualThreshold) return 0;
    // (The tests are pure and each can only reject: the cheap ones first. A distance is not computed
    // where the steps between its frames add up to too little for the test to reject, see gradual().)
    // Gradual: no single step carries most of the change (a cut inside the window does).
    let maxStep = 0;
    for (let i = s + 1; i <= e; i++) maxStep = Math.max(maxStep, this.step[this.slotOf(i)]!);
    const stepHeavy = maxStep > MAX_STEP_SHARE * d;
    if (stepHeavy) {
      // Towards (or from) a far less contrasted picture the normalised structure changes mostly at
      // the end (the last of the old picture's contrast goes): judge the steps on the raw cells
      // (below). (Flat ends are dips: see flatDip().)
      const lowEnd = this.faded(ss, se) || this.faded(se, ss);
      if (!lowEnd || this.flat(ss) || this.flat(se)) return 0;
    }
    // Twin comparison: the change across the window stands out from the change just before it
    // and just after it (a shot in steady motion changes as much over any stretch).
    const len0 = e - s;
    const back = Math.min(Math.max(this.k, Math.round(len0 / 2)), s - Math.max(0, this.n - this.cap));
    const twin = STANDOUT * d;
    if (back > 0 && this.stepsAbove(s - back, s, twin) && this.dist(this.slotOf(s - back), ss) > twin)
      return 0;
    // (The same frames for every window of one gradual() call: computed once.)
    if (Number.isNaN(this.twinAfter) && this.stepsAbove(e, e + this.k, twin)) {
      this.twinAfter = this.dist(se, this.slotOf(e + this.k));
    }
    if (this.twinAfter > twin) return 0;
    if (stepHeavy && this.rawMaxShare(s, e) > MAX_STEP_SHARE) return 0;
    const len = e - s;
    const a2 = this.progress(ss, se, this.slotOf(s + Math.round(len / 2)));
    if (a2 < 0.2 || a2 > 0.8) return 0;
    const a1 = this.progress(ss, se, this.slotOf(s + Math.round(len / 4)));
    const a3 = this.progress(ss, se, this.slotOf(s + Math.round((3 * len) / 4)));
    if (a1 < -0.15 || a3 > 1.15 || a1 > a2 + 0.1 || a2 > a3 + 0.1 || a3 - a1 < 0.2) return 0;
    const ex =
      (this.excess(ss, se, this.slotOf(s + Math.round(len / 4))) +
        this.excess(ss, se, this.slotOf(s + Math.round(len / 2))) +
        this.excess(ss, se, this.slotOf(s + Math.round((3 * len) / 4)))) /
      3;
    if (ex > MAX_EXCESS) return 0;
    // What kind of change: a fade (an end flat or far less contrasted), a dissolve (a mix of two
    // unrelated pictures has less variance than either: the frames in the middle dip), or a wipe
    // (the cells that reached the new picture lie on one side of a line across the frame). Motion
    // inside a shot is none of these.
    const m2 = this.slotOf(s + Math.round(len / 2));
    // (Frames that lie cleanly between the ends, cell by cell, are a transition whatever its shape.)
    if (ex > CLEAN_EXCESS && !(this.faded(ss, se) || this.faded(se, ss))) {
      // Across an exposure step the raw levels and the pixel variance (the evidence below) compare
      // a relit picture with the unlit one: not evidence of a mix or a wipe.
      if (this.exposureStep(s, e)) return 0;
      const dip = this.dip(ss, se, m2, a2);
      if (dip > MAX_DIP && this.split(ss, se, m2) < MIN_SPLIT) return 0;
    }
    return d * (1 - ex);
  }

  /**
   * The share of the raw change from frame a to frame b (slots) that a global gain and offset,
   * clipped to 0..255, leaves unexplained: about 0 for an exposure or brightness step (a picture
   * that saturates included), about 1 or more for another picture. The gain and offset are fitted
   * (least squares) on the cells clear of clipping in both frames; Infinity when too few are, when
   * the fitted gain is out of GAIN_MIN..GAIN_MAX (unrelated pictures fit a gain near 0) or when
   * nothing changed.
   */
  private photometricResidual(a: number, b: number): number {
    const t = this.thumbs;
    const c = this.cells;
    const A = a * c;
    const B = b * c;
    let n = 0;
    let sx = 0;
    let sy = 0;
    let sxx = 0;
    let sxy = 0;
    for (let i = 0; i < c; i++) {
      const x = t[A + i]!;
      const y = t[B + i]!;
      if (x < CLIP_MARGIN || x > 255 - CLIP_MARGIN || y < CLIP_MARGIN || y > 255 - CLIP_MARGIN) continue;
      n++;
      sx += x;
      sy += y;
      sxx += x * x;
      sxy += x * y;
    }
    if (n < c / 8) return Infinity;
    const vx = sxx - (sx * sx) / n;
    if (vx <= 0) return Infinity;
    const g = (sxy - (sx * sy) / n) / vx;
    if (g < GAIN_MIN || g > GAIN_MAX) return Infinity;
    const off = (sy - g * sx) / n;
    let res = 0;
    let raw = 0;
    for (let i = 0; i < c; i++) {
      const x = t[A + i]!;
      const y = t[B + i]!;
      const p = Math.max(0, Math.min(255, g * x + off));
      res += Math.abs(y - p);
      raw += Math.abs(y - x);
    }
    return raw > 0 ? res / raw : Infinity;
  }

  /**
   * True when one step of frames s..e is an exposure or brightness step: it moves the mean level
   * far more than the window's other steps do, and a gain and an offset explain it. Cell levels on
   * either side of it are not comparable (a wipe's or a mix's raw evidence is not to be trusted).
   */
  private exposureStep(s: number, e: number): boolean {
    let total = 0;
    let maxJ = 0;
    let at = -1;
    for (let f = s + 1; f <= e; f++) {
      const j = Math.abs(this.mu[this.slotOf(f)]! - this.mu[this.slotOf(f - 1)]!);
      total += j;
      if (j > maxJ) {
        maxJ = j;
        at = f;
      }
    }
    if (at < 0 || maxJ < EXPOSURE_LEVEL || e - s < 2) return false;
    const others = (total - maxJ) / (e - s - 1);
    if (maxJ < EXPOSURE_RATIO * others) return false;
    return this.photometricResidual(this.slotOf(at - 1), this.slotOf(at)) <= PHOTO_RESIDUAL;
  }

  /** The largest share of the raw change from frame s to frame e that one step carries. */
  private rawMaxShare(s: number, e: number): number {
    const t = this.thumbs;
    const c = this.cells;
    const S = this.slotOf(s) * c;
    const E = this.slotOf(e) * c;
    let total = 0;
    for (let i = 0; i < c; i++) total += Math.abs(t[E + i]! - t[S + i]!);
    if (total <= 0) return 1;
    let max = 0;
    for (let f = s + 1; f <= e; f++) {
      const sf = this.slotOf(f);
      let sum = this.rawStep[sf]!;
      if (Number.isNaN(sum)) {
        // Once per frame: the windows of one call and of the next calls overlap.
        const A = this.slotOf(f - 1) * c;
        const B = sf * c;
        sum = 0;
        for (let i = 0; i < c; i++) sum += Math.abs(t[B + i]! - t[A + i]!);
        this.rawStep[sf] = sum;
      }
      max = Math.max(max, sum);
    }
    return max / total;
  }

  /**
   * True when frame b is frame a moved by a few cells (a pan or tilt): a shift matches the overlap
   * of the normalised thumbnails well and clearly better than no shift. The column and row
   * profiles' best shift (cheap: 1-D) is tried first; then, where the profiles see motion, every
   * shift in range (`every`: a window's ends), or every one of 2 cells or more (its halves: a
   * 1-cell shift explains part of the middle of a dissolve between two drifting shots).
   */
  private shifted(a: number, b: number, every: boolean): boolean {
    if (this.flat(a) || this.flat(b)) return false;
    const cols = this.cols;
    const rows = this.cells / cols;
    if (cols < 4 || rows < 3) return false;
    const z = this.zs;
    const za = a * this.cells;
    const zb = b * this.cells;
    const pa = this.profA;
    const pb = this.profB;
    pa.fill(0);
    pb.fill(0);
    for (let y = 0; y < rows; y++) {
      for (let xx = 0; xx < cols; xx++) {
        const va = z[za + y * cols + xx]!;
        const vb = z[zb + y * cols + xx]!;
        pa[xx] = pa[xx]! + va;
        pb[xx] = pb[xx]! + vb;
        pa[cols + y] = pa[cols + y]! + va;
        pb[cols + y] = pb[cols + y]! + vb;
      }
    }
    const mx = Math.max(1, Math.floor(cols * SHIFT_MAX));
    const my = Math.max(1, Math.floor(rows * SHIFT_MAX));
    const px = bestShift(pa, pb, 0, cols, mx);
    const py = bestShift(pa, pb, cols, rows, my);
    // The profiles see no motion: none (the frames of a dissolve between drifting shots are
    // explained in part by the drift, not by motion alone).
    if (px === 0 && py === 0) return false;
    // A shift explains the change when it matches the overlap well and clearly better than none.
    const bound = Math.min(SHIFT_MATCH, SHIFT_GAIN * this.match(za, zb, 0, 0, cols, rows));
    // The profiles' best shift first, then every shift in range (a pan along both axes or by a
    // fraction of a cell blurs the 1-D profiles, and a repeating texture fools them), each on the
    // whole thumbnails, screened on every other row first (most shifts fail there, early).
    if (this.matchBelow(za, zb, px, py, cols, rows, bound, 1)) return true;
    for (let y = -my; y <= my; y++) {
      for (let xx = -mx; xx <= mx; xx++) {
        if ((xx === 0 && y === 0) || (xx === px && y === py)) continue;
        if (!every && Math.max(Math.abs(xx), Math.abs(y)) < 2) continue;
        if (!this.matchBelow(za, zb, xx, y, cols, rows, SCREEN * bound, 2)) continue;
        if (this.matchBelow(za, zb, xx, y, cols, rows, bound, 1)) return true;
      }
    }
    return false;
  }

  /**
   * True when mean |za(x + dx, y + dy) - zb(x, y)| over the overlap (every `stride`-th row of it) is
   * under `bound`; stops as soon as it cannot be.
   */
  private matchBelow(
    za: number,
    zb: number,
    dx: number,
    dy: number,
    cols: number,
    rows: number,
    bound: number,
    stride: number,
  ): boolean {
    const z = this.zs;
    const y0 = Math.max(0, -dy);
    const y1 = Math.min(rows, rows - dy);
    const x0 = Math.max(0, -dx);
    const x1 = Math.min(cols, cols - dx);
    const count = Math.ceil((y1 - y0) / stride) * (x1 - x0);
    if (count <= 0) return false;
    const limit = bound * count;
    let sum = 0;
    for (let y = y0; y < y1; y += stride) {
      const ra = za + (y + dy) * cols + dx;
      const rb = zb + y * cols;
      for (let xx = x0; xx < x1; xx++) sum += Math.abs(z[ra + xx]! - z[rb + xx]!);
      if (sum >= limit) return false;
    }
    return true;
  }

  /** Mean |za(x + dx, y + dy) - zb(x, y)| over the overlap. */
  private match(za: number, zb: number, dx: number, dy: number, cols: number, rows: number): number {
    const z = this.zs;
    let sum = 0;
    let count = 0;
    const y0 = Math.max(0, -dy);
    const y1 = Math.min(rows, rows - dy);
    const x0 = Math.max(0, -dx);
    const x1 = Math.min(cols, cols - dx);
    for (let y = y0; y < y1; y++) {
      const ra = za + (y + dy) * cols + dx;
      const rb = zb + y * cols;
      for (let xx = x0; xx < x1; xx++) sum += Math.abs(z[ra + xx]! - z[rb + xx]!);
      count += x1 - x0;
    }
    return count > 0 ? sum / count : Infinity;
  }

  /**
   * The planes a window is judged on: the normalised thumbnails (brightness and exposure out), or
   * the raw ones where an end is flat or far less contrasted (a fade: the normalised thumbnail does
   * not change while it darkens).
   */
  private plane(a: number, b: number): Float32Array {
    return this.faded(a, b) || this.faded(b, a) ? this.thumbs : this.zs;
  }

  /** Frame a is flat or far less contrasted than frame b (a fade's dark or bright end). */
  private faded(a: number, b: number): boolean {
    return this.flat(a) || this.sigma[a]! < FADE_CONTRAST * this.sigma[b]!;
  }

  /** Where frame m lies from frame a (0) to frame b (1), least squares on the thumbnails. */
  private progress(a: number, b: number, m: number): number {
    const t = this.plane(a, b);
    const c = this.cells;
    const A = a * c;
    const B = b * c;
    const M = m * c;
    let num = 0;
    let den = 0;
    for (let i = 0; i < c; i++) {
      const ta = t[A + i]!;
      const ab = t[B + i]! - ta;
      num += (t[M + i]! - ta) * ab;
      den += ab * ab;
    }
    return den > 0 ? num / den : 0;
  }

  /** Betweenness excess of frame m: 0 when every cell lies between its values in frames a and b. */
  private excess(a: number, b: number, m: number): number {
    const t = this.plane(a, b);
    const c = this.cells;
    const A = a * c;
    const B = b * c;
    const M = m * c;
    let ex = 0;
    let span = 0;
    for (let i = 0; i < c; i++) {
      const ta = t[A + i]!;
      const tb = t[B + i]!;
      const tm = t[M + i]!;
      const ab = Math.abs(ta - tb);
      ex += Math.abs(tm - ta) + Math.abs(tm - tb) - ab;
      span += ab;
    }
    return span > 0 ? ex / span : Infinity;
  }

  /**
   * How unevenly frame m has moved from a to b across cells: the variance of each cell's progress
   * (m - a) / (b - a) on the raw thumbnails, weighted by |b - a|. A dissolve or a fade moves every
   * cell alike (about 0); a wipe leaves each cell at one end or the other (about 0.25 midway).
   */
  private unevenness(a: number, b: number, m: number): number {
    const t = this.thumbs;
    const c = this.cells;
    const A = a * c;
    const B = b * c;
    const M = m * c;
    let w = 0;
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < c; i++) {
      const ab = t[B + i]! - t[A + i]!;
      const wi = Math.abs(ab);
      if (wi < 8) continue;
      const p = Math.max(-0.5, Math.min(1.5, (t[M + i]! - t[A + i]!) / ab));
      w += wi;
      s1 += wi * p;
      s2 += wi * p * p;
    }
    if (w === 0) return 0;
    const mean = s1 / w;
    return s2 / w - mean * mean;
  }

  /** Pixel variance of frame m against the straight line between the ends' (at progress p). */
  private dip(a: number, b: number, m: number, p: number): number {
    const line = (1 - p) * this.pvar[a]! + p * this.pvar[b]!;
    return line > 0 ? this.pvar[m]! / line : 1;
  }

  /**
   * How well a straight edge across the frame (vertical or horizontal) separates the cells of
   * frame m that are nearer frame b from those nearer frame a, beyond what all-one-side gives:
   * 1 = perfectly, 0 = no better than putting every cell on one side.
   */
  private split(a: number, b: number, m: number): number {
    const t = this.thumbs;
    const c = this.cells;
    const cols = this.cols;
    const rows = c / cols;
    const A = a * c;
    const B = b * c;
    const M = m * c;
    const colB = this.profA;
    const colN = this.profB;
    colB.fill(0);
    colN.fill(0);
    let nb = 0;
    let n = 0;
    for (let y = 0; y < rows; y++) {
      for (let x = 0; x < cols; x++) {
        const i = y * cols + x;
        const ta = t[A + i]!;
        const tb = t[B + i]!;
        const ab = Math.abs(tb - ta);
        if (ab < 12) continue;
        const da = Math.abs(t[M + i]! - ta);
        const db = Math.abs(t[M + i]! - tb);
        // Cells the edge is crossing (a mix of both) say nothing about its side.
        if (Math.min(da, db) > 0.35 * ab) continue;
        const nearB = db < da ? 1 : 0;
        colB[x] = colB[x]! + nearB;
        colN[x] = colN[x]! + 1;
        colB[cols + y] = colB[cols + y]! + nearB;
        colN[cols + y] = colN[cols + y]! + 1;
        nb += nearB;
        n++;
      }
    }
    if (n < 8) return 0;
    const base = Math.max(nb, n - nb);
    if (base >= n) return 0;
    const best = Math.max(bestSplit(colB, colN, 0, cols, nb, n), bestSplit(colB, colN, cols, rows, nb, n));
    return (best - base) / (n - base);
  }

  private finish(c: Candidate): void {
    const sa = this.slotOf(c.s);
    const sb = this.slotOf(c.e);
    // The span: where progress from the first end to the second leaves 0 and reaches 1.
    let start = c.s + 1;
    let end = c.e;
    for (let i = c.s + 1; i < c.e; i++) {
      if (this.progress(sa, sb, this.slotOf(i)) > 0.08) {
        start = i;
        break;
      }
    }
    for (let i = c.e - 1; i > start; i--) {
      if (this.progress(sa, sb, this.slotOf(i)) < 0.92) {
        end = i + 1;
        break;
      }
    }
    // Judged on the transition's own ends (the window's may lie deep in moving shots): a wipe moves
    // cells unevenly (also towards a far less contrasted picture); a fade or a dissolve alike.
    const mid = this.slotOf(Math.round((start + end) / 2));
    const r = this.unevenness(this.slotOf(Math.max(c.s, start - 1)), this.slotOf(end), mid);
    let kind: TransitionKind;
    if (r >= WIPE_UNEVENNESS) kind = 'wipe';
    else if (this.faded(sb, sa)) kind = 'fade-out';
    else if (this.faded(sa, sb)) kind = 'fade-in';
    else kind = 'dissolve';
    const conf = clamp01(c.score / this.o.gradualThreshold - 0.5);
    this.floor = end;
    this.offer(
      {
        kind,
        startPtsNs: this.pts[this.slotOf(start)]!,
        endPtsNs: this.pts[this.slotOf(end)]!,
        confidence: round3(conf),
        score: round3(c.score),
      },
      Math.min(c.e, c.be),
    );
  }

  // -- merging and release -------------------------------------------------------------------

  /** `dip`: a dip through a flat picture (flatDip()), whose kind and end are the surest. */
  private offer(b: ShotBoundary, at: number, dip = false): void {
    const gap = this.o.minShotMs * 1e6;
    if (b.startPtsNs < this.lastEndPtsNs + gap && b.kind === 'cut') return;
    for (const p of this.pending) {
      const q = p.b;
      // A fade-out then a fade-in (or any transition out of the flat picture): one dip through
      // black or white.
      if (
        q.kind === 'fade-out' &&
        b.kind !== 'cut' &&
        b.endPtsNs > q.endPtsNs &&
        b.startPtsNs - q.endPtsNs <= this.o.gradualMaxMs * 1e6
      ) {
        q.kind = 'fade';
        q.endPtsNs = b.endPtsNs;
        q.confidence = Math.max(q.confidence, b.confidence);
        q.score = Math.max(q.score, b.score);
        p.readyAt = Math.max(p.readyAt, at + HOLD_FRAMES);
        return;
      }
      if (b.startPtsNs <= q.endPtsNs + gap && q.startPtsNs <= b.endPtsNs + gap) {
        // Overlapping: a gradual transition absorbs a cut inside it; otherwise the union.
        const keep = dip || (q.kind === 'cut' && b.kind !== 'cut') ? b : q;
        q.kind = keep.kind;
        q.startPtsNs = Math.min(q.startPtsNs, b.startPtsNs);
        q.endPtsNs = dip ? b.endPtsNs : Math.max(q.endPtsNs, b.endPtsNs);
        q.confidence = Math.max(q.confidence, b.confidence);
        q.score = Math.max(q.score, b.score);
        p.readyAt = Math.max(p.readyAt, at + HOLD_FRAMES);
        return;
      }
    }
    this.pending.push({ b, readyAt: at + HOLD_FRAMES });
  }

  private release(n: number): ShotBoundary | null {
    const p = this.pending[0];
    if (p === undefined) return null;
    // A fade-out waits while the picture stays flat (a fade-in may follow: one dip), up to gradualMaxMs.
    if (p.b.kind === 'fade-out') {
      const cur = this.slotOf(n);
      const waited = (this.pts[cur]! - p.b.endPtsNs) / 1e6;
      if (waited < this.o.gradualMaxMs && (this.flat(this.slotOf(n - this.k)) || this.cand !== null)) {
        return null;
      }
    }
    // A transition still growing may absorb it.
    if (p.readyAt > n - this.k) return null;
    const c = this.cand;
    if (c !== null && this.pts[this.slotOf(c.s)]! <= p.b.endPtsNs + this.o.minShotMs * 1e6) return null;
    // So may a dip through a flat picture that began with it or just after it (up to gradualMaxMs).
    if (
      this.dipBefore >= 0 &&
      this.pts[this.slotOf(this.dipStart)]! <= p.b.endPtsNs + this.o.minShotMs * 1e6 &&
      this.pts[this.slotOf(n)]! - p.b.endPtsNs < this.o.gradualMaxMs * 1e6
    ) {
      return null;
    }
    this.pending.shift();
    if (p.b.startPtsNs < this.lastEndPtsNs + this.o.minShotMs * 1e6) return this.release(n);
    this.lastEndPtsNs = p.b.endPtsNs;
    return p.b;
  }
}

/**
 * The most cells a threshold along one axis classifies right: cells before it on one side, after it
 * on the other (either orientation). nb[off..off+len) counts the cells nearer b per position, nn all.
 */
function bestSplit(
  nbAt: Float64Array,
  nAt: Float64Array,
  off: number,
  len: number,
  nb: number,
  n: number,
): number {
  let best = 0;
  let bBefore = 0;
  let before = 0;
  for (let k = 0; k <= len; k++) {
    // Before k: b-side (or a-side), after: the other.
    const aBefore = before - bBefore;
    const bAfter = nb - bBefore;
    const aAfter = n - nb - aBefore;
    best = Math.max(best, bBefore + aAfter, aBefore + bAfter);
    if (k < len) {
      bBefore += nbAt[off + k]!;
      before += nAt[off + k]!;
    }
  }
  return best;
}

/** The shift (-max..max) of profile a[off..off+n) that best matches b over their overlap. */
function bestShift(a: Float64Array, b: Float64Array, off: number, n: number, max: number): number {
  let best = 0;
  let bestErr = Infinity;
  for (let d = -max; d <= max; d++) {
    let sum = 0;
    const i0 = Math.max(0, -d);
    const i1 = Math.min(n, n - d);
    for (let i = i0; i < i1; i++) sum += Math.abs(a[off + i + d]! - b[off + i]!);
    const err = sum / (i1 - i0);
    if (err < bestErr - 1e-9 || (err <= bestErr + 1e-9 && Math.abs(d) < Math.abs(best))) {
      bestErr = err;
      best = d;
    }
  }
  return best;
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** A boundary with the frame at which it became known (the new shot's keyframe candidate). */
export interface DetectedShotBoundary extends ShotBoundary {
  streamId: string;
  /** The frame at which the boundary became final (after the transition's end). */
  atPtsNs: number;
}

/**
 * Operator: frames in, shot boundaries out (see the detector above). Computes the frame features
 * itself; the keyframe selector reuses its own instead (KeyframeSelector runs a ShotDetector).
 */
export function detectShots(options: ShotOptions = {}): OperatorFunction<Frame, DetectedShotBoundary> {
  const resolved = parseShotOptions(options);
  return (source) =>
    new Observable<DetectedShotBoundary>((subscriber) => {
      const det = new ShotDetector(resolved);
      let features: FrameFeatures | undefined;
      const sub = source.subscribe({
        next(frame) {
          try {
            assertGray(frame.analysis, 'detectShots');
            const grid =
              frame.analysis.width >= DEFAULT_GRID.cols && frame.analysis.height >= DEFAULT_GRID.rows;
            if (!grid) throw new ConfigError('detectShots: analysis frame smaller than the 16x12 grid');
            features = frameFeatures(
              null,
              frame.analysis,
              DEFAULT_GRID.cols,
              DEFAULT_GRID.rows,
              DEFAULT_HISTOGRAM_BINS,
              25,
              features,
            );
            const b = det.push(frame.ptsNs, features.thumb, features.hist);
            if (b !== null) subscriber.next({ ...b, streamId: frame.streamId, atPtsNs: frame.ptsNs });
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        sub.unsubscribe();
        det.reset();
      };
    });
}
