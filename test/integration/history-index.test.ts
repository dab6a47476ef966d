/**
 * History end to end on real components: CloudEvents published by Vigil's publisher to a real
 * nats-server's JetStream, consumed by the durable history consumer into SQLite, then searched and
 * asked; the same records in a real PostgreSQL 15; the HTTP control API's search and ask with bad input.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Summary, VigilEvent } from '../../src/core/contracts.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { createPublisher } from '../../src/publish/nats-publisher.js';
import { connectNats } from '../../src/publish/connection.js';
import {
  answerQuestion,
  itemsFromAnalysis,
  openPostgresIndex,
  openSqliteIndex,
  parseSearchQuery,
  SEARCH_LIMITS,
  startHistoryConsumer,
  type HistoryIndex,
} from '../../src/history/index.js';
import { handleHistory } from '../../src/control/history.js';
import { postgresSearchSql } from '../../src/history/postgres.js';
import pgClient from 'pg';
import { startPostgres, type LocalPostgres } from '../helpers/postgres.js';

const T0 = Date.UTC(2026, 11, 5, 10, 0, 0);
const S = 'gate';

function event(n: number, type: string, sec: number, data: Record<string, unknown>): VigilEvent {
  return {
    id: `${S}:${type}:${n}`,
    type,
    streamId: S,
    timeMs: T0 + sec * 1000,
    ptsNs: sec * 1e9,
    severity: 'info',
    data,
    evidence: {
      streamId: S,
      keyframeId: `${S}:${sec * 10}`,
      ptsNs: sec * 1e9,
      timeMs: T0 + sec * 1000,
      boxes: [],
    },
  };
}

function summary(i: number, text: string, peak: Record<string, number>): Summary {
  return {
    id: `${S}:window:${i}`,
    level: 'window',
    streamId: S,
    index: i,
    startPtsNs: i * 10e9,
    endPtsNs: (i + 1) * 10e9,
    startTimeMs: T0 + i * 10_000,
    endTimeMs: T0 + (i + 1) * 10_000,
    previousId: null,
    facts: { peakCounts: peak },
    text,
    evidence: [`${S}:${i * 100}`],
  };
}

const EVENTS: VigilEvent[] = [
  event(0, 'object.entered', 5, { label: 'truck', trackId: 1, count: 1 }),
  event(0, 'object.left', 40, {
    label: 'truck',
    trackId: 1,
    enteredPtsNs: 5e9,
    lastSeenPtsNs: 39e9,
    dwellMs: 34_000,
  }),
  event(1, 'object.entered', 12, { label: 'person', trackId: 2, count: 1 }),
  event(0, 'count.changed', 14, { label: 'person', from: 1, to: 3 }),
  event(0, 'scene.cut', 20, { sceneScore: 0.9 }),
  event(0, 'text.appeared', 25, { text: 'EXIT 12' }),
];
const SUMMARIES: Summary[] = [
  summary(0, 'A truck arrives; up to 1 truck in view.', { truck: 1 }),
  summary(1, 'Up to 3 persons and 1 truck in view.', { person: 3, truck: 1 }),
  summary(2, 'Text: "EXIT 12". 1 truck waiting.', { truck: 1 }),
];

/** The same checks for every backend. */
async function checkIndex(index: HistoryIndex): Promise<void> {
  const trucks = await index.search(parseSearchQuery({ label: 'truck', type: 'event' }));
  expect(trucks.hits.map((h) => h.type).sort()).toEqual(['object.entered', 'object.left']);
  const exit = await index.search(parseSearchQuery({ text: 'exit 12' }));
  expect(exit.hits.map((h) => h.id).sort()).toEqual([`${S}:text.appeared:0`, `${S}:window:2`]);
  const ranged = await index.search(
    parseSearchQuery({ label: 'person', from: '0:10', to: '0:15', clock: 'stream' }),
  );
  expect(ranged.hits.map((h) => h.id).sort()).toEqual([
    `${S}:count.changed:0`,
    `${S}:object.entered:1`,
    `${S}:window:1`,
  ]);
  const many = await index.search(parseSearchQuery({ minCount: 3 }));
  expect(many.hits.every((h) => (h.count ?? 0) >= 3)).toBe(true);
  const long = await index.search(parseSearchQuery({ minDwellMs: 30_000 }));
  expect(long.hits.map((h) => h.id)).toEqual([`${S}:object.left:0`]);
  const page1 = await index.search(parseSearchQuery({ limit: 5 }));
  const page2 = await index.search(parseSearchQuery({ limit: 5, offset: page1.next }));
  expect(page1.next).toBe(5);
  expect(new Set([...page1.hits, ...page2.hits].map((h) => h.id)).size).toBe(9);
  expect(page2.next).toBeNull();
  expect((await index.search(parseSearchQuery({ stream: 'nosuch' }))).hits).toEqual([]);
  for (const text of [`'; DROP TABLE records; --`, `" OR 1=1`, 'NEAR(exit*', "exit') UNION SELECT 1 --"]) {
    await expect(index.search(parseSearchQuery({ text }))).resolves.toMatchObject({ hits: [] });
  }

  const count = await answerQuestion(index, 'How many people were there?');
  expect(count.answer).toMatch(/^At most 3 people at once/);
  expect(count.evidence[0]).toMatchObject({ stream: S, startMs: 14_000 });
  const when = await answerQuestion(index, 'When did a truck stop?');
  expect(when.evidence[0]).toMatchObject({ startMs: 5_000, endMs: 40_000 });
  const text = await answerQuestion(index, 'when did "EXIT 12" appear?');
  expect(text.evidence.some((e) => e.startMs <= 25_000 && e.endMs >= 25_000)).toBe(true);
  const after = await answerQuestion(index, 'which objects after the first cut?');
  expect(after.parsed.anchors).toHaveLength(1);
  expect(after.answer).toMatch(/truck/);
  expect(after.searched.queries.at(-1)).toMatchObject({ clock: 'stream', from: 20_000, streams: [S] });
  const none = await answerQuestion(index, 'when did a giraffe enter?');
  expect(none).toMatchObject({ empty: true, evidence: [] });
  expect(none.answer).toMatch(/^Nothing found\. Searched objects giraffe/);
}

describe('history index', () => {
  let nats: LocalNatsServer | undefined;
  let pg: LocalPostgres | undefined;
  let dir: string | undefined;
  const closers: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-history-'));
    [nats, pg] = await Promise.all([startNatsServer(), startPostgres()]);
  });
  afterAll(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await nats?.stop();
    await pg?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('consumes published CloudEvents from JetStream into SQLite, idempotently, and answers from them', async () => {
    const publisher = await createPublisher({ servers: nats!.url, evidence: false });
    closers.push(() => publisher.close());
    for (const s of SUMMARIES) await publisher.summary(s);
    for (const e of EVENTS) await publisher.event(e);
    await publisher.flush(10_000);

    const index = await openSqliteIndex({ path: join(dir!, 'history.sqlite') });
    closers.push(() => index.close());
    const nc = await connectNats({ servers: nats!.url });
    closers.push(() => nc.close());
    const consumer = await startHistoryConsumer({
      connection: nc,
      index,
      fetchExpiresMs: 1000,
      onError: (e) => console.error('consumer', e),
    });
    closers.push(() => consumer.close());
    await consumer.caughtUp(20_000);
    expect(await index.stats()).toMatchObject({ records: 9 });
    await checkIndex(index);

    // A rebuild replays everything from the first sequence: nothing doubles.
    await consumer.close();
    await consumer.close();
    const again = await startHistoryConsumer({ connection: nc, index, rebuild: true, fetchExpiresMs: 1000 });
    closers.push(() => again.close());
    await again.caughtUp(20_000);
    await again.close();
    expect(again.stats()).toMatchObject({ received: 9, inserted: 0, duplicates: 9 });
    expect(await index.stats()).toMatchObject({ records: 9 });
  });

  it('PostgreSQL backend: the same records, searches and answers', async () => {
    const index = await openPostgresIndex({ connectionString: pg!.url });
    closers.push(() => index.close());
    const items = itemsFromAnalysis(EVENTS, SUMMARIES);
    expect(await index.write(items)).toEqual({ inserted: 9, duplicates: 0 });
    expect(await index.write(items)).toEqual({ inserted: 0, duplicates: 9 });
    await checkIndex(index);
    await index.close();
    await index.close();
  });

  it('PostgreSQL: text with a label or zone is one scan of one multicolumn GIN index; old indexes are dropped', async () => {
    const client = new pgClient.Client({ connectionString: pg!.url });
    await client.connect();
    closers.push(() => client.end());
    const first = await openPostgresIndex({ connectionString: pg!.url });
    await first.close();
    // A database an earlier version made: one GIN index per column.
    for (const [name, col] of [
      ['vigil_records_labels', 'labels'],
      ['vigil_records_zones', 'zones'],
      ['vigil_records_tsv', 'tsv'],
    ]) {
      await client.query(`CREATE INDEX IF NOT EXISTS ${name} ON vigil_records USING GIN (${col})`);
    }
    const index = await openPostgresIndex({ connectionString: pg!.url });
    closers.push(() => index.close());
    const names = (
      await client.query<{ indexname: string }>(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'vigil_records' AND indexdef LIKE '%USING gin%'",
      )
    ).rows.map((r) => r.indexname);
    expect(names).toEqual(['vigil_records_search']);
    // The plan on these few rows would be a sequential scan; with that off, the index is what's left.
    await client.query('SET enable_seqscan = off');
    for (const args of [
      { text: 'exit', label: 'truck' },
      { text: 'exit', zone: 'gate' },
    ]) {
      const { sql, params } = postgresSearchSql(parseSearchQuery(args));
      const plan = JSON.stringify(
        (await client.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${sql}`, params)).rows[0]![
          'QUERY PLAN'
        ],
      );
      expect(plan).toContain('"Index Name":"vigil_records_search"');
      expect(plan).not.toContain('BitmapAnd');
      expect(plan).toMatch(/"Index Cond":"\(\(tsv @@ [^"]*\) AND \((labels|zones) &&/);
    }
    const hits = await index.search(parseSearchQuery({ text: 'exit', label: 'truck' }));
    expect(hits.hits.map((h) => h.stream)).toEqual(hits.hits.map(() => S));
  });

  it('SQLite text search ranks a bounded candidate set and widens it when filters leave the page short', async () => {
    const index = await openSqliteIndex({ path: ':memory:' });
    closers.push(() => index.close());
    const n = SEARCH_LIMITS.textCandidates * 3;
    const items = Array.from({ length: n }, (_, i) => ({
      record: {
        id: `bulk:${i}`,
        stream: 'bulk',
        kind: 'caption',
        type: 'caption',
        startMs: i * 1000,
        endMs: i * 1000 + 500,
        wallStartMs: T0 + i * 1000,
        wallEndMs: T0 + i * 1000 + 500,
        // The oldest few carry a rare label: the newest candidates alone would miss them.
        labels: i < 5 ? ['zebra'] : ['person'],
        zones: [],
        count: 1,
        counts: {},
        dwellMs: null,
        text: i % 2 === 0 ? `a delivery van near the gate ${i}` : `a delivery truck ${i}`,
        keyframeIds: [],
        evidence: null,
      },
    }));
    await index.write(items);
    const text = await index.search(parseSearchQuery({ text: 'delivery', limit: 20 }));
    expect(text.hits).toHaveLength(20);
    expect(text.next).toBe(20);
    const rare = await index.search(parseSearchQuery({ text: 'delivery', label: 'zebra', limit: 20 }));
    expect(rare.hits.map((h) => h.id).sort()).toEqual(['bulk:0', 'bulk:1', 'bulk:2', 'bulk:3', 'bulk:4']);
    const phrase = await index.search(parseSearchQuery({ text: 'van near', to: '0:10', clock: 'stream' }));
    expect(phrase.hits.map((h) => h.id).sort()).toEqual([
      'bulk:0',
      'bulk:10',
      'bulk:2',
      'bulk:4',
      'bulk:6',
      'bulk:8',
    ]);
    const deep = await index.search(parseSearchQuery({ text: 'delivery', offset: 9_000, limit: 20 }));
    expect(deep.hits.length).toBe(0);
  });

  it('PostgreSQL text search ranks the newest matches only, widened when filters leave the page short', async () => {
    const client = new pgClient.Client({ connectionString: pg!.url });
    await client.connect();
    closers.push(() => client.end());
    const bounded = await openPostgresIndex({ connectionString: pg!.url, textCandidates: 100 });
    const every = await openPostgresIndex({ connectionString: pg!.url, textCandidates: 0 });
    closers.push(
      () => bounded.close(),
      () => every.close(),
    );
    await client.query("DELETE FROM vigil_records WHERE stream = 'pgbulk'");
    const n = 300;
    const items = Array.from({ length: n }, (_, i) => ({
      record: {
        id: `pgbulk:${i}`,
        stream: 'pgbulk',
        kind: 'caption',
        type: 'caption',
        startMs: i * 1000,
        endMs: i * 1000 + 500,
        wallStartMs: T0 + i * 1000,
        wallEndMs: T0 + i * 1000 + 500,
        labels: i < 5 ? ['zebra'] : ['person'],
        zones: [],
        count: 1,
        counts: {},
        dwellMs: null,
        // The oldest record is the most relevant (the word four times): outside the newest 100.
        text: i === 0 ? 'loading loading loading loading dock' : `a loading dock ${i}`,
        keyframeIds: [],
        evidence: null,
      },
    }));
    await bounded.write(items);
    const q = parseSearchQuery({ text: 'loading', stream: 'pgbulk', limit: 20 });
    expect((await every.search(q)).hits[0]!.id).toBe('pgbulk:0');
    const top = await bounded.search(q);
    expect(top.hits).toHaveLength(20);
    expect(top.next).toBe(20);
    expect(top.hits.every((h) => Number(h.id.split(':')[1]) >= n - 100)).toBe(true);
    // Only five old matches pass the label: the candidate set widens until they are found.
    const rare = await bounded.search(
      parseSearchQuery({ text: 'loading', label: 'zebra', stream: 'pgbulk' }),
    );
    expect(rare.hits.map((h) => h.id).sort()).toEqual([
      'pgbulk:0',
      'pgbulk:1',
      'pgbulk:2',
      'pgbulk:3',
      'pgbulk:4',
    ]);
    // Fewer matches than the bound: one query, all of them.
    const few = await bounded.search(parseSearchQuery({ text: 'dock 17', stream: 'pgbulk' }));
    expect(few.hits.map((h) => h.id)).toEqual(['pgbulk:17']);
    // The candidate subquery is a bounded top-N by rid over the narrow side table, ranked there.
    const { sql } = postgresSearchSql(q, 100);
    expect(sql).toMatch(
      /ts_rank\(t\.tsv, [^)]*\)\) AS score, count\(\*\) OVER \(\) AS n FROM \(SELECT rid, wall_start, tsv FROM vigil_text t WHERE t\.tsv @@/,
    );
    expect(sql).toMatch(/ORDER BY rid DESC LIMIT \$\d+\) t\) c JOIN vigil_records r ON r\.rid = c\.rid/);
    // Text alone, best first: the page is cut among the candidates before any record row is read.
    const alone = postgresSearchSql(parseSearchQuery({ text: 'loading', limit: 20 }), 100).sql;
    expect(alone).toMatch(
      /ORDER BY c\.score DESC, c\.wall_start DESC, c\.rid DESC LIMIT \$\d+\) c JOIN vigil_records r/,
    );
    // The earlier form, over the records table itself, is kept for comparison.
    expect(postgresSearchSql(q, 100, 'records').sql).toMatch(
      /FROM \(SELECT t\.rid, count\(\*\) OVER \(\) AS n FROM \(SELECT rid FROM vigil_records t WHERE t\.tsv @@/,
    );
    const wide = await openPostgresIndex({
      connectionString: pg!.url,
      textCandidates: 100,
      textTable: 'records',
    });
    closers.push(() => wide.close());
    for (const args of [
      { text: 'loading', limit: 20 },
      { text: 'loading', stream: 'pgbulk', limit: 20 },
      { text: 'dock 17' },
    ]) {
      const ids = async (i: typeof wide) => (await i.search(parseSearchQuery(args))).hits.map((h) => h.id);
      expect(await ids(bounded)).toEqual(await ids(wide));
    }
    await client.query("DELETE FROM vigil_records WHERE stream = 'pgbulk'");
    // Deleted records leave the side table with them.
    const left = await client.query<{ n: string }>(
      'SELECT count(*) AS n FROM vigil_text WHERE rid NOT IN (SELECT rid FROM vigil_records)',
    );
    expect(Number(left.rows[0]!.n)).toBe(0);
  });

  it('PostgreSQL: the text side table is filled on write and rebuilt for an index made before it', async () => {
    const client = new pgClient.Client({ connectionString: pg!.url });
    await client.connect();
    closers.push(() => client.end());
    const index = await openPostgresIndex({ connectionString: pg!.url });
    closers.push(() => index.close());
    const rec = (i: number, text: string) => ({
      record: {
        id: `side:${i}`,
        stream: 'side',
        kind: 'caption',
        type: 'caption',
        startMs: i * 1000,
        endMs: i * 1000,
        wallStartMs: T0 + i * 1000,
        wallEndMs: T0 + i * 1000,
        labels: [],
        zones: [],
        count: null,
        counts: {},
        dwellMs: null,
        text,
        keyframeIds: [],
        evidence: null,
      },
    });
    const w = await index.write([rec(0, 'a parcel at the side door'), rec(1, ''), rec(2, 'side door open')]);
    expect(w.inserted).toBe(3);
    // Written again: duplicates, and no second side row.
    expect((await index.write([rec(0, 'a parcel at the side door')])).duplicates).toBe(1);
    const sideRows = async () =>
      Number(
        (
          await client.query<{ n: string }>(
            "SELECT count(*) AS n FROM vigil_text t JOIN vigil_records r USING (rid) WHERE r.stream = 'side'",
          )
        ).rows[0]!.n,
      );
    expect(await sideRows()).toBe(2);
    const found = async (i: typeof index) =>
      (await i.search(parseSearchQuery({ text: 'side door' }))).hits.map((h) => h.id).sort();
    expect(await found(index)).toEqual(['side:0', 'side:2']);
    // An index from before the side table: opening it fills the table from the records.
    await client.query('DROP TABLE vigil_text');
    const reopened = await openPostgresIndex({ connectionString: pg!.url });
    closers.push(() => reopened.close());
    expect(await sideRows()).toBe(2);
    expect(await found(reopened)).toEqual(['side:0', 'side:2']);
    await client.query("DELETE FROM vigil_records WHERE stream = 'side'");
  });

  it('control API: bad input gets a typed 400-class error or an empty answer, never a stack trace', async () => {
    const index = await openSqliteIndex({ path: ':memory:' });
    closers.push(() => index.close());
    await index.write(itemsFromAnalysis(EVENTS, SUMMARIES));
    const cases: [unknown, number, string | null][] = [
      [{ from: '0:20', to: '0:10' }, 400, 'VIGIL_ERR_HISTORY_RANGE'],
      [{ from: '0:99' }, 400, 'VIGIL_ERR_HISTORY_QUERY'],
      [{ to: 1e15 }, 400, 'VIGIL_ERR_HISTORY_RANGE'],
      [{ text: 'x'.repeat(5000) }, 400, 'VIGIL_ERR_HISTORY_QUERY'],
      [{ label: "a'; DROP TABLE records; --" }, 400, 'VIGIL_ERR_HISTORY_QUERY'],
      [{ stream: 'unknown' }, 200, null],
      [{ text: '") OR 1=1 --' }, 200, null],
      ['not an object', 400, 'VIGIL_ERR_HISTORY_QUERY'],
    ];
    for (const [args, status, code] of cases) {
      const r = await handleHistory(index, 'search', args);
      expect(r.status).toBe(status);
      if (code) expect(r.body).toMatchObject({ error: { code } });
      expect(JSON.stringify(r.body)).not.toMatch(/at .*\.(ts|js):\d+/);
    }
    const asks: [unknown, number][] = [
      [{ question: 'x'.repeat(10_000) }, 400],
      [{ question: '' }, 400],
      [{}, 400],
      [{ question: '¿Cuántas personas había? 人は何人' }, 200],
      [{ question: `"'; DROP TABLE records; --" NEAR(a*` }, 200],
      [{ question: 'people between 0:20 and 0:10' }, 200],
    ];
    for (const [args, status] of asks) {
      const r = await handleHistory(index, 'ask', args);
      expect(r.status).toBe(status);
    }
    expect((await handleHistory(undefined, 'search', {})).status).toBe(503);
  });
});
