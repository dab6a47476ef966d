/**
 * The tracking stage of one stream: the tracker runs on every detected frame, in frame order —
 * keyframes (their analyses) and the frames the detection cadence picks between them (detected
 * through the shared detection budget, see detect-scheduler.ts). Out come:
 *  - object.entered / object.left events, decided at the detection step (so an exit goes out
 *    its effective maxLost (tracker.ts) after the last sighting, not at the next keyframe);
 *  - object records (confirmed, updates, final);
 *  - each keyframe with the tracker's view, its detections cut down to those of confirmed tracks:
 *    windows, summaries and count events see confirmed objects only.
 *
 * Frame order: each detected frame takes a ticket when it is picked; results wait in a bounded
 * map until every earlier ticket is settled (filled, skipped or dropped).
 */
import { Subject } from 'rxjs';
import { ConfigError } from '../core/errors.js';
import type { Detection, Frame, Keyframe, ObjectRecord, VigilEvent } from '../core/contracts.js';
import { CadenceGate } from '../stream/cadence.js';
import { EventFactory, objectEvents } from '../stream/events.js';
import { ObjectRecords } from '../stream/object-records.js';
import type { ResolvedRule } from '../stream/rules.js';
import type { ResolvedDetectCadence } from '../stream/track-options.js';
import { Tracker, type Observation, type TrackedKeyframe, type TrackerOptions } from '../stream/tracker.js';
import type { AnalysedKeyframe } from '../stream/windows.js';
import type { DetectLane } from './detect-scheduler.js';

/** Detects one frame (model pixels already read); null when the model was unavailable. */
export type DetectFrame = (frame: Frame) => Promise<Detection[] | null>;

export interface TrackingCounters {
  /** Frames detected between keyframes (the cadence). */
  cadenceDetections: number;
  /** Cadence detection requests dropped (the stream's lane was full, oldest first). */
  detectDropped: number;
  /** Cadence detections that failed or came back unavailable. */
  detectFailed: number;
  /**
   * Live cadence frames past their deadline when their turn came (not detected), or still being
   * detected at an exit's deadline (the result is not waited for: the frame counts as not detected).
   */
  detectStale: number;
}

export interface TrackingStageOptions {
  streamId: string;
  runId: string;
  tracker: TrackerOptions;
  /** Null: no detections between keyframes (tracking on keyframes only). */
  cadence: { options: ResolvedDetectCadence; lane: DetectLane; detect: DetectFrame } | null;
  zones?: readonly Pick<ResolvedRule, 'name' | 'zone'>[];
  counters: TrackingCounters;
  /** Fast mode: cadence requests waiting count as pending work (ingest pauses at its bound). */
  pressure?: { pending: number };
  /** Live streams: a cadence frame older than this (wall ms since capture) is not detected (0 = off). */
  maxAgeMs?: number;
  now?: () => number;
  /**
   * Live streams: a confirmed track's exit waits for detections still running (cadence frames,
   * keyframe analyses) at most this long past its due time (capture of the last sighting + its
   * effective maxLost, see Tracker.nextLoss); then those frames count as not detected and the exit
   * goes out, so `object.left` arrives within the effective maxLost + 1 s of the last sighting
   * however slow the model is. 0 = always wait (fast mode; default).
   */
  exitDeadlineMs?: number;
  /** Results held waiting for an earlier frame (default 256); past it the oldest ticket is given up. */
  maxWaiting?: number;
  /**
   * `detect.fps` was set explicitly: once the source's frame rate is known (from the first frames'
   * PTS), a value above it fails the stream with a config error naming `detect.fps`. A default
   * above the source rate simply detects every frame.
   */
  checkSourceFps?: boolean;
}

/** Frames whose PTS steps give the source rate (checkSourceFps). */
const SOURCE_RATE_FRAMES = 9;

/** A frame not detected ends overdue tracks (Tracker.tick), at most this often (stream time). */
const TICK_NS = 200e6;

type Slot = { obs: Observation; item: AnalysedKeyframe | null; tick?: true } | null;

export class TrackingStage {
  readonly tracked$ = new Subject<TrackedKeyframe>();
  readonly events$ = new Subject<VigilEvent>();
  readonly records$ = new Subject<ObjectRecord>();
  /**
   * One value per settled ticket (a detection result, a tick, a skip): the stage is working
   * through the stream in order. Windows take it as activity, so they do not close for idleness
   * while this stage's events for their time are still coming.
   */
  readonly progress$ = new Subject<void>();
  private readonly tracker: Tracker;
  private readonly gate: CadenceGate | null;
  private readonly ids: EventFactory;
  private readonly records: ObjectRecords;
  private readonly waiting = new Map<number, Slot>();
  private readonly keyframeTickets = new Map<number, number>();
  private nextTicket = 0;
  private head = 0;
  private keyframesDone = false;
  private closed = false;
  private outstanding = 0;
  private lastTickNs: number | null = null;
  /** Tick slots among `waiting` (they hold no analysis; bounded apart, see tick()): at most 16 per result slot, plus one per keyframe in flight. */
  private waitingTicks = 0;
  /** Tickets not yet settled (cadence frames, keyframes): their frame, stepped as not detected if given up. */
  private readonly running = new Map<number, Observation>();
  /** Tickets given up at an exit deadline: cadence results are then ignored, keyframes passed on late. */
  private readonly givenUp = new Set<number>();
  private exitTimer: ReturnType<typeof setTimeout> | null = null;
  /** When exitTimer fires (wall ms): a track due sooner (its N-th missed detection came) re-arms it. */
  private exitTimerAt = 0;
  /** PTS of the first frames, to learn the source rate (checkSourceFps). */
  private firstPts: number[] | null = [];

  private get maxWaitingTicks(): number {
    return (this.o.maxWaiting ?? 256) * 16;
  }

  constructor(private readonly o: TrackingStageOptions) {
    this.tracker = new Tracker(o.tracker);
    this.gate = o.cadence ? new CadenceGate(o.cadence.options) : null;
    this.ids = new EventFactory(o.runId);
    this.records = new ObjectRecords(o.streamId, { runId: o.runId, ...(o.zones ? { zones: o.zones } : {}) });
  }

  /** A keyframe was selected (before its analysis): it takes its place in the order. */
  keyframeSelected(kf: Keyframe): void {
    if (this.closed) return;
    this.learnRate(kf.frame);
    if (this.closed) return;
    this.gate?.keyframe(kf.frame);
    const ticket = this.take();
    this.keyframeTickets.set(kf.frame.seq, ticket);
    this.running.set(ticket, observation(kf.frame, kf.id, null));
  }

  /** A frame the keyframe selector passed over: the cadence may detect it. Does not release it. */
  passedOver(frame: Frame): void {
    this.learnRate(frame);
    if (this.closed || this.gate === null || this.o.cadence === null) return;
    if (!this.gate.pick(frame, this.tracker.pendingLoss)) {
      this.tick(frame);
      return;
    }
    // Read the model pixels now (the caller releases the frame's decoded pixels right after).
    const copy: Frame = { ...frame };
    const ticket = this.take();
    const { lane, detect } = this.o.cadence;
    const pressure = this.o.pressure;
    if (pressure) pressure.pending++;
    let settled = false;
    // A frame not detected (dropped, stale, failed or given up) still lets time pass: a tick.
    const notDetected: Slot = { obs: observation(copy, null, null), item: null, tick: true };
    this.running.set(ticket, notDetected.obs);
    const settle = (slot: Slot): void => {
      if (settled) return;
      settled = true;
      if (pressure) pressure.pending--;
      this.running.delete(ticket);
      if (this.givenUp.delete(ticket)) return;
      this.fill(ticket, slot);
    };
    lane.push({
      run: async () => {
        const now = this.o.now ?? Date.now;
        if ((this.o.maxAgeMs ?? 0) > 0 && now() - copy.captureTimeMs > (this.o.maxAgeMs ?? 0)) {
          this.o.counters.detectStale++;
          settle(notDetected);
          return;
        }
        let dets: Detection[] | null = null;
        try {
          dets = await detect(copy);
        } catch {
          dets = null;
        }
        if (dets === null) this.o.counters.detectFailed++;
        else this.o.counters.cadenceDetections++;
        settle({ obs: observation(copy, null, dets), item: null });
      },
      drop: () => {
        this.o.counters.detectDropped++;
        settle(notDetected);
      },
    });
    this.armExitDeadline();
  }

  /**
   * A frame not detected: in its place in the order, confirmed tracks overdue at its PTS leave, so
   * `object.left` goes out its effective maxLost after the last sighting however scarce detections
   * are (a frame not detected is no missed detection: see Tracker).
   */
  private tick(frame: Frame): void {
    if (this.lastTickNs !== null && frame.ptsNs >= this.lastTickNs && frame.ptsNs - this.lastTickNs < TICK_NS)
      return;
    // Nothing to end: no confirmed track now, and none can be confirmed by steps still pending.
    if (!this.tracker.hasConfirmed && this.outstanding === 0) return;
    this.lastTickNs = frame.ptsNs;
    const slot: Slot = { obs: observation(frame, null, null), item: null, tick: true };
    // Ticks queue behind an analysis still in flight (fast mode runs far ahead of the model). Past
    // their bound the newest tick stands in for the one queued just before it: exits in that stretch
    // go out a little later, but no keyframe is given up for a tick.
    const last = this.nextTicket - 1;
    if (this.waitingTicks >= this.maxWaitingTicks && this.waiting.get(last)?.tick === true) {
      this.waiting.set(last, slot);
      return;
    }
    this.fill(this.take(), slot);
  }

  /** A keyframe's analysis (or its missing analysis). */
  analysed(item: AnalysedKeyframe): void {
    const ticket = this.keyframeTickets.get(item.keyframe.frame.seq);
    if (ticket === undefined) return;
    this.keyframeTickets.delete(item.keyframe.frame.seq);
    this.running.delete(ticket);
    if (this.givenUp.delete(ticket)) {
      this.lateKeyframe(item);
      return;
    }
    const a = item.analysis;
    this.fill(ticket, {
      obs: observation(
        item.keyframe.frame,
        item.keyframe.id,
        a === null || !a.available ? null : a.detections,
      ),
      item,
    });
  }

  /** A keyframe that will never be analysed (dropped before the model). */
  keyframeSkipped(kf: Keyframe): void {
    const ticket = this.keyframeTickets.get(kf.frame.seq);
    if (ticket === undefined) return;
    this.keyframeTickets.delete(kf.frame.seq);
    this.running.delete(ticket);
    if (this.givenUp.delete(ticket)) return;
    this.fill(ticket, null);
  }

  /**
   * A keyframe whose analysis came after an exit deadline gave its turn up (it was stepped as a
   * frame not detected): passed on for windows and evidence with the tracker's current view and
   * no detections of its own; the tracker does not go back in time.
   */
  private lateKeyframe(item: AnalysedKeyframe): void {
    if (this.closed) return;
    const step = this.tracker.tick(observation(item.keyframe.frame, item.keyframe.id, null));
    const a = item.analysis;
    this.tracked$.next({
      keyframe: item.keyframe,
      analysis: a === null ? null : { ...a, detections: [] },
      tracking: { ...step, entered: [], left: [] },
    });
  }

  /** Every keyframe was analysed or skipped: complete once the cadence detections settle. */
  keyframesComplete(): void {
    this.keyframesDone = true;
    this.maybeComplete();
  }

  error(err: unknown): void {
    if (this.closed) return;
    this.closed = true;
    if (this.exitTimer !== null) clearTimeout(this.exitTimer);
    this.exitTimer = null;
    this.tracked$.error(err);
    this.events$.error(err);
    this.records$.error(err);
    this.progress$.error(err);
  }

  /** Drops waiting cadence work and state. Idempotent. */
  close(): void {
    this.o.cadence?.lane.close();
    this.closed = true;
    if (this.exitTimer !== null) clearTimeout(this.exitTimer);
    this.exitTimer = null;
    this.running.clear();
    this.givenUp.clear();
    this.waiting.clear();
    this.waitingTicks = 0;
    this.keyframeTickets.clear();
    this.tracker.reset();
    this.records.reset();
    this.gate?.reset();
  }

  get stats(): { waiting: number; tracks: number; records: number } {
    return { waiting: this.waiting.size, tracks: this.tracker.stats().tracks, records: this.records.size };
  }

  /** The source's frame rate from the median PTS step of its first frames; checks detect.fps. */
  private learnRate(frame: Frame): void {
    if (this.firstPts === null || this.closed) return;
    if (!this.o.checkSourceFps || this.o.cadence === null) {
      this.firstPts = null;
      return;
    }
    this.firstPts.push(frame.ptsNs);
    if (this.firstPts.length < SOURCE_RATE_FRAMES) return;
    const steps = this.firstPts
      .slice(1)
      .map((p, i) => p - this.firstPts![i]!)
      .filter((d) => d > 0)
      .sort((a, b) => a - b);
    this.firstPts = null;
    if (steps.length === 0) return;
    const sourceFps = 1e9 / steps[steps.length >> 1]!;
    const fps = this.o.cadence.options.fps;
    // 5% slack: 25 fps sources report 40 ms steps with jitter, and 29.97 is "30".
    if (fps > sourceFps * 1.05) {
      this.error(
        new ConfigError(
          `detect.fps must be at most the source frame rate (${sourceFps.toFixed(2)} fps), got ${fps}`,
        ),
      );
    }
  }

  private take(): number {
    this.outstanding++;
    return this.nextTicket++;
  }

  private fill(ticket: number, slot: Slot): void {
    if (this.closed || ticket < this.head) return;
    this.waiting.set(ticket, slot);
    if (slot?.tick === true) this.waitingTicks++;
    const max = this.o.maxWaiting ?? 256;
    // A ticket never settled would hold everything behind it: past the bound (results, not ticks),
    // give it up.
    while (this.waiting.size - this.waitingTicks > max && !this.waiting.has(this.head)) {
      this.head++;
      this.outstanding--;
    }
    while (this.waiting.has(this.head)) {
      const s = this.waiting.get(this.head)!;
      this.waiting.delete(this.head);
      if (s?.tick === true) this.waitingTicks--;
      this.head++;
      this.outstanding--;
      if (s !== null) {
        try {
          this.step(s.obs, s.item, s.tick === true);
        } catch (err) {
          this.error(err);
          return;
        }
      }
    }
    this.progress$.next();
    this.armExitDeadline();
    this.maybeComplete();
  }

  /**
   * Live: when a confirmed track is due to leave and a detection still running holds the order,
   * wake at the track's exit deadline (see `exitDeadlineMs`).
   */
  private armExitDeadline(): void {
    const slack = this.o.exitDeadlineMs ?? 0;
    if (slack <= 0 || this.closed || !this.running.has(this.head)) return;
    const due = this.tracker.nextLoss;
    if (due === null) return;
    const at = due.timeMs + slack;
    if (this.exitTimer !== null) {
      if (at >= this.exitTimerAt) return;
      clearTimeout(this.exitTimer);
    }
    const now = (this.o.now ?? Date.now)();
    this.exitTimerAt = at;
    this.exitTimer = setTimeout(() => this.onExitDeadline(), Math.max(0, at - now));
    this.exitTimer.unref?.();
  }

  /**
   * Gives up the detections still running ahead of an overdue exit, in order: cadence frames (they
   * count as stale) and keyframe analyses (the keyframe is passed on late, see lateKeyframe).
   */
  private onExitDeadline(): void {
    this.exitTimer = null;
    const slack = this.o.exitDeadlineMs ?? 0;
    const now = this.o.now ?? Date.now;
    let gaveUp = false;
    while (!this.closed) {
      const due = this.tracker.nextLoss;
      const obs = this.running.get(this.head);
      if (due === null || obs === undefined || now() < due.timeMs + slack) break;
      // Only when time has moved past the exit: a later frame waits, or this one is past it.
      if (this.waiting.size === 0 && obs.ptsNs < due.ptsNs) break;
      const ticket = this.head;
      this.running.delete(ticket);
      this.givenUp.add(ticket);
      if (obs.keyframeId === null) this.o.counters.detectStale++;
      gaveUp = true;
      this.fill(ticket, { obs, item: null, tick: true });
    }
    // Nothing given up: the next frame or result arms it again (no timer spinning meanwhile).
    if (gaveUp) this.armExitDeadline();
  }

  private step(obs: Observation, item: AnalysedKeyframe | null, tick = false): void {
    const step = tick ? this.tracker.tick(obs) : this.tracker.observe(obs);
    const at = { streamId: obs.streamId, ptsNs: obs.ptsNs, timeMs: obs.timeMs, keyframeId: obs.keyframeId };
    for (const e of objectEvents(this.ids, at, step)) this.events$.next(e);
    for (const r of this.records.step(step, { width: obs.width, height: obs.height }, obs.ptsNs)) {
      this.records$.next(r);
    }
    if (item !== null) {
      const a = item.analysis;
      this.tracked$.next({
        keyframe: item.keyframe,
        analysis: a === null ? null : { ...a, detections: a.available ? step.confirmedDetections : [] },
        // Entries and exits already went out at their step.
        tracking: { ...step, entered: [], left: [] },
      });
    }
  }

  private maybeComplete(): void {
    if (this.closed || !this.keyframesDone || this.outstanding > 0) return;
    this.closed = true;
    if (this.exitTimer !== null) clearTimeout(this.exitTimer);
    this.exitTimer = null;
    this.tracked$.complete();
    this.events$.complete();
    this.records$.complete();
    this.progress$.complete();
  }
}

function observation(
  frame: Frame,
  keyframeId: string | null,
  detections: readonly Detection[] | null,
): Observation {
  return {
    streamId: frame.streamId,
    ptsNs: frame.ptsNs,
    timeMs: frame.captureTimeMs,
    keyframeId,
    width: frame.sourceWidth,
    height: frame.sourceHeight,
    detections,
  };
}
