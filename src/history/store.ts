/**
 * The history index behind one small interface, with two backends: embedded SQLite (default) and
 * PostgreSQL (several analyzer replicas share one history). Both are idempotent by message id.
 */
import type { IndexItem } from './records.js';
import type { HitKeyframe, SearchHit, SearchQuery, SearchResult } from './query.js';

export interface WriteResult {
  /** Records and keyframes newly stored. */
  inserted: number;
  /** Messages already in the index (same id): ignored. */
  duplicates: number;
}

export interface IndexStats {
  records: number;
  keyframes: number;
}

export interface HistoryIndex {
  readonly backend: 'sqlite' | 'postgres';
  /** Stores a batch in one transaction; a message id already stored is skipped. */
  write(items: readonly IndexItem[]): Promise<WriteResult>;
  search(q: SearchQuery): Promise<SearchResult>;
  /** Streams with anything in the index (bounded). */
  streams(): Promise<string[]>;
  /** Deletes records and keyframes whose wall time ends before `wallMs`; returns how many. */
  deleteBefore(wallMs: number): Promise<number>;
  stats(): Promise<IndexStats>;
  /** Closes the file or the pool; idempotent. */
  close(): Promise<void>;
}

/** Builds the URL of a keyframe's evidence image from its object-store name. */
export type ThumbnailUrl = (objectName: string) => string;

/** Default: the control API's evidence route. */
export const defaultThumbnailUrl: ThumbnailUrl = (name) => `/v1/evidence/${encodeURIComponent(name)}`;

/** One row of the search SELECT (see sql.ts), as both drivers return it. */
export interface SearchRow {
  id: string;
  stream: string;
  kind: string;
  type: string;
  start_ms: number | string;
  end_ms: number | string;
  wall_start: number | string;
  wall_end: number | string;
  labels: string | string[];
  zones: string | string[];
  count: number | string | null;
  counts: string | Record<string, number>;
  dwell_ms: number | string | null;
  text: string;
  keyframes: string | string[];
  evidence: string | null;
  score: number | string | null;
}

export interface KeyframeRow {
  id: string;
  time_ms: number | string;
  evidence: string | null;
}

const arr = (v: string | string[]): string[] => (Array.isArray(v) ? v : (JSON.parse(v) as string[]));
const n = (v: number | string): number => (typeof v === 'number' ? v : Number(v));
const nOrNull = (v: number | string | null): number | null => (v === null ? null : n(v));

/** Rows + the keyframes they name → the page of hits. */
export function toResult(
  q: SearchQuery,
  rows: SearchRow[],
  keyframes: Map<string, KeyframeRow>,
  thumbnail: ThumbnailUrl,
): SearchResult {
  const page = rows.slice(0, q.limit);
  const hits: SearchHit[] = page.map((r) => {
    const ids = arr(r.keyframes);
    const kfs: HitKeyframe[] = ids.map((id, i) => {
      const k = keyframes.get(id);
      const evidence = k?.evidence ?? (i === 0 ? r.evidence : null);
      return { id, timeMs: k ? n(k.time_ms) : null, thumbnail: evidence ? thumbnail(evidence) : null };
    });
    return {
      id: r.id,
      stream: r.stream,
      kind: r.kind,
      type: r.type,
      startMs: n(r.start_ms),
      endMs: n(r.end_ms),
      wallStart: new Date(n(r.wall_start)).toISOString(),
      wallEnd: new Date(n(r.wall_end)).toISOString(),
      labels: arr(r.labels),
      zones: arr(r.zones),
      count: nOrNull(r.count),
      counts: typeof r.counts === 'string' ? (JSON.parse(r.counts) as Record<string, number>) : r.counts,
      dwellMs: nOrNull(r.dwell_ms),
      text: r.text,
      keyframes: kfs,
      score: r.score === null ? null : Math.round(n(r.score) * 1e6) / 1e6,
    };
  });
  return { hits, next: rows.length > q.limit ? q.offset + q.limit : null, query: q };
}

/** The keyframe ids a page of rows names (bounded by the page and the per-record cap). */
export function keyframeIdsOf(rows: SearchRow[], limit: number): string[] {
  const ids = new Set<string>();
  for (const r of rows.slice(0, limit)) for (const id of arr(r.keyframes)) ids.add(id);
  return [...ids];
}
