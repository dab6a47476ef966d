/**
 * One open window's accumulator: keyframe entries, label peaks, texts, tracks, object entries and
 * exits, scene cuts and shots, all within their bounds.
 *
 * Counts with a tracker: a tracked keyframe (`tracking` set) counts its confirmed live tracks
 * (`tracking.counts`, the same counts as `count.changed`), never raw detections.
 * Scene cuts, entries and exits: from the window's `scene.cut`, `object.entered` and `object.left`
 * events when the window is fed events (the one source every level and the event list share);
 * without an event input, each scene-cut keyframe counts as one cut.
 */
import type {
  Analysis,
  Caption,
  DigestObjectEvent,
  EdgeTally,
  DigestShot,
  DigestTrack,
  FrameEdge,
  Keyframe,
  Transcript,
  TransitionKind,
  VigilEvent,
  WindowDigest,
} from '../core/contracts.js';
import { addToTally, sumTallies } from './rollup.js';

/**
 * What the language stages add to a window after the fact: a caption (placed at its keyframe's
 * time) or a transcript (placed at its segment's end). One whose window already closed is counted
 * in the next digest's `late`.
 */
export type WindowAnnotation = { caption: Caption } | { transcript: Transcript };

/** A keyframe with its analysis; null when inference gave nothing (timed out, dropped). */
export interface AnalysedKeyframe {
  keyframe: Keyframe;
  analysis: Analysis | null;
}

/**
 * What a window reads of the tracker's view of a keyframe (tracker.ts TrackStep; declared here so
 * the window stages do not import the tracker).
 */
interface TrackStep {
  tracks: readonly {
    id: number;
    label: string;
    box: { w: number; h: number };
    occluded: boolean;
    firstPtsNs: number;
    lastPtsNs: number;
    path: readonly (readonly [number, number, number])[];
  }[];
  counts: Record<string, number>;
}

/** The tracker's view of a keyframe, when tracking runs upstream (see tracker.ts TrackedKeyframe). */
function trackingOf(item: AnalysedKeyframe): TrackStep | undefined {
  return 'tracking' in item ? ((item as { tracking?: TrackStep }).tracking ?? undefined) : undefined;
}

/** Event types a window counts (everything else is ignored). */
export const WINDOW_EVENT_TYPES: ReadonlySet<string> = new Set([
  'scene.cut',
  'object.entered',
  'object.left',
]);

/** The bounds and geometry one window needs (see WindowOptions). */
export interface WindowLimits {
  windowMs: number;
  hopMs: number;
  maxKeyframesPerWindow: number;
  maxTextsPerWindow: number;
  maxTextLength: number;
  maxLabelsPerWindow: number;
  maxMissingListed: number;
  /** Captions and transcripts kept per window, each. */
  maxAnnotationsPerWindow: number;
  /** Tracks, entries, exits and shots listed per window, each (all are counted). */
  maxObjectsListed: number;
  /** True when scene cuts, entries and exits come from events (see the module doc). */
  countsFromEvents: boolean;
}

type KeyframeEntry = WindowDigest['keyframes'][number];

/** Accumulator for one open window; O(maxKeyframesPerWindow + maxTextsPerWindow + labels). */
export class WindowAccumulator {
  readonly entries: KeyframeEntry[] = [];
  /** Selected keyframes still waiting for their analysis: id → entry (also in `entries`). */
  readonly pending = new Map<string, KeyframeEntry>();
  private readonly peak = new Map<string, number>();
  private last: Record<string, number> = {};
  readonly texts = new Set<string>();
  readonly textAt: NonNullable<WindowDigest['textAt']> = [];
  readonly captions: NonNullable<WindowDigest['captions']> = [];
  readonly transcripts: NonNullable<WindowDigest['transcripts']> = [];
  readonly tracks = new Map<number, DigestTrack>();
  readonly objectEntries: DigestObjectEvent[] = [];
  private readonly enteredBy: EdgeTally = {};
  private readonly leftBy: EdgeTally = {};
  readonly objectExits: DigestObjectEvent[] = [];
  readonly shots: DigestShot[] = [];
  /** Objects in each listed shot's best keyframe so far. */
  private readonly shotBest = new Map<DigestShot, number>();
  private entered = 0;
  private left = 0;
  private cuts = 0;
  private events = 0;
  private analysed = 0;
  private missing = 0;
  private dropped = 0;
  private motionSum = 0;
  /** Frames the source delivered in this window (the `media` input). */
  private frames = 0;
  /** Earliest and latest positions seen (items, pending keyframes, frames), with wall times. */
  private readonly span = new TimeSpan();
  items = 0;
  textBytes = 0;

  constructor(
    readonly streamId: string,
    readonly index: number,
    readonly openedAtMs: number,
    private readonly o: WindowLimits,
  ) {}

  get labels(): number {
    return this.peak.size;
  }

  /** Registers a keyframe sent to the model; it counts as missing unless its analysis arrives. */
  expect(kf: Keyframe, ptsNs: number): void {
    if (this.pending.has(kf.id)) return;
    this.span.add(ptsNs, kf.frame.captureTimeMs);
    if (this.entries.length >= this.o.maxKeyframesPerWindow) {
      return; // counted when (if) its analysis arrives, or not at all: bounded either way
    }
    const entry: KeyframeEntry = { id: kf.id, ptsNs: kf.frame.ptsNs, reason: kf.reason };
    this.entries.push(entry);
    this.pending.set(kf.id, entry);
  }

  add(item: AnalysedKeyframe, ptsNs: number): void {
    const { keyframe, analysis } = item;
    this.span.add(ptsNs, keyframe.frame.captureTimeMs);
    this.items++;
    this.motionSum += Number.isFinite(keyframe.motionScore) ? keyframe.motionScore : 0;

    const ok = analysis !== null && analysis.available;
    let entry = this.pending.get(keyframe.id);
    if (entry !== undefined) {
      this.pending.delete(keyframe.id);
    } else if (this.entries.length < this.o.maxKeyframesPerWindow) {
      entry = { id: keyframe.id, ptsNs: keyframe.frame.ptsNs, reason: keyframe.reason };
      this.entries.push(entry);
    } else {
      this.dropped++;
    }
    if (ok && entry !== undefined) entry.detections = analysis.detections.length;

    if (!this.o.countsFromEvents && keyframe.reason === 'scene-cut') {
      this.cuts++;
      this.openShot(keyframe.id, keyframe.frame.ptsNs, keyframe.shot?.kind ?? 'cut', {});
    }
    if (keyframe.reason === 'first') this.openShot(keyframe.id, keyframe.frame.ptsNs, 'first', {});

    if (!ok) {
      this.missing++;
      return;
    }
    this.analysed++;
    const tracking = trackingOf(item);
    const counts = tracking !== undefined ? { ...tracking.counts } : countByLabel(analysis);
    if (tracking !== undefined) this.seeTracks(tracking, keyframe.id);
    // A shot is described by what its keyframes saw (confirmed objects matched in them).
    this.shotSaw(keyframe.id, keyframe.frame.ptsNs, countByLabel(analysis));
    for (const [label, n] of Object.entries(counts)) {
      const had = this.peak.get(label);
      if (had === undefined && this.peak.size >= this.o.maxLabelsPerWindow) continue;
      if (n > (had ?? 0)) this.peak.set(label, n);
    }
    this.last = counts;
    for (const t of analysis.text) {
      if (this.texts.size >= this.o.maxTextsPerWindow) break;
      const s = t.trim().slice(0, this.o.maxTextLength);
      if (s !== '' && !this.texts.has(s)) {
        this.texts.add(s);
        this.textAt.push({ text: s, keyframeId: keyframe.id, ptsNs: keyframe.frame.ptsNs });
        this.textBytes += 96 + s.length * 2;
      }
    }
  }

  /**
   * A `scene.cut`, `object.entered` or `object.left` event of this window: counted in full, listed
   * within the bound. Other types are ignored.
   */
  event(e: VigilEvent): void {
    if (!WINDOW_EVENT_TYPES.has(e.type)) return;
    this.events++;
    const d = e.data;
    if (e.type === 'scene.cut') {
      this.cuts++;
      const kind = typeof d['kind'] === 'string' ? (d['kind'] as TransitionKind) : 'cut';
      const counts: Record<string, number> = {};
      for (const b of e.evidence.boxes) counts[b.label] = (counts[b.label] ?? 0) + 1;
      const id = e.evidence.keyframeId ?? '';
      this.openShot(id, e.ptsNs, kind, {});
      this.shotSaw(id, e.ptsNs, counts);
      return;
    }
    const edgeKey = e.type === 'object.entered' ? 'entryEdge' : 'exitEdge';
    const o: DigestObjectEvent = {
      trackId: typeof d['trackId'] === 'number' ? d['trackId'] : -1,
      label: typeof d['label'] === 'string' ? d['label'] : 'object',
      ptsNs: e.ptsNs,
      edge: typeof d[edgeKey] === 'string' ? (d[edgeKey] as FrameEdge) : 'none',
      keyframeId:
        e.type === 'object.entered'
          ? typeof d['firstKeyframeId'] === 'string'
            ? d['firstKeyframeId']
            : e.evidence.keyframeId
          : e.evidence.keyframeId,
    };
    if (e.type === 'object.left') {
      if (typeof d['dwellMs'] === 'number') o.dwellMs = d['dwellMs'];
      if (typeof d['enteredPtsNs'] === 'number') o.enteredPtsNs = d['enteredPtsNs'];
      this.left++;
      if (this.objectExits.length < this.o.maxObjectsListed) this.objectExits.push(o);
      addToTally(this.leftBy, o.label, o.edge, 1, this.o.maxLabelsPerWindow);
    } else {
      this.entered++;
      if (this.objectEntries.length < this.o.maxObjectsListed) this.objectEntries.push(o);
      addToTally(this.enteredBy, o.label, o.edge, 1, this.o.maxLabelsPerWindow);
    }
    this.textBytes += 160;
  }

  /** A new shot starting at `ptsNs` (listed within the bound; the count is the cuts'). */
  private openShot(
    keyframeId: string,
    ptsNs: number,
    transition: DigestShot['transition'],
    counts: Record<string, number>,
  ): void {
    if (this.shots.some((s) => s.keyframeId === keyframeId && keyframeId !== '')) return;
    if (this.shots.length >= this.o.maxObjectsListed) return;
    const shot: DigestShot = { keyframeId, ptsNs, transition, counts };
    this.shots.push(shot);
    this.shots.sort((a, b) => a.ptsNs - b.ptsNs);
  }

  /** What a keyframe saw goes to the shot it belongs to (the latest one started at or before it). */
  private shotSaw(keyframeId: string, ptsNs: number, counts: Record<string, number>): void {
    let shot: DigestShot | undefined;
    for (const s of this.shots) if (s.ptsNs <= ptsNs) shot = s;
    if (shot === undefined) return;
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    if (shot.bestKeyframeId === undefined || total > (this.shotBest.get(shot) ?? 0)) {
      shot.bestKeyframeId = keyframeId;
      this.shotBest.set(shot, total);
    }
    for (const [label, n] of Object.entries(counts)) {
      if (n > (shot.counts[label] ?? 0)) shot.counts[label] = n;
    }
  }

  /** The confirmed tracks of a tracked keyframe: listed (bounded) with how far each moved. */
  private seeTracks(step: TrackStep, keyframeId: string): void {
    for (const t of step.tracks) {
      let entry = this.tracks.get(t.id);
      if (entry === undefined) {
        if (this.tracks.size >= this.o.maxObjectsListed) continue;
        entry = { id: t.id, label: t.label, firstPtsNs: t.firstPtsNs, lastPtsNs: t.lastPtsNs, moved: 0 };
        this.tracks.set(t.id, entry);
        this.textBytes += 160;
      }
      entry.lastPtsNs = Math.max(entry.lastPtsNs, t.lastPtsNs);
      if (!t.occluded) entry.keyframeId = keyframeId;
      const diag = Math.max(1, Math.hypot(t.box.w, t.box.h));
      const p0 = t.path[0];
      if (p0 !== undefined) {
        let moved = entry.moved ?? 0;
        for (const p of t.path) moved = Math.max(moved, Math.hypot(p[1] - p0[1], p[2] - p0[2]) / diag);
        entry.moved = Math.round(moved * 1000) / 1000;
      }
    }
  }

  /** A caption or transcript; false when the window's list is full. */
  annotate(a: WindowAnnotation): boolean {
    const max = this.o.maxAnnotationsPerWindow;
    if ('caption' in a) {
      if (this.captions.length >= max) return false;
      const c = a.caption;
      const text = c.text.slice(0, 500);
      this.captions.push({ keyframeId: c.keyframeId, ptsNs: c.ptsNs, text, model: c.model });
      this.textBytes += 128 + text.length * 2;
      return true;
    }
    if (this.transcripts.length >= max) return false;
    const t = a.transcript;
    const text = t.text.slice(0, 500);
    this.transcripts.push({
      startPtsNs: t.startPtsNs,
      endPtsNs: t.endPtsNs,
      text,
      ...(t.language !== undefined ? { language: t.language } : {}),
    });
    this.textBytes += 128 + text.length * 2;
    return true;
  }

  private wallTimes(
    startPtsNs: number,
    endPtsNs: number,
    anchor: { ptsNs: number; timeMs: number } | null,
  ): { startTimeMs: number; endTimeMs: number } {
    const t = this.span;
    if (t.seen)
      return {
        startTimeMs: Math.round(t.firstTimeMs - (t.firstPtsNs - startPtsNs) / 1e6),
        endTimeMs: Math.round(t.lastTimeMs + (endPtsNs - t.lastPtsNs) / 1e6),
      };
    if (anchor === null) return { startTimeMs: 0, endTimeMs: 0 };
    return {
      startTimeMs: Math.round(anchor.timeMs + (startPtsNs - anchor.ptsNs) / 1e6),
      endTimeMs: Math.round(anchor.timeMs + (endPtsNs - anchor.ptsNs) / 1e6),
    };
  }

  /** A frame the source delivered in this window: a window that received media is not empty, keyframe or not. */
  frame(ptsNs: number, timeMs: number): void {
    this.frames++;
    this.span.add(ptsNs, timeMs);
  }

  /** `n` frames delivered before this window opened (over `span`, on the window's timeline). */
  media(n: number, span: TimeSpan): void {
    this.frames += n;
    if (!span.seen) return;
    this.span.add(span.firstPtsNs, span.firstTimeMs);
    this.span.add(span.lastPtsNs, span.lastTimeMs);
  }

  bytes(): number {
    let b = 256 + this.peak.size * 64 + this.textBytes;
    for (const e of this.entries) b += 96 + e.id.length * 2;
    return b + this.pending.size * 48;
  }

  get empty(): boolean {
    return this.items === 0 && this.entries.length === 0 && this.events === 0 && this.frames === 0;
  }

  digest(extra: {
    late: number;
    resets: number;
    closedBy: NonNullable<WindowDigest['closedBy']>;
    /** The stream's latest keyframe (stream time → wall time), for a window that saw no keyframe of its own. */
    anchor?: { ptsNs: number; timeMs: number } | null;
  }): WindowDigest {
    const { windowMs, hopMs } = this.o;
    const startPtsNs = this.index * hopMs * 1e6;
    const endPtsNs = startPtsNs + windowMs * 1e6;
    const keyframes = [...this.entries].sort((a, b) => a.ptsNs - b.ptsNs);
    const d: WindowDigest = {
      streamId: this.streamId,
      index: this.index,
      startPtsNs,
      endPtsNs,
      // Wall times extrapolated along stream time from the first/last item, else from the stream's
      // latest keyframe (a window with events or nothing only must not read as 1970).
      ...this.wallTimes(startPtsNs, endPtsNs, extra.anchor ?? null),
      keyframes,
      peakCounts: Object.fromEntries([...this.peak.entries()].sort(([a], [b]) => a.localeCompare(b))),
      lastCounts: this.last,
      analysed: this.analysed,
      missing: this.missing + this.pending.size,
      meanMotion: this.items === 0 ? 0 : this.motionSum / this.items,
      text: [...this.texts],
      closedBy: extra.closedBy,
    };
    if (this.dropped > 0) d.dropped = this.dropped;
    if (this.frames > 0) d.frames = this.frames;
    if (extra.late > 0) d.late = extra.late;
    if (extra.resets > 0) d.ptsResets = extra.resets;
    if (this.textAt.length > 0) d.textAt = [...this.textAt];
    if (this.captions.length > 0) d.captions = [...this.captions].sort((a, b) => a.ptsNs - b.ptsNs);
    if (this.transcripts.length > 0)
      d.transcripts = [...this.transcripts].sort((a, b) => a.startPtsNs - b.startPtsNs);
    if (this.pending.size > 0) {
      d.missingKeyframes = [...this.pending.keys()].slice(0, this.o.maxMissingListed);
    }
    if (this.cuts > 0) d.sceneCuts = this.cuts;
    if (this.shots.length > 0) d.shots = this.shots.map((s) => ({ ...s, counts: { ...s.counts } }));
    if (this.tracks.size > 0) d.tracks = [...this.tracks.values()].map((t) => ({ ...t }));
    if (this.entered > 0) {
      d.objectsEntered = this.entered;
      d.entries = this.objectEntries.map((x) => ({ ...x }));
      d.enteredBy = sumTallies([this.enteredBy]);
    }
    if (this.left > 0) {
      d.objectsLeft = this.left;
      d.exits = this.objectExits.map((x) => ({ ...x }));
      d.leftBy = sumTallies([this.leftBy]);
    }
    return d;
  }
}

/** Count of detections per label in one analysis, labels sorted. */
export function countByLabel(analysis: Analysis): Record<string, number> {
  const m = new Map<string, number>();
  for (const d of analysis.detections) m.set(d.label, (m.get(d.label) ?? 0) + 1);
  return Object.fromEntries([...m.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

/** The earliest and latest stream positions seen, each with its wall time. */
export class TimeSpan {
  seen = false;
  firstPtsNs = 0;
  firstTimeMs = 0;
  lastPtsNs = 0;
  lastTimeMs = 0;

  add(ptsNs: number, timeMs: number): void {
    if (!this.seen) {
      this.seen = true;
      this.firstPtsNs = this.lastPtsNs = ptsNs;
      this.firstTimeMs = this.lastTimeMs = timeMs;
      return;
    }
    if (ptsNs < this.firstPtsNs) {
      this.firstPtsNs = ptsNs;
      this.firstTimeMs = timeMs;
    }
    if (ptsNs >= this.lastPtsNs) {
      this.lastPtsNs = ptsNs;
      this.lastTimeMs = timeMs;
    }
  }
}
