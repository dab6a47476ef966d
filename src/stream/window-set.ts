/**
 * The state of the window operator (see windows.ts): open windows by index, the watermark, the
 * continuous timeline across PTS resets, the wall-time timer that closes idle or overdue windows,
 * and the totals `onStats` reports. Digests go to `emit` in index order.
 */
import type { Observable, SchedulerLike, Subscription } from 'rxjs';
import type { Keyframe, VigilEvent, WindowDigest } from '../core/contracts.js';
import {
  WINDOW_EVENT_TYPES,
  TimeSpan,
  WindowAccumulator,
  type AnalysedKeyframe,
  type WindowAnnotation,
} from './window-accumulator.js';

export interface ResolvedWindowOptions {
  windowMs: number;
  hopMs: number;
  maxKeyframesPerWindow: number;
  idleCloseMs: number;
  maxOpenMs: number;
  maxOpenWindows: number;
  maxTextsPerWindow: number;
  maxTextLength: number;
  maxLabelsPerWindow: number;
  maxMissingListed: number;
  ptsResetToleranceMs: number;
  emitEmpty: boolean;
  pending: Observable<Keyframe> | undefined;
  annotations: Observable<WindowAnnotation> | undefined;
  maxAnnotationsPerWindow: number;
  events: Observable<VigilEvent> | undefined;
  progress: Observable<unknown> | undefined;
  media: Observable<MediaFrame> | undefined;
  maxObjectsListed: number;
  countsFromEvents: boolean;
  onStats: ((stats: WindowStats) => void) | undefined;
  scheduler: SchedulerLike;
}

export interface WindowStats {
  openWindows: number;
  /** Keyframe entries held (listed + pending) across open windows. */
  keyframes: number;
  texts: number;
  labels: number;
  /** Estimated bytes held by open windows. */
  bytes: number;
  emitted: number;
  late: number;
  dropped: number;
  ptsResets: number;
}

type ClosedBy = NonNullable<WindowDigest['closedBy']>;

/** A frame the source delivered, as the windows see it: its stream time and capture time only. */
export interface MediaFrame {
  ptsNs: number;
  captureTimeMs: number;
}

/**
 * Frames seen in a window that no keyframe, analysis or event has opened (yet): enough to publish
 * the window when it closes (#22: every window that received media is published).
 */
interface MediaMark {
  frames: number;
  span: TimeSpan;
  /** Wall time of its first frame: a mark closes on its own after maxOpenMs like a window. */
  openedAtMs: number;
  /** Keyframes expected in it that could not open it (too many open windows): it waits for them. */
  expected: number;
}

/** Timeline positions of pending keyframes kept at most (see `pendingPts`). */
const MAX_PENDING_PTS = 4096;
/** Windows with media but no open accumulator, kept at most (beyond, new ones are not marked). */
const MAX_MEDIA_MARKS = 4096;

export class WindowSet {
  /** Open windows by index (ascending insertion is not guaranteed: sorted on close). */
  private readonly open = new Map<number, WindowAccumulator>();
  /**
   * Timeline positions of keyframes seen as pending, by id, so their analyses land on the same
   * position: pending keyframes run ahead of their analyses, and judging a PTS reset from the
   * two inputs mixed would mistake that lead for a new timeline. Bounded like the windows.
   */
  private readonly pendingPts = new Map<string, number>();
  /** Windows that received frames but have no accumulator open, by index (see MediaMark). */
  private readonly marks = new Map<number, MediaMark>();
  private readonly hopNs: number;
  private readonly windowNs: number;
  private readonly toleranceNs: number;
  private lastClosedIndex = -1;
  private watermarkNs = -Infinity;
  private lastRawPtsNs: number | null = null;
  private offsetNs = 0;
  /** Late items and resets since the last digest (reported in the next one). */
  private late = 0;
  private resets = 0;
  private emitted = 0;
  private lateTotal = 0;
  private droppedTotal = 0;
  private resetsTotal = 0;
  private lastItemAtMs: number | null = null;
  /** The latest keyframe's stream time and wall time: dates windows that saw no keyframe. */
  private anchor: { ptsNs: number; timeMs: number } | null = null;
  private timer: Subscription | null = null;
  private streamId = '';

  constructor(
    private readonly o: ResolvedWindowOptions,
    private readonly emit: (digest: WindowDigest) => void,
  ) {
    this.hopNs = o.hopMs * 1e6;
    this.windowNs = o.windowMs * 1e6;
    this.toleranceNs = o.ptsResetToleranceMs * 1e6;
  }

  /** A keyframe sent to the model: listed as missing in its windows unless its analysis arrives. */
  expect(kf: Keyframe): void {
    const { o, open } = this;
    this.streamId = kf.frame.streamId;
    const ptsNs = this.timeline(kf.frame.ptsNs);
    this.pendingPts.set(kf.id, ptsNs);
    this.anchor = { ptsNs, timeMs: kf.frame.captureTimeMs };
    if (this.pendingPts.size > MAX_PENDING_PTS)
      this.pendingPts.delete(this.pendingPts.keys().next().value as string);
    for (const i of this.indexes(ptsNs)) {
      if (i <= this.lastClosedIndex) continue;
      // Listing a keyframe far ahead must not close windows still waiting for analyses; a window
      // with media waits for it instead of closing on its own.
      if (!open.has(i) && open.size >= o.maxOpenWindows) {
        const mark = this.marks.get(i);
        if (mark !== undefined) mark.expected++;
        continue;
      }
      this.windowFor(i, kf.frame.streamId).expect(kf, ptsNs);
    }
    this.arm();
    this.report();
  }

  /** An analysed keyframe: counted in every open window containing it; closes complete windows. */
  add(item: AnalysedKeyframe): void {
    const { o } = this;
    const kf = item.keyframe;
    this.streamId = kf.frame.streamId;
    const known = this.pendingPts.get(kf.id);
    if (known !== undefined) this.pendingPts.delete(kf.id);
    // With a pending input, that input is the leading edge and alone detects PTS resets.
    const ptsNs = known ?? (o.pending ? kf.frame.ptsNs + this.offsetNs : this.timeline(kf.frame.ptsNs));
    this.lastItemAtMs = o.scheduler.now();
    this.anchor = { ptsNs, timeMs: kf.frame.captureTimeMs };
    let counted = false;
    let wasLate = false;
    for (const i of this.indexes(ptsNs)) {
      if (i <= this.lastClosedIndex) {
        wasLate = true;
        continue;
      }
      this.windowFor(i, kf.frame.streamId).add(item, ptsNs);
      counted = true;
    }
    if (!counted && wasLate) {
      this.late++;
      this.lateTotal++;
    }
    if (ptsNs > this.watermarkNs) {
      this.watermarkNs = ptsNs;
      // Windows whose end is at or before the watermark are complete.
      const lastComplete = Math.floor((this.watermarkNs - this.windowNs) / this.hopNs);
      this.closeUpTo(lastComplete, 'watermark');
    }
    this.arm();
    this.report();
  }

  /** A caption or transcript: into the open windows holding its time, else late. */
  annotate(a: WindowAnnotation): void {
    const id = 'caption' in a ? a.caption.keyframeId : null;
    const raw = 'caption' in a ? a.caption.ptsNs : a.transcript.endPtsNs;
    const ptsNs = (id !== null ? this.pendingPts.get(id) : undefined) ?? raw + this.offsetNs;
    let placed = false;
    for (const i of this.indexes(ptsNs)) {
      const w = this.open.get(i);
      if (w !== undefined && w.annotate(a)) placed = true;
    }
    if (!placed) {
      this.late++;
      this.lateTotal++;
    }
    this.report();
  }

  /**
   * A `scene.cut`, `object.entered` or `object.left` event: counted in every window holding its
   * time, opening the window if needed (an event may come just before its keyframe's analysis);
   * one whose windows all closed counts as late. Other types are ignored.
   */
  event(e: VigilEvent): void {
    if (!WINDOW_EVENT_TYPES.has(e.type)) return;
    this.streamId = e.streamId;
    // The stage that sends events is working through the stream in order: not idle.
    this.lastItemAtMs = this.o.scheduler.now();
    const ptsNs = e.ptsNs + this.offsetNs;
    let placed = false;
    for (const i of this.indexes(ptsNs)) {
      if (i <= this.lastClosedIndex) continue;
      this.windowFor(i, e.streamId).event(e);
      placed = true;
    }
    if (!placed) {
      this.late++;
      this.lateTotal++;
    }
    this.arm();
    this.report();
  }

  /**
   * Upstream work settled (e.g. a tracker step): counts as activity for the idle close, like an
   * analysed item, so windows wait for the events still coming for their time. Only the idle
   * close: `maxOpenMs` and the watermark are unchanged, and when progress stops too, the idle close
   * applies as before.
   */
  progress(): void {
    this.lastItemAtMs = this.o.scheduler.now();
    if (this.timer === null) this.arm();
  }

  /**
   * A frame the source delivered: its windows count it, so a window that received media is
   * published even without a keyframe (its summary says no analysis). Frames do not move the
   * watermark (analyses lag behind them) and are no activity for the idle close. A frame of a
   * window already closed is ignored.
   */
  media(f: MediaFrame): void {
    const ptsNs = f.ptsNs + this.offsetNs;
    let added = false;
    for (const i of this.indexes(ptsNs)) {
      if (i <= this.lastClosedIndex) continue;
      const w = this.open.get(i);
      if (w !== undefined) {
        w.frame(ptsNs, f.captureTimeMs);
        continue;
      }
      let mark = this.marks.get(i);
      if (mark === undefined) {
        if (this.marks.size >= MAX_MEDIA_MARKS) continue;
        mark = { frames: 0, span: new TimeSpan(), openedAtMs: this.o.scheduler.now(), expected: 0 };
        this.marks.set(i, mark);
        added = true;
      }
      mark.frames++;
      mark.span.add(ptsNs, f.captureTimeMs);
    }
    // A new mark brings a deadline of its own.
    if (added) this.arm();
  }

  /** The source completed: every open window closes ('flush'). */
  flush(): void {
    this.cancelTimer();
    this.closeUpTo(Infinity, 'flush');
    this.report();
  }

  /** Drops every open window and the timer (error or unsubscribe). Idempotent. */
  clear(): void {
    this.cancelTimer();
    this.open.clear();
    this.pendingPts.clear();
    this.marks.clear();
  }

  stats(): WindowStats {
    let keyframes = 0;
    let texts = 0;
    let labels = 0;
    let bytes = 0;
    for (const w of this.open.values()) {
      keyframes += w.entries.length;
      texts += w.texts.size;
      labels += w.labels;
      bytes += w.bytes();
    }
    bytes += this.marks.size * 96;
    return {
      openWindows: this.open.size + this.marks.size,
      keyframes,
      texts,
      labels,
      bytes,
      emitted: this.emitted,
      late: this.lateTotal,
      dropped: this.droppedTotal,
      ptsResets: this.resetsTotal,
    };
  }

  private report(): void {
    if (this.o.onStats !== undefined) this.o.onStats(this.stats());
  }

  private close(w: WindowAccumulator, closedBy: ClosedBy): void {
    const { o } = this;
    this.open.delete(w.index);
    this.marks.delete(w.index);
    if (w.index <= this.lastClosedIndex) return; // cannot happen: windows close in index order
    // Empty windows between the last closed and this one are skipped (or emitted empty).
    if (o.emitEmpty) {
      for (let i = this.lastClosedIndex + 1; i < w.index; i++) {
        this.emitted++;
        this.emit(
          new WindowAccumulator(this.streamId, i, 0, o).digest({
            late: 0,
            resets: 0,
            closedBy,
            anchor: this.anchor,
          }),
        );
      }
    }
    this.lastClosedIndex = w.index;
    if (w.empty && !o.emitEmpty) return;
    const d = w.digest({ late: this.late, resets: this.resets, closedBy, anchor: this.anchor });
    this.droppedTotal += d.dropped ?? 0;
    this.late = 0;
    this.resets = 0;
    this.emitted++;
    this.emit(d);
  }

  /**
   * Closes every open window with index <= upTo, in index order, and every window with media only
   * (a mark) up to `marksUpTo` (default upTo).
   */
  private closeUpTo(upTo: number, closedBy: ClosedBy, marksUpTo = upTo): void {
    const due = [
      ...[...this.open.keys()].filter((i) => i <= upTo),
      ...[...this.marks.keys()].filter((i) => i <= marksUpTo && !this.open.has(i)),
    ].sort((a, b) => a - b);
    for (const i of due) {
      const w = this.open.get(i) ?? this.fromMark(i);
      if (w !== undefined) this.close(w, closedBy);
    }
  }

  /** An accumulator for a window known only by its mark (the mark is taken). */
  private fromMark(i: number): WindowAccumulator | undefined {
    const mark = this.marks.get(i);
    if (mark === undefined) return undefined;
    this.marks.delete(i);
    const w = new WindowAccumulator(this.streamId, i, mark.openedAtMs, this.o);
    w.media(mark.frames, mark.span);
    return w;
  }

  private cancelTimer(): void {
    this.timer?.unsubscribe();
    this.timer = null;
  }

  /** Schedules the next wall-time check: the idle close, or the earliest maxOpenMs. */
  private arm(): void {
    const { o } = this;
    this.cancelTimer();
    const now = o.scheduler.now();
    let wake = Infinity;
    if (this.lastItemAtMs !== null && this.open.size > 0) wake = this.lastItemAtMs + o.idleCloseMs;
    if (o.maxOpenMs > 0) {
      for (const w of this.open.values()) wake = Math.min(wake, w.openedAtMs + o.maxOpenMs);
      for (const m of this.marks.values())
        if (m.expected === 0) wake = Math.min(wake, m.openedAtMs + o.maxOpenMs);
    }
    if (!Number.isFinite(wake)) return;
    this.timer = o.scheduler.schedule(() => this.onTimer(), Math.max(0, wake - now));
  }

  private onTimer(): void {
    const { o } = this;
    this.timer = null;
    const now = o.scheduler.now();
    if (this.lastItemAtMs !== null && this.open.size > 0 && now >= this.lastItemAtMs + o.idleCloseMs) {
      // Idle: every open window closes, with the media-only windows between them; those beyond
      // (frames run ahead of analyses) keep their own deadline.
      this.closeUpTo(Infinity, 'timeout', Math.max(...this.open.keys()));
    } else if (o.maxOpenMs > 0) {
      let upTo = -1;
      for (const w of this.open.values())
        if (now >= w.openedAtMs + o.maxOpenMs) upTo = Math.max(upTo, w.index);
      for (const [i, m] of this.marks)
        if (m.expected === 0 && now >= m.openedAtMs + o.maxOpenMs) upTo = Math.max(upTo, i);
      if (upTo >= 0) this.closeUpTo(upTo, 'timeout');
    }
    this.arm();
    this.report();
  }

  /** Maps a raw PTS onto the continuous timeline, handling resets. */
  private timeline(rawPtsNs: number): number {
    if (this.lastRawPtsNs !== null && rawPtsNs < this.lastRawPtsNs - this.toleranceNs) {
      // A new timeline (reconnect): close what is open and continue after the watermark.
      this.closeUpTo(Infinity, 'reset');
      this.resets++;
      this.resetsTotal++;
      const next =
        Math.max(this.lastClosedIndex + 1, Math.floor(this.watermarkNs / this.hopNs) + 1) * this.hopNs;
      this.offsetNs = next - rawPtsNs;
      this.lastRawPtsNs = rawPtsNs;
      return rawPtsNs + this.offsetNs;
    }
    if (this.lastRawPtsNs === null || rawPtsNs > this.lastRawPtsNs) this.lastRawPtsNs = rawPtsNs;
    return rawPtsNs + this.offsetNs;
  }

  /** Indexes of the windows containing `ptsNs`. */
  private indexes(ptsNs: number): number[] {
    const hi = Math.floor(ptsNs / this.hopNs);
    const lo = Math.max(0, Math.floor((ptsNs - this.windowNs) / this.hopNs) + 1);
    const out: number[] = [];
    for (let i = lo; i <= hi; i++) out.push(i);
    return out;
  }

  private windowFor(i: number, streamId: string): WindowAccumulator {
    let w = this.open.get(i);
    if (w === undefined) {
      w = new WindowAccumulator(streamId, i, this.o.scheduler.now(), this.o);
      const mark = this.marks.get(i);
      if (mark !== undefined) {
        this.marks.delete(i);
        w.media(mark.frames, mark.span);
      }
      this.open.set(i, w);
      // Bound: too many open windows (e.g. pending keyframes far ahead) closes the oldest early.
      while (this.open.size > this.o.maxOpenWindows) this.closeUpTo(Math.min(...this.open.keys()), 'timeout');
    }
    return w;
  }
}
