/**
 * History at scale: N generated records (default 1 000 000; `--records N`) indexed into SQLite and
 * into a real PostgreSQL 15, then the same set of searches on both, side by side: p50/p95 ms per
 * query kind, and records indexed per second. `--pg-before`: also the PostgreSQL search as up to
 * 2026-12-06 (text candidates from the records table itself, `textTable: 'records'`) on the same
 * database, timed right after the current one, query by query.
 * Usage: npx tsx bench/ask/scale.ts [--records N] [--pg-before]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  openPostgresIndex,
  openSqliteIndex,
  parseSearchQuery,
  type HistoryIndex,
} from '../../src/history/index.js';
import type { IndexItem } from '../../src/history/records.js';
import { QUERIES, records, STREAMS } from './generate.js';
import { startPostgres } from '../../test/helpers/postgres.js';

const arg = process.argv.indexOf('--records');
const N = arg > 0 ? Number(process.argv[arg + 1]) : 1_000_000;
const before = process.argv.includes('--pg-before');
async function fill(index: HistoryIndex): Promise<number> {
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
  return N / ((performance.now() - t) / 1000);
}

async function time(
  index: HistoryIndex,
  args: Record<string, unknown>,
  runs = 30,
): Promise<[number, number, number]> {
  const q = parseSearchQuery(args);
  const hits = (await index.search(q)).hits.length;
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await index.search(q);
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return [ms[Math.floor(runs * 0.5)]!, ms[Math.floor(runs * 0.95)]!, hits];
}

const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-history-'));
const pg = await startPostgres();
try {
  const sqlite = await openSqliteIndex({ path: join(dir, 'history.sqlite') });
  const postgres = await openPostgresIndex({ connectionString: pg.url, statementTimeoutMs: 60_000 });
  const postgresBefore = before
    ? await openPostgresIndex({ connectionString: pg.url, statementTimeoutMs: 60_000, textTable: 'records' })
    : null;
  try {
    console.log(`records: ${N} over ${STREAMS} streams`);
    const rateS = await fill(sqlite);
    const rateP = await fill(postgres);
    console.log(`indexed per second: SQLite ${Math.round(rateS)}, PostgreSQL ${Math.round(rateP)}`);
    console.log(
      `| query | hits | SQLite p50 ms | SQLite p95 ms | PostgreSQL p50 ms | PostgreSQL p95 ms |${before ? ' PostgreSQL before p50 ms | PostgreSQL before p95 ms |' : ''}`,
    );
    console.log(`| --- | --- | --- | --- | --- | --- |${before ? ' --- | --- |' : ''}`);
    const all: number[][] = [[], []];
    for (const [name, args] of QUERIES) {
      const [s50, s95, hits] = await time(sqlite, args);
      const [p50, p95] = await time(postgres, args);
      const old = postgresBefore ? await time(postgresBefore, args) : null;
      all[0]!.push(s95);
      all[1]!.push(p95);
      console.log(
        `| ${name} | ${hits} | ${s50.toFixed(1)} | ${s95.toFixed(1)} | ${p50.toFixed(1)} | ${p95.toFixed(1)} |${old ? ` ${old[0].toFixed(1)} | ${old[1].toFixed(1)} |` : ''}`,
      );
    }
    console.log(
      `worst p95: SQLite ${Math.max(...all[0]!).toFixed(1)} ms, PostgreSQL ${Math.max(...all[1]!).toFixed(1)} ms (target < 50 ms)`,
    );
  } finally {
    await sqlite.close();
    await postgres.close();
    await postgresBefore?.close();
  }
} finally {
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
