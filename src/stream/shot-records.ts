/**
 * Shot records: one `ShotRecord` per shot (`vigil.<stream>.shot`), from the keyframes the selector
 * chose (in order) and their analyses (which come later, or never). A pure state machine, no I/O.
 *
 *  - A shot opens at the stream's first keyframe ('first', or the first after PTS went backwards)
 *    and at every 'scene-cut' keyframe (its `shot` transition: kind, span, confidence). It starts
 *    at the transition's end (the new shot's first clean frame); the keyframe that opened it is
 *    its representative (the selector takes it after the transition, never in its middle).
 *  - It ends where the next transition starts, or at the last frame seen when the input ends.
 *  - What was seen: counts per label, text (OCR) and caption from the representative's analysis.
 *    When that analysis is missing (inference down, the keyframe stale), the shot's first later
 *    keyframe with an analysis stands in as the representative.
 *  - A shot that has ended is released once its representative's analysis is settled (arrived, or
 *    known never to come), in order. At most `maxPending` ended shots wait; past that the oldest
 *    is released as it is (counted in `releasedEarly`). Memory: O(maxPending).
 */
import type { Analysis, Keyframe, ShotRecord, TransitionKind } from '../core/contracts.js';
import { checkNumber, checkRunId, idPrefix } from './options.js';

export interface ShotRecordOptions {
  /** Run id put in record ids (`<streamId>:<runId>:shot:<index>`). */
  runId?: string;
  /** Ended shots waiting for their representative's analysis, at most (default 32, 1..1024). */
  maxPending?: number;
}

interface OpenShot {
  streamId: string;
  index: number;
  startPtsNs: number;
  transition: TransitionKind | 'first';
  transitionStartPtsNs: number;
  confidence: number;
  /** PTS and capture time pairs, to turn stream time into wall time. */
  refPtsNs: number;
  refTimeMs: number;
  endPtsNs: number;
  endTimeMs: number;
  rep: Keyframe;
  /** The representative's analysis: undefined while it may still come, null when it never will. */
  analysis: Analysis | null | undefined;
  /** Later keyframes of the shot (ids), any of which may stand in when the analysis is missing. */
  members: Set<string>;
  ended: boolean;
}

export class ShotRecorder {
  private readonly prefix: (streamId: string) => string;
  private readonly maxPending: number;
  /** Shots in order: the ended ones waiting for an analysis, then the open one (last). */
  private readonly shots: OpenShot[] = [];
  private index = 0;
  private lastPtsNs = Number.NEGATIVE_INFINITY;
  private lastTimeMs = 0;
  /** Ended shots released before their representative's analysis came (maxPending reached). */
  releasedEarly = 0;

  constructor(options: ShotRecordOptions = {}) {
    const runId = checkRunId('shots', options.runId);
    this.maxPending = options.maxPending ?? 32;
    checkNumber('shots', 'maxPending', this.maxPending, { min: 1, max: 1024, integer: true });
    this.prefix = (streamId) => idPrefix(streamId, runId);
  }

  /** A frame went by (its time ends the open shot when the input ends). */
  frame(ptsNs: number, captureTimeMs: number): void {
    this.lastPtsNs = ptsNs;
    this.lastTimeMs = captureTimeMs;
  }

  /** A keyframe the selector chose, in order; returns the records released by it. */
  keyframe(kf: Keyframe): ShotRecord[] {
    const open = this.open();
    const pts = kf.frame.ptsNs;
    const opens =
      open === undefined || kf.reason === 'first' || pts < open.refPtsNs || kf.reason === 'scene-cut';
    if (!opens) {
      open.members.add(kf.id);
      return [];
    }
    if (open !== undefined) {
      // Ends where the transition starts (a new run: at the last frame before it).
      const end =
        kf.reason === 'scene-cut' && kf.shot !== undefined && pts >= open.refPtsNs
          ? Math.max(open.startPtsNs, kf.shot.startPtsNs)
          : Math.max(open.startPtsNs, Math.min(this.lastPtsNs, open.endPtsNs));
      open.endPtsNs = end;
      open.endTimeMs = open.refTimeMs + (end - open.refPtsNs) / 1e6;
      open.ended = true;
    }
    const t = kf.reason === 'scene-cut' ? kf.shot : undefined;
    const start = t !== undefined ? Math.min(t.endPtsNs, pts) : pts;
    this.shots.push({
      streamId: kf.frame.streamId,
      index: this.index++,
      startPtsNs: start,
      transition: t?.kind ?? 'first',
      transitionStartPtsNs: t?.startPtsNs ?? start,
      confidence: t?.confidence ?? 1,
      refPtsNs: pts,
      refTimeMs: kf.frame.captureTimeMs,
      endPtsNs: Number.POSITIVE_INFINITY,
      endTimeMs: kf.frame.captureTimeMs,
      rep: kf,
      analysis: undefined,
      members: new Set(),
      ended: false,
    });
    return this.release();
  }

  /** A keyframe's analysis arrived (null: it never will, e.g. dropped or stale). */
  analysed(kf: Keyframe, analysis: Analysis | null): ShotRecord[] {
    const usable = analysis !== null && analysis.available ? analysis : null;
    for (const s of this.shots) {
      if (s.rep.id === kf.id && s.analysis === undefined) {
        s.analysis = usable;
        break;
      }
      if (s.members.has(kf.id)) {
        s.members.delete(kf.id);
        // A later keyframe stands in for a representative whose analysis is missing.
        if (s.analysis === null && usable !== null) {
          s.rep = kf;
          s.analysis = usable;
        }
        break;
      }
    }
    return this.release();
  }

  /** The input ended: every shot is released (the open one ends at the last frame seen). */
  finish(): ShotRecord[] {
    const open = this.open();
    if (open !== undefined) {
      const end = Math.max(open.startPtsNs, this.lastPtsNs);
      open.endPtsNs = end;
      open.endTimeMs = Number.isFinite(this.lastPtsNs)
        ? this.lastTimeMs
        : open.refTimeMs + (end - open.refPtsNs) / 1e6;
      open.ended = true;
    }
    const out = this.shots.map((s) => this.record(s));
    this.shots.length = 0;
    return out;
  }

  private open(): OpenShot | undefined {
    const last = this.shots[this.shots.length - 1];
    return last !== undefined && !last.ended ? last : undefined;
  }

  private release(): ShotRecord[] {
    const out: ShotRecord[] = [];
    for (;;) {
      const s = this.shots[0];
      if (s === undefined || !s.ended) break;
      const ended = this.shots.filter((x) => x.ended).length;
      // Settled: its analysis came (or never will, and no later keyframe of the shot is pending).
      const settled = s.analysis !== undefined && (s.analysis !== null || s.members.size === 0);
      if (!settled && ended <= this.maxPending) break;
      if (!settled) this.releasedEarly++;
      this.shots.shift();
      out.push(this.record(s));
    }
    return out;
  }

  private record(s: OpenShot): ShotRecord {
    const a = s.analysis ?? null;
    const counts: Record<string, number> = {};
    for (const d of a?.detections ?? []) counts[d.label] = (counts[d.label] ?? 0) + 1;
    const end = Number.isFinite(s.endPtsNs) ? s.endPtsNs : s.startPtsNs;
    const r: ShotRecord = {
      id: `${this.prefix(s.streamId)}:shot:${s.index}`,
      streamId: s.streamId,
      index: s.index,
      startPtsNs: s.startPtsNs,
      endPtsNs: end,
      startTimeMs: Math.round(s.refTimeMs + (s.startPtsNs - s.refPtsNs) / 1e6),
      endTimeMs: Math.round(s.endTimeMs),
      transition: s.transition,
      transitionStartPtsNs: s.transitionStartPtsNs,
      confidence: s.confidence,
      keyframeId: s.rep.id,
      keyframePtsNs: s.rep.frame.ptsNs,
      counts,
      text: a?.text.slice(0, 16) ?? [],
    };
    if (a?.caption !== undefined) r.caption = a.caption;
    return r;
  }
}
