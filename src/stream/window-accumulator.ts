/** One open window's accumulator: keyframe entries, label peaks, texts, all within their bounds. */
import type { Analysis, Caption, Keyframe, Transcript, WindowDigest } from '../core/contracts.js';

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
    private readonly o: WindowLimits,
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
