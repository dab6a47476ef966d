/**
 * Time windows over analysed keyframes, by STREAM time. Window i covers
 * [i·hopMs, i·hopMs + windowMs) of PTS: tumbling when hopMs = windowMs (the default), overlapping
 * (sliding) when hopMs < windowMs, so one keyframe may count in several windows.
 *
 * A window closes (emits one WindowDigest, in index order, indexes strictly increasing) when
 *  - the watermark (highest PTS seen) passes its end ('watermark'),
 *  - no analysed item, event or `progress` value arrived for idleCloseMs of WALL time, or it has
 *    been open for maxOpenMs of wall time ('timeout'), via the injected scheduler: a window closes
 *    on time even when the model is slow or down and analyses stop coming, but not while the
 *    tracker is still working through its time (its entries and exits come between keyframes);
 *  - PTS jumped backwards by more than ptsResetToleranceMs (a reconnect restarting PTS): open
 *    windows close ('reset') and later PTS are shifted onto a continuous timeline so window
 *    indexes stay monotonic (the digest counts it in `ptsResets`);
 *  - the source completes ('flush').
 * Empty windows are not emitted unless emitEmpty (indexes may then skip). On error the open windows
 * are dropped.
 *
 * Events: pass the stream's events as `events` and each window counts its scene cuts, object
 * entries and exits from them (the one count every level and the event list share) and lists its
 * shots; with a tracker, counts are the confirmed tracks' (see window-accumulator.ts).
 *
 * Media: pass the stream's frames (their times) as `media` and every window that received frames
 * is published, even one with no keyframe in it (its digest has `frames` and no analysis; the
 * summary says so and carries the last known counts). Frames neither move the watermark nor count
 * as activity for the idle close; a window with media only closes when the watermark passes it, on
 * its own maxOpenMs (unless a keyframe expected in it is still coming), or with the windows around it.
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
import { Observable, asyncScheduler, type OperatorFunction, type SchedulerLike } from 'rxjs';
import type { Keyframe, VigilEvent, WindowDigest } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import { checkNumber, rejectUnknownKeys } from './options.js';
import type { AnalysedKeyframe, WindowAnnotation } from './window-accumulator.js';
import { WindowSet, type MediaFrame, type ResolvedWindowOptions, type WindowStats } from './window-set.js';

export { countByLabel, type AnalysedKeyframe, type WindowAnnotation } from './window-accumulator.js';
export type { MediaFrame, ResolvedWindowOptions, WindowStats } from './window-set.js';

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
  /**
   * The stream's events: each window counts its `scene.cut`, `object.entered` and `object.left`
   * events in full and lists them (bounded), so window, segment and stream counts equal the event
   * list. Without it, scene-cut keyframes are counted and no entries or exits are listed.
   */
  events?: Observable<VigilEvent>;
  /**
   * Upstream work still going on in stream order (e.g. each settled tracker step): every value
   * counts as activity for the idle close, like an analysed item, so a window is not closed for
   * idleness while the stage that sends its `events` is still working towards its end (the
   * tracker's entries and exits come between keyframes). Bounded: when progress stops too (the
   * model hangs), the idle close applies; `maxOpenMs` is unchanged.
   */
  progress?: Observable<unknown>;
  /**
   * The frames the source delivered (stream time and capture time, on the keyframes' timeline):
   * every window that received media is published, keyframe or not.
   */
  media?: Observable<MediaFrame>;
  /** Tracks, entries, exits and shots listed per window, each (default 64; all are counted). */
  maxObjectsListed?: number;
  /** Called with the retained state after each change (metrics and memory tests; must not throw). */
  onStats?: (stats: WindowStats) => void;
  /** Scheduler for the wall-time timeouts (default asyncScheduler; tests inject a TestScheduler). */
  scheduler?: SchedulerLike;
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
  'events',
  'progress',
  'media',
  'maxObjectsListed',
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
  if (
    options.events !== undefined &&
    typeof (options.events as { subscribe?: unknown }).subscribe !== 'function'
  ) {
    throw new ConfigError(`${component}: events must be an Observable of events`);
  }
  if (
    options.progress !== undefined &&
    typeof (options.progress as { subscribe?: unknown }).subscribe !== 'function'
  ) {
    throw new ConfigError(`${component}: progress must be an Observable`);
  }
  if (
    options.media !== undefined &&
    typeof (options.media as { subscribe?: unknown }).subscribe !== 'function'
  ) {
    throw new ConfigError(`${component}: media must be an Observable of frame times`);
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
    events: options.events,
    progress: options.progress,
    media: options.media,
    maxObjectsListed: n('maxObjectsListed', options.maxObjectsListed ?? 64, { min: 0, integer: true }),
    countsFromEvents: options.events !== undefined,
    onStats: options.onStats,
    scheduler: options.scheduler ?? asyncScheduler,
  };
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
  return (source) =>
    new Observable<WindowDigest>((subscriber) => {
      const windows = new WindowSet(o, (d) => subscriber.next(d));
      const pendingSub = o.pending?.subscribe({
        next: (kf) => windows.expect(kf),
        error: (err: unknown) => subscriber.error(err),
      });
      const annotationSub = o.annotations?.subscribe({
        next: (a) => {
          try {
            windows.annotate(a);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err: unknown) => subscriber.error(err),
      });
      const eventSub = o.events?.subscribe({
        next: (e) => {
          try {
            windows.event(e);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err: unknown) => subscriber.error(err),
      });
      const progressSub = o.progress?.subscribe({
        next: () => windows.progress(),
        error: (err: unknown) => subscriber.error(err),
      });
      const mediaSub = o.media?.subscribe({
        next: (f) => windows.media(f),
        error: (err: unknown) => subscriber.error(err),
      });
      const sub = source.subscribe({
        next(item) {
          try {
            windows.add(item);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error(err: unknown) {
          windows.clear();
          subscriber.error(err);
        },
        complete() {
          windows.flush();
          subscriber.complete();
        },
      });
      return () => {
        sub.unsubscribe();
        pendingSub?.unsubscribe();
        annotationSub?.unsubscribe();
        eventSub?.unsubscribe();
        progressSub?.unsubscribe();
        mediaSub?.unsubscribe();
        windows.clear();
      };
    });
}
