/**
 * Multi-object tracking over detection steps (every detected frame: keyframes and the frames the
 * detection cadence picks between them). Each track carries a constant-velocity Kalman filter on
 * centre, aspect and height (kalman.ts), so its box is predicted to the time of each detection.
 * Association is in two stages, per class, greedy lowest cost first:
 *  1. detections scoring at least the class's `minScore` against every track (IoU with the
 *     predicted box, then a centroid-distance fallback for small or fast objects);
 *  2. the remaining low-score detections (below `minScore`) against the tracks still unmatched,
 *     by IoU only (`lowIouThreshold`): an object partly hidden keeps its id through the dip;
 *  3. high-score detections still unmatched against tracks still unmatched of ANOTHER class, by
 *     IoU at least `crossClassIou`: one object whose class flickers (a cockatoo read as bird, dog
 *     and teddy bear in turn) stays one track instead of several short ones. A track's label is the
 *     class with the most score among its sightings until it is confirmed; then it stays.
 *  4. re-acquisition: high-score detections still unmatched against tracks still unmatched of the
 *     same class, by centre distance to the predicted box or the last seen one (whichever is
 *     nearer), in box diagonals, within a gate that widens with the time the track has been
 *     unseen (`reacquireGrowth` diagonals per second, at most `reacquireMaxDistance`): after a gap
 *     in detections or an occlusion the object keeps its id instead of a new track starting.
 * Only high-score detections start tracks. A track is confirmed ("entered") once it has `minHits`
 * sightings AND the median of its score history reaches the class's `threshold`; a track never
 * confirmed appears nowhere (no events, counts or records). A confirmed track "leaves" as soon as
 * it has gone unseen for its effective maxLost (below), with the frame edge it left by; a
 * tentative one is dropped after `tentativeMaxMisses` unmatched steps. Steps whose detections are
 * missing (model unavailable) neither confirm nor age tracks.
 *
 * Effective maxLost: loss is counted in missed detections as well as time (like ByteTrack's track
 * buffer in frames). A confirmed track leaves once it has been unseen for `maxLostMs` AND missed
 * `maxLostDetections` detected frames, i.e. after max(maxLostMs, the stream time of its N-th
 * missed detection); at most `maxLostLimitMs` (the bound when detections stop altogether). At 5
 * detections per second the time rules; when the stream gets fewer (a shared budget, a busy
 * model, a stall) the track survives as many detections as it would at full cadence. Frames not
 * detected (ticks) are not misses. The value that applied is on every `left` entry
 * (`maxLostMs`): object.left latency is held to it.
 *
 * State: at most maxTracks tracks (new detections beyond are counted as `dropped`), each O(1)
 * (bounded score history and path); released by `reset()`.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { Box, Detection } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import { BoxKalman } from './kalman.js';
import { checkNumber, checkStringArray, rejectUnknownKeys } from './options.js';
import type { AnalysedKeyframe } from './windows.js';

export type Edge = 'left' | 'right' | 'top' | 'bottom' | 'none';

export interface ClassTrackOptions {
  /** Least score of a detection that can start or feed a track in the first stage (0..1). */
  minScore?: number;
  /** Least median score of a track's history for it to be confirmed (0..1). */
  threshold?: number;
}

export interface TrackerOptions {
  /** Least IoU between a predicted track box and a high-score detection (default 0.2). */
  iouThreshold?: number;
  /** Least IoU for the second stage (low-score detections to unmatched tracks; default 0.3). */
  lowIouThreshold?: number;
  /** Fallback: match by centroid distance up to this many box diagonals (default 0.75; 0 = IoU only). */
  maxCentroidDistance?: number;
  /** Sightings that confirm a track, with the median score (default 3). */
  minHits?: number;
  /** Stream time a confirmed track may go unseen before it leaves, ms (default 1500). */
  maxLostMs?: number;
  /** Unmatched detection steps after which a tentative track is dropped (default 2). */
  tentativeMaxMisses?: number;
  /** Tracks held at once (default 256). */
  maxTracks?: number;
  /** Default per-detection minimum score (default 0.4). */
  minScore?: number;
  /** Default confirmation threshold on the median score (default 0.5). */
  threshold?: number;
  /** Per-class overrides of minScore and threshold. */
  classes?: Record<string, ClassTrackOptions>;
  /** Only these labels are tracked (default: all). */
  labels?: readonly string[];
  /** Distance from a frame edge, as a fraction of the frame, within which a box touches it (default 0.04). */
  edgeMargin?: number;
  /** Least IoU for the third stage, a detection of another class on an unmatched track (default 0.5; 1 = off). */
  crossClassIou?: number;
  /**
   * Detected frames a confirmed track must also miss before it leaves (default 5; 0 = time only):
   * loss in detection opportunities, whatever cadence the stream gets.
   */
  maxLostDetections?: number;
  /** Unseen this long, a confirmed track leaves however few detections came, ms (default 6000). */
  maxLostLimitMs?: number;
  /** Re-acquisition gate growth, box diagonals per second unseen (default 0.5; 0 = no fourth stage). */
  reacquireGrowth?: number;
  /** Re-acquisition gate at most, box diagonals (default 2). */
  reacquireMaxDistance?: number;
}

export interface ResolvedTrackerOptions {
  iouThreshold: number;
  lowIouThreshold: number;
  maxCentroidDistance: number;
  minHits: number;
  maxLostMs: number;
  tentativeMaxMisses: number;
  maxTracks: number;
  minScore: number;
  threshold: number;
  classes: ReadonlyMap<string, { minScore: number; threshold: number }>;
  labels: ReadonlySet<string> | null;
  edgeMargin: number;
  crossClassIou: number;
  maxLostDetections: number;
  maxLostLimitMs: number;
  reacquireGrowth: number;
  reacquireMaxDistance: number;
}

/** A track as the outside world sees it. */
export interface TrackView {
  id: number;
  label: string;
  /** Class id of the detections (as the model reported it). */
  classId: number;
  /** Last observed box (source pixels). */
  box: Box;
  /** Last observed score. */
  score: number;
  confirmed: boolean;
  /** True when the track was not seen in the current step (coasting through an occlusion). */
  occluded: boolean;
  firstPtsNs: number;
  firstTimeMs: number;
  /** The keyframe of the first sighting, or the first keyframe after it (null before any). */
  firstKeyframeId: string;
  lastPtsNs: number;
  lastTimeMs: number;
  /** The last keyframe the track was seen in ('' before any). */
  lastKeyframeId: string;
  /** lastPtsNs - firstPtsNs, ms. */
  dwellMs: number;
  /** Sightings so far. */
  hits: number;
  peakScore: number;
  medianScore: number;
  /** Edge of the frame the first box touched. */
  entryEdge: Edge;
  /** Edge the last box touched, taken in the direction of motion ('none' while alive or inside). */
  exitEdge: Edge;
  /** The best-scoring keyframe sighting: its id and box. */
  best: { keyframeId: string; ptsNs: number; box: Box; score: number } | null;
  /** Sampled centre points [ptsNs, x, y] (bounded). */
  path: [number, number, number][];
}

export type LeaveReason = 'lost' | 'reset' | 'end';

/** A confirmed track that left, why, and the effective maxLost (ms) in force when it did. */
export type LeftTrack = TrackView & { reason: LeaveReason; maxLostMs: number };

export interface TrackStep {
  /** Tracks confirmed at this step. */
  entered: TrackView[];
  /** Confirmed tracks that left at this step. */
  left: LeftTrack[];
  /** Confirmed tracks alive after this step (seen or occluded). */
  tracks: TrackView[];
  /** Confirmed live tracks per label, labels sorted. */
  counts: Record<string, number>;
  /** False when this step's detections were missing (tracks unchanged). */
  analysed: boolean;
  /** Detections matched to confirmed tracks in this step (what counts and summaries may use). */
  confirmedDetections: Detection[];
}

/** One detection step: a detected frame (a keyframe or a cadence frame). */
export interface Observation {
  streamId: string;
  ptsNs: number;
  timeMs: number;
  /** The keyframe id when the frame is a keyframe, else null. */
  keyframeId: string | null;
  /** Source frame size, for the edges. */
  width: number;
  height: number;
  /** null: detection missing or unavailable for this frame. */
  detections: readonly Detection[] | null;
}

/** An analysed keyframe with the tracker's view of it. */
export interface TrackedKeyframe extends AnalysedKeyframe {
  tracking: TrackStep;
}

export interface TrackerStats {
  tracks: number;
  confirmed: number;
  /** Ids handed out so far. */
  created: number;
  /** Detections not tracked because maxTracks were held. */
  dropped: number;
  /** Detections matched to an unmatched track by the widened re-acquisition gate (stage 4). */
  reacquired: number;

  /** Estimated bytes held. */
  bytes: number;
}

const SCORE_HISTORY = 32;
const PATH_POINTS = 32;
const PATH_MIN_GAP_NS = 200e6;
/** Classes voted on per track (flicker among a few; bounded). */
const MAX_VOTES = 8;
/** Two boxes of different classes overlapping this much are one object (a rider and a bike are not). */
const SAME_OBJECT_IOU = 0.7;

interface Vote {
  score: number;
  classId: number;
  scores: number[];
}

interface Track {
  id: number;
  label: string;
  classId: number;
  kf: BoxKalman;
  box: Box;
  score: number;
  scores: number[];
  /** Per class: summed score and the scores of its sightings (the label vote, until confirmed). */
  votes: Map<string, Vote>;
  peak: number;
  hits: number;
  misses: number;
  /** Stream time unseen at the maxLostDetections-th consecutive miss, ms (null before it). */
  nthMissMs: number | null;
  confirmed: boolean;
  firstPtsNs: number;
  firstTimeMs: number;
  firstKeyframeId: string;
  lastPtsNs: number;
  lastTimeMs: number;
  lastKeyframeId: string;
  /** PTS the filter's state stands for. */
  statePtsNs: number;
  entryEdge: Edge;
  best: TrackView['best'];
  path: [number, number, number][];
  pathGapNs: number;
  frame: { width: number; height: number };
}

const C = 'trackObjects';
const CLASS_NAME = /^[a-z][a-z0-9 _-]{0,47}$/;

export function parseTrackerOptions(options: TrackerOptions = {}): ResolvedTrackerOptions {
  rejectUnknownKeys(C, options, [
    'iouThreshold',
    'lowIouThreshold',
    'maxCentroidDistance',
    'minHits',
    'maxLostMs',
    'tentativeMaxMisses',
    'maxTracks',
    'minScore',
    'threshold',
    'classes',
    'labels',
    'edgeMargin',
    'crossClassIou',
    'maxLostDetections',
    'maxLostLimitMs',
    'reacquireGrowth',
    'reacquireMaxDistance',
  ]);
  const labels = checkStringArray(C, 'labels', options.labels);
  const minScore = checkNumber(C, 'minScore', options.minScore ?? 0.4, { min: 0, max: 1 });
  const threshold = checkNumber(C, 'threshold', options.threshold ?? 0.5, { min: 0, max: 1 });
  const classes = new Map<string, { minScore: number; threshold: number }>();
  if (options.classes !== undefined) {
    if (options.classes === null || typeof options.classes !== 'object' || Array.isArray(options.classes)) {
      throw new ConfigError(`${C}: classes must be a mapping of class name to { minScore, threshold }`);
    }
    for (const [name, c] of Object.entries(options.classes)) {
      if (!CLASS_NAME.test(name))
        throw new ConfigError(`${C}: classes: bad class name ${JSON.stringify(name)}`);
      if (c === null || typeof c !== 'object' || Array.isArray(c)) {
        throw new ConfigError(`${C}: classes.${name} must be a mapping with minScore and/or threshold`);
      }
      rejectUnknownKeys(`${C}: classes.${name}`, c, ['minScore', 'threshold']);
      classes.set(name, {
        minScore: checkNumber(C, `classes.${name}.minScore`, c.minScore ?? minScore, { min: 0, max: 1 }),
        threshold: checkNumber(C, `classes.${name}.threshold`, c.threshold ?? threshold, { min: 0, max: 1 }),
      });
    }
  }
  return {
    iouThreshold: checkNumber(C, 'iouThreshold', options.iouThreshold ?? 0.2, {
      min: 0,
      max: 1,
      exclusiveMin: true,
    }),
    lowIouThreshold: checkNumber(C, 'lowIouThreshold', options.lowIouThreshold ?? 0.3, {
      min: 0,
      max: 1,
      exclusiveMin: true,
    }),
    maxCentroidDistance: checkNumber(C, 'maxCentroidDistance', options.maxCentroidDistance ?? 0.75, {
      min: 0,
      max: 10,
    }),
    minHits: checkNumber(C, 'minHits', options.minHits ?? 3, { min: 1, max: 1000, integer: true }),
    maxLostMs: checkNumber(C, 'maxLostMs', options.maxLostMs ?? 1500, { min: 0, max: 600_000 }),
    tentativeMaxMisses: checkNumber(C, 'tentativeMaxMisses', options.tentativeMaxMisses ?? 2, {
      min: 1,
      max: 1000,
      integer: true,
    }),
    maxTracks: checkNumber(C, 'maxTracks', options.maxTracks ?? 256, { min: 1, integer: true }),
    minScore,
    threshold,
    classes,
    labels: labels === undefined ? null : new Set(labels),
    edgeMargin: checkNumber(C, 'edgeMargin', options.edgeMargin ?? 0.04, { min: 0, max: 0.5 }),
    crossClassIou: checkNumber(C, 'crossClassIou', options.crossClassIou ?? 0.5, {
      min: 0,
      max: 1,
      exclusiveMin: true,
    }),
    maxLostDetections: checkNumber(C, 'maxLostDetections', options.maxLostDetections ?? 5, {
      min: 0,
      max: 1000,
      integer: true,
    }),
    maxLostLimitMs: checkNumber(C, 'maxLostLimitMs', options.maxLostLimitMs ?? 6000, {
      min: 0,
      max: 600_000,
    }),
    reacquireGrowth: checkNumber(C, 'reacquireGrowth', options.reacquireGrowth ?? 0.5, { min: 0, max: 10 }),
    reacquireMaxDistance: checkNumber(C, 'reacquireMaxDistance', options.reacquireMaxDistance ?? 2, {
      min: 0,
      max: 10,
    }),
  };
}

/** Intersection over union of two boxes (0 when either is empty). */
export function iou(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const inter = ix * iy;
  const union = a.w * a.h + b.w * b.h - inter;
  return union <= 0 ? 0 : inter / union;
}

/** Median of a non-empty list (the mean of the two middle values for an even length). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const cx = (b: Box): number => b.x + b.w / 2;
const cy = (b: Box): number => b.y + b.h / 2;

/** Distance between the boxes' centres in mean box diagonals (Infinity for boxes with no size). */
function centreDistance(a: Box, b: Box): number {
  const diag = (Math.hypot(a.w, a.h) + Math.hypot(b.w, b.h)) / 2;
  return diag > 0 ? Math.hypot(cx(a) - cx(b), cy(a) - cy(b)) / diag : Infinity;
}

/** Heights within a factor 2: a far small object is not the near big one. */
function similarHeight(a: Box, b: Box): boolean {
  return Math.max(a.h, b.h) / Math.max(1, Math.min(a.h, b.h)) <= 2;
}

/**
 * The frame edges a box touches (within `margin` of the frame size); with a velocity, the one the
 * object moves towards wins, otherwise the nearest.
 */
export function edgeOf(
  box: Box,
  frame: { width: number; height: number },
  margin: number,
  velocity: { vx: number; vy: number } = { vx: 0, vy: 0 },
): Edge {
  if (frame.width <= 0 || frame.height <= 0) return 'none';
  const mx = margin * frame.width;
  const my = margin * frame.height;
  const gaps: { edge: Edge; gap: number; toward: number }[] = [
    { edge: 'left', gap: box.x, toward: -velocity.vx },
    { edge: 'right', gap: frame.width - (box.x + box.w), toward: velocity.vx },
    { edge: 'top', gap: box.y, toward: -velocity.vy },
    { edge: 'bottom', gap: frame.height - (box.y + box.h), toward: velocity.vy },
  ];
  const touching = gaps.filter((g) => g.gap <= (g.edge === 'left' || g.edge === 'right' ? mx : my));
  if (touching.length === 0) return 'none';
  touching.sort((a, b) => b.toward - a.toward || a.gap - b.gap);
  return touching[0]!.edge;
}

export class Tracker {
  private readonly o: ResolvedTrackerOptions;
  private tracks: Track[] = [];
  private nextId = 1;
  private dropped = 0;
  private reacquired = 0;
  private lastPtsNs: number | null = null;

  private seenThisStep = new Set<number>();

  constructor(options: TrackerOptions = {}) {
    this.o = parseTrackerOptions(options);
  }

  get options(): ResolvedTrackerOptions {
    return this.o;
  }

  /**
   * A track's effective maxLost, ms: unseen this long, it leaves. `maxLostMs`, or longer until its
   * `maxLostDetections`-th missed detection (unknown yet: the limit), at most `maxLostLimitMs`.
   */
  lostAfterMs(t: { nthMissMs: number | null }): number {
    const base = this.o.maxLostMs;
    if (this.o.maxLostDetections === 0) return base;
    const limit = Math.max(base, this.o.maxLostLimitMs);
    return t.nthMissMs === null ? limit : Math.min(limit, Math.max(base, t.nthMissMs));
  }

  /** True while some live track is unmatched (an exit may be due): detection should go on. */
  get pendingLoss(): boolean {
    return this.tracks.some((t) => t.misses > 0);
  }

  /** A keyframe as a detection step (its analysis' detections). */
  update(item: AnalysedKeyframe): TrackStep {
    const { keyframe, analysis } = item;
    return this.observe({
      streamId: keyframe.frame.streamId,
      ptsNs: keyframe.frame.ptsNs,
      timeMs: keyframe.frame.captureTimeMs,
      keyframeId: keyframe.id,
      width: keyframe.frame.sourceWidth,
      height: keyframe.frame.sourceHeight,
      detections: analysis === null || !analysis.available ? null : analysis.detections,
    });
  }

  observe(obs: Observation): TrackStep {
    const ptsNs = obs.ptsNs;
    const left: TrackStep['left'] = [];
    const entered: TrackView[] = [];
    this.seenThisStep = new Set();

    // PTS went back (a new timeline after a reconnect): everyone leaves, ids keep counting.
    if (this.lastPtsNs !== null && ptsNs < this.lastPtsNs - 1e9) {
      for (const t of this.tracks)
        if (t.confirmed)
          left.push({ ...this.view(t, true), reason: 'reset', maxLostMs: this.lostAfterMs(t) });
      this.tracks = [];
    }
    if (this.lastPtsNs === null || ptsNs > this.lastPtsNs) this.lastPtsNs = ptsNs;

    if (obs.detections === null) return this.step(entered, left, false, []);

    // Every track's filter moves to this step's time.
    for (const t of this.tracks) {
      t.kf.predict((ptsNs - t.statePtsNs) / 1e9);
      t.statePtsNs = Math.max(t.statePtsNs, ptsNs);
    }
    const wanted = obs.detections.filter((d) => this.o.labels === null || this.o.labels.has(d.label));
    const high = wanted.filter((d) => d.score >= this.classOf(d.label).minScore);
    const low = wanted.filter((d) => d.score < this.classOf(d.label).minScore);
    const matchedT = new Set<number>();
    const usedHigh = new Set<number>();
    const confirmedDetections: Detection[] = [];
    const apply = (ti: number, d: Detection): void => {
      const t = this.tracks[ti]!;
      matchedT.add(ti);
      this.hit(t, d, obs);
      if (!t.confirmed && this.confirms(t)) {
        t.confirmed = true;
        entered.push(this.view(t, false));
      }
      if (t.confirmed) confirmedDetections.push(d);
    };
    for (const [ti, di] of this.match(high, [...this.tracks.keys()], this.o.iouThreshold, true)) {
      usedHigh.add(di);
      apply(ti, high[di]!);
    }
    const rest = [...this.tracks.keys()].filter((ti) => !matchedT.has(ti));
    for (const [ti, di] of this.match(low, rest, this.o.lowIouThreshold, false)) apply(ti, low[di]!);
    if (this.o.crossClassIou < 1) {
      const leftT = [...this.tracks.keys()].filter((ti) => !matchedT.has(ti));
      const leftD = [...high.keys()].filter((di) => !usedHigh.has(di));
      const dets = leftD.map((di) => high[di]!);
      for (const [ti, k] of this.match(dets, leftT, this.o.crossClassIou, false, true)) {
        usedHigh.add(leftD[k]!);
        apply(ti, dets[k]!);
      }
    }
    if (this.o.reacquireGrowth > 0) {
      const leftT = [...this.tracks.keys()].filter((ti) => !matchedT.has(ti));
      const leftD = [...high.keys()].filter((di) => !usedHigh.has(di));
      const dets = leftD.map((di) => high[di]!);
      for (const [ti, k] of this.reacquire(dets, leftT, ptsNs)) {
        usedHigh.add(leftD[k]!);
        this.reacquired++;
        apply(ti, dets[k]!);
      }
    }

    // Unmatched tracks: a miss (the N-th one fixes a confirmed track's effective maxLost).
    this.tracks.forEach((t, ti) => {
      if (matchedT.has(ti)) return;
      t.misses++;
      if (t.misses === this.o.maxLostDetections) t.nthMissMs = (ptsNs - t.lastPtsNs) / 1e6;
    });
    this.expire(ptsNs, left);
    // New tracks for unmatched high-score detections, except a second box of another class on an
    // object already matched in this step (YOLO's NMS is per class: one object, two labels).
    const matchedBoxes = [...usedHigh].map((di) => high[di]!.box);
    high.forEach((d, di) => {
      if (usedHigh.has(di)) return;
      if (matchedBoxes.some((b) => iou(b, d.box) >= SAME_OBJECT_IOU)) return;
      if (this.tracks.length >= this.o.maxTracks) {
        this.dropped++;
        return;
      }
      const t = this.create(d, obs);
      this.tracks.push(t);
      this.seenThisStep.add(t.id);
      if (this.confirms(t)) {
        t.confirmed = true;
        entered.push(this.view(t, false));
        confirmedDetections.push(d);
      }
    });
    return this.step(entered, left, true, confirmedDetections);
  }

  /**
   * A frame that was not detected (time passes, nothing is seen or missed): confirmed tracks unseen
   * for longer than their effective maxLost at this PTS leave now, so an exit does not wait for the next
   * detection (which may be seconds away when detections are scarce). Tentative tracks, filters
   * and misses are untouched.
   */
  tick(obs: Omit<Observation, 'detections' | 'keyframeId'>): TrackStep {
    const left: TrackStep['left'] = [];
    this.seenThisStep = new Set();
    if (this.lastPtsNs !== null && obs.ptsNs < this.lastPtsNs) return this.step([], left, false, []);
    this.lastPtsNs = obs.ptsNs;
    const keep: Track[] = [];
    for (const t of this.tracks) {
      const maxLostMs = this.lostAfterMs(t);
      if (t.confirmed && (obs.ptsNs - t.lastPtsNs) / 1e6 > maxLostMs) {
        left.push({ ...this.view(t, true, true), reason: 'lost', maxLostMs });
      } else keep.push(t);
    }
    this.tracks = keep;
    return this.step([], left, false, []);
  }

  /**
   * The confirmed track due to leave first, if it stays unseen: when (capture time, ms) and at which
   * PTS its effective maxLost runs out as far as known now (before its N-th missed detection: the
   * limit). Null without confirmed tracks.
   */
  get nextLoss(): { timeMs: number; ptsNs: number } | null {
    let next: { timeMs: number; ptsNs: number } | null = null;
    for (const t of this.tracks) {
      if (!t.confirmed) continue;
      const maxLostMs = this.lostAfterMs(t);
      const timeMs = t.lastTimeMs + maxLostMs;
      if (next === null || timeMs < next.timeMs) next = { timeMs, ptsNs: t.lastPtsNs + maxLostMs * 1e6 };
    }
    return next;
  }

  /** True while some track is confirmed (a tick may end it). */
  get hasConfirmed(): boolean {
    return this.tracks.some((t) => t.confirmed);
  }

  /** Ends every confirmed track (e.g. when the stream ends); returns them. */
  flush(): TrackView[] {
    const out = this.tracks.filter((t) => t.confirmed).map((t) => this.view(t, true));
    this.tracks = [];
    return out;
  }

  stats(): TrackerStats {
    return {
      tracks: this.tracks.length,
      confirmed: this.tracks.filter((t) => t.confirmed).length,
      created: this.nextId - 1,
      dropped: this.dropped,
      reacquired: this.reacquired,
      bytes: this.tracks.reduce(
        (n, t) => n + 900 + t.label.length * 2 + t.lastKeyframeId.length * 4 + t.path.length * 40,
        0,
      ),
    };
  }

  reset(): void {
    this.tracks = [];
    this.lastPtsNs = null;
    this.seenThisStep = new Set();
  }

  private classOf(label: string): { minScore: number; threshold: number } {
    return this.o.classes.get(label) ?? this.o;
  }

  /**
   * Confirmed: the track's leading class alone has `minHits` sightings whose median score reaches
   * the class's threshold (sightings of other classes keep the track alive but confirm nothing).
   */
  private confirms(t: Track): boolean {
    const v = t.votes.get(t.label);
    const scores = v?.scores ?? t.scores;
    return scores.length >= this.o.minHits && median(scores) >= this.classOf(t.label).threshold;
  }

  private create(d: Detection, obs: Observation): Track {
    const frame = { width: obs.width, height: obs.height };
    const t: Track = {
      id: this.nextId++,
      label: d.label,
      classId: d.classId,
      kf: new BoxKalman(d.box),
      box: { ...d.box },
      score: d.score,
      scores: [d.score],
      votes: new Map([[d.label, { score: d.score, classId: d.classId, scores: [d.score] }]]),
      peak: d.score,
      hits: 1,
      misses: 0,
      nthMissMs: null,
      confirmed: false,
      firstPtsNs: obs.ptsNs,
      firstTimeMs: obs.timeMs,
      firstKeyframeId: obs.keyframeId ?? '',
      lastPtsNs: obs.ptsNs,
      lastTimeMs: obs.timeMs,
      lastKeyframeId: obs.keyframeId ?? '',
      statePtsNs: obs.ptsNs,
      entryEdge: edgeOf(d.box, frame, this.o.edgeMargin),
      best:
        obs.keyframeId === null
          ? null
          : { keyframeId: obs.keyframeId, ptsNs: obs.ptsNs, box: { ...d.box }, score: d.score },
      path: [[obs.ptsNs, Math.round(cx(d.box)), Math.round(cy(d.box))]],
      pathGapNs: PATH_MIN_GAP_NS,
      frame,
    };
    return t;
  }

  private hit(t: Track, d: Detection, obs: Observation): void {
    const vote = t.votes.get(d.label);
    if (vote) {
      vote.score += d.score;
      vote.scores.push(d.score);
      if (vote.scores.length > SCORE_HISTORY) vote.scores.shift();
    } else if (t.votes.size < MAX_VOTES) {
      t.votes.set(d.label, { score: d.score, classId: d.classId, scores: [d.score] });
    }
    if (!t.confirmed && d.label !== t.label) {
      const lead = t.votes.get(t.label)?.score ?? 0;
      const mine = t.votes.get(d.label)?.score ?? 0;
      if (mine > lead) {
        t.label = d.label;
        t.classId = d.classId;
      }
    }
    t.kf.update(d.box);
    t.box = { ...d.box };
    t.score = d.score;
    t.scores.push(d.score);
    if (t.scores.length > SCORE_HISTORY) t.scores.shift();
    t.peak = Math.max(t.peak, d.score);
    t.hits++;
    t.misses = 0;
    t.nthMissMs = null;
    t.lastPtsNs = obs.ptsNs;
    t.lastTimeMs = obs.timeMs;
    t.frame = { width: obs.width, height: obs.height };
    if (obs.keyframeId !== null) {
      t.lastKeyframeId = obs.keyframeId;
      if (t.firstKeyframeId === '') t.firstKeyframeId = obs.keyframeId;
      if (t.best === null || d.score > t.best.score) {
        t.best = { keyframeId: obs.keyframeId, ptsNs: obs.ptsNs, box: { ...d.box }, score: d.score };
      }
    }
    const lastPoint = t.path[t.path.length - 1]!;
    if (obs.ptsNs - lastPoint[0] >= t.pathGapNs) {
      t.path.push([obs.ptsNs, Math.round(cx(d.box)), Math.round(cy(d.box))]);
      if (t.path.length > PATH_POINTS) {
        // Keep every other point and sample half as often from now on: bounded, evenly spread.
        t.path = t.path.filter((_, i) => i % 2 === 0 || i === t.path.length - 1);
        t.pathGapNs *= 2;
      }
    }
    this.seenThisStep.add(t.id);
  }

  private view(t: Track, occluded: boolean, leaving = false): TrackView {
    return {
      id: t.id,
      label: t.label,
      classId: t.classId,
      box: { ...t.box },
      score: t.score,
      confirmed: t.confirmed,
      occluded,
      firstPtsNs: t.firstPtsNs,
      firstTimeMs: t.firstTimeMs,
      firstKeyframeId: t.firstKeyframeId,
      lastPtsNs: t.lastPtsNs,
      lastTimeMs: t.lastTimeMs,
      lastKeyframeId: t.lastKeyframeId,
      dwellMs: (t.lastPtsNs - t.firstPtsNs) / 1e6,
      hits: t.hits,
      peakScore: t.peak,
      medianScore: median(t.scores),
      entryEdge: t.entryEdge,
      exitEdge: leaving ? edgeOf(t.box, t.frame, this.o.edgeMargin, t.kf.velocity()) : 'none',
      best: t.best === null ? null : { ...t.best, box: { ...t.best.box } },
      path: t.path.map((p) => [...p] as [number, number, number]),
    };
  }

  private expire(ptsNs: number, left: TrackStep['left']): void {
    const keep: Track[] = [];
    for (const t of this.tracks) {
      const maxLostMs = this.lostAfterMs(t);
      const goneMs = (ptsNs - t.lastPtsNs) / 1e6;
      const lost = t.confirmed ? goneMs > maxLostMs : t.misses >= this.o.tentativeMaxMisses;
      if (!lost) keep.push(t);
      else if (t.confirmed) left.push({ ...this.view(t, true, true), reason: 'lost', maxLostMs });
    }
    this.tracks = keep;
  }

  /**
   * Stage 4: detections still unmatched against tracks still unmatched, same class, by the centre
   * distance (in mean box diagonals) to the nearer of the predicted box and the last seen box,
   * within `maxCentroidDistance` + `reacquireGrowth` × seconds unseen, at most
   * `reacquireMaxDistance`; sizes within a factor 2. Greedy, nearest first.
   */
  private reacquire(
    dets: readonly Detection[],
    candidates: readonly number[],
    ptsNs: number,
  ): [number, number][] {
    const pairs: { ti: number; di: number; cost: number }[] = [];
    for (const ti of candidates) {
      const t = this.tracks[ti]!;
      const unseenS = Math.max(0, (ptsNs - t.lastPtsNs) / 1e9);
      const gate = Math.min(
        this.o.reacquireMaxDistance,
        this.o.maxCentroidDistance + this.o.reacquireGrowth * unseenS,
      );
      const pred = t.kf.box();
      dets.forEach((d, di) => {
        if (d.label !== t.label) return;
        if (!similarHeight(t.box, d.box)) return;
        const best = Math.min(centreDistance(pred, d.box), centreDistance(t.box, d.box));
        if (best <= gate) pairs.push({ ti, di, cost: best });
      });
    }
    return greedyAssign(pairs);
  }

  /**
   * Greedy assignment of `dets` to the tracks `candidates`, lowest cost first: IoU matches
   * (cost 1 - IoU) before centroid ones (cost > 1, only when `centroid`).
   */
  private match(
    dets: readonly Detection[],
    candidates: readonly number[],
    minIou: number,
    centroid: boolean,
    otherClass = false,
  ): [number, number][] {
    const pairs: { ti: number; di: number; cost: number }[] = [];
    for (const ti of candidates) {
      const t = this.tracks[ti]!;
      const pred = t.kf.box();
      dets.forEach((d, di) => {
        if ((d.label !== t.label) !== otherClass) return;
        const overlap = iou(pred, d.box);
        if (overlap >= minIou) {
          pairs.push({ ti, di, cost: 1 - overlap });
          return;
        }
        if (!centroid || this.o.maxCentroidDistance <= 0) return;
        // Sizes must agree roughly too.
        if (!similarHeight(pred, d.box)) return;
        const dist = centreDistance(pred, d.box);
        if (dist <= this.o.maxCentroidDistance) pairs.push({ ti, di, cost: 1 + dist });
      });
    }
    return greedyAssign(pairs);
  }

  private step(
    entered: TrackView[],
    left: TrackStep['left'],
    analysed: boolean,
    confirmedDetections: Detection[],
  ): TrackStep {
    const tracks = this.tracks
      .filter((t) => t.confirmed)
      .map((t) => this.view(t, !this.seenThisStep.has(t.id)));
    const counts = new Map<string, number>();
    for (const t of tracks) counts.set(t.label, (counts.get(t.label) ?? 0) + 1);
    return {
      entered,
      left,
      tracks,
      counts: Object.fromEntries([...counts.entries()].sort(([a], [b]) => a.localeCompare(b))),
      analysed,
      confirmedDetections,
    };
  }
}

/**
 * Operator: analysed keyframes in, the same keyframes with the tracker's step out (one per input).
 * Tracks still alive when the source completes are not reported as left (the stream ended, not the
 * objects); `Tracker.flush()` gives them to callers that want it.
 */
export function trackObjects(
  options: TrackerOptions = {},
  hooks: { onStats?: (stats: TrackerStats) => void } = {},
): OperatorFunction<AnalysedKeyframe, TrackedKeyframe> {
  parseTrackerOptions(options);
  if (hooks.onStats !== undefined && typeof hooks.onStats !== 'function') {
    throw new ConfigError(`${C}: onStats must be a function`);
  }
  return (source) =>
    new Observable<TrackedKeyframe>((subscriber) => {
      let tracker: Tracker | null = new Tracker(options);
      const sub = source.subscribe({
        next(item) {
          if (tracker === null) return;
          let tracking: TrackStep;
          try {
            tracking = tracker.update(item);
          } catch (err) {
            subscriber.error(err);
            return;
          }
          hooks.onStats?.(tracker.stats());
          subscriber.next({ ...item, tracking });
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        sub.unsubscribe();
        tracker?.reset();
        tracker = null;
      };
    });
}

/** Track–detection pairs taken lowest cost first, each track and each detection once (ties by index). */
function greedyAssign(pairs: { ti: number; di: number; cost: number }[]): [number, number][] {
  pairs.sort((a, b) => a.cost - b.cost || a.ti - b.ti || a.di - b.di);
  const usedT = new Set<number>();
  const usedD = new Set<number>();
  const out: [number, number][] = [];
  for (const p of pairs) {
    if (usedT.has(p.ti) || usedD.has(p.di)) continue;
    usedT.add(p.ti);
    usedD.add(p.di);
    out.push([p.ti, p.di]);
  }
  return out;
}
