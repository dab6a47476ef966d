/**
 * Multi-object tracking across analysed keyframes: persistent ids from IoU matching against each
 * track's motion-predicted box (constant velocity), with a centroid-distance fallback for small or
 * fast objects, greedy lowest-cost-first per class. A track is confirmed ("entered") after
 * `minHits` sightings, survives occlusion gaps of up to `maxLostKeyframes` analysed keyframes and
 * `maxLostMs` of stream time, then "leaves" with its dwell time. Keyframes whose analysis is
 * missing or unavailable neither confirm nor age tracks (the model being down is not an exit),
 * but the time gap still counts.
 *
 * State: at most maxTracks tracks (new detections beyond are counted as `dropped`), O(1) each;
 * released by `reset()` (the operator does it when the subscription ends).
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { Box, Detection } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import { checkNumber, checkStringArray, rejectUnknownKeys } from './options.js';
import type { AnalysedKeyframe } from './windows.js';

export interface TrackerOptions {
  /** Least IoU between a predicted track box and a detection for a match (default 0.2). */
  iouThreshold?: number;
  /** Fallback: match by centroid distance up to this many box diagonals (default 0.75; 0 = IoU only). */
  maxCentroidDistance?: number;
  /** Sightings (analysed keyframes) that confirm a track, i.e. object.entered (default 2). */
  minHits?: number;
  /** Analysed keyframes a confirmed track may go unseen (occlusion) before it leaves (default 3). */
  maxLostKeyframes?: number;
  /** Stream time a confirmed track may go unseen before it leaves, ms (default 3000). */
  maxLostMs?: number;
  /** Tracks held at once (default 256). */
  maxTracks?: number;
  /** Detections below this score are ignored (default 0). */
  minScore?: number;
  /** Only these labels are tracked (default: all). */
  labels?: readonly string[];
}

export interface ResolvedTrackerOptions {
  iouThreshold: number;
  maxCentroidDistance: number;
  minHits: number;
  maxLostKeyframes: number;
  maxLostMs: number;
  maxTracks: number;
  minScore: number;
  labels: ReadonlySet<string> | null;
}

/** A track as the outside world sees it. */
export interface TrackView {
  id: number;
  label: string;
  /** Class id of the detections (as the model reported it). */
  classId: number;
  /** Last observed box (source pixels). */
  box: Box;
  score: number;
  confirmed: boolean;
  /** True when the track was not seen in the current keyframe (coasting through an occlusion). */
  occluded: boolean;
  firstPtsNs: number;
  firstTimeMs: number;
  firstKeyframeId: string;
  lastPtsNs: number;
  lastTimeMs: number;
  lastKeyframeId: string;
  /** lastPtsNs - firstPtsNs, ms. */
  dwellMs: number;
}

export type LeaveReason = 'lost' | 'reset' | 'end';

export interface TrackStep {
  /** Tracks confirmed at this keyframe. */
  entered: TrackView[];
  /** Confirmed tracks that left at this keyframe. */
  left: (TrackView & { reason: LeaveReason })[];
  /** Confirmed tracks alive after this keyframe (seen or occluded). */
  tracks: TrackView[];
  /** Confirmed live tracks per label, labels sorted. */
  counts: Record<string, number>;
  /** False when this keyframe's analysis was missing (tracks unchanged). */
  analysed: boolean;
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
  /** Estimated bytes held. */
  bytes: number;
}

interface Track {
  id: number;
  label: string;
  classId: number;
  box: Box;
  score: number;
  /** Centroid velocity, px per ms. */
  vx: number;
  vy: number;
  hits: number;
  misses: number;
  confirmed: boolean;
  firstPtsNs: number;
  firstTimeMs: number;
  firstKeyframeId: string;
  lastPtsNs: number;
  lastTimeMs: number;
  lastKeyframeId: string;
}

const C = 'trackObjects';

export function parseTrackerOptions(options: TrackerOptions = {}): ResolvedTrackerOptions {
  rejectUnknownKeys(C, options, [
    'iouThreshold',
    'maxCentroidDistance',
    'minHits',
    'maxLostKeyframes',
    'maxLostMs',
    'maxTracks',
    'minScore',
    'labels',
  ]);
  const labels = checkStringArray(C, 'labels', options.labels);
  return {
    iouThreshold: checkNumber(C, 'iouThreshold', options.iouThreshold ?? 0.2, {
      min: 0,
      max: 1,
      exclusiveMin: true,
    }),
    maxCentroidDistance: checkNumber(C, 'maxCentroidDistance', options.maxCentroidDistance ?? 0.75, {
      min: 0,
      max: 10,
    }),
    minHits: checkNumber(C, 'minHits', options.minHits ?? 2, { min: 1, integer: true }),
    maxLostKeyframes: checkNumber(C, 'maxLostKeyframes', options.maxLostKeyframes ?? 3, {
      min: 0,
      integer: true,
    }),
    maxLostMs: checkNumber(C, 'maxLostMs', options.maxLostMs ?? 3000, { min: 0 }),
    maxTracks: checkNumber(C, 'maxTracks', options.maxTracks ?? 256, { min: 1, integer: true }),
    minScore: checkNumber(C, 'minScore', options.minScore ?? 0, { min: 0, max: 1 }),
    labels: labels === undefined ? null : new Set(labels),
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

const cx = (b: Box): number => b.x + b.w / 2;
const cy = (b: Box): number => b.y + b.h / 2;

function view(t: Track, occluded: boolean): TrackView {
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
  };
}

export class Tracker {
  private readonly o: ResolvedTrackerOptions;
  private tracks: Track[] = [];
  private nextId = 1;
  private dropped = 0;
  private lastPtsNs: number | null = null;
  private seenThisStep = new Set<number>();

  constructor(options: TrackerOptions = {}) {
    this.o = parseTrackerOptions(options);
  }

  update(item: AnalysedKeyframe): TrackStep {
    const { keyframe, analysis } = item;
    const ptsNs = keyframe.frame.ptsNs;
    const timeMs = keyframe.frame.captureTimeMs;
    const left: TrackStep['left'] = [];
    const entered: TrackView[] = [];
    this.seenThisStep = new Set();

    // PTS went back (a new timeline after a reconnect): everyone leaves, ids keep counting.
    if (this.lastPtsNs !== null && ptsNs < this.lastPtsNs - 1e9) {
      for (const t of this.tracks) if (t.confirmed) left.push({ ...view(t, true), reason: 'reset' });
      this.tracks = [];
    }
    this.lastPtsNs = ptsNs;

    if (analysis === null || !analysis.available) {
      // No sighting possible; only the time gap ages tracks.
      this.expire(ptsNs, left, false);
      return this.step(entered, left, false);
    }

    const dets = analysis.detections.filter(
      (d) => d.score >= this.o.minScore && (this.o.labels === null || this.o.labels.has(d.label)),
    );
    const matched = this.match(dets, ptsNs);
    const usedDet = new Set<number>();
    for (const [ti, di] of matched) {
      const t = this.tracks[ti] as Track;
      const d = dets[di] as Detection;
      usedDet.add(di);
      const dt = (ptsNs - t.lastPtsNs) / 1e6;
      if (dt > 0) {
        const vx = (cx(d.box) - cx(t.box)) / dt;
        const vy = (cy(d.box) - cy(t.box)) / dt;
        // Smooth the velocity; the first measurement replaces the zero prior.
        t.vx = t.hits === 1 ? vx : 0.5 * t.vx + 0.5 * vx;
        t.vy = t.hits === 1 ? vy : 0.5 * t.vy + 0.5 * vy;
      }
      t.box = { ...d.box };
      t.score = d.score;
      t.hits++;
      t.misses = 0;
      t.lastPtsNs = ptsNs;
      t.lastTimeMs = timeMs;
      t.lastKeyframeId = keyframe.id;
      this.seenThisStep.add(t.id);
      if (!t.confirmed && t.hits >= this.o.minHits) {
        t.confirmed = true;
        entered.push(view(t, false));
      }
    }
    // Unmatched tracks: a miss (tentative ones vanish at once).
    const unmatchedTracks = new Set(this.tracks.map((_, i) => i));
    for (const [ti] of matched) unmatchedTracks.delete(ti);
    for (const ti of unmatchedTracks) (this.tracks[ti] as Track).misses++;
    this.expire(ptsNs, left, true);
    // New tracks for unmatched detections.
    dets.forEach((d, di) => {
      if (usedDet.has(di)) return;
      if (this.tracks.length >= this.o.maxTracks) {
        this.dropped++;
        return;
      }
      const t: Track = {
        id: this.nextId++,
        label: d.label,
        classId: d.classId,
        box: { ...d.box },
        score: d.score,
        vx: 0,
        vy: 0,
        hits: 1,
        misses: 0,
        confirmed: false,
        firstPtsNs: ptsNs,
        firstTimeMs: timeMs,
        firstKeyframeId: keyframe.id,
        lastPtsNs: ptsNs,
        lastTimeMs: timeMs,
        lastKeyframeId: keyframe.id,
      };
      this.tracks.push(t);
      this.seenThisStep.add(t.id);
      if (this.o.minHits <= 1) {
        t.confirmed = true;
        entered.push(view(t, false));
      }
    });
    return this.step(entered, left, true);
  }

  /** Ends every confirmed track (e.g. when the stream ends); returns them. */
  flush(): TrackView[] {
    const out = this.tracks.filter((t) => t.confirmed).map((t) => view(t, true));
    this.tracks = [];
    return out;
  }

  stats(): TrackerStats {
    return {
      tracks: this.tracks.length,
      confirmed: this.tracks.filter((t) => t.confirmed).length,
      created: this.nextId - 1,
      dropped: this.dropped,
      bytes: this.tracks.reduce((n, t) => n + 320 + t.label.length * 2 + t.lastKeyframeId.length * 4, 0),
    };
  }

  reset(): void {
    this.tracks = [];
    this.lastPtsNs = null;
    this.seenThisStep = new Set();
  }

  private expire(ptsNs: number, left: TrackStep['left'], analysed: boolean): void {
    const keep: Track[] = [];
    for (const t of this.tracks) {
      const goneMs = (ptsNs - t.lastPtsNs) / 1e6;
      const lost = t.confirmed
        ? t.misses > this.o.maxLostKeyframes || goneMs > this.o.maxLostMs
        : analysed && t.misses > 0;
      if (!lost) keep.push(t);
      else if (t.confirmed) left.push({ ...view(t, true), reason: 'lost' });
    }
    this.tracks = keep;
  }

  /** Greedy assignment, lowest cost first: IoU matches (cost 1 - IoU) before centroid ones (cost > 1). */
  private match(dets: Detection[], ptsNs: number): [number, number][] {
    const pairs: { ti: number; di: number; cost: number }[] = [];
    this.tracks.forEach((t, ti) => {
      const dt = (ptsNs - t.lastPtsNs) / 1e6;
      const pred: Box = { x: t.box.x + t.vx * dt, y: t.box.y + t.vy * dt, w: t.box.w, h: t.box.h };
      dets.forEach((d, di) => {
        if (d.label !== t.label) return;
        const overlap = iou(pred, d.box);
        if (overlap >= this.o.iouThreshold) {
          pairs.push({ ti, di, cost: 1 - overlap });
          return;
        }
        if (this.o.maxCentroidDistance <= 0) return;
        const diag = (Math.hypot(t.box.w, t.box.h) + Math.hypot(d.box.w, d.box.h)) / 2;
        if (diag <= 0) return;
        const dist = Math.hypot(cx(pred) - cx(d.box), cy(pred) - cy(d.box)) / diag;
        if (dist <= this.o.maxCentroidDistance) pairs.push({ ti, di, cost: 1 + dist });
      });
    });
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

  private step(entered: TrackView[], left: TrackStep['left'], analysed: boolean): TrackStep {
    const tracks = this.tracks.filter((t) => t.confirmed).map((t) => view(t, !this.seenThisStep.has(t.id)));
    const counts = new Map<string, number>();
    for (const t of tracks) counts.set(t.label, (counts.get(t.label) ?? 0) + 1);
    return {
      entered,
      left,
      tracks,
      counts: Object.fromEntries([...counts.entries()].sort(([a], [b]) => a.localeCompare(b))),
      analysed,
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
