/**
 * The shared history index on PostgreSQL (`history.postgres`): several analyzer replicas write one
 * history. Text is a stored generated tsvector (the 'simple' configuration: no stemming, any
 * language); labels and zones are text[] columns. One multicolumn GIN index holds all three, so a
 * text search combined with a label or zone is one index scan whose posting lists are intersected
 * inside the index (a few thousand row ids), not two bitmaps of every match of each ANDed
 * afterwards (bench/ask/explain.ts: 63 500 × 72 100 entries for "exit" + dog at 1M records). The
 * single-column indexes of earlier versions are dropped when the schema is opened. Text is ranked
 * (ts_rank) over the newest matches only, as on SQLite (see searchRows), found in a narrow side
 * table `vigil_text (rid, wall_start, tsv)` written with the records (records with text only;
 * ON DELETE CASCADE), so the top-N search reads small cached rows instead of one wide-row heap
 * page per match, and text alone reads only its page's records. Every statement runs with a
 * statement timeout, so no query outlives its bound; a timeout is VIGIL_ERR_HISTORY_TIMEOUT.
 */
import pg from 'pg';
import type { IndexItem } from './records.js';
import { HistoryError, SEARCH_LIMITS, type SearchQuery, type SearchResult } from './query.js';
import { buildSearchSql } from './sql.js';
import {
  defaultThumbnailUrl,
  keyframeIdsOf,
  toResult,
  type HistoryIndex,
  type KeyframeRow,
  type SearchRow,
  type ThumbnailUrl,
  type WriteResult,
} from './store.js';

export interface PostgresIndexOptions {
  /** postgres://user:pass@host:port/db (never logged). */
  connectionString: string;
  /** Pool size (default 4). */
  maxConnections?: number;
  /** Bound on every statement, ms (default 5000). */
  statementTimeoutMs?: number;
  thumbnailUrl?: ThumbnailUrl;
  /**
   * Text searches rank the newest this-many matches (default SEARCH_LIMITS.textCandidates),
   * widened eightfold while filters leave the page short, as SQLite does; 0: rank every match.
   */
  textCandidates?: number;
  /**
   * Where text candidates are found (see SqlOptions.textTable): `side` (default), the narrow
   * `vigil_text` table; `records`, the records table itself (kept to compare, bench/ask/explain.ts).
   */
  textTable?: 'side' | 'records';
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS vigil_records (
  rid BIGSERIAL PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  stream TEXT NOT NULL,
  kind TEXT NOT NULL,
  type TEXT NOT NULL,
  start_ms DOUBLE PRECISION NOT NULL,
  end_ms DOUBLE PRECISION NOT NULL,
  wall_start BIGINT NOT NULL,
  wall_end BIGINT NOT NULL,
  labels TEXT[] NOT NULL,
  zones TEXT[] NOT NULL,
  count INTEGER,
  counts JSONB NOT NULL,
  dwell_ms DOUBLE PRECISION,
  text TEXT NOT NULL,
  keyframes TEXT[] NOT NULL,
  evidence TEXT,
  tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED
);
CREATE INDEX IF NOT EXISTS vigil_records_wall ON vigil_records (wall_start);
CREATE INDEX IF NOT EXISTS vigil_records_wall_end ON vigil_records (wall_end);
CREATE INDEX IF NOT EXISTS vigil_records_stream_wall ON vigil_records (stream, wall_start);
CREATE INDEX IF NOT EXISTS vigil_records_stream_time ON vigil_records (stream, start_ms);
CREATE INDEX IF NOT EXISTS vigil_records_type_wall ON vigil_records (type, wall_start);
CREATE INDEX IF NOT EXISTS vigil_records_search ON vigil_records USING GIN (tsv, labels, zones);
DROP INDEX IF EXISTS vigil_records_labels, vigil_records_zones, vigil_records_tsv;
CREATE TABLE IF NOT EXISTS vigil_text (
  rid BIGINT PRIMARY KEY REFERENCES vigil_records (rid) ON DELETE CASCADE,
  wall_start BIGINT NOT NULL,
  tsv tsvector NOT NULL
);
CREATE INDEX IF NOT EXISTS vigil_text_tsv ON vigil_text USING GIN (tsv);
CREATE TABLE IF NOT EXISTS vigil_keyframes (
  id TEXT PRIMARY KEY,
  stream TEXT NOT NULL,
  time_ms DOUBLE PRECISION NOT NULL,
  wall_ms BIGINT NOT NULL,
  reason TEXT,
  labels TEXT[] NOT NULL,
  evidence TEXT
);
CREATE INDEX IF NOT EXISTS vigil_keyframes_wall ON vigil_keyframes (wall_ms);
`;

/** Table names in sql.ts are the SQLite ones; here they carry a prefix (shared databases). */
const prefixed = (sql: string) =>
  sql.replace(/\brecords ([rt])\b/g, 'vigil_records $1').replace(/\btext_index t\b/g, 'vigil_text t');

/** The statement a search runs (exported for bench/ask/explain.ts's query plans). */
export function postgresSearchSql(
  q: SearchQuery,
  tsCandidates = 0,
  textTable: 'side' | 'records' = 'side',
): { sql: string; params: unknown[] } {
  const { sql, params } = buildSearchSql(q, 'postgres', { tsCandidates, textTable });
  return { sql: prefixed(sql), params };
}

export async function openPostgresIndex(o: PostgresIndexOptions): Promise<HistoryIndex> {
  const timeout = o.statementTimeoutMs ?? 5_000;
  const pool = new pg.Pool({
    connectionString: o.connectionString,
    max: o.maxConnections ?? 4,
    statement_timeout: timeout,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  try {
    const c = await pool.connect();
    try {
      // Several replicas may start at once: one creates the schema, the others wait for it.
      await c.query('SELECT pg_advisory_lock(72177011)');
      try {
        const had = await c.query<{ side: string | null; records: string | null }>(
          "SELECT to_regclass('vigil_text')::text AS side, to_regclass('vigil_records')::text AS records",
        );
        await c.query(SCHEMA);
        if (had.rows[0]!.side === null && had.rows[0]!.records !== null) {
          // An index made by an earlier version: its text goes into the side table once.
          await c.query(
            "INSERT INTO vigil_text (rid, wall_start, tsv) SELECT rid, wall_start, tsv FROM vigil_records WHERE tsv <> ''::tsvector",
          );
        }
      } finally {
        await c.query('SELECT pg_advisory_unlock(72177011)');
      }
    } finally {
      c.release();
    }
  } catch (cause) {
    await pool.end().catch(() => undefined);
    throw new HistoryError('VIGIL_ERR_HISTORY_BACKEND', 'cannot open the PostgreSQL history index', {
      cause,
    });
  }
  return new PostgresIndex(
    pool,
    o.thumbnailUrl ?? defaultThumbnailUrl,
    o.textCandidates ?? SEARCH_LIMITS.textCandidates,
    o.textTable ?? 'side',
  );
}

function mapError(cause: unknown, what: string): HistoryError {
  if ((cause as { code?: unknown })?.code === '57014') {
    return new HistoryError('VIGIL_ERR_HISTORY_TIMEOUT', `${what}: the query ran past its time bound`, {
      cause,
    });
  }
  return new HistoryError('VIGIL_ERR_HISTORY_BACKEND', what, { cause });
}

class PostgresIndex implements HistoryIndex {
  readonly backend = 'postgres' as const;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly thumbnail: ThumbnailUrl,
    private readonly textCandidates: number,
    private readonly textTable: 'side' | 'records',
  ) {}

  /**
   * Text searches rank a bounded candidate set, the newest `textCandidates` matches (at least four
   * pages' worth), widened eightfold while filters leave the page short and the set was full, up
   * to `maxTextCandidates`. Without text, one query.
   */
  private async searchRows(q: SearchQuery): Promise<SearchRow[]> {
    const run = async (k: number) => {
      const { sql, params } = postgresSearchSql(q, k, this.textTable);
      return (await this.pool.query<SearchRow & { candidates: string | null }>(sql, params)).rows;
    };
    if (q.text.length === 0 || this.textCandidates <= 0) return run(0);
    const need = q.offset + q.limit + 1;
    let k = Math.max(this.textCandidates, need * 4);
    for (;;) {
      const rows = await run(k);
      // A short page from a full candidate set may miss older matches; an empty one says nothing.
      const full = rows.length === 0 || Number(rows[0]!.candidates) >= k;
      if (rows.length >= need || !full) return rows;
      if (k >= SEARCH_LIMITS.maxTextCandidates) return rows;
      k = Math.min(k * 8, SEARCH_LIMITS.maxTextCandidates);
    }
  }

  private check(): void {
    if (this.closing) throw new HistoryError('VIGIL_ERR_HISTORY_BACKEND', 'the history index is closed');
  }

  async write(items: readonly IndexItem[]): Promise<WriteResult> {
    this.check();
    const records = items.flatMap((i) => ('record' in i ? [i.record] : []));
    const keyframes = items.flatMap((i) => ('keyframe' in i ? [i.keyframe] : []));
    const c = await this.pool.connect().catch((cause: unknown) => {
      throw mapError(cause, 'cannot write to the history index');
    });
    try {
      await c.query('BEGIN');
      let inserted = 0;
      if (records.length > 0) {
        // One statement per batch: arrays in, unnest out. Label lists travel as JSON (text[][] would need equal lengths).
        const col = <T>(f: (r: (typeof records)[number]) => T) => records.map(f);
        // The records, then the text of those inserted into the narrow side table (one statement).
        const res = await c.query<{ n: string }>(
          `WITH ins AS (INSERT INTO vigil_records (id, stream, kind, type, start_ms, end_ms, wall_start, wall_end, labels, zones, count, counts, dwell_ms, text, keyframes, evidence)
           SELECT u.id, u.stream, u.kind, u.type, u.start_ms, u.end_ms, u.wall_start, u.wall_end,
             ARRAY(SELECT json_array_elements_text(u.labels::json)), ARRAY(SELECT json_array_elements_text(u.zones::json)),
             u.count, u.counts::jsonb, u.dwell_ms, u.text, ARRAY(SELECT json_array_elements_text(u.keyframes::json)), u.evidence
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::int8[], $8::int8[],
             $9::text[], $10::text[], $11::int4[], $12::text[], $13::float8[], $14::text[], $15::text[], $16::text[])
             AS u(id, stream, kind, type, start_ms, end_ms, wall_start, wall_end, labels, zones, count, counts, dwell_ms, text, keyframes, evidence)
           ON CONFLICT (id) DO NOTHING RETURNING rid, wall_start, tsv),
           side AS (INSERT INTO vigil_text (rid, wall_start, tsv) SELECT rid, wall_start, tsv FROM ins WHERE tsv <> ''::tsvector)
           SELECT count(*) AS n FROM ins`,
          [
            col((r) => r.id),
            col((r) => r.stream),
            col((r) => r.kind),
            col((r) => r.type),
            col((r) => r.startMs),
            col((r) => r.endMs),
            col((r) => Math.round(r.wallStartMs)),
            col((r) => Math.round(r.wallEndMs)),
            col((r) => JSON.stringify(r.labels)),
            col((r) => JSON.stringify(r.zones)),
            col((r) => (r.count === null ? null : Math.round(r.count))),
            col((r) => JSON.stringify(r.counts)),
            col((r) => r.dwellMs),
            col((r) => r.text.replace(/\0/g, '')),
            col((r) => JSON.stringify(r.keyframeIds)),
            col((r) => r.evidence),
          ],
        );
        inserted += Number(res.rows[0]?.n ?? 0);
        const withEvidence = records.filter((r) => r.evidence !== null && r.keyframeIds[0] !== undefined);
        for (const r of withEvidence) {
          await c.query(
            `INSERT INTO vigil_keyframes (id, stream, time_ms, wall_ms, reason, labels, evidence) VALUES ($1, $2, $3, $4, NULL, '{}', $5)
             ON CONFLICT (id) DO UPDATE SET evidence = excluded.evidence WHERE vigil_keyframes.evidence IS NULL`,
            [r.keyframeIds[0], r.stream, r.startMs, Math.round(r.wallStartMs), r.evidence],
          );
        }
      }
      for (const k of keyframes) {
        const res = await c.query(
          `INSERT INTO vigil_keyframes (id, stream, time_ms, wall_ms, reason, labels, evidence) VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (id) DO UPDATE SET
             reason = COALESCE(excluded.reason, vigil_keyframes.reason),
             labels = CASE WHEN cardinality(excluded.labels) > 0 THEN excluded.labels ELSE vigil_keyframes.labels END,
             evidence = COALESCE(excluded.evidence, vigil_keyframes.evidence)
           WHERE excluded.reason IS DISTINCT FROM vigil_keyframes.reason OR excluded.labels <> vigil_keyframes.labels
             OR excluded.evidence IS DISTINCT FROM vigil_keyframes.evidence`,
          [k.id, k.stream, k.timeMs, Math.round(k.wallMs), k.reason, k.labels, k.evidence],
        );
        inserted += res.rowCount ?? 0;
      }
      await c.query('COMMIT');
      return { inserted, duplicates: items.length - inserted };
    } catch (cause) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw mapError(cause, 'cannot write to the history index');
    } finally {
      c.release();
    }
  }

  async search(q: SearchQuery): Promise<SearchResult> {
    this.check();
    try {
      const rows = await this.searchRows(q);
      const ids = keyframeIdsOf(rows, q.limit);
      const kfs = new Map<string, KeyframeRow>();
      if (ids.length > 0) {
        const got = await this.pool.query<KeyframeRow>(
          'SELECT id, time_ms, evidence FROM vigil_keyframes WHERE id = ANY($1::text[])',
          [ids],
        );
        for (const k of got.rows) kfs.set(k.id, k);
      }
      return toResult(q, rows, kfs, this.thumbnail);
    } catch (cause) {
      throw mapError(cause, 'history search failed');
    }
  }

  async streams(): Promise<string[]> {
    this.check();
    const r = await this.pool.query<{ stream: string }>(
      'SELECT DISTINCT stream FROM vigil_records LIMIT 1000',
    );
    return r.rows.map((x) => x.stream);
  }

  async deleteBefore(wallMs: number): Promise<number> {
    this.check();
    const a = await this.pool.query('DELETE FROM vigil_records WHERE wall_end < $1', [Math.round(wallMs)]);
    const b = await this.pool.query('DELETE FROM vigil_keyframes WHERE wall_ms < $1', [Math.round(wallMs)]);
    return (a.rowCount ?? 0) + (b.rowCount ?? 0);
  }

  async stats(): Promise<{ records: number; keyframes: number }> {
    this.check();
    const r = await this.pool.query<{ records: string; keyframes: string }>(
      'SELECT (SELECT count(*) FROM vigil_records) AS records, (SELECT count(*) FROM vigil_keyframes) AS keyframes',
    );
    return { records: Number(r.rows[0]!.records), keyframes: Number(r.rows[0]!.keyframes) };
  }

  close(): Promise<void> {
    this.closing ??= this.pool.end().catch(() => undefined);
    return this.closing;
  }
}
