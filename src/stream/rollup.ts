/**
 * Digest roll-up for the chain-of-summary: N window digests merge into one segment digest, and
 * every digest folds into the stream digest, so segment and stream summaries are built by the same
 * Summarizer from a digest of the same shape. Merging is incremental and bounded: the merged
 * digest keeps at most `maxKeyframes` keyframe entries (those with detections first, then the most
 * recent), `maxTexts` texts (most recent), `maxLabels` labels; counts of scene cuts, entries and
 * exits are summed in full (never recounted from the kept keyframe entries).
 */
import type { DigestObjectEvent, DigestShot, EdgeTally, FrameEdge, WindowDigest } from '../core/contracts.js';

export interface MergeBounds {
  maxKeyframes: number;
  maxTexts: number;
  maxLabels: number;
  maxListed: number;
}

export const DEFAULT_MERGE_BOUNDS: Readonly<MergeBounds> = Object.freeze({
  maxKeyframes: 32,
  maxTexts: 32,
  maxLabels: 100,
  maxListed: 32,
});

function keepKeyframes(list: WindowDigest['keyframes'], max: number): WindowDigest['keyframes'] {
  if (list.length <= max) return list;
  // Prefer keyframes with detections (better evidence), then the most recent; keep PTS order.
  const ranked = list
    .map((k, i) => ({ k, i }))
    .sort((a, b) => Number((b.k.detections ?? 0) > 0) - Number((a.k.detections ?? 0) > 0) || b.i - a.i)
    .slice(0, max)
    .sort((a, b) => a.i - b.i);
  return ranked.map((x) => x.k);
}

/**
 * Folds `next` into `acc` (null = start) and returns a new merged digest with `index`. The result's
 * time range spans both; counts are peaks (max) and sums; `dropped` counts keyframe entries that
 * were not kept.
 */
export function mergeDigests(
  acc: WindowDigest | null,
  next: WindowDigest,
  index: number,
  bounds: MergeBounds = DEFAULT_MERGE_BOUNDS,
): WindowDigest {
  if (acc === null) {
    const kept = keepKeyframes(
      next.keyframes.map((k) => ({ ...k })),
      bounds.maxKeyframes,
    );
    const d: WindowDigest = {
      ...next,
      index,
      keyframes: kept,
      peakCounts: { ...next.peakCounts },
      lastCounts: { ...next.lastCounts },
      text: next.text.slice(-bounds.maxTexts),
    };
    const dropped = (next.dropped ?? 0) + next.keyframes.length - kept.length;
    if (dropped > 0) d.dropped = dropped;
    delete d.closedBy;
    if (next.missingKeyframes !== undefined)
      d.missingKeyframes = next.missingKeyframes.slice(-bounds.maxListed);
    if (next.speech !== undefined) d.speech = next.speech.slice(-bounds.maxListed).map((s) => ({ ...s }));
    mergeLanguage(d, null, next, bounds);
    mergeActivity(d, null, next, bounds);
    return d;
  }
  const peak: Record<string, number> = { ...acc.peakCounts };
  for (const [label, n] of Object.entries(next.peakCounts)) {
    if (label in peak) peak[label] = Math.max(peak[label] ?? 0, n);
    else if (Object.keys(peak).length < bounds.maxLabels) peak[label] = n;
  }
  const all = [...acc.keyframes, ...next.keyframes.map((k) => ({ ...k }))];
  const kept = keepKeyframes(all, bounds.maxKeyframes);
  const texts = [...acc.text.filter((t) => !next.text.includes(t)), ...next.text].slice(-bounds.maxTexts);
  const accItems = acc.analysed + acc.missing;
  const nextItems = next.analysed + next.missing;
  const items = accItems + nextItems;
  const d: WindowDigest = {
    streamId: next.streamId,
    index,
    startPtsNs: Math.min(acc.startPtsNs, next.startPtsNs),
    endPtsNs: Math.max(acc.endPtsNs, next.endPtsNs),
    startTimeMs: acc.startTimeMs === 0 ? next.startTimeMs : acc.startTimeMs,
    endTimeMs: Math.max(acc.endTimeMs, next.endTimeMs),
    keyframes: kept,
    peakCounts: Object.fromEntries(Object.entries(peak).sort(([a], [b]) => a.localeCompare(b))),
    lastCounts: next.analysed > 0 ? { ...next.lastCounts } : { ...acc.lastCounts },
    analysed: acc.analysed + next.analysed,
    missing: acc.missing + next.missing,
    meanMotion: items === 0 ? 0 : (acc.meanMotion * accItems + next.meanMotion * nextItems) / items,
    text: texts,
  };
  const dropped = (acc.dropped ?? 0) + (next.dropped ?? 0) + all.length - kept.length;
  if (dropped > 0) d.dropped = dropped;
  const late = (acc.late ?? 0) + (next.late ?? 0);
  if (late > 0) d.late = late;
  const resets = (acc.ptsResets ?? 0) + (next.ptsResets ?? 0);
  if (resets > 0) d.ptsResets = resets;
  const missingIds = [...(acc.missingKeyframes ?? []), ...(next.missingKeyframes ?? [])].slice(
    -bounds.maxListed,
  );
  if (missingIds.length > 0) d.missingKeyframes = missingIds;
  if (acc.speech !== undefined || next.speech !== undefined) {
    d.speech = [...(acc.speech ?? []), ...(next.speech ?? [])]
      .slice(-bounds.maxListed)
      .map((s) => ({ ...s }));
  }
  mergeLanguage(d, acc, next, bounds);
  mergeActivity(d, acc, next, bounds);
  return d;
}

/**
 * Scene cuts, shots, object entries, exits and tracks. Counts (`sceneCuts`, `objectsEntered`,
 * `objectsLeft`) are summed in full, whatever the lists keep: the count of a segment or of the
 * stream is the sum of its windows' counts, the same as the event list. Lists keep the newest
 * `maxListed`; a track seen in several windows is listed once (latest sighting, furthest move).
 */
function mergeActivity(
  d: WindowDigest,
  acc: WindowDigest | null,
  next: WindowDigest,
  bounds: MergeBounds,
): void {
  const sum = (key: 'sceneCuts' | 'objectsEntered' | 'objectsLeft'): void => {
    const n = (acc?.[key] ?? 0) + (next[key] ?? 0);
    if (n > 0) d[key] = n;
    else delete d[key];
  };
  sum('sceneCuts');
  sum('objectsEntered');
  sum('objectsLeft');
  for (const key of ['enteredBy', 'leftBy'] as const) {
    if (acc?.[key] === undefined && next[key] === undefined) delete d[key];
    else d[key] = sumTallies([acc?.[key], next[key]], bounds.maxLabels);
  }
  for (const key of ['shots', 'entries', 'exits'] as const) {
    const a = acc?.[key];
    const b = next[key];
    if (a === undefined && b === undefined) {
      delete d[key];
      continue;
    }
    let merged: (DigestShot | DigestObjectEvent)[] = [...(a ?? []), ...(b ?? [])];
    if (merged.length > bounds.maxListed) {
      // The stream's first shot stays listed (it tells how many shots there were: cuts + 1).
      const first =
        key === 'shots' ? merged.find((x) => 'transition' in x && x.transition === 'first') : undefined;
      merged = merged.slice(-(first === undefined ? bounds.maxListed : bounds.maxListed - 1));
      if (first !== undefined && !merged.includes(first)) merged.unshift(first);
    }
    (d as unknown as Record<string, unknown>)[key] = merged.map((x) =>
      'counts' in x ? { ...x, counts: { ...x.counts } } : { ...x },
    );
  }
  if (acc?.tracks === undefined && next.tracks === undefined) {
    delete d.tracks;
    return;
  }
  const byId = new Map<number, NonNullable<WindowDigest['tracks']>[number]>();
  for (const t of [...(acc?.tracks ?? []), ...(next.tracks ?? [])]) {
    const had = byId.get(t.id);
    byId.delete(t.id);
    if (had === undefined) {
      byId.set(t.id, { ...t });
      continue;
    }
    const merged = { ...had, lastPtsNs: Math.max(had.lastPtsNs, t.lastPtsNs) };
    if (t.keyframeId !== undefined) merged.keyframeId = t.keyframeId;
    if (had.moved !== undefined || t.moved !== undefined)
      merged.moved = Math.max(had.moved ?? 0, t.moved ?? 0);
    byId.set(t.id, merged);
  }
  d.tracks = [...byId.values()].slice(-bounds.maxListed);
}

/** Text positions, captions and transcripts: appended, the newest `maxListed` kept. */
function mergeLanguage(
  d: WindowDigest,
  acc: WindowDigest | null,
  next: WindowDigest,
  bounds: MergeBounds,
): void {
  for (const key of ['textAt', 'captions', 'transcripts'] as const) {
    const a = acc?.[key];
    const b = next[key];
    if (a === undefined && b === undefined) continue;
    const merged = [...(a ?? []), ...(b ?? [])].slice(-bounds.maxListed).map((x) => ({ ...x }));
    (d as unknown as Record<string, unknown>)[key] = merged;
  }
}

/** Rough retained size of a digest (for memory stats). */
export function estimateDigestBytes(d: WindowDigest): number {
  let n = 512 + Object.keys(d.peakCounts).length * 64 + Object.keys(d.lastCounts).length * 64;
  for (const k of d.keyframes) n += 96 + k.id.length * 2;
  for (const t of d.text) n += 32 + t.length * 2;
  n += (d.missingKeyframes?.length ?? 0) * 64 + (d.tracks?.length ?? 0) * 96 + (d.speech?.length ?? 0) * 96;
  for (const x of [...(d.textAt ?? []), ...(d.captions ?? []), ...(d.transcripts ?? [])])
    n += 128 + x.text.length * 2;
  return n;
}

/**
 * Splits a merged digest at a shot boundary `atNs` (a scene cut inside it): the head ends there,
 * the tail (from the cut on) opens the next segment. What was listed moves by time: keyframes,
 * shots, entries, exits (tracks still seen after the cut go to both). The counts move with them,
 * so head + tail still sum to the whole (scene cuts, entries, exits, analysed keyframes); the
 * tail's counts per label are what its shots saw; aggregates that cannot be split (motion, text,
 * missing) stay with the head. Null when `atNs` is not inside the digest.
 */
export function splitDigest(
  d: WindowDigest,
  atNs: number,
  tailIndex: number,
): { head: WindowDigest; tail: WindowDigest } | null {
  if (!(atNs > d.startPtsNs && atNs < d.endPtsNs)) return null;
  const before = <T extends { ptsNs: number }>(xs: readonly T[] | undefined): T[] =>
    (xs ?? []).filter((x) => x.ptsNs < atNs);
  const after = <T extends { ptsNs: number }>(xs: readonly T[] | undefined): T[] =>
    (xs ?? []).filter((x) => x.ptsNs >= atNs);
  const atMs = Math.round(d.startTimeMs + (atNs - d.startPtsNs) / 1e6);
  const tailShots = after(d.shots);
  const tailCuts = tailShots.filter((s) => s.transition !== 'first').length;
  const tailKeyframes = after(d.keyframes);
  const tailAnalysed = tailKeyframes.filter((k) => k.detections !== undefined).length;
  const tailEntries = after(d.entries);
  const tailExits = after(d.exits);
  const peak: Record<string, number> = {};
  for (const s of tailShots)
    for (const [label, n] of Object.entries(s.counts)) peak[label] = Math.max(peak[label] ?? 0, n);
  const tail: WindowDigest = {
    streamId: d.streamId,
    index: tailIndex,
    startPtsNs: atNs,
    endPtsNs: d.endPtsNs,
    startTimeMs: atMs,
    endTimeMs: d.endTimeMs,
    keyframes: tailKeyframes.map((k) => ({ ...k })),
    peakCounts: peak,
    lastCounts: { ...(tailShots.at(-1)?.counts ?? {}) },
    analysed: tailAnalysed,
    missing: 0,
    meanMotion: d.meanMotion,
    text: [],
  };
  const head: WindowDigest = {
    ...d,
    endPtsNs: atNs,
    endTimeMs: atMs,
    keyframes: before(d.keyframes),
    analysed: Math.max(0, d.analysed - tailAnalysed),
  };
  const move = (key: 'sceneCuts' | 'objectsEntered' | 'objectsLeft', n: number): void => {
    const total = d[key] ?? 0;
    const h = Math.max(0, total - n);
    if (h > 0) head[key] = h;
    else delete head[key];
    if (n > 0) tail[key] = n;
  };
  move('sceneCuts', tailCuts);
  move('objectsEntered', tailEntries.length);
  move('objectsLeft', tailExits.length);
  const list = <K extends 'shots' | 'entries' | 'exits'>(
    key: K,
    h: WindowDigest[K],
    t: WindowDigest[K],
  ): void => {
    if ((h?.length ?? 0) > 0) head[key] = h;
    else delete head[key];
    if ((t?.length ?? 0) > 0) tail[key] = t;
  };
  list('shots', before(d.shots), tailShots);
  list('entries', before(d.entries), tailEntries);
  list('exits', before(d.exits), tailExits);
  // Tallies follow the listed events that moved (the newest are listed, and the tail is the newest).
  for (const [key, moved] of [
    ['enteredBy', tailEntries],
    ['leftBy', tailExits],
  ] as const) {
    const whole = d[key];
    if (whole === undefined) continue;
    const t = tallyOf(moved);
    const h = subtractTally(whole, t);
    if (Object.keys(h).length > 0) head[key] = h;
    else delete head[key];
    if (Object.keys(t).length > 0) tail[key] = t;
  }
  const tailTracks = (d.tracks ?? []).filter((t) => t.lastPtsNs >= atNs).map((t) => ({ ...t }));
  if (tailTracks.length > 0) tail.tracks = tailTracks;
  return { head, tail };
}

/**
 * Adds `n` to a label's count at an edge; a label not yet in `into` is left out once it holds
 * `maxLabels` labels (it stays in the totals only).
 */
export function addToTally(
  into: EdgeTally,
  label: string,
  edge: FrameEdge,
  n: number,
  maxLabels = Infinity,
): void {
  let byEdge = into[label];
  if (byEdge === undefined) {
    if (Object.keys(into).length >= maxLabels) return;
    byEdge = into[label] = {};
  }
  byEdge[edge] = (byEdge[edge] ?? 0) + n;
}

/** The tallies added up into a new one, labels sorted and bounded (see addToTally). */
export function sumTallies(tallies: readonly (EdgeTally | undefined)[], maxLabels = Infinity): EdgeTally {
  const out: EdgeTally = {};
  for (const t of tallies)
    for (const [label, byEdge] of Object.entries(t ?? {}))
      for (const [edge, n] of Object.entries(byEdge) as [FrameEdge, number][])
        addToTally(out, label, edge, n, maxLabels);
  return Object.fromEntries(Object.entries(out).sort(([x], [y]) => x.localeCompare(y)));
}

/** Listed entries or exits tallied by label and edge. */
export function tallyOf(list: readonly DigestObjectEvent[]): EdgeTally {
  const out: EdgeTally = {};
  for (const x of list) addToTally(out, x.label, x.edge, 1);
  return out;
}

/** `a` less `b`, never below zero; labels and edges that reach zero are removed. */
function subtractTally(a: EdgeTally, b: EdgeTally): EdgeTally {
  const out: EdgeTally = {};
  for (const [label, byEdge] of Object.entries(a))
    for (const [edge, n] of Object.entries(byEdge) as [FrameEdge, number][]) {
      const r = n - (b[label]?.[edge] ?? 0);
      if (r > 0) addToTally(out, label, edge, r);
    }
  return out;
}
