/**
 * What the history index stores: one `HistoryRecord` per published message (event, summary, object
 * record, shot, caption, OCR text, transcript, or any later kind), and one `KeyframeRecord` per
 * keyframe. `recordFromMessage` turns a CloudEvent from a `vigil.<stream>.<kind>[.<type>]` subject
 * into a record generically, by field names, so kinds added later index without code here.
 * Pure functions, no I/O.
 */

/** A time range with what was seen in it; the unit of the index and of search results. */
export interface HistoryRecord {
  /** Message id (Nats-Msg-Id / CloudEvent id): the index is idempotent by it. */
  id: string;
  stream: string;
  /** Subject kind: event, summary, object, shot, caption, transcript, ocr, … */
  kind: string;
  /** Type within the kind (`object.entered`, `window`, …); the kind itself when none. */
  type: string;
  /** Stream time (PTS) of the range, ms. */
  startMs: number;
  endMs: number;
  /** Wall clock of the range, Unix epoch ms. */
  wallStartMs: number;
  wallEndMs: number;
  labels: string[];
  zones: string[];
  /** How many objects (count events, alerts, summaries' peak counts); null when not a count. */
  count: number | null;
  /** Count per label where the message says (summaries' peak counts, count events); bounded. */
  counts: Record<string, number>;
  /** How long an object stayed, ms; null when unknown. */
  dwellMs: number | null;
  /** Searchable text: captions, OCR text, transcripts, summaries (bounded). */
  text: string;
  keyframeIds: string[];
  /** Object-store name of the evidence image, when the message names one. */
  evidence: string | null;
}

export interface KeyframeRecord {
  id: string;
  stream: string;
  /** Stream time, ms. */
  timeMs: number;
  wallMs: number;
  reason: string | null;
  labels: string[];
  evidence: string | null;
}

export type IndexItem = { record: HistoryRecord } | { keyframe: KeyframeRecord };

/** Bounds on what one record keeps (the index never grows by a message's whim). */
export const RECORD_LIMITS = { text: 4000, labels: 32, zones: 16, keyframes: 32, field: 256 } as const;

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null =>
  typeof v === 'string' && v !== '' ? v.slice(0, RECORD_LIMITS.field) : null;

/** 1973-03-03: smaller "wall" times are stream offsets or unset. */
const MIN_WALL_MS = 100_000_000_000;

function firstNum(o: Obj, keys: string[]): number | null {
  for (const k of keys) {
    const v = num(o[k]);
    if (v !== null) return v;
  }
  return null;
}

function pushUnique(list: string[], v: unknown, max: number): void {
  const s = str(v);
  if (s !== null && list.length < max && !list.includes(s)) list.push(s);
}

/** Labels named anywhere a message carries them. */
function labelsOf(d: Obj): string[] {
  const out: string[] = [];
  const max = RECORD_LIMITS.labels;
  pushUnique(out, d['label'], max);
  if (Array.isArray(d['labels'])) for (const l of d['labels']) pushUnique(out, l, max);
  const inner = isObj(d['data']) ? d['data'] : null;
  if (inner) {
    pushUnique(out, inner['label'], max);
    if (Array.isArray(inner['labels'])) for (const l of inner['labels']) pushUnique(out, l, max);
  }
  const facts = isObj(d['facts']) ? d['facts'] : null;
  const counts = facts && isObj(facts['peakCounts']) ? facts['peakCounts'] : null;
  if (counts)
    for (const [l, n] of Object.entries(counts))
      if (num(n) !== null && (n as number) > 0) pushUnique(out, l, max);
  const boxes = isObj(d['evidence']) ? d['evidence']['boxes'] : d['detections'];
  if (Array.isArray(boxes)) for (const b of boxes) if (isObj(b)) pushUnique(out, b['label'], max);
  return out.map((l) => l.toLowerCase());
}

function zonesOf(d: Obj): string[] {
  const out: string[] = [];
  const max = RECORD_LIMITS.zones;
  for (const o of [d, isObj(d['data']) ? d['data'] : {}]) {
    pushUnique(out, o['zone'], max);
    if (Array.isArray(o['zones'])) {
      for (const z of o['zones']) pushUnique(out, isObj(z) ? z['name'] : z, max);
    }
  }
  // Rule alerts (`alert.<name>`) are about the rule's zone: its name is the place to search by.
  const inner = isObj(d['data']) ? d['data'] : {};
  if (typeof d['type'] === 'string' && d['type'].startsWith('alert.')) pushUnique(out, inner['rule'], max);
  return out.map((z) => z.toLowerCase());
}

function textOf(kind: string, d: Obj): string {
  const parts: string[] = [];
  const add = (v: unknown) => {
    if (typeof v === 'string' && v.trim() !== '') parts.push(v.trim());
    else if (Array.isArray(v))
      for (const x of v) if (typeof x === 'string' && x.trim() !== '') parts.push(x.trim());
  };
  for (const k of ['text', 'caption', 'transcript', 'ocr', 'title', 'description']) add(d[k]);
  const inner = isObj(d['data']) ? d['data'] : null;
  if (inner) for (const k of ['text', 'caption', 'transcript']) add(inner[k]);
  if (kind === 'transcript' && Array.isArray(d['segments'])) {
    for (const s of d['segments']) if (isObj(s)) add(s['text']);
  }
  return parts.join(' \u2022 ').slice(0, RECORD_LIMITS.text);
}

function keyframesOf(d: Obj): string[] {
  const out: string[] = [];
  const max = RECORD_LIMITS.keyframes;
  const ev = isObj(d['evidence']) ? d['evidence'] : null;
  if (ev) pushUnique(out, ev['keyframeId'], max);
  if (Array.isArray(d['evidence'])) for (const k of d['evidence']) pushUnique(out, k, max);
  for (const k of ['keyframeId', 'representativeKeyframeId', 'bestKeyframeId', 'firstKeyframeId']) {
    pushUnique(out, d[k], max);
  }
  for (const k of ['snapshot', 'best', 'representative']) {
    const o = d[k];
    if (isObj(o)) pushUnique(out, o['keyframeId'], max);
  }
  if (Array.isArray(d['keyframes'])) {
    for (const k of d['keyframes']) pushUnique(out, isObj(k) ? k['id'] : k, max);
  }
  const inner = isObj(d['data']) ? d['data'] : null;
  if (inner) pushUnique(out, inner['firstKeyframeId'], max);
  return out;
}

/** Count per label: peak counts of a summary, `{label, to}` of count.changed, `{label, count}` of entries and alerts. */
function countsOf(d: Obj, inner: Obj, facts: Obj | null): Record<string, number> {
  const out: Record<string, number> = {};
  let n = 0;
  const put = (label: unknown, v: unknown) => {
    const l = str(label);
    const c = num(v);
    if (l === null || c === null || n >= RECORD_LIMITS.labels) return;
    const key = l.toLowerCase();
    if (!(key in out)) n++;
    out[key] = Math.max(out[key] ?? 0, c);
  };
  const peak =
    facts && isObj(facts['peakCounts']) ? facts['peakCounts'] : isObj(d['counts']) ? d['counts'] : null;
  if (peak) for (const [l, c] of Object.entries(peak)) put(l, c);
  for (const o of [d, inner]) {
    if (o['label'] !== undefined) put(o['label'], o['to'] ?? o['count']);
    if (Array.isArray(o['labels']) && o['labels'].length === 1) put(o['labels'][0], o['count']);
  }
  return out;
}

function evidenceOf(d: Obj): string | null {
  for (const k of ['evidence', 'snapshot', 'best']) {
    const o = d[k];
    const image = isObj(o) && isObj(o['image']) ? o['image'] : null;
    if (image) {
      const name = str(image['name']);
      if (name !== null) return name;
    }
  }
  return null;
}

const NS_PER_MS = 1e6;

/** Stream-time range in ms from the PTS fields (ns) a message carries, or null. */
function streamRange(d: Obj): [number, number] | null {
  const inner = isObj(d['data']) ? d['data'] : {};
  const start = firstNum(d, ['startPtsNs', 'firstPtsNs', 'ptsNs']) ?? firstNum(inner, ['enteredPtsNs']);
  if (start === null) {
    const ms = firstNum(d, ['startMs', 'streamStartMs']);
    if (ms === null) return null;
    return [ms, firstNum(d, ['endMs', 'streamEndMs']) ?? ms];
  }
  let end = firstNum(d, ['endPtsNs', 'lastPtsNs']) ?? firstNum(inner, ['lastSeenPtsNs']) ?? start;
  const dur = firstNum(d, ['durationNs']);
  if (end === start && dur !== null) end = start + dur;
  const s = (inner['enteredPtsNs'] !== undefined ? (num(inner['enteredPtsNs']) ?? start) : start) / NS_PER_MS;
  return [Math.min(s, start / NS_PER_MS), Math.max(end / NS_PER_MS, start / NS_PER_MS)];
}

/** `vigil.<stream>.<kind>[.<type…>]` → its parts, or null for another grammar. */
export function parseSubject(subject: string): { stream: string; kind: string; type: string | null } | null {
  const parts = subject.split('.');
  if (parts.length < 3 || parts[0] !== 'vigil' || parts[1] === 'ctl' || !TOKEN.test(parts[1]!)) return null;
  const kind = parts[2]!;
  if (!/^[a-z][a-z0-9_-]{0,31}$/.test(kind)) return null;
  return { stream: parts[1]!, kind, type: parts.length > 3 ? parts.slice(3).join('.') : null };
}

/** Kinds that are not history (high rate or ephemeral, or kept as keyframes). */
const SKIP_KINDS = new Set(['status', 'keyframe', 'detections']);

/**
 * A published message as a record, or null when it is not one (wrong subject, no id, not an
 * object, a kind history does not keep). Never throws on odd input.
 */
export function recordFromMessage(subject: string, body: unknown, msgId?: string): HistoryRecord | null {
  const s = parseSubject(subject);
  if (s === null || SKIP_KINDS.has(s.kind) || !isObj(body)) return null;
  const d = isObj(body['data']) ? body['data'] : null;
  if (d === null) return null;
  // An object is published again as it changes; its final record holds the whole track (while
  // it is still in view, its `object.entered` event finds it).
  if (s.kind === 'object' && d['final'] === false) return null;
  const id = str(msgId) ?? str(body['id']) ?? str(d['id']);
  if (id === null) return null;
  const type = str(d['type']) ?? str(d['level']) ?? s.type ?? s.kind;
  const wallFromCe = typeof body['time'] === 'string' ? Date.parse(body['time']) : NaN;
  // A wall time before 1973 is no wall time (a window without frames carries 0, or its stream
  // offset): the message's own time stands in, so wall-clock searches do not find it in 1970.
  const wall = (v: number | null) => (v !== null && v >= MIN_WALL_MS ? v : null);
  const wallStart =
    wall(firstNum(d, ['startTimeMs', 'timeMs', 'captureTimeMs', 'startWallMs'])) ??
    (Number.isFinite(wallFromCe)
      ? wallFromCe
      : firstNum(d, ['startTimeMs', 'timeMs', 'captureTimeMs', 'startWallMs']));
  if (wallStart === null) return null;
  const wallEnd = Math.max(
    wallStart,
    wall(firstNum(d, ['endTimeMs', 'lastTimeMs', 'endWallMs'])) ?? wallStart,
  );
  const range = streamRange(d) ?? [0, 0];
  const inner = isObj(d['data']) ? d['data'] : {};
  const facts = isObj(d['facts']) ? d['facts'] : null;
  let count = firstNum(d, ['count', 'peakCount']) ?? firstNum(inner, ['count', 'to']);
  if (count === null && facts && isObj(facts['peakCounts'])) {
    const values = Object.values(facts['peakCounts']).filter((n): n is number => num(n) !== null);
    if (values.length > 0) count = Math.max(...values);
  }
  const counts = countsOf(d, inner, facts);
  if (count === null) {
    const values = Object.values(counts);
    if (values.length > 0) count = Math.max(...values);
  }
  let dwellMs = firstNum(d, ['dwellMs']) ?? firstNum(inner, ['dwellMs']);
  if (dwellMs === null && s.kind === 'object') dwellMs = range[1] - range[0];
  return {
    id,
    stream: s.stream,
    kind: s.kind,
    type: type.toLowerCase(),
    startMs: range[0],
    endMs: range[1],
    wallStartMs: wallStart,
    wallEndMs: wallEnd,
    labels: labelsOf(d),
    zones: zonesOf(d),
    count,
    counts,
    dwellMs,
    text: textOf(s.kind, d),
    keyframeIds: keyframesOf(d),
    evidence: evidenceOf(d),
  };
}

/**
 * A keyframe message (`vigil.<s>.keyframe`) or its detections (`vigil.<s>.detections`) as a
 * keyframe record; both carry the keyframe id, so the index merges them. Null otherwise.
 */
export function keyframeFromMessage(subject: string, body: unknown): KeyframeRecord | null {
  const s = parseSubject(subject);
  if (s === null || (s.kind !== 'keyframe' && s.kind !== 'detections') || !isObj(body)) return null;
  const d = isObj(body['data']) ? body['data'] : null;
  if (d === null) return null;
  const id = str(d['keyframeId']);
  const pts = num(d['ptsNs']);
  const wall = num(d['captureTimeMs']);
  if (id === null || pts === null || wall === null) return null;
  return {
    id,
    stream: s.stream,
    timeMs: pts / NS_PER_MS,
    wallMs: wall,
    reason: str(d['reason']),
    labels: labelsOf(d),
    evidence: null,
  };
}

/** Any message as something to index, or null. */
export function itemFromMessage(subject: string, body: unknown, msgId?: string): IndexItem | null {
  const kf = keyframeFromMessage(subject, body);
  if (kf) return { keyframe: kf };
  const record = recordFromMessage(subject, body, msgId);
  return record ? { record } : null;
}
