/**
 * Time windows over analysed keyframes, by STREAM time. Window i covers
 * [i·hopMs, i·hopMs + windowMs) of PTS: tumbling when hopMs = windowMs (the default), overlapping
 * (sliding) when hopMs < windowMs, so one keyframe may count in several windows.
 *
 * A window closes (emits one WindowDigest, in index order, indexes strictly increasing) when
 *  - the watermark (highest PTS seen) passes its end ('watermark'),
 *  - no analysed item arrived for idleCloseMs of WALL time, or it has been open for maxOpenMs of
 *    wall time ('timeout'), via the injected scheduler: a window closes on time even when the
 *    model is slow or down and analyses stop coming;
 *  - PTS jumped backwards by more than ptsResetToleranceMs (a reconnect restarting PTS): open
 *    windows close ('reset') and later PTS are shifted onto a continuous timeline so window
 *    indexes stay monotonic (the digest counts it in `ptsResets`);
 *  - the source completes ('flush').
 * Empty windows are not emitted unless emitEmpty (indexes may then skip). On error the open windows
 * are dropped.
 *
 * Missing analyses: pass the selected keyframes as `pending` (before the model call) and each
 * window lists the keyframes whose analysis never came (`missing`, `missingKeyframes`); items with
 * a null or unavailable analysis count as missing too.
 *
 * Memory is bounded: at most maxOpenWindows open windows (the oldest is closed early beyond that),
 * per window at most maxKeyframesPerWindow keyframe entries (the rest counted as `dropped`),
 * maxTextsPerWindow texts of at most maxTextLength characters, maxLabelsPerWindow labels. No pixel
 * data is kept. `onStats` reports what is retained.
 */
import {
  Observable,
  asyncScheduler,
  type OperatorFunction,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import type { Analysis, Caption, Keyframe, Transcript, WindowDigest } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import { checkNumber, rejectUnknownKeys } from './options.js';

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

export interface WindowOptions {
  /** Window length in ms of stream time (required). */
  windowMs: number;
  /** Keyframe entries listed per window; more are counted as `dropped` (required). */
  maxKeyframesPerWindow: number;
  /** Distance between window starts, ms of stream time (default windowMs: tumbling). */
  hopMs?: number;
  /** Close open windows after this much wall time without analysed items, ms (default windowMs * 2). */
  idleCloseMs?: number;
  /** Close a window this long (wall time) after it opened even if items keep coming late, ms; 0 = never (default windowMs + idleCloseMs). */
  maxOpenMs?: number;
  /** Windows open at once; beyond, the oldest closes early (default ceil(windowMs / hopMs) + 1). */
  maxOpenWindows?: number;
  /** Distinct text strings kept per window (default 32). */
  maxTextsPerWindow?: number;
  /** Characters kept per text string (default 200). */
  maxTextLength?: number;
  /** Labels counted per window (default 100); more are ignored and counted in `dropped`. */
  maxLabelsPerWindow?: number;
  /** Missing keyframe ids listed per window (default 32). */
  maxMissingListed?: number;
  /** PTS going back more than this is a reset (new timeline), less is reordering, ms (default 1000). */
  ptsResetToleranceMs?: number;
  /** Emit windows with no items (default false). */
  emitEmpty?: boolean;
  /** Keyframes selected for analysis (before the model call), to report those whose analysis never came. */
  pending?: Observable<Keyframe>;
  /** Captions and transcripts (language stages), listed in the window holding their time. */
  annotations?: Observable<WindowAnnotation>;
  /** Captions and transcripts kept per window, each (default 16); characters kept of each (500). */
  maxAnnotationsPerWindow?: number;
  /** Called with the retained state after each change (metrics and memory tests; must not throw). */
  onStats?: (stats: WindowStats) => void;
  /** Scheduler for the wall-time timeouts (default asyncScheduler; tests inject a TestScheduler). */
  scheduler?: SchedulerLike;
}

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

const C = 'slidingWindows';
const KNOWN = [
  'windowMs',
  'maxKeyframesPerWindow',
  'hopMs',
  'idleCloseMs',
  'maxOpenMs',
  'maxOpenWindows',
  'maxTextsPerWindow',
  'maxTextLength',
  'maxLabelsPerWindow',
  'maxMissingListed',
  'ptsResetToleranceMs',
  'emitEmpty',
  'pending',
  'annotations',
  'maxAnnotationsPerWindow',
  'onStats',
  'scheduler',
] as const;

export function parseWindowOptions(options: WindowOptions, component = C): ResolvedWindowOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError(`${component}: options { windowMs, maxKeyframesPerWindow } are required`);
  }
  rejectUnknownKeys(component, options, KNOWN);
  const n = (name: string, v: unknown, r: Parameters<typeof checkNumber>[3]): number =>
    checkNumber(component, name, v, r);
  const windowMs = n('windowMs', options.windowMs, { min: 1 });
  const hopMs = n('hopMs', options.hopMs ?? windowMs, { min: 1 });
  if (hopMs > windowMs) {
    throw new ConfigError(
      `${component}: hopMs (${hopMs}) must not exceed windowMs (${windowMs}): windows would leave gaps`,
    );
  }
  const maxKeyframesPerWindow = n('maxKeyframesPerWindow', options.maxKeyframesPerWindow, {
    min: 1,
    integer: true,
  });
  const idleCloseMs = n('idleCloseMs', options.idleCloseMs ?? windowMs * 2, { min: 1 });
  const maxOpenMs = n('maxOpenMs', options.maxOpenMs ?? windowMs + idleCloseMs, { min: 0 });
  const minOpen = Math.ceil(windowMs / hopMs);
  const maxOpenWindows = n('maxOpenWindows', options.maxOpenWindows ?? minOpen + 1, {
    min: minOpen,
    integer: true,
  });
  if (options.emitEmpty !== undefined && typeof options.emitEmpty !== 'boolean') {
    throw new ConfigError(`${component}: emitEmpty must be a boolean`);
  }
  if (options.onStats !== undefined && typeof options.onStats !== 'function') {
    throw new ConfigError(`${component}: onStats must be a function`);
  }
  if (
    options.pending !== undefined &&
    typeof (options.pending as { subscribe?: unknown }).subscribe !== 'function'
  ) {
    throw new ConfigError(`${component}: pending must be an Observable of keyframes`);
  }
  return {
    windowMs,
    hopMs,
    maxKeyframesPerWindow,
    idleCloseMs,
    maxOpenMs,
    maxOpenWindows,
    maxTextsPerWindow: n('maxTextsPerWindow', options.maxTextsPerWindow ?? 32, { min: 0, integer: true }),
    maxTextLength: n('maxTextLength', options.maxTextLength ?? 200, { min: 1, integer: true }),
    maxLabelsPerWindow: n('maxLabelsPerWindow', options.maxLabelsPerWindow ?? 100, { min: 1, integer: true }),
    maxMissingListed: n('maxMissingListed', options.maxMissingListed ?? 32, { min: 0, integer: true }),
    ptsResetToleranceMs: n('ptsResetToleranceMs', options.ptsResetToleranceMs ?? 1000, { min: 0 }),
    emitEmpty: options.emitEmpty ?? false,
    pending: options.pending,
    annotations: options.annotations,
    maxAnnotationsPerWindow: n('maxAnnotationsPerWindow', options.maxAnnotationsPerWindow ?? 16, {
      min: 0,
      integer: true,
    }),
    onStats: options.onStats,
    scheduler: options.scheduler ?? asyncScheduler,
  };
}

type KeyframeEntry = WindowDigest['keyframes'][number];

/** Accumulator for one open window; O(maxKeyframesPerWindow + maxTextsPerWindow + labels). */
class WindowAccumulator {
  readonly entries: KeyframeEntry[] = [];
  /** Selected keyframes still waiting for their analysis: id → entry (also in `entries`). */
  readonly pending = new Map<string, KeyframeEntry>();
  private readonly peak = new Map<string, number>();
  private last: Record<string, number> = {};
  readonly texts = new Set<string>();
  readonly textAt: NonNullable<WindowDigest['textAt']> = [];
  readonly captions: NonNullable<WindowDigest['captions']> = [];
  readonly transcripts: NonNullable<WindowDigest['transcripts']> = [];
  private analysed = 0;
  private missing = 0;
  private dropped = 0;
  private motionSum = 0;
  items = 0;
  private firstPtsNs = 0;
  private firstTimeMs = 0;
  private lastPtsNs = 0;
  private lastTimeMs = 0;
  textBytes = 0;

  constructor(
    readonly streamId: string,
    readonly index: number,
    readonly openedAtMs: number,
    private readonly o: ResolvedWindowOptions,
  ) {}

  get labels(): number {
    return this.peak.size;
  }

  /** Registers a keyframe sent to the model; it counts as missing unless its analysis arrives. */
  expect(kf: Keyframe, ptsNs: number): void {
    if (this.pending.has(kf.id)) return;
    this.time(ptsNs, kf.frame.captureTimeMs);
    if (this.entries.length >= this.o.maxKeyframesPerWindow) {
      return; // counted when (if) its analysis arrives, or not at all: bounded either way
    }
    const entry: KeyframeEntry = { id: kf.id, ptsNs: kf.frame.ptsNs, reason: kf.reason };
    this.entries.push(entry);
    this.pending.set(kf.id, entry);
  }

  add(item: AnalysedKeyframe, ptsNs: number): void {
    const { keyframe, analysis } = item;
    this.time(ptsNs, keyframe.frame.captureTimeMs);
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

    if (!ok) {
      this.missing++;
      return;
    }
    this.analysed++;
    const counts = countByLabel(analysis);
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

  private time(ptsNs: number, timeMs: number): void {
    if (this.items === 0 && this.pending.size === 0 && this.entries.length === 0) {
      this.firstPtsNs = ptsNs;
      this.firstTimeMs = timeMs;
      this.lastPtsNs = ptsNs;
      this.lastTimeMs = timeMs;
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

  bytes(): number {
    let b = 256 + this.peak.size * 64 + this.textBytes;
    for (const e of this.entries) b += 96 + e.id.length * 2;
    return b + this.pending.size * 48;
  }

  get empty(): boolean {
    return this.items === 0 && this.entries.length === 0;
  }

  digest(extra: {
    late: number;
    resets: number;
    closedBy: NonNullable<WindowDigest['closedBy']>;
  }): WindowDigest {
    const { windowMs, hopMs } = this.o;
    const startPtsNs = this.index * hopMs * 1e6;
    const endPtsNs = startPtsNs + windowMs * 1e6;
    const empty = this.empty;
    const keyframes = [...this.entries].sort((a, b) => a.ptsNs - b.ptsNs);
    const d: WindowDigest = {
      streamId: this.streamId,
      index: this.index,
      startPtsNs,
      endPtsNs,
      // Wall times extrapolated from the first/last item along stream time.
      startTimeMs: empty ? 0 : Math.round(this.firstTimeMs - (this.firstPtsNs - startPtsNs) / 1e6),
      endTimeMs: empty ? 0 : Math.round(this.lastTimeMs + (endPtsNs - this.lastPtsNs) / 1e6),
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
    if (extra.late > 0) d.late = extra.late;
    if (extra.resets > 0) d.ptsResets = extra.resets;
    if (this.textAt.length > 0) d.textAt = [...this.textAt];
    if (this.captions.length > 0) d.captions = [...this.captions].sort((a, b) => a.ptsNs - b.ptsNs);
    if (this.transcripts.length > 0)
      d.transcripts = [...this.transcripts].sort((a, b) => a.startPtsNs - b.startPtsNs);
    if (this.pending.size > 0) {
      d.missingKeyframes = [...this.pending.keys()].slice(0, this.o.maxMissingListed);
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

/**
 * Operator: analysed keyframes in, one WindowDigest per closed window out (see the module doc).
 * Options are validated when called.
 */
export function slidingWindows(options: WindowOptions): OperatorFunction<AnalysedKeyframe, WindowDigest> {
  return windowsOperator(parseWindowOptions(options, C));
}

/** Tumbling windows (hopMs = windowMs): the same operator, kept under its original name. */
export function tumblingWindows(options: WindowOptions): OperatorFunction<AnalysedKeyframe, WindowDigest> {
  const o = parseWindowOptions(options, 'tumblingWindows');
  return windowsOperator(o);
}

function windowsOperator(o: ResolvedWindowOptions): OperatorFunction<AnalysedKeyframe, WindowDigest> {
  const hopNs = o.hopMs * 1e6;
  const windowNs = o.windowMs * 1e6;
  const toleranceNs = o.ptsResetToleranceMs * 1e6;
  return (source) =>
    new Observable<WindowDigest>((subscriber) => {
      /** Open windows by index (ascending insertion is not guaranteed: sorted on close). */
      const open = new Map<number, WindowAccumulator>();
      let lastClosedIndex = -1;
      let watermarkNs = -Infinity;
      let lastRawPtsNs: number | null = null;
      let offsetNs = 0;
      let late = 0;
      let resets = 0;
      let emitted = 0;
      let lateTotal = 0;
      let droppedTotal = 0;
      let resetsTotal = 0;
      let lastItemAtMs: number | null = null;
      let timer: Subscription | null = null;
      let streamId = '';

      const stats = (): WindowStats => {
        let keyframes = 0;
        let texts = 0;
        let labels = 0;
        let bytes = 0;
        for (const w of open.values()) {
          keyframes += w.entries.length;
          texts += w.texts.size;
          labels += w.labels;
          bytes += w.bytes();
        }
        return {
          openWindows: open.size,
          keyframes,
          texts,
          labels,
          bytes,
          emitted,
          late: lateTotal,
          dropped: droppedTotal,
          ptsResets: resetsTotal,
        };
      };
      const report = (): void => {
        if (o.onStats !== undefined) o.onStats(stats());
      };

      const emit = (w: WindowAccumulator, closedBy: NonNullable<WindowDigest['closedBy']>): void => {
        open.delete(w.index);
        if (w.index <= lastClosedIndex) return; // cannot happen: windows close in index order
        // Empty windows between the last closed and this one are skipped (or emitted empty).
        if (o.emitEmpty) {
          for (let i = lastClosedIndex + 1; i < w.index; i++) {
            emitted++;
            subscriber.next(
              new WindowAccumulator(streamId, i, 0, o).digest({ late: 0, resets: 0, closedBy }),
            );
          }
        }
        lastClosedIndex = w.index;
        if (w.empty && !o.emitEmpty) return;
        const d = w.digest({ late, resets, closedBy });
        droppedTotal += d.dropped ?? 0;
        late = 0;
        resets = 0;
        emitted++;
        subscriber.next(d);
      };

      /** Closes every open window with index <= upTo, in index order. */
      const closeUpTo = (upTo: number, closedBy: NonNullable<WindowDigest['closedBy']>): void => {
        const due = [...open.keys()].filter((i) => i <= upTo).sort((a, b) => a - b);
        for (const i of due) emit(open.get(i) as WindowAccumulator, closedBy);
      };

      const cancelTimer = (): void => {
        timer?.unsubscribe();
        timer = null;
      };
      const arm = (): void => {
        cancelTimer();
        const now = o.scheduler.now();
        let wake = Infinity;
        if (lastItemAtMs !== null && open.size > 0) wake = lastItemAtMs + o.idleCloseMs;
        if (o.maxOpenMs > 0) for (const w of open.values()) wake = Math.min(wake, w.openedAtMs + o.maxOpenMs);
        if (!Number.isFinite(wake)) return;
        timer = o.scheduler.schedule(onTimer, Math.max(0, wake - now));
      };
      const onTimer = (): void => {
        timer = null;
        const now = o.scheduler.now();
        if (lastItemAtMs !== null && now >= lastItemAtMs + o.idleCloseMs) {
          closeUpTo(Infinity, 'timeout');
        } else if (o.maxOpenMs > 0) {
          let upTo = -1;
          for (const w of open.values())
            if (now >= w.openedAtMs + o.maxOpenMs) upTo = Math.max(upTo, w.index);
          if (upTo >= 0) closeUpTo(upTo, 'timeout');
        }
        arm();
        report();
      };

      /** Maps a raw PTS onto the continuous timeline, handling resets; null when the item is unusable. */
      const timeline = (rawPtsNs: number): number => {
        if (lastRawPtsNs !== null && rawPtsNs < lastRawPtsNs - toleranceNs) {
          // A new timeline (reconnect): close what is open and continue after the watermark.
          closeUpTo(Infinity, 'reset');
          resets++;
          resetsTotal++;
          const next = Math.max(lastClosedIndex + 1, Math.floor(watermarkNs / hopNs) + 1) * hopNs;
          offsetNs = next - rawPtsNs;
          lastRawPtsNs = rawPtsNs;
          return rawPtsNs + offsetNs;
        }
        if (lastRawPtsNs === null || rawPtsNs > lastRawPtsNs) lastRawPtsNs = rawPtsNs;
        return rawPtsNs + offsetNs;
      };

      /** Indexes of the windows containing `ptsNs`. */
      const indexes = (ptsNs: number): number[] => {
        const hi = Math.floor(ptsNs / hopNs);
        const lo = Math.max(0, Math.floor((ptsNs - windowNs) / hopNs) + 1);
        const out: number[] = [];
        for (let i = lo; i <= hi; i++) out.push(i);
        return out;
      };

      const windowFor = (i: number, kf: Keyframe): WindowAccumulator => {
        let w = open.get(i);
        if (w === undefined) {
          w = new WindowAccumulator(kf.frame.streamId, i, o.scheduler.now(), o);
          open.set(i, w);
          // Bound: too many open windows (e.g. pending keyframes far ahead) closes the oldest early.
          while (open.size > o.maxOpenWindows) closeUpTo(Math.min(...open.keys()), 'timeout');
        }
        return w;
      };

      /**
       * Timeline positions of keyframes seen as pending, by id, so their analyses land on the same
       * position: pending keyframes run ahead of their analyses, and judging a PTS reset from the
       * two inputs mixed would mistake that lead for a new timeline. Bounded like the windows.
       */
      const pendingPts = new Map<string, number>();
      const MAX_PENDING_PTS = 4096;

      const onPending = (kf: Keyframe): void => {
        streamId = kf.frame.streamId;
        const ptsNs = timeline(kf.frame.ptsNs);
        pendingPts.set(kf.id, ptsNs);
        if (pendingPts.size > MAX_PENDING_PTS) pendingPts.delete(pendingPts.keys().next().value as string);
        for (const i of indexes(ptsNs)) {
          if (i <= lastClosedIndex) continue;
          // Listing a keyframe far ahead must not close windows still waiting for analyses.
          if (!open.has(i) && open.size >= o.maxOpenWindows) continue;
          windowFor(i, kf).expect(kf, ptsNs);
        }
        arm();
        report();
      };

      const onItem = (item: AnalysedKeyframe): void => {
        const kf = item.keyframe;
        streamId = kf.frame.streamId;
        const known = pendingPts.get(kf.id);
        if (known !== undefined) pendingPts.delete(kf.id);
        // With a pending input, that input is the leading edge and alone detects PTS resets.
        const ptsNs = known ?? (o.pending ? kf.frame.ptsNs + offsetNs : timeline(kf.frame.ptsNs));
        lastItemAtMs = o.scheduler.now();
        let counted = false;
        let wasLate = false;
        for (const i of indexes(ptsNs)) {
          if (i <= lastClosedIndex) {
            wasLate = true;
            continue;
          }
          windowFor(i, kf).add(item, ptsNs);
          counted = true;
        }
        if (!counted && wasLate) {
          late++;
          lateTotal++;
        }
        if (ptsNs > watermarkNs) {
          watermarkNs = ptsNs;
          // Windows whose end is at or before the watermark are complete.
          const lastComplete = Math.floor((watermarkNs - windowNs) / hopNs);
          closeUpTo(lastComplete, 'watermark');
        }
        arm();
        report();
      };

      /** A caption or transcript: into the open windows holding its time, else late. */
      const onAnnotation = (a: WindowAnnotation): void => {
        const id = 'caption' in a ? a.caption.keyframeId : null;
        const raw = 'caption' in a ? a.caption.ptsNs : a.transcript.endPtsNs;
        const ptsNs = (id !== null ? pendingPts.get(id) : undefined) ?? raw + offsetNs;
        let placed = false;
        for (const i of indexes(ptsNs)) {
          const w = open.get(i);
          if (w !== undefined && w.annotate(a)) placed = true;
        }
        if (!placed) {
          late++;
          lateTotal++;
        }
        report();
      };

      const annotationSub = o.annotations?.subscribe({
        next: (a) => {
          try {
            onAnnotation(a);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err: unknown) => subscriber.error(err),
      });
      const pendingSub = o.pending?.subscribe({
        next: onPending,
        error: (err: unknown) => subscriber.error(err),
      });
      const sub = source.subscribe({
        next(item) {
          try {
            onItem(item);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error(err: unknown) {
          cancelTimer();
          open.clear();
          subscriber.error(err);
        },
        complete() {
          cancelTimer();
          closeUpTo(Infinity, 'flush');
          report();
          subscriber.complete();
        },
      });

      return () => {
        sub.unsubscribe();
        pendingSub?.unsubscribe();
        annotationSub?.unsubscribe();
        cancelTimer();
        open.clear();
        pendingPts.clear();
      };
    });
}
