/** SQLite: the rowid of the n-th newest text match (the candidate bound), or null when fewer match. */
export const FTS_NTH_NEWEST_SQL =
  'SELECT rowid FROM records_fts WHERE records_fts MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?';

/**
 * One search query → one parameterised SELECT, for SQLite (FTS5) or PostgreSQL (tsvector). Every
 * value from the query is a bound parameter; the only text put into the SQL itself is the dialect's
 * fixed vocabulary and placeholders. Pure; tested without a database.
 */
import { fts5Match, type SearchQuery } from './query.js';

export type Dialect = 'sqlite' | 'postgres';

export interface BuiltSql {
  sql: string;
  params: unknown[];
}

export interface SqlOptions {
  /**
   * SQLite: the text's candidate set is the matches with rowid >= this (the newest N matches,
   * found cheaply in rowid order by the caller), so relevance (bm25) is computed for a bounded
   * set instead of every match. 0 or absent: every match.
   */
  ftsMinRowid?: number;
  /**
   * PostgreSQL: the text's candidate set is the newest this-many matches (by rid), so `ts_rank`
   * and the sort run over a bounded set instead of every match, as SQLite's `ftsMinRowid` bounds
   * bm25. Each row also carries the candidate count (`candidates`), so the caller can tell a full
   * set (widen it when filters leave the page short) from every match. 0 or absent: every match.
   */
  tsCandidates?: number;
  /**
   * PostgreSQL, with `tsCandidates`: where the candidates are found. `side` (default): the narrow
   * `text_index` table (rid, wall_start, tsv; records with text only), so finding the newest
   * matches and ranking them reads small rows that stay in the buffer cache, and a search without
   * other filters reads only its page's rows from `records`. `records`: `records` itself (one
   * wide-row heap page per match; up to 2026-12-06, kept for comparison).
   */
  textTable?: 'side' | 'records';
}

export function buildSearchSql(q: SearchQuery, dialect: Dialect, o: SqlOptions = {}): BuiltSql {
  const params: unknown[] = [];
  const p = (v: unknown) => {
    params.push(v);
    return dialect === 'sqlite' ? '?' : `$${params.length}`;
  };
  const where: string[] = [];
  const pg = dialect === 'postgres';
  let from = 'records r';
  let score = 'NULL';
  let candidates = 'NULL';

  let sideText: string | null = null;
  if (q.text.length > 0) {
    if (pg) {
      const tsq = q.text.map((g) => `phraseto_tsquery('simple', ${p(g.join(' '))})`).join(' && ');
      if (o.tsCandidates && o.textTable === 'records') {
        // The newest N matches by rid alone (one GIN lookup, a top-N sort of row ids); the record
        // filters and the ranking apply to those candidates only.
        from =
          `(SELECT t.rid, count(*) OVER () AS n FROM (SELECT rid FROM records t WHERE t.tsv @@ (${tsq}) ` +
          `ORDER BY rid DESC LIMIT ${p(o.tsCandidates)}) t) c JOIN records r ON r.rid = c.rid`;
        candidates = 'c.n';
        score = `ts_rank(r.tsv, ${tsq})`;
      } else if (o.tsCandidates) {
        // The newest N matches from the narrow side table, ranked there; `from` is completed below,
        // once it is known whether other filters need the records' own rows.
        sideText =
          `SELECT t.rid, t.wall_start, ts_rank(t.tsv, ${tsq}) AS score, count(*) OVER () AS n FROM ` +
          `(SELECT rid, wall_start, tsv FROM text_index t WHERE t.tsv @@ (${tsq}) ` +
          `ORDER BY rid DESC LIMIT ${p(o.tsCandidates)}) t`;
        candidates = 'c.n';
        score = 'c.score';
      } else {
        where.push(`r.tsv @@ (${tsq})`);
        score = `ts_rank(r.tsv, ${tsq})`;
      }
    } else {
      // The FTS subquery runs first and alone (its rowid bound is an FTS5 range seek); the
      // record filters apply to its bounded candidates.
      const match = p(fts5Match(q.text));
      const bound = o.ftsMinRowid ? ` AND rowid >= ${p(o.ftsMinRowid)}` : '';
      from = `(SELECT rowid AS rid, rank FROM records_fts WHERE records_fts MATCH ${match}${bound}) f JOIN records r ON r.rid = f.rid`;
      // bm25: lower is better; the result reports higher-is-better.
      score = '-f.rank';
    }
  }
  if (q.streams.length > 0) where.push(`r.stream IN (${q.streams.map(p).join(', ')})`);
  if (q.from !== null)
    where.push(q.clock === 'stream' ? `r.end_ms >= ${p(q.from)}` : `r.wall_end >= ${p(q.from)}`);
  if (q.to !== null)
    where.push(q.clock === 'stream' ? `r.start_ms <= ${p(q.to)}` : `r.wall_start <= ${p(q.to)}`);
  const tags = (prefix: string, values: string[], column: string) => {
    if (values.length === 0) return;
    if (pg) where.push(`r.${column} && ${p(values)}::text[]`);
    else {
      where.push(
        `EXISTS (SELECT 1 FROM record_tags t WHERE t.rid = r.rid AND t.tag IN (${values.map((v) => p(prefix + v)).join(', ')}))`,
      );
    }
  };
  tags('l:', q.labels, 'labels');
  // Co-occurrence: every group on the same record (one keyframe, window or shot), any label of each.
  for (const g of q.labelGroups ?? []) tags('l:', g, 'labels');
  tags('z:', q.zones, 'zones');
  if (q.minCount !== null) where.push(`r.count >= ${p(q.minCount)}`);
  if (q.minDwellMs !== null) where.push(`r.dwell_ms >= ${p(q.minDwellMs)}`);
  if (q.types.length > 0) {
    // A type matches itself, its kind, and its sub-types (`object` → `object.entered`): the range
    // ['t.', 't/') holds exactly the strings that start with 't.' ('/' follows '.' in ASCII).
    const any = q.types.map(
      (t) => `r.type = ${p(t)} OR r.kind = ${p(t)} OR (r.type >= ${p(`${t}.`)} AND r.type < ${p(`${t}/`)})`,
    );
    where.push(`(${any.join(' OR ')})`);
  }

  if (sideText !== null) {
    if (where.length === 0 && q.order === 'best') {
      // Nothing but text, best first: the page is chosen among the candidates' narrow rows (the
      // same order as below: score, wall_start, rid), and only its rows are read from records.
      from =
        `(SELECT c.rid, c.score, c.n FROM (${sideText}) c ` +
        `ORDER BY c.score DESC, c.wall_start DESC, c.rid DESC LIMIT ${p(q.offset + q.limit + 1)}) c ` +
        `JOIN records r ON r.rid = c.rid`;
    } else from = `(${sideText}) c JOIN records r ON r.rid = c.rid`;
  }

  let order: string;
  if (q.order === 'oldest') order = 'r.wall_start ASC, r.start_ms ASC, r.rid ASC';
  else if (q.order === 'best' && q.text.length > 0) order = 'score DESC, r.wall_start DESC, r.rid DESC';
  else if (q.order === 'longest') order = 'COALESCE(r.dwell_ms, 0) DESC, r.wall_start DESC, r.rid DESC';
  else if (q.order === 'best')
    order = 'COALESCE(r.count, 0) DESC, COALESCE(r.dwell_ms, 0) DESC, r.wall_start DESC, r.rid DESC';
  else order = 'r.wall_start DESC, r.start_ms DESC, r.rid DESC';

  // One row more than the page tells whether there is a next page.
  const sql =
    `SELECT r.rid, r.id, r.stream, r.kind, r.type, r.start_ms, r.end_ms, r.wall_start, r.wall_end, ` +
    `r.labels, r.zones, r.count, r.counts, r.dwell_ms, r.text, r.keyframes, r.evidence, ${score} AS score` +
    `${pg ? `, ${candidates} AS candidates` : ''} ` +
    `FROM ${from}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ` +
    `ORDER BY ${order} LIMIT ${p(q.limit + 1)} OFFSET ${p(q.offset)}`;
  return { sql, params };
}
