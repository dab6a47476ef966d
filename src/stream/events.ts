/**
 * Skeleton event detection over analysed keyframes, on STREAM time:
 *  - `count.changed` per label when the count in analysed keyframes differs from the last stable
 *    count and the new count persists for `confirmKeyframes` consecutive analysed keyframes
 *    (hysteresis). Counts start at 0, so the first appearance of a label is a change from 0.
 *    Keyframes with a missing/unavailable analysis neither confirm nor break a streak.
 *  - `motion.started` when a keyframe's motion score reaches `motionStartThreshold`;
 *    `motion.stopped` once scores stayed below `motionStopThreshold` for `motionStopAfterMs`.
 * Every event carries evidence (keyframe id, PTS, capture time, boxes). Ids are deterministic:
 * `${streamId}:${type}:${seq}` with one sequence per type, starting at 0 for each subscription.
 * State is O(labels), bounded by maxLabels, and released when the subscription ends.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { Detection, VigilEvent } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import { checkNumber, rejectUnknownKeys } from './options.js';
import type { AnalysedKeyframe } from './windows.js';

export interface EventOptions {
  /** Consecutive analysed keyframes a new count must persist for (default 2; 1 = no hysteresis). */
  confirmKeyframes?: number;
  /** Keyframe motion score at or above which motion starts (default 0.02). */
  motionStartThreshold?: number;
  /** Keyframe motion score below which motion counts as quiet (default = motionStartThreshold). */
  motionStopThreshold?: number;
  /** Stream time of quiet after which motion stops, ms (default 2000). */
  motionStopAfterMs?: number;
  /** Only these labels produce count events (default: all). */
  labels?: readonly string[];
  /** Labels tracked at once; further new labels are ignored (default 100). */
  maxLabels?: number;
}

export interface ResolvedEventOptions {
  confirmKeyframes: number;
  motionStartThreshold: number;
  motionStopThreshold: number;
  motionStopAfterMs: number;
  labels: ReadonlySet<string> | null;
  maxLabels: number;
}

const C = 'detectEvents';

export function parseEventOptions(options: EventOptions = {}): ResolvedEventOptions {
  rejectUnknownKeys(C, options, [
    'confirmKeyframes',
    'motionStartThreshold',
    'motionStopThreshold',
    'motionStopAfterMs',
    'labels',
    'maxLabels',
  ]);
  const confirmKeyframes = checkNumber(C, 'confirmKeyframes', options.confirmKeyframes ?? 2, {
    min: 1,
    integer: true,
  });
  const motionStartThreshold = checkNumber(C, 'motionStartThreshold', options.motionStartThreshold ?? 0.02, {
    min: 0,
    max: 1,
    exclusiveMin: true,
  });
  const motionStopThreshold = checkNumber(
    C,
    'motionStopThreshold',
    options.motionStopThreshold ?? motionStartThreshold,
    { min: 0, max: 1, exclusiveMin: true },
  );
  if (motionStopThreshold > motionStartThreshold) {
    throw new ConfigError(
      `${C}: motionStopThreshold (${motionStopThreshold}) must not exceed motionStartThreshold (${motionStartThreshold})`,
    );
  }
  const motionStopAfterMs = checkNumber(C, 'motionStopAfterMs', options.motionStopAfterMs ?? 2000, {
    min: 0,
  });
  const maxLabels = checkNumber(C, 'maxLabels', options.maxLabels ?? 100, { min: 1, integer: true });
  if (options.labels !== undefined && !Array.isArray(options.labels)) {
    throw new ConfigError(`${C}: labels must be an array of strings`);
  }
  const labels = options.labels === undefined ? null : new Set(options.labels);
  return {
    confirmKeyframes,
    motionStartThreshold,
    motionStopThreshold,
    motionStopAfterMs,
    labels,
    maxLabels,
  };
}

interface LabelState {
  stable: number;
  candidate: number;
  streak: number;
}

/** The detector as a plain state machine: `next(item)` returns the events for one keyframe. */
export class EventDetector {
  private readonly o: ResolvedEventOptions;
  private readonly labels = new Map<string, LabelState>();
  private readonly seq = new Map<string, number>();
  private moving = false;
  private lastMotionPtsNs = 0;

  constructor(options: EventOptions = {}) {
    this.o = parseEventOptions(options);
  }

  next(item: AnalysedKeyframe): VigilEvent[] {
    const out: VigilEvent[] = [];
    this.motion(item, out);
    this.counts(item, out);
    return out;
  }

  reset(): void {
    this.labels.clear();
    this.seq.clear();
    this.moving = false;
  }

  private motion(item: AnalysedKeyframe, out: VigilEvent[]): void {
    const { keyframe } = item;
    const pts = keyframe.frame.ptsNs;
    const score = keyframe.motionScore;
    const all = item.analysis?.available === true ? item.analysis.detections : [];
    if (!this.moving) {
      if (score >= this.o.motionStartThreshold) {
        this.moving = true;
        this.lastMotionPtsNs = pts;
        out.push(this.event('motion.started', item, all, { motionScore: score }));
      }
      return;
    }
    if (score >= this.o.motionStopThreshold) {
      this.lastMotionPtsNs = pts;
    } else if ((pts - this.lastMotionPtsNs) / 1e6 >= this.o.motionStopAfterMs) {
      this.moving = false;
      out.push(
        this.event('motion.stopped', item, all, {
          motionScore: score,
          quietMs: (pts - this.lastMotionPtsNs) / 1e6,
        }),
      );
    }
  }

  private counts(item: AnalysedKeyframe, out: VigilEvent[]): void {
    const analysis = item.analysis;
    if (analysis === null || !analysis.available) return;
    const byLabel = new Map<string, Detection[]>();
    for (const d of analysis.detections) {
      if (this.o.labels !== null && !this.o.labels.has(d.label)) continue;
      const list = byLabel.get(d.label);
      if (list === undefined) byLabel.set(d.label, [d]);
      else list.push(d);
    }
    const names = new Set([...this.labels.keys(), ...byLabel.keys()]);
    for (const label of [...names].sort()) {
      const boxes = byLabel.get(label) ?? [];
      const n = boxes.length;
      let st = this.labels.get(label);
      if (st === undefined) {
        if (this.labels.size >= this.o.maxLabels) continue;
        st = { stable: 0, candidate: 0, streak: 0 };
        this.labels.set(label, st);
      }
      if (n === st.stable) {
        st.candidate = n;
        st.streak = 0;
      } else {
        if (n === st.candidate) st.streak++;
        else {
          st.candidate = n;
          st.streak = 1;
        }
        if (st.streak >= this.o.confirmKeyframes) {
          out.push(this.event('count.changed', item, boxes, { label, from: st.stable, to: n }));
          st.stable = n;
          st.streak = 0;
        }
      }
      // Forget labels back at a stable 0 with nothing pending: keeps the map to live labels.
      if (st.stable === 0 && st.streak === 0) this.labels.delete(label);
    }
  }

  private event(
    type: string,
    item: AnalysedKeyframe,
    boxes: Detection[],
    data: Record<string, unknown>,
  ): VigilEvent {
    const { keyframe } = item;
    const { streamId, ptsNs, captureTimeMs } = keyframe.frame;
    const seq = this.seq.get(type) ?? 0;
    this.seq.set(type, seq + 1);
    return {
      id: `${streamId}:${type}:${seq}`,
      type,
      streamId,
      timeMs: captureTimeMs,
      ptsNs,
      severity: 'info',
      data,
      evidence: { streamId, keyframeId: keyframe.id, ptsNs, timeMs: captureTimeMs, boxes: [...boxes] },
    };
  }
}

/** Operator: analysed keyframes in, events out, in keyframe order. Options validated up front. */
export function detectEvents(options: EventOptions = {}): OperatorFunction<AnalysedKeyframe, VigilEvent> {
  parseEventOptions(options); // fail fast on bad config
  return (source) =>
    new Observable<VigilEvent>((subscriber) => {
      let detector: EventDetector | null = new EventDetector(options);
      const sub = source.subscribe({
        next(item) {
          if (detector === null) return;
          let events: VigilEvent[];
          try {
            events = detector.next(item);
          } catch (err) {
            subscriber.error(err);
            return;
          }
          for (const e of events) subscriber.next(e);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        sub.unsubscribe();
        detector?.reset();
        detector = null;
      };
    });
}
