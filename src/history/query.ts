/**
 * Search queries: validation of untrusted input (HTTP query strings, NATS bodies, CLI flags) into
 * a bounded `SearchQuery`, and the full-text tokeniser. User text never reaches SQL: filters are
 * bound parameters, and free text becomes a list of plain word tokens (letters and digits only),
 * each quoted by the backend, so FTS operators in the input are just words. Pure; no I/O.
 */
import { VigilError } from '../core/errors.js';

export type HistoryErrorCode =
  /** A time range that runs backwards, or lies outside what the index can hold. */
  | 'VIGIL_ERR_HISTORY_RANGE'
  /** A malformed query: unknown order, bad number, too long, too many terms. */
  | 'VIGIL_ERR_HISTORY_QUERY'
  /** The query ran past its time bound (PostgreSQL statement timeout). */
  | 'VIGIL_ERR_HISTORY_TIMEOUT'
  /** The index could not be opened or written. */
  | 'VIGIL_ERR_HISTORY_BACKEND';

export class HistoryError extends VigilError {
  constructor(code: HistoryErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export type SearchOrder = 'newest' | 'oldest' | 'best' | 'longest';
export type SearchClock = 'stream' | 'wall';

export interface SearchQuery {
  /** Streams to search (any of); empty: all. */
  streams: string[];
  /** Range bounds, ms: stream time (PTS) or Unix epoch ms, by `clock`; results overlap the range. */
  from: number | null;
  to: number | null;
  clock: SearchClock;
  /** Any of these labels (lowercase). */
  labels: string[];
  /**
   * Labels seen together: every group must be on the same record (a keyframe, window or shot),
   * any label of each group (synonyms). Set by ask ("a person with a horse"); absent: none.
   */
  labelGroups?: string[][];
  /** Any of these zones (lowercase). */
  zones: string[];
  minCount: number | null;
  minDwellMs: number | null;
  /** Record types (`object.entered`, `window`) or kinds (`event`, `caption`); any of. */
  types: string[];
  /** Full-text groups, all required: a group of several tokens is a phrase. */
  text: string[][];
  order: SearchOrder;
  limit: number;
  offset: number;
}

export const SEARCH_LIMITS = {
  /** Rows in one page. */
  maxLimit: 200,
  defaultLimit: 20,
  /**
   * Text matches ranked per search, newest first (SQLite): relevance is computed for this many
   * candidates, widened up to `maxTextCandidates` when filters leave a page short.
   */
  textCandidates: 2_000,
  maxTextCandidates: 128_000,
  /** Deepest page start (deeper paging is a slow scan; narrow the range instead). */
  maxOffset: 10_000,
  /** Characters of free text accepted. */
  maxTextChars: 2_000,
  /** Words used from the free text. */
  maxTerms: 16,
  /** Characters of one word. */
  maxTermChars: 64,
  /** Filter values in one list (streams, labels, zones, types). */
  maxListItems: 32,
  /** Stream time: up to ten years of PTS, ms. */
  maxStreamMs: 10 * 365 * 24 * 3600 * 1000,
  /** Wall clock: from 2000-01-01 to 2100-01-01. */
  minWallMs: Date.UTC(2000, 0, 1),
  maxWallMs: Date.UTC(2100, 0, 1),
} as const;

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
const TYPE = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

const bad = (message: string) => new HistoryError('VIGIL_ERR_HISTORY_QUERY', message);

/**
 * Splits free text into search groups: each quoted part is one phrase group, every other word its
 * own group. Words are runs of letters and digits (any script), lowercased; everything else
 * (quotes, `*`, `:`, `NEAR`, `-`, SQL) only separates words. Bounded by SEARCH_LIMITS.
 */
export function tokenize(text: string): string[][] {
  if (text.length > SEARCH_LIMITS.maxTextChars) {
    throw bad(`text is ${text.length} characters; at most ${SEARCH_LIMITS.maxTextChars}`);
  }
  const groups: string[][] = [];
  let terms = 0;
  const words = (s: string) =>
    (
      s
        .normalize('NFKC')
        .toLowerCase()
        .match(/[\p{L}\p{N}]+/gu) ?? []
    ).map((w) => w.slice(0, SEARCH_LIMITS.maxTermChars));
  const parts = text.split('"');
  parts.forEach((part, i) => {
    const ws = words(part);
    if (ws.length === 0) return;
    // Odd parts sat between quotes (an unclosed quote runs to the end).
    if (i % 2 === 1) groups.push(ws);
    else for (const w of ws) groups.push([w]);
  });
  const out: string[][] = [];
  for (const g of groups) {
    if (terms >= SEARCH_LIMITS.maxTerms) break;
    const take = g.slice(0, SEARCH_LIMITS.maxTerms - terms);
    terms += take.length;
    out.push(take);
  }
  return out;
}

/** The FTS5 MATCH string for token groups: every group a quoted phrase, all required. */
export function fts5Match(groups: string[][]): string {
  return groups.map((g) => `"${g.join(' ').replace(/"/g, '""')}"`).join(' AND ');
}

function list(v: unknown, name: string, check: (s: string) => boolean): string[] {
  if (v === undefined || v === null || v === '') return [];
  const raw = Array.isArray(v) ? v : String(v).split(',');
  if (raw.length > SEARCH_LIMITS.maxListItems)
    throw bad(`${name}: at most ${SEARCH_LIMITS.maxListItems} values`);
  const out: string[] = [];
  for (const x of raw) {
    if (typeof x !== 'string') throw bad(`${name}: values must be strings`);
    const s = x.trim();
    if (s === '') continue;
    if (!check(s)) throw bad(`${name}: ${JSON.stringify(s.slice(0, 80))} is not a valid value`);
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

function number(v: unknown, name: string, min: number, max: number): number | null {
  if (v === undefined || v === null || v === '') return null;
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n))
    throw bad(`${name} must be a number, got ${JSON.stringify(String(v).slice(0, 40))}`);
  if (n < min || n > max)
    throw new HistoryError('VIGIL_ERR_HISTORY_RANGE', `${name} must be within ${min}..${max}`);
  return n;
}

/**
 * A time bound: a number (ms of stream time, or epoch ms for the wall clock), `[[h:]mm:]ss[.fff]`
 * (stream time), or an ISO-8601 date-time (wall clock). Returns the value and the clock it implies.
 */
export function parseTimeBound(v: unknown, name: string): { ms: number; clock: SearchClock | null } | null {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v === 'number') return { ms: v, clock: null };
  if (typeof v !== 'string' || v.length > 40) throw bad(`${name} must be a number or a time`);
  const s = v.trim();
  if (/^-?\d+(\.\d+)?$/.test(s)) return { ms: Number(s), clock: null };
  const clock = /^(?:(\d{1,6}):)?(\d{1,2}):(\d{1,2}(?:\.\d{1,3})?)$/.exec(s);
  if (clock) {
    const [, h, m, sec] = clock;
    if (Number(m) > 59 || Number(sec) >= 60)
      throw bad(`${name}: ${JSON.stringify(s)} has minutes or seconds over 59`);
    return { ms: ((Number(h ?? 0) * 60 + Number(m)) * 60 + Number(sec)) * 1000, clock: 'stream' };
  }
  if (/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+)?(Z|[+-]\d{2}:?\d{2})?$/.test(s)) {
    const ms = Date.parse(s);
    if (Number.isFinite(ms)) return { ms, clock: 'wall' };
  }
  throw bad(`${name}: ${JSON.stringify(s)} is not a time (ms, [h:]mm:ss or an ISO date-time)`);
}

/** Untrusted input (JSON body, query string as an object, CLI flags) → a validated query. */
export function parseSearchQuery(input: unknown): SearchQuery {
  if (input !== undefined && input !== null && (typeof input !== 'object' || Array.isArray(input))) {
    throw bad('the search request must be a JSON object');
  }
  const o = (input ?? {}) as Record<string, unknown>;
  const known = new Set([
    'stream',
    'streams',
    'from',
    'to',
    'clock',
    'label',
    'labels',
    'zone',
    'zones',
    'minCount',
    'minDwellMs',
    'type',
    'types',
    'text',
    'order',
    'limit',
    'offset',
    'cursor',
  ]);
  for (const k of Object.keys(o))
    if (!known.has(k)) throw bad(`unknown search field ${JSON.stringify(k.slice(0, 40))}`);
  const from = parseTimeBound(o['from'], 'from');
  const to = parseTimeBound(o['to'], 'to');
  const clockIn = o['clock'];
  if (clockIn !== undefined && clockIn !== 'stream' && clockIn !== 'wall')
    throw bad('clock must be "stream" or "wall"');
  const implied = from?.clock ?? to?.clock ?? null;
  const clock: SearchClock = (clockIn as SearchClock | undefined) ?? implied ?? 'stream';
  if ((from?.clock && from.clock !== clock) || (to?.clock && to.clock !== clock)) {
    throw new HistoryError(
      'VIGIL_ERR_HISTORY_RANGE',
      'from and to must use the same clock (stream time or wall clock)',
    );
  }
  const [lo, hi] =
    clock === 'stream' ? [0, SEARCH_LIMITS.maxStreamMs] : [SEARCH_LIMITS.minWallMs, SEARCH_LIMITS.maxWallMs];
  for (const [name, b] of [
    ['from', from],
    ['to', to],
  ] as const) {
    if (b && (b.ms < lo || b.ms > hi)) {
      throw new HistoryError(
        'VIGIL_ERR_HISTORY_RANGE',
        `${name} is out of range for the ${clock === 'stream' ? 'stream-time' : 'wall'} clock`,
      );
    }
  }
  if (from && to && to.ms < from.ms)
    throw new HistoryError('VIGIL_ERR_HISTORY_RANGE', 'the time range runs backwards (to < from)');
  const order = o['order'] ?? null;
  if (order !== null && order !== 'newest' && order !== 'oldest' && order !== 'best' && order !== 'longest') {
    throw bad('order must be newest, oldest, best or longest');
  }
  const text = o['text'] === undefined || o['text'] === null ? [] : tokenize(String(o['text']));
  const limit = number(o['limit'], 'limit', 1, SEARCH_LIMITS.maxLimit) ?? SEARCH_LIMITS.defaultLimit;
  const offset = number(o['offset'] ?? o['cursor'], 'offset', 0, SEARCH_LIMITS.maxOffset) ?? 0;
  const lower = (xs: string[]) => xs.map((x) => x.toLowerCase());
  const word = (s: string) => s.length <= 64 && /^[\p{L}\p{N} _.-]+$/u.test(s);
  return {
    streams: list(o['streams'] ?? o['stream'], 'stream', (s) => TOKEN.test(s)),
    from: from?.ms ?? null,
    to: to?.ms ?? null,
    clock,
    labels: lower(list(o['labels'] ?? o['label'], 'label', word)),
    zones: lower(list(o['zones'] ?? o['zone'], 'zone', word)),
    minCount: number(o['minCount'], 'minCount', 0, 1_000_000),
    minDwellMs: number(o['minDwellMs'], 'minDwellMs', 0, SEARCH_LIMITS.maxStreamMs),
    types: lower(list(o['types'] ?? o['type'], 'type', (s) => TYPE.test(s.toLowerCase()))),
    text,
    order: (order as SearchOrder | null) ?? (text.length > 0 ? 'best' : 'newest'),
    limit: Math.floor(limit),
    offset: Math.floor(offset),
  };
}

/** A query with every field at its default (for code that builds queries, e.g. ask). */
export function emptyQuery(overrides: Partial<SearchQuery> = {}): SearchQuery {
  return {
    streams: [],
    from: null,
    to: null,
    clock: 'stream',
    labels: [],
    zones: [],
    minCount: null,
    minDwellMs: null,
    types: [],
    text: [],
    order: 'newest',
    limit: SEARCH_LIMITS.defaultLimit,
    offset: 0,
    ...overrides,
  };
}

export interface HitKeyframe {
  id: string;
  /** Stream time, ms (null when the keyframe's own record is not in the index). */
  timeMs: number | null;
  /** URL of the evidence image, or null when none was stored. */
  thumbnail: string | null;
}

export interface SearchHit {
  id: string;
  stream: string;
  kind: string;
  type: string;
  startMs: number;
  endMs: number;
  wallStart: string;
  wallEnd: string;
  labels: string[];
  zones: string[];
  count: number | null;
  counts: Record<string, number>;
  dwellMs: number | null;
  text: string;
  keyframes: HitKeyframe[];
  /** Relevance (higher is better) when ordered best-first by text; null otherwise. */
  score: number | null;
}

export interface SearchResult {
  hits: SearchHit[];
  /** Offset of the next page, or null at the end. */
  next: number | null;
  query: SearchQuery;
}
