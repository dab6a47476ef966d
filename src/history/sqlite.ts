/**
 * The embedded history index: one SQLite file (better-sqlite3 12) in WAL mode, records in a table,
 * labels and zones in a tag table, text in a contentless FTS5 table, keyframes in their own table.
 * Calls are synchronous inside; the interface is async like the PostgreSQL one.
 */
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { HistoryRecord, IndexItem, KeyframeRecord } from './records.js';
import { fts5Match, HistoryError, SEARCH_LIMITS, type SearchQuery, type SearchResult } from './query.js';
import { buildSearchSql, FTS_NTH_NEWEST_SQL } from './sql.js';
import { makeDirectory } from '../core/make-dir.js';
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

export interface SqliteIndexOptions {
  /** The database file (created with its directory), or ':memory:'. */
  path: string;
  thumbnailUrl?: ThumbnailUrl;
  /** Open read-only (search a report's history.sqlite without touching it). */
  readonly?: boolean;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS records (
  rid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  stream TEXT NOT NULL,
  kind TEXT NOT NULL,
  type TEXT NOT NULL,
  start_ms REAL NOT NULL,
  end_ms REAL NOT NULL,
  wall_start INTEGER NOT NULL,
  wall_end INTEGER NOT NULL,
  labels TEXT NOT NULL,
  zones TEXT NOT NULL,
  count INTEGER,
  counts TEXT NOT NULL,
  dwell_ms REAL,
  text TEXT NOT NULL,
  keyframes TEXT NOT NULL,
  evidence TEXT
);
CREATE INDEX IF NOT EXISTS records_wall ON records (wall_start);
CREATE INDEX IF NOT EXISTS records_stream_wall ON records (stream, wall_start);
CREATE INDEX IF NOT EXISTS records_stream_time ON records (stream, start_ms);
CREATE INDEX IF NOT EXISTS records_type_wall ON records (type, wall_start);
CREATE INDEX IF NOT EXISTS records_wall_end ON records (wall_end);
CREATE TABLE IF NOT EXISTS record_tags (
  tag TEXT NOT NULL,
  rid INTEGER NOT NULL,
  PRIMARY KEY (tag, rid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_tags_rid ON record_tags (rid);
CREATE VIRTUAL TABLE IF NOT EXISTS records_fts USING fts5(
  text, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS keyframes (
  id TEXT PRIMARY KEY,
  stream TEXT NOT NULL,
  time_ms REAL NOT NULL,
  wall_ms INTEGER NOT NULL,
  reason TEXT,
  labels TEXT NOT NULL,
  evidence TEXT
);
CREATE INDEX IF NOT EXISTS keyframes_wall ON keyframes (wall_ms);
`;

export async function openSqliteIndex(o: SqliteIndexOptions): Promise<HistoryIndex> {
  return Promise.resolve(new SqliteIndex(o));
}

class SqliteIndex implements HistoryIndex {
  readonly backend = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly thumbnail: ThumbnailUrl;
  private closed = false;
  private readonly insertRecord: Database.Statement;
  private readonly insertTag: Database.Statement;
  private readonly insertFts: Database.Statement;
  private readonly upsertKeyframe: Database.Statement;
  private readonly keyframeEvidence: Database.Statement;
  private readonly nthNewest: Database.Statement;
  private readonly writeTx: (items: readonly IndexItem[]) => WriteResult;

  constructor(o: SqliteIndexOptions) {
    this.thumbnail = o.thumbnailUrl ?? defaultThumbnailUrl;
    try {
      // Not mkdirSync's recursive mode: it loops forever under /proc (issue 22 item 4).
      if (o.path !== ':memory:' && !o.readonly) makeDirectory(dirname(o.path));
      this.db = new Database(o.path, { readonly: o.readonly === true, fileMustExist: o.readonly === true });
      if (!o.readonly) {
        this.db.pragma('journal_mode = WAL');
        this.db.pragma('synchronous = NORMAL');
        this.db.exec(SCHEMA);
      }
    } catch (cause) {
      throw new HistoryError('VIGIL_ERR_HISTORY_BACKEND', `cannot open the history index ${o.path}`, {
        cause,
      });
    }
    const db = this.db;
    this.nthNewest = db.prepare(FTS_NTH_NEWEST_SQL).pluck();
    const prepare = (sql: string) =>
      o.readonly ? (undefined as unknown as Database.Statement) : db.prepare(sql);
    this.insertRecord = prepare(
      `INSERT OR IGNORE INTO records (id, stream, kind, type, start_ms, end_ms, wall_start, wall_end, labels, zones, count, counts, dwell_ms, text, keyframes, evidence)
       VALUES (@id, @stream, @kind, @type, @startMs, @endMs, @wallStartMs, @wallEndMs, @labels, @zones, @count, @counts, @dwellMs, @text, @keyframes, @evidence)`,
    );
    this.insertTag = prepare('INSERT OR IGNORE INTO record_tags (tag, rid) VALUES (?, ?)');
    this.insertFts = prepare('INSERT INTO records_fts (rowid, text) VALUES (?, ?)');
    this.upsertKeyframe = prepare(
      `INSERT INTO keyframes (id, stream, time_ms, wall_ms, reason, labels, evidence)
       VALUES (@id, @stream, @timeMs, @wallMs, @reason, @labels, @evidence)
       ON CONFLICT (id) DO UPDATE SET
         reason = COALESCE(excluded.reason, keyframes.reason),
         labels = CASE WHEN excluded.labels <> '[]' THEN excluded.labels ELSE keyframes.labels END,
         evidence = COALESCE(excluded.evidence, keyframes.evidence)
       WHERE excluded.reason IS NOT keyframes.reason OR excluded.labels <> keyframes.labels
         OR excluded.evidence IS NOT keyframes.evidence`,
    );
    this.keyframeEvidence = prepare(
      `INSERT INTO keyframes (id, stream, time_ms, wall_ms, reason, labels, evidence) VALUES (?, ?, ?, ?, NULL, '[]', ?)
       ON CONFLICT (id) DO UPDATE SET evidence = excluded.evidence WHERE keyframes.evidence IS NULL`,
    );
    this.writeTx = db.transaction((items: readonly IndexItem[]) => {
      const result: WriteResult = { inserted: 0, duplicates: 0 };
      for (const item of items) {
        if ('record' in item) {
          if (this.putRecord(item.record)) result.inserted++;
          else result.duplicates++;
        } else if (this.putKeyframe(item.keyframe)) result.inserted++;
        else result.duplicates++;
      }
      return result;
    });
  }

  private putRecord(r: HistoryRecord): boolean {
    const info = this.insertRecord.run({
      ...r,
      labels: JSON.stringify(r.labels),
      zones: JSON.stringify(r.zones),
      counts: JSON.stringify(r.counts),
      keyframes: JSON.stringify(r.keyframeIds),
    });
    if (info.changes === 0) return false;
    const rid = info.lastInsertRowid;
    for (const l of r.labels) this.insertTag.run(`l:${l}`, rid);
    for (const z of r.zones) this.insertTag.run(`z:${z}`, rid);
    if (r.text !== '') this.insertFts.run(rid, r.text);
    if (r.evidence !== null && r.keyframeIds[0] !== undefined) {
      this.keyframeEvidence.run(r.keyframeIds[0], r.stream, r.startMs, r.wallStartMs, r.evidence);
    }
    return true;
  }

  private putKeyframe(k: KeyframeRecord): boolean {
    const info = this.upsertKeyframe.run({ ...k, labels: JSON.stringify(k.labels) });
    return info.changes > 0;
  }

  private check(): void {
    if (this.closed) throw new HistoryError('VIGIL_ERR_HISTORY_BACKEND', 'the history index is closed');
  }

  write(items: readonly IndexItem[]): Promise<WriteResult> {
    this.check();
    try {
      return Promise.resolve(this.writeTx(items));
    } catch (cause) {
      return Promise.reject(
        new HistoryError('VIGIL_ERR_HISTORY_BACKEND', 'cannot write to the history index', { cause }),
      );
    }
  }

  search(q: SearchQuery): Promise<SearchResult> {
    this.check();
    try {
      const rows = this.searchRows(q);
      const ids = keyframeIdsOf(rows, q.limit);
      const kfs = new Map<string, KeyframeRow>();
      if (ids.length > 0) {
        const got = this.db
          .prepare(
            `SELECT id, time_ms, evidence FROM keyframes WHERE id IN (${ids.map(() => '?').join(',')})`,
          )
          .all(...ids) as KeyframeRow[];
        for (const k of got) kfs.set(k.id, k);
      }
      return Promise.resolve(toResult(q, rows, kfs, this.thumbnail));
    } catch (cause) {
      return Promise.reject(
        new HistoryError('VIGIL_ERR_HISTORY_BACKEND', 'history search failed', { cause }),
      );
    }
  }

  /**
   * Text searches rank a bounded candidate set: the newest `textCandidates` matches (at least four
   * pages' worth), widened eightfold while filters leave the page short and older matches remain,
   * up to `maxTextCandidates`. Without text, one query.
   */
  private searchRows(q: SearchQuery): SearchRow[] {
    const run = (ftsMinRowid: number) => {
      const { sql, params } = buildSearchSql(q, 'sqlite', { ftsMinRowid });
      return this.db.prepare(sql).all(...params) as SearchRow[];
    };
    if (q.text.length === 0) return run(0);
    const match = fts5Match(q.text);
    const need = q.offset + q.limit + 1;
    let k = Math.max(SEARCH_LIMITS.textCandidates, need * 4);
    for (;;) {
      const bound = this.nthNewest.get(match, k - 1) as number | undefined;
      const rows = run(bound ?? 0);
      if (bound === undefined || rows.length >= need || k >= SEARCH_LIMITS.maxTextCandidates) return rows;
      k = Math.min(k * 8, SEARCH_LIMITS.maxTextCandidates);
    }
  }

  streams(): Promise<string[]> {
    this.check();
    const rows = this.db.prepare('SELECT DISTINCT stream FROM records LIMIT 1000').all() as {
      stream: string;
    }[];
    return Promise.resolve(rows.map((r) => r.stream));
  }

  deleteBefore(wallMs: number): Promise<number> {
    this.check();
    const tx = this.db.transaction(() => {
      const rids = this.db
        .prepare('SELECT rid FROM records WHERE wall_end < ?')
        .pluck()
        .all(wallMs) as number[];
      const delFts = this.db.prepare('DELETE FROM records_fts WHERE rowid = ?');
      const delTags = this.db.prepare('DELETE FROM record_tags WHERE rid = ?');
      for (const rid of rids) {
        delFts.run(rid);
        delTags.run(rid);
      }
      const a = this.db.prepare('DELETE FROM records WHERE wall_end < ?').run(wallMs).changes;
      const b = this.db.prepare('DELETE FROM keyframes WHERE wall_ms < ?').run(wallMs).changes;
      return a + b;
    });
    return Promise.resolve(tx());
  }

  stats(): Promise<{ records: number; keyframes: number }> {
    this.check();
    const records = this.db.prepare('SELECT count(*) FROM records').pluck().get() as number;
    const keyframes = this.db.prepare('SELECT count(*) FROM keyframes').pluck().get() as number;
    return Promise.resolve({ records, keyframes });
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.db.close();
    }
    return Promise.resolve();
  }
}
