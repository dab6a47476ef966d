/**
 * Bench helper: the measures of issue #18, applied the same way to Vigil's output and to the
 * reference tracker's, against the dense reference detections (YOLOv8n on every frame).
 *
 *  - "The reference sees the object at box B" in a frame: a reference detection of the same label
 *    scoring >= REF_SCORE (0.4) with IoU >= 0.3 against B, or whose centre lies within half of B's
 *    smaller side from B's centre at a height within 1.5x of B's (a walker moves in a second; a
 *    neighbour in a group, a box width away, is another person: a first version that allowed half
 *    the diagonal counted neighbours as the same object).
 *  - A spurious EXIT: the reference sees the object at the track's last box in most (more than
 *    half) of its frames during the second after the last sighting.
 *  - A spurious ENTRY: the reference sees the object at the track's entry box in most of its frames
 *    during the second before the first sighting (none for tracks starting in the clip's first s).
 *  - Phantom labels: labels Vigil reports (entered objects, summary text) that no confirmed
 *    reference track has.
 */
import type { Box, Detection } from '../../src/core/contracts.js';
import { COCO_LABELS } from '../../src/infer/index.js';
import { iou, Tracker } from '../../src/stream/index.js';
import type { RefFile, RefFrame } from './reference.js';

export const REF_SCORE = 0.4;

export interface Entry {
  trackId: number;
  label: string;
  firstNs: number;
  box: Box;
}

export interface Exit {
  trackId: number;
  label: string;
  lastSeenNs: number;
  /** When the exit was decided (stream time), ns. */
  decidedNs: number;
  box: Box;
}

function near(d: Detection, label: string, b: Box, loose: boolean): boolean {
  if (d.label !== label || d.score < REF_SCORE) return false;
  if (iou(d.box, b) >= 0.3) return true;
  const dist = Math.hypot(d.box.x + d.box.w / 2 - (b.x + b.w / 2), d.box.y + d.box.h / 2 - (b.y + b.h / 2));
  const ratio = Math.max(d.box.h, b.h) / Math.max(1, Math.min(d.box.h, b.h));
  const reach = loose ? Math.hypot(b.w, b.h) / 2 : Math.min(b.w, b.h) / 2;
  return dist <= reach && ratio <= 1.5;
}

/** Share of the reference frames in [fromNs, toNs) where the object is seen at box `b` (null: no frames). */
export function seenShare(
  ref: readonly RefFrame[],
  label: string,
  b: Box,
  fromNs: number,
  toNs: number,
  loose = false,
): number | null {
  let n = 0;
  let hit = 0;
  for (const f of ref) {
    if (f.ptsNs < fromNs || f.ptsNs >= toNs) continue;
    n++;
    if (f.detections.some((d) => near(d, label, b, loose))) hit++;
  }
  return n === 0 ? null : hit / n;
}

export const isSpuriousExit = (ref: readonly RefFrame[], e: Exit, loose = false): boolean =>
  (seenShare(ref, e.label, e.box, e.lastSeenNs + 1, e.lastSeenNs + 1e9, loose) ?? 0) > 0.5;

export const isSpuriousEntry = (ref: readonly RefFrame[], e: Entry, loose = false): boolean =>
  (seenShare(ref, e.label, e.box, e.firstNs - 1e9, e.firstNs, loose) ?? 0) > 0.5;

export interface TrackerRun {
  entries: Entry[];
  exits: Exit[];
  /** Labels of confirmed tracks. */
  labels: Set<string>;
  /** Labels of confirmed tracks seen over at least 1 s (a stricter reference). */
  steadyLabels: Set<string>;
  detections: number;
  /** object.left (reason lost): decided − last sighting minus the effective maxLost it reports, ms. */
  overMs: number[];
}

/**
 * Runs Vigil's Tracker over reference frames (every frame, or every `step`-th one to imitate a
 * detection cadence) with the given options; detections below the detector floor are as given.
 */
export function runTracker(
  ref: RefFile,
  options: ConstructorParameters<typeof Tracker>[0],
  pick: (f: RefFrame, i: number) => boolean = () => true,
  /** Frames not picked tick the tracker (exits go out on time, as on the stream path). */
  tick = false,
): TrackerRun {
  const tracker = new Tracker(options);
  const out: TrackerRun = {
    entries: [],
    exits: [],
    labels: new Set(),
    steadyLabels: new Set(),
    detections: 0,
    overMs: [],
  };
  ref.frames.forEach((f, i) => {
    const at = {
      streamId: 'ref',
      ptsNs: f.ptsNs,
      timeMs: f.ptsNs / 1e6,
      width: ref.sourceWidth,
      height: ref.sourceHeight,
    };
    const picked = pick(f, i);
    if (!picked && !tick) return;
    if (picked) out.detections++;
    const step = picked
      ? tracker.observe({ ...at, keyframeId: null, detections: f.detections })
      : tracker.tick(at);
    for (const t of step.tracks) if (t.dwellMs >= 1000) out.steadyLabels.add(t.label);
    for (const t of step.entered) {
      out.labels.add(t.label);
      out.entries.push({ trackId: t.id, label: t.label, firstNs: t.firstPtsNs, box: t.box });
    }
    for (const t of step.left) {
      if (t.reason !== 'lost') continue;
      out.exits.push({
        trackId: t.id,
        label: t.label,
        lastSeenNs: t.lastPtsNs,
        decidedNs: f.ptsNs,
        box: t.box,
      });
      out.overMs.push((f.ptsNs - t.lastPtsNs) / 1e6 - t.maxLostMs);
    }
  });
  return out;
}

/**
 * The reference tracker, independent of Vigil's: every frame, detections scoring >= 0.4, matched
 * per class to the tracks' last boxes (greedy, highest IoU first, IoU >= 0.3; at 10-30 fps boxes
 * move little between frames), a track confirmed after 3 sightings with a median score >= 0.5 and
 * ended after 0.7 s unseen.
 */
export function referenceTracks(ref: RefFile): TrackerRun {
  interface T {
    id: number;
    label: string;
    box: Box;
    scores: number[];
    first: number;
    firstBox: Box;
    last: number;
    confirmed: boolean;
  }
  const out: TrackerRun = {
    entries: [],
    exits: [],
    labels: new Set(),
    steadyLabels: new Set(),
    detections: 0,
    overMs: [],
  };
  let tracks: T[] = [];
  let nextId = 1;
  const confirm = (t: T): void => {
    if (t.confirmed || t.scores.length < 3) return;
    const s = [...t.scores].sort((a, b) => a - b);
    const m = s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
    if (m < 0.5) return;
    t.confirmed = true;
    out.labels.add(t.label);
    out.entries.push({ trackId: t.id, label: t.label, firstNs: t.first, box: t.firstBox });
  };
  for (const f of ref.frames) {
    out.detections++;
    const dets = f.detections.filter((d) => d.score >= REF_SCORE);
    const pairs: { ti: number; di: number; o: number }[] = [];
    tracks.forEach((t, ti) =>
      dets.forEach((d, di) => {
        if (d.label !== t.label) return;
        const o = iou(t.box, d.box);
        if (o >= 0.3) pairs.push({ ti, di, o });
      }),
    );
    pairs.sort((a, b) => b.o - a.o);
    const usedT = new Set<number>();
    const usedD = new Set<number>();
    for (const p of pairs) {
      if (usedT.has(p.ti) || usedD.has(p.di)) continue;
      usedT.add(p.ti);
      usedD.add(p.di);
      const t = tracks[p.ti]!;
      const d = dets[p.di]!;
      t.box = d.box;
      t.scores.push(d.score);
      if (t.scores.length > 32) t.scores.shift();
      t.last = f.ptsNs;
      confirm(t);
      if (t.confirmed && t.last - t.first >= 1e9) out.steadyLabels.add(t.label);
    }
    tracks = tracks.filter((t) => {
      const keep = f.ptsNs - t.last <= (t.confirmed ? 700e6 : 300e6);
      if (!keep && t.confirmed) {
        out.exits.push({ trackId: t.id, label: t.label, lastSeenNs: t.last, decidedNs: f.ptsNs, box: t.box });
      }
      return keep;
    });
    dets.forEach((d, di) => {
      if (usedD.has(di)) return;
      tracks.push({
        id: nextId++,
        label: d.label,
        box: d.box,
        scores: [d.score],
        first: f.ptsNs,
        firstBox: d.box,
        last: f.ptsNs,
        confirmed: false,
      });
    });
  }
  return out;
}

const PLURAL: Record<string, string[]> = { person: ['people', 'persons'] };

/** COCO labels named in a text (singular or plural). */
export function labelsIn(text: string): Set<string> {
  const out = new Set<string>();
  const lower = text.toLowerCase();
  for (const label of COCO_LABELS) {
    const forms = [label, `${label}s`, `${label}es`, ...(PLURAL[label] ?? [])];
    if (forms.some((w) => new RegExp(`(^|[^a-z])${w.replace(/ /g, '\\s+')}([^a-z]|$)`).test(lower))) {
      out.add(label);
    }
  }
  return out;
}

export interface Scored {
  entries: number;
  exits: number;
  spuriousEntries: number;
  spuriousExits: number;
  /** The same with the loose "at its box" (half the diagonal): neighbours count as the object. */
  looseEntries: number;
  looseExits: number;
}

/** Spurious counts over the entries and exits in [fromNs, toNs). */
export function score(ref: RefFile, entries: Entry[], exits: Exit[], fromNs: number, toNs: number): Scored {
  const en = entries.filter((e) => e.firstNs >= fromNs && e.firstNs < toNs);
  const ex = exits.filter((e) => e.lastSeenNs >= fromNs && e.lastSeenNs < toNs);
  return {
    entries: en.length,
    exits: ex.length,
    spuriousEntries: en.filter((e) => isSpuriousEntry(ref.frames, e)).length,
    spuriousExits: ex.filter((e) => isSpuriousExit(ref.frames, e)).length,
    looseEntries: en.filter((e) => isSpuriousEntry(ref.frames, e, true)).length,
    looseExits: ex.filter((e) => isSpuriousExit(ref.frames, e, true)).length,
  };
}

export const pct = (n: number, d: number): string => (d === 0 ? '  -  ' : `${((100 * n) / d).toFixed(0)}%`);
