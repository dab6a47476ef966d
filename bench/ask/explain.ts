/**
 * The PostgreSQL side of the scale bench, looked at closely: a real PostgreSQL 15 filled with the
 * same generated records (bench/ask/generate.ts), then for each of the bench's searches
 * - `EXPLAIN (ANALYZE, BUFFERS)` of the SQL the index runs (default), or
 * - `--compare`: p50/p95 of the index's own search() under two index layouts on the same data,
 *   alternated in rounds so that a shared machine's load falls on both alike: `before` (one GIN
 *   index each on tsv, labels and zones, as up to 2026-12-05) and `after` (one multicolumn GIN on
 *   (tsv, labels, zones), the schema now).
 * - `--compare-text`: the same, on the layout of now, for the text candidates: `before` ranks every
 *   text match (textCandidates 0, as up to 2026-12-06), `after` the newest 2 000 only, widened
 *   when filters leave a page short (the default now, as on SQLite); two indexes on one database.
 * - `--compare-side`: the same, for where text candidates are found: `before` the records table
 *   itself (`textTable: 'records'`, as up to 2026-12-06), `after` the narrow side table
 *   `vigil_text` (the default now); two indexes on one database.
 * `--layout before|after` picks the layout for the plans, `--text-table records|side` the text
 * candidates' table (default side); `--hold` keeps the server up afterwards (its URL printed) for
 * psql until Ctrl-C.
 *
 * Usage: npx tsx bench/ask/explain.ts [--records N] [--only NAME] [--layout before|after] [--text-table records|side] [--compare | --compare-text | --compare-side [--rounds R]] [--hold]
 */
import pg from 'pg';
import { performance } from 'node:perf_hooks';
import { openPostgresIndex, parseSearchQuery, SEARCH_LIMITS } from '../../src/history/index.js';
import { postgresSearchSql } from '../../src/history/postgres.js';
import type { IndexItem } from '../../src/history/records.js';
import { startPostgres } from '../../test/helpers/postgres.js';
import { QUERIES, records } from './generate.js';

const argOf = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const N = Number(argOf('--records') ?? 1_000_000);
const only = argOf('--only');
const ROUNDS = Number(argOf('--rounds') ?? 3);
const RUNS = 10;

const LAYOUTS = {
  before: [
    'CREATE INDEX vigil_records_labels ON vigil_records USING GIN (labels)',
    'CREATE INDEX vigil_records_zones ON vigil_records USING GIN (zones)',
    'CREATE INDEX vigil_records_tsv ON vigil_records USING GIN (tsv)',
  ],
  after: ['CREATE INDEX vigil_records_search ON vigil_records USING GIN (tsv, labels, zones)'],
} as const;
type Layout = keyof typeof LAYOUTS;

async function setLayout(client: pg.Client, layout: Layout): Promise<void> {
  await client.query(
    'DROP INDEX IF EXISTS vigil_records_labels, vigil_records_zones, vigil_records_tsv, vigil_records_search',
  );
  for (const sql of LAYOUTS[layout]) await client.query(sql);
  await client.query('ANALYZE vigil_records');
}

const queries = QUERIES.filter(([name]) => only === undefined || name === only);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * p)]!;

const server = await startPostgres();
try {
  const index = await openPostgresIndex({ connectionString: server.url, statementTimeoutMs: 60_000 });
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    const t = performance.now();
    let batch: IndexItem[] = [];
    for (const r of records(N)) {
      batch.push({ record: r });
      if (batch.length === 2000) {
        await index.write(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await index.write(batch);
    console.log(`${N} records in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const compareSide = process.argv.includes('--compare-side');
    const compareText = process.argv.includes('--compare-text') || compareSide;
    if (process.argv.includes('--compare') || compareText) {
      const every = compareText
        ? await openPostgresIndex({
            connectionString: server.url,
            statementTimeoutMs: 60_000,
            ...(compareSide ? { textTable: 'records' as const } : { textCandidates: 0 }),
          })
        : index;
      const ms: Record<Layout, Map<string, number[]>> = { before: new Map(), after: new Map() };
      if (compareText) await setLayout(client, 'after');
      for (let round = 0; round < ROUNDS; round++) {
        for (const layout of ['before', 'after'] as const) {
          if (!compareText) await setLayout(client, layout);
          const searcher = compareText && layout === 'before' ? every : index;
          for (const [name, args] of queries) {
            const q = parseSearchQuery(args);
            await searcher.search(q); // warm-up, not timed
            const list = ms[layout].get(name) ?? [];
            for (let i = 0; i < RUNS; i++) {
              const s = performance.now();
              await searcher.search(q);
              list.push(performance.now() - s);
            }
            ms[layout].set(name, list);
          }
        }
      }
      if (compareText) await every.close();
      console.log(
        `${ROUNDS} rounds × ${RUNS} runs per query and ${compareSide ? 'text candidates table (before: vigil_records, after: vigil_text)' : compareText ? 'text ranking (before: every match, after: newest candidates)' : 'layout'}, alternated`,
      );
      console.log(
        '| query | before p50 ms | before p95 ms | after p50 ms | after p95 ms | p95 after/before |',
      );
      console.log('| --- | --- | --- | --- | --- | --- |');
      for (const [name] of queries) {
        const b = ms.before.get(name)!;
        const a = ms.after.get(name)!;
        console.log(
          `| ${name} | ${pct(b, 0.5).toFixed(1)} | ${pct(b, 0.95).toFixed(1)} | ${pct(a, 0.5).toFixed(1)} | ${pct(a, 0.95).toFixed(1)} | ${(pct(a, 0.95) / pct(b, 0.95)).toFixed(2)} |`,
        );
      }
    } else {
      const layout = (argOf('--layout') ?? 'after') as Layout;
      if (!(layout in LAYOUTS)) throw new Error('--layout is before or after');
      await setLayout(client, layout);
      for (const [name, args] of queries) {
        const q = parseSearchQuery(args);
        // The statement of a search's first try (text: the newest candidates, as the index runs it).
        const k =
          q.text.length > 0 ? Math.max(SEARCH_LIMITS.textCandidates, (q.offset + q.limit + 1) * 4) : 0;
        const table = argOf('--text-table') === 'records' ? 'records' : 'side';
        const { sql, params } = postgresSearchSql(q, k, table);
        await client.query(sql, params); // the plan of a warm cache
        const plan = await client.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN (ANALYZE, BUFFERS) ${sql}`,
          params,
        );
        console.log(`\n## ${name} ${JSON.stringify(args)} (layout ${layout}, text table ${table})\n${sql}\n`);
        console.log(plan.rows.map((r) => r['QUERY PLAN']).join('\n'));
      }
    }
  } finally {
    await client.end();
    await index.close();
  }
  if (process.argv.includes('--hold')) {
    console.log(`\nholding ${server.url} (Ctrl-C to stop)`);
    // A timer keeps the process (and the server) alive until the signal.
    const keep = setInterval(() => undefined, 60_000);
    await new Promise<void>((done) => process.once('SIGINT', () => done()));
    clearInterval(keep);
  }
} finally {
  await server.stop();
}
