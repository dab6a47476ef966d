/**
 * The PostgreSQL query plans of the scale bench's searches: a real PostgreSQL 15 filled with the
 * same generated records (bench/ask/generate.ts), then `EXPLAIN (ANALYZE, BUFFERS)` of the SQL the
 * index runs for each query. `--hold` keeps the server up afterwards (its URL printed) for psql
 * until Ctrl-C. Usage: npx tsx bench/ask/explain.ts [--records N] [--only NAME] [--hold]
 */
import pg from 'pg';
import { performance } from 'node:perf_hooks';
import { openPostgresIndex, parseSearchQuery } from '../../src/history/index.js';
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

const server = await startPostgres();
try {
  const index = await openPostgresIndex({ connectionString: server.url, statementTimeoutMs: 60_000 });
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
  await index.close();
  console.log(`${N} records in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query('ANALYZE vigil_records');
    for (const [name, args] of QUERIES) {
      if (only !== undefined && name !== only) continue;
      const { sql, params } = postgresSearchSql(parseSearchQuery(args));
      const plan = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN (ANALYZE, BUFFERS) ${sql}`,
        params,
      );
      console.log(`\n## ${name} ${JSON.stringify(args)}\n${sql}\n`);
      console.log(plan.rows.map((r) => r['QUERY PLAN']).join('\n'));
    }
  } finally {
    await client.end();
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
