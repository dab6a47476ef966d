/**
 * Tumbling windows over analysed keyframes, by STREAM time: window i covers
 * [i·windowMs, (i+1)·windowMs) of PTS. A window closes (emits one WindowDigest) when
 *  - an item whose PTS lies beyond its end arrives,
 *  - the source completes (the last non-empty window is flushed), or
 *  - no item arrived for idleCloseMs of WALL time (via the injected scheduler), so a window still
 *    closes on time when the model is slow or down and items stop coming.
 * Empty windows are never emitted (digest indexes may skip). On error the open window is dropped.
 *
 * Memory per open window is bounded: at most maxKeyframesPerWindow keyframe entries (beyond that
 * they still count in the aggregates and are reported as `dropped`), at most maxTextsPerWindow
 * distinct text strings, one count per label. No pixel data is kept.
 *
 * An item older than the open window (reordered) is folded into it; an item for a window already
 * closed (late, typically after an idle close) is not counted and is reported as `late` in the next
 * digest.
 */
import {
  Observable,
  asyncScheduler,
  type OperatorFunction,
  type SchedulerLike,
  type Subscription,
} from 'rxjs';
import type { Analysis, Keyframe, WindowDigest } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import { checkNumber, rejectUnknownKeys } from './options.js';

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
  /** Close the open window after this much wall time without items, ms (default windowMs * 2). */
  idleCloseMs?: number;
  /** Distinct text strings kept per window (default 32). */
  maxTextsPerWindow?: number;
  /** Scheduler for the idle timeout (default asyncScheduler; tests inject a TestScheduler). */
  scheduler?: SchedulerLike;
}

export interface ResolvedWindowOptions {
  windowMs: number;
  maxKeyframesPerWindow: number;
  idleCloseMs: number;
  maxTextsPerWindow: number;
  scheduler: SchedulerLike;
}

const C = 'tumblingWindows';
const KNOWN = ['windowMs', 'maxKeyframesPerWindow', 'idleCloseMs', 'maxTextsPerWindow', 'scheduler'] as const;

export function parseWindowOptions(options: WindowOptions): ResolvedWindowOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError(`${C}: options { windowMs, maxKeyframesPerWindow } are required`);
  }
  rejectUnknownKeys(C, options, KNOWN);
  const windowMs = checkNumber(C, 'windowMs', options.windowMs, { min: 1 });
  const maxKeyframesPerWindow = checkNumber(C, 'maxKeyframesPerWindow', options.maxKeyframesPerWindow, {
    min: 1,
    integer: true,
  });
  const idleCloseMs = checkNumber(C, 'idleCloseMs', options.idleCloseMs ?? windowMs * 2, { min: 1 });
  const maxTextsPerWindow = checkNumber(C, 'maxTextsPerWindow', options.maxTextsPerWindow ?? 32, {
    min: 0,
    integer: true,
  });
  return {
    windowMs,
    maxKeyframesPerWindow,
    idleCloseMs,
    maxTextsPerWindow,
    scheduler: options.scheduler ?? asyncScheduler,
  };
}

/** Accumulator for one open window; O(maxKeyframesPerWindow + maxTextsPerWindow + labels). */
class WindowAccumulator {
  readonly keyframes: WindowDigest['keyframes'] = [];
  private readonly peak = new Map<string, number>();
  private last: Record<string, number> = {};
  private readonly texts = new Set<string>();
  private analysed = 0;
  private missing = 0;
  private dropped = 0;
  private motionSum = 0;
  private items = 0;
  private firstPtsNs = 0;
  private firstTimeMs = 0;
  private lastPtsNs = 0;
  private lastTimeMs = 0;

  constructor(
    readonly streamId: string,
    readonly index: number,
    private readonly o: ResolvedWindowOptions,
  ) {}

  add(item: AnalysedKeyframe): void {
    const { keyframe, analysis } = item;
    const ptsNs = keyframe.frame.ptsNs;
    const timeMs = keyframe.frame.captureTimeMs;
    if (this.items === 0) {
      this.firstPtsNs = ptsNs;
      this.firstTimeMs = timeMs;
    }
    if (this.items === 0 || ptsNs >= this.lastPtsNs) {
      this.lastPtsNs = ptsNs;
      this.lastTimeMs = timeMs;
    }
    this.items++;
    this.motionSum += Number.isFinite(keyframe.motionScore) ? keyframe.motionScore : 0;

    const ok = analysis !== null && analysis.available;
    if (this.keyframes.length < this.o.maxKeyframesPerWindow) {
      const entry: WindowDigest['keyframes'][number] = { id: keyframe.id, ptsNs, reason: keyframe.reason };
      if (ok) entry.detections = analysis.detections.length;
      this.keyframes.push(entry);
    } else {
      this.dropped++;
    }

    if (!ok) {
      this.missing++;
      return;
    }
    this.analysed++;
    const counts = countByLabel(analysis);
    for (const [label, n] of Object.entries(counts)) {
      if (n > (this.peak.get(label) ?? 0)) this.peak.set(label, n);
    }
    this.last = counts;
    for (const t of analysis.text) {
      if (this.texts.size >= this.o.maxTextsPerWindow) break;
      const s = t.trim();
      if (s !== '') this.texts.add(s);
    }
  }

  digest(late: number): WindowDigest {
    const { windowMs } = this.o;
    const startPtsNs = this.index * windowMs * 1e6;
    const endPtsNs = (this.index + 1) * windowMs * 1e6;
    const d: WindowDigest = {
      streamId: this.streamId,
      index: this.index,
      startPtsNs,
      endPtsNs,
      // Wall times extrapolated from the first/last item along stream time.
      startTimeMs: Math.round(this.firstTimeMs - (this.firstPtsNs - startPtsNs) / 1e6),
      endTimeMs: Math.round(this.lastTimeMs + (endPtsNs - this.lastPtsNs) / 1e6),
      keyframes: this.keyframes,
      peakCounts: Object.fromEntries([...this.peak.entries()].sort(([a], [b]) => a.localeCompare(b))),
      lastCounts: this.last,
      analysed: this.analysed,
      missing: this.missing,
      meanMotion: this.items === 0 ? 0 : this.motionSum / this.items,
      text: [...this.texts],
    };
    if (this.dropped > 0) d.dropped = this.dropped;
    if (late > 0) d.late = late;
    return d;
  }
}

/** Count of detections per label in one analysis, labels sorted. */
export function countByLabel(analysis: Analysis): Record<string, number> {
  const m = new Map<string, number>();
  for (const d of analysis.detections) m.set(d.label, (m.get(d.label) ?? 0) + 1);
  return Object.fromEntries([...m.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

/** Operator: analysed keyframes in, one WindowDigest per closed non-empty window out. */
export function tumblingWindows(options: WindowOptions): OperatorFunction<AnalysedKeyframe, WindowDigest> {
  const o = parseWindowOptions(options);
  const windowNs = o.windowMs * 1e6;
  return (source) =>
    new Observable<WindowDigest>((subscriber) => {
      let open: WindowAccumulator | null = null;
      let lastClosedIndex = -Infinity;
      let late = 0;
      let idle: Subscription | null = null;

      const cancelIdle = (): void => {
        idle?.unsubscribe();
        idle = null;
      };
      const close = (): void => {
        cancelIdle();
        if (open === null) return;
        const w = open;
        open = null;
        lastClosedIndex = w.index;
        const d = w.digest(late);
        late = 0;
        subscriber.next(d);
      };

      const sub = source.subscribe({
        next(item) {
          const index = Math.floor(item.keyframe.frame.ptsNs / windowNs);
          if (index <= lastClosedIndex) {
            late++;
            return;
          }
          if (open !== null && index > open.index) close();
          open ??= new WindowAccumulator(item.keyframe.frame.streamId, index, o);
          open.add(item);
          cancelIdle();
          idle = o.scheduler.schedule(close, o.idleCloseMs);
        },
        error(err: unknown) {
          cancelIdle();
          open = null;
          subscriber.error(err);
        },
        complete() {
          close();
          subscriber.complete();
        },
      });

      return () => {
        sub.unsubscribe();
        cancelIdle();
        open = null;
      };
    });
}
