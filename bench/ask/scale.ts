/**
 * History at scale: N generated records (default 1 000 000; `--records N`) indexed into SQLite and
 * into a real PostgreSQL 15, then the same set of searches on both, side by side: p50/p95 ms per
 * query kind, and records indexed per second. Usage: npx tsx bench/ask/scale.ts [--records N]
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
import type { HistoryRecord, IndexItem } from '../../src/history/records.js';
import { startPostgres } from '../../test/helpers/postgres.js';

const arg = process.argv.indexOf('--records');
const N = arg > 0 ? Number(process.argv[arg + 1]) : 1_000_000;
const STREAMS = 100;
const LABELS = ['person', 'car', 'truck', 'bicycle', 'dog', 'bus', 'motorcycle', 'backpack'];
const WORDS = [
  'exit',
  'gate',
  'north',
  'delivery',
  'parking',
  'sale',
  'open',
  'closed',
  'platform',
  'arrival',
];
const T0 = Date.UTC(2026, 11, 1);

/** Deterministic generator (xorshift): same records for both backends. */
function* records(n: number): Generator<HistoryRecord> {
  let x = 2463534242;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  const kinds = ['event', 'event', 'event', 'summary', 'object', 'caption'];
  for (let i = 0; i < n; i++) {
    const stream = `cam${i % STREAMS}`;
    const t = (i / STREAMS) * 2000; // one record per stream every 2 s of stream time
    const kind = kinds[Math.floor(rnd() * kinds.length)]!;
    const label = LABELS[Math.floor(rnd() * rnd() * LABELS.length)]!;
    const text =
      kind === 'summary' || kind === 'caption'
        ? `${label} near the ${WORDS[Math.floor(rnd() * WORDS.length)]} ${WORDS[Math.floor(rnd() * WORDS.length)]}`
        : '';
    const count = 1 + Math.floor(rnd() * rnd() * 8);
    yield {
      id: `${stream}:${kind}:${i}`,
      stream,
      kind,
      type:
        kind === 'event'
          ? rnd() < 0.5
            ? 'object.entered'
            : 'count.changed'
          : kind === 'summary'
            ? 'window'
            : kind,
      startMs: t,
      endMs: t + (kind === 'summary' ? 10_000 : kind === 'object' ? 1000 + rnd() * 60_000 : 0),
      wallStartMs: T0 + t,
      wallEndMs: T0 + t,
      labels: [label],
      zones: rnd() < 0.1 ? ['gate'] : [],
      count,
      counts: { [label]: count },
      dwellMs: kind === 'object' ? rnd() * 60_000 : null,
      text,
      keyframeIds: [`${stream}:${i}`],
      evidence: null,
    };
  }
}

const QUERIES: [string, Record<string, unknown>][] = [
  ['newest page', {}],
  ['label', { label: 'truck' }],
  ['stream + range', { stream: 'cam7', from: '1:40:00', to: '1:50:00' }],
  ['text', { text: 'delivery gate' }],
  ['text + label + range', { text: 'exit', label: 'dog', from: '0:00', to: '8:20:00' }],
  ['rare label + count', { label: 'backpack', minCount: 5 }],
  ['zone + dwell', { zone: 'gate', minDwellMs: 30_000, type: 'object' }],
  ['page 50', { label: 'person', offset: 1000, limit: 20 }],
];

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
  try {
    console.log(`records: ${N} over ${STREAMS} streams`);
    const rateS = await fill(sqlite);
    const rateP = await fill(postgres);
    console.log(`indexed per second: SQLite ${Math.round(rateS)}, PostgreSQL ${Math.round(rateP)}`);
    console.log('| query | hits | SQLite p50 ms | SQLite p95 ms | PostgreSQL p50 ms | PostgreSQL p95 ms |');
    console.log('| --- | --- | --- | --- | --- | --- |');
    const all: number[][] = [[], []];
    for (const [name, args] of QUERIES) {
      const [s50, s95, hits] = await time(sqlite, args);
      const [p50, p95] = await time(postgres, args);
      all[0]!.push(s95);
      all[1]!.push(p95);
      console.log(
        `| ${name} | ${hits} | ${s50.toFixed(1)} | ${s95.toFixed(1)} | ${p50.toFixed(1)} | ${p95.toFixed(1)} |`,
      );
    }
    console.log(
      `worst p95: SQLite ${Math.max(...all[0]!).toFixed(1)} ms, PostgreSQL ${Math.max(...all[1]!).toFixed(1)} ms (target < 50 ms)`,
    );
  } finally {
    await sqlite.close();
    await postgres.close();
  }
} finally {
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
