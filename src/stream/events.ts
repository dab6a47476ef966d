/**
 * Event detection over analysed keyframes, on STREAM time:
 *  - `count.changed` per label when the count in analysed keyframes differs from the last stable
 *    count and the new count persists for `confirmKeyframes` consecutive analysed keyframes
 *    (hysteresis). Counts start at 0, so the first appearance of a label is a change from 0.
 *    Keyframes with a missing/unavailable analysis neither confirm nor break a streak.
 *  - `motion.started` when a keyframe's motion score reaches `motionStartThreshold`;
 *    `motion.stopped` once scores stayed below `motionStopThreshold` for `motionStopAfterMs`.
 *  - `scene.cut` for keyframes chosen as scene cuts, at most one per `sceneCutCooldownMs`;
 *  - `text.appeared` for recognised text not seen in the last `textCooldownMs` (bounded memory of
 *    `maxTexts` strings, least recently seen forgotten first);
 *  - with the tracker (on by default; `tracker: false` disables it): `object.entered` and
 *    `object.left` with persistent track ids and dwell times (see tracker.ts), and
 *  - `rules` from config: named alerts `alert.<name>` (see rules.ts).
 * Speech events come from the audio branch: see `detectSpeech` (speech.ts).
 * Every event carries evidence (keyframe id, PTS, capture time, boxes). Ids are deterministic:
 * `${streamId}:${type}:${seq}` (or `${streamId}:${runId}:${type}:${seq}` with a runId) with one
 * sequence per type, starting at 0 for each subscription.
 * State is O(labels + texts + tracks), each bounded, and released when the subscription ends.
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { Detection, Severity, VigilEvent } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import { checkNumber, checkRunId, idPrefix, rejectUnknownKeys } from './options.js';
import { RuleEngine, parseRules, type ResolvedRule, type RuleConfig } from './rules.js';
import {
  Tracker,
  parseTrackerOptions,
  type TrackStep,
  type TrackView,
  type TrackedKeyframe,
  type TrackerOptions,
  type TrackerStats,
} from './tracker.js';
import type { AnalysedKeyframe } from './windows.js';

/**
 * Builds events with deterministic ids (one sequence per type) and evidence. Shared by the
 * detectors of one stream so ids never collide.
 */
export class EventFactory {
  private readonly seq = new Map<string, number>();
  constructor(private readonly runId: string | undefined = undefined) {}

  create(
    type: string,
    at: { streamId: string; ptsNs: number; timeMs: number; keyframeId: string | null },
    boxes: readonly Detection[],
    data: Record<string, unknown>,
    severity: Severity = 'info',
    evidence?: { keyframeId: string | null; ptsNs: number; timeMs: number },
  ): VigilEvent {
    const n = this.seq.get(type) ?? 0;
    this.seq.set(type, n + 1);
    const ev = evidence ?? at;
    return {
      id: `${idPrefix(at.streamId, this.runId)}:${type}:${n}`,
      type,
      streamId: at.streamId,
      timeMs: at.timeMs,
      ptsNs: at.ptsNs,
      severity,
      data,
      evidence: {
        streamId: at.streamId,
        keyframeId: ev.keyframeId,
        ptsNs: Math.max(0, ev.ptsNs),
        timeMs: ev.timeMs,
        boxes: boxes.map((b) => ({ ...b, box: { ...b.box } })),
      },
    };
  }

  reset(): void {
    this.seq.clear();
  }
}

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
  /** Least stream time between two scene.cut events, ms (default 1000). */
  sceneCutCooldownMs?: number;
  /** A text string seen again within this much stream time is not new, ms (default 60000). */
  textCooldownMs?: number;
  /** Text strings remembered for textCooldownMs (default 256). */
  maxTexts?: number;
  /** Object tracker options, or false for no object.entered / object.left (default {}). */
  tracker?: TrackerOptions | false;
  /** Alert rules (need the tracker). */
  rules?: readonly RuleConfig[];
  /** Short run id put in event ids (`<streamId>:<runId>:<type>:<seq>`). */
  runId?: string;
}

export interface ResolvedEventOptions {
  confirmKeyframes: number;
  motionStartThreshold: number;
  motionStopThreshold: number;
  motionStopAfterMs: number;
  labels: ReadonlySet<string> | null;
  maxLabels: number;
  sceneCutCooldownMs: number;
  textCooldownMs: number;
  maxTexts: number;
  tracker: TrackerOptions | false;
  rules: ResolvedRule[];
  runId: string | undefined;
}

export interface EventStats {
  labels: number;
  texts: number;
  /** Per-rule in-zone and covered tracks held. */
  ruleTracks: number;
  tracker: TrackerStats | null;
  events: number;
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
    'sceneCutCooldownMs',
    'textCooldownMs',
    'maxTexts',
    'tracker',
    'rules',
    'runId',
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
  const tracker = options.tracker ?? {};
  if (tracker !== false) parseTrackerOptions(tracker);
  const rules = parseRules(options.rules, `${C}: rules`);
  if (rules.length > 0 && tracker === false) {
    throw new ConfigError(`${C}: rules need the tracker (remove tracker: false)`);
  }
  return {
    confirmKeyframes,
    motionStartThreshold,
    motionStopThreshold,
    motionStopAfterMs,
    labels,
    maxLabels,
    sceneCutCooldownMs: checkNumber(C, 'sceneCutCooldownMs', options.sceneCutCooldownMs ?? 1000, { min: 0 }),
    textCooldownMs: checkNumber(C, 'textCooldownMs', options.textCooldownMs ?? 60_000, { min: 0 }),
    maxTexts: checkNumber(C, 'maxTexts', options.maxTexts ?? 256, { min: 1, integer: true }),
    tracker,
    rules,
    runId: checkRunId(C, options.runId),
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
  private readonly ids: EventFactory;
  private readonly tracker: Tracker | null;
  private readonly rules: RuleEngine | null;
  /** Text (normalised) → PTS last seen; insertion order = least recently seen first. */
  private readonly texts = new Map<string, number>();
  private moving = false;
  private lastMotionPtsNs = 0;
  private lastCutPtsNs: number | null = null;
  private emitted = 0;

  constructor(options: EventOptions = {}) {
    this.o = parseEventOptions(options);
    this.ids = new EventFactory(this.o.runId);
    this.tracker = this.o.tracker === false ? null : new Tracker(this.o.tracker);
    this.rules = this.o.rules.length > 0 ? new RuleEngine(this.o.rules) : null;
  }

  next(item: AnalysedKeyframe | TrackedKeyframe): VigilEvent[] {
    const out: VigilEvent[] = [];
    this.motion(item, out);
    this.sceneCut(item, out);
    this.text(item, out);
    // A tracking step computed upstream (trackObjects, the stream runner) is used as is; otherwise
    // our own tracker runs.
    let tracking: TrackStep | null = 'tracking' in item ? item.tracking : null;
    if (tracking === null && this.tracker !== null) tracking = this.tracker.update(item);
    this.counts(tracking === null ? item : { ...item, tracking }, out);
    if (tracking !== null) {
      this.trackEvents(item, tracking, out);
      if (this.rules !== null) {
        for (const a of this.rules.next({ ...item, tracking })) {
          out.push(this.event(a.rule.type, item, a.boxes, a.data, a.rule.severity));
        }
      }
    }
    this.emitted += out.length;
    return out;
  }

  stats(): EventStats {
    return {
      labels: this.labels.size,
      texts: this.texts.size,
      ruleTracks: this.rules?.size() ?? 0,
      tracker: this.tracker?.stats() ?? null,
      events: this.emitted,
    };
  }

  reset(): void {
    this.labels.clear();
    this.texts.clear();
    this.ids.reset();
    this.tracker?.reset();
    this.rules?.reset();
    this.moving = false;
    this.lastCutPtsNs = null;
  }

  private sceneCut(item: AnalysedKeyframe, out: VigilEvent[]): void {
    const { keyframe } = item;
    if (keyframe.reason !== 'scene-cut') return;
    const pts = keyframe.frame.ptsNs;
    if (
      this.lastCutPtsNs !== null &&
      pts >= this.lastCutPtsNs &&
      (pts - this.lastCutPtsNs) / 1e6 < this.o.sceneCutCooldownMs
    ) {
      return;
    }
    this.lastCutPtsNs = pts;
    const all = item.analysis?.available === true ? item.analysis.detections : [];
    const shot = keyframe.shot;
    out.push(
      this.event('scene.cut', item, all, {
        sceneScore: keyframe.sceneScore,
        ...(shot !== undefined
          ? {
              kind: shot.kind,
              startPtsNs: shot.startPtsNs,
              endPtsNs: shot.endPtsNs,
              confidence: shot.confidence,
            }
          : {}),
      }),
    );
  }

  private text(item: AnalysedKeyframe, out: VigilEvent[]): void {
    const a = item.analysis;
    if (a === null || !a.available || a.text.length === 0) return;
    const pts = item.keyframe.frame.ptsNs;
    const fresh: string[] = [];
    for (const raw of a.text) {
      const t = raw.trim().replace(/\s+/g, ' ').slice(0, 200);
      if (t === '') continue;
      const key = t.toLowerCase();
      const seen = this.texts.get(key);
      this.texts.delete(key); // re-insert: most recently seen last
      this.texts.set(key, pts);
      if (seen === undefined || pts < seen || (pts - seen) / 1e6 >= this.o.textCooldownMs) {
        if (!fresh.includes(t)) fresh.push(t);
      }
      while (this.texts.size > this.o.maxTexts) {
        const oldest = this.texts.keys().next();
        if (oldest.done === true) break;
        this.texts.delete(oldest.value);
      }
    }
    for (const t of fresh) out.push(this.event('text.appeared', item, [], { text: t }));
  }

  private trackEvents(item: AnalysedKeyframe, step: TrackStep, out: VigilEvent[]): void {
    const { keyframe } = item;
    const at: ObjectEventAt = {
      streamId: keyframe.frame.streamId,
      ptsNs: keyframe.frame.ptsNs,
      timeMs: keyframe.frame.captureTimeMs,
      keyframeId: keyframe.id,
    };
    out.push(...objectEvents(this.ids, at, step));
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

  private counts(item: AnalysedKeyframe | TrackedKeyframe, out: VigilEvent[]): void {
    const analysis = item.analysis;
    if (analysis === null || !analysis.available) return;
    const byLabel = new Map<string, Detection[]>();
    // With tracking, only confirmed tracks count (a detection that never made a confirmed track is
    // no object); occluded ones still count, at their last box.
    const counted: readonly Detection[] =
      'tracking' in item
        ? item.tracking.tracks.map((t) => ({
            label: t.label,
            classId: t.classId,
            score: t.score,
            box: t.box,
          }))
        : analysis.detections;
    for (const d of counted) {
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
    boxes: readonly Detection[],
    data: Record<string, unknown>,
    severity: Severity = 'info',
  ): VigilEvent {
    const { keyframe } = item;
    const { streamId, ptsNs, captureTimeMs } = keyframe.frame;
    return this.ids.create(
      type,
      { streamId, ptsNs, timeMs: captureTimeMs, keyframeId: keyframe.id },
      boxes,
      data,
      severity,
    );
  }
}

/** Where an object event is decided: the detection step (a keyframe or a cadence frame). */
export interface ObjectEventAt {
  streamId: string;
  ptsNs: number;
  timeMs: number;
  /** The step's keyframe, or null for a frame detected between keyframes. */
  keyframeId: string | null;
}

/**
 * `object.left` then `object.entered` events for one tracking step. Entered: the track's first
 * sighting, entry edge and the live count of its label. Left: dwell, entry and exit edges, peak and
 * median score, with the last keyframe it was seen in as evidence.
 */
export function objectEvents(ids: EventFactory, at: ObjectEventAt, step: TrackStep): VigilEvent[] {
  const out: VigilEvent[] = [];
  const det = (t: TrackView): Detection[] => [
    { label: t.label, classId: t.classId, score: t.score, box: t.box },
  ];
  for (const t of step.left) {
    out.push(
      ids.create(
        'object.left',
        at,
        det(t),
        {
          trackId: t.id,
          label: t.label,
          enteredPtsNs: t.firstPtsNs,
          lastSeenPtsNs: t.lastPtsNs,
          dwellMs: t.dwellMs,
          reason: t.reason,
          // The effective maxLost that applied (tracker.ts): at least the configured maxLostMs.
          maxLostMs: t.maxLostMs,
          entryEdge: t.entryEdge,
          exitEdge: t.exitEdge,
          peakScore: t.peakScore,
          medianScore: t.medianScore,
        },
        'info',
        // Evidence: the last keyframe the object was seen in.
        {
          keyframeId: t.lastKeyframeId === '' ? null : t.lastKeyframeId,
          ptsNs: t.lastPtsNs,
          timeMs: t.lastTimeMs,
        },
      ),
    );
  }
  for (const t of step.entered) {
    out.push(
      ids.create('object.entered', at, det(t), {
        trackId: t.id,
        label: t.label,
        firstSeenPtsNs: t.firstPtsNs,
        firstKeyframeId: t.firstKeyframeId === '' ? null : t.firstKeyframeId,
        entryEdge: t.entryEdge,
        count: step.counts[t.label] ?? 0,
      }),
    );
  }
  return out;
}

/** Operator: analysed keyframes in, events out, in keyframe order. Options validated up front. */
export function detectEvents(
  options: EventOptions = {},
  hooks: { onStats?: (stats: EventStats) => void } = {},
): OperatorFunction<AnalysedKeyframe, VigilEvent> {
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
          hooks.onStats?.(detector.stats());
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
