/**
 * Which keyframes get a caption: per window of stream time, the most informative ones, in this
 * order of worth: shot starts (the first keyframe, scene cuts and any other shot-start reason),
 * keyframes where a label appears that the window (and the one before) has not had yet (new
 * objects), and the max-interval keyframe when the window has no caption yet (a still scene gets one
 * description). At most `maxPerWindow` per window. Pure: no clock, no I/O; the per-stream rate and
 * the global in-flight bound are the edge's (src/infer/model-call.ts).
 */
import type { KeyframeReason } from '../core/contracts.js';
import { checkNumber, rejectUnknownKeys } from './options.js';

export interface CaptionSelectOptions {
  /** Window length, ms of stream time (the runner's windowMs). */
  windowMs: number;
  /** Captions per window at most (default 3). */
  maxPerWindow?: number;
}

export type CaptionWhy = 'shot-start' | 'new-object' | 'max-interval';

/** Keyframe reasons that start a shot (the keyframe selector's and the shot detector's). */
const SHOT_START = new Set<string>(['first', 'scene-cut', 'shot', 'shot-start', 'cut', 'dissolve', 'fade']);

export class CaptionSelector {
  private readonly windowNs: number;
  private readonly maxPerWindow: number;
  private window = -1;
  private taken = 0;
  private seen = new Set<string>();
  private seenBefore = new Set<string>();
  /** Keyframes passed over because the window's captions were used up. */
  skipped = 0;

  constructor(options: CaptionSelectOptions) {
    const C = 'captionSelect';
    rejectUnknownKeys(C, options, ['windowMs', 'maxPerWindow']);
    this.windowNs = checkNumber(C, 'windowMs', options.windowMs, { min: 1 }) * 1e6;
    this.maxPerWindow = checkNumber(C, 'maxPerWindow', options.maxPerWindow ?? 3, { min: 1, integer: true });
  }

  /**
   * Whether to caption this keyframe (in stream order), and why; null to skip. `labels` are the
   * labels its analysis found (empty when the analysis is missing).
   */
  consider(
    kf: { ptsNs: number; reason: KeyframeReason | string },
    labels: readonly string[],
  ): CaptionWhy | null {
    const w = Math.floor(kf.ptsNs / this.windowNs);
    if (w !== this.window) {
      this.seenBefore = w === this.window + 1 ? this.seen : new Set();
      this.seen = new Set();
      this.window = w;
      this.taken = 0;
    }
    let why: CaptionWhy | null = null;
    if (SHOT_START.has(kf.reason)) why = 'shot-start';
    else if (labels.some((l) => !this.seen.has(l) && !this.seenBefore.has(l))) why = 'new-object';
    else if (kf.reason === 'max-interval' && this.taken === 0) why = 'max-interval';
    for (const l of labels) if (this.seen.size < 256) this.seen.add(l);
    if (why === null) return null;
    if (this.taken >= this.maxPerWindow) {
      this.skipped++;
      return null;
    }
    this.taken++;
    return why;
  }
}
