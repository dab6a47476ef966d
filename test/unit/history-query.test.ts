import { describe, expect, it } from 'vitest';
import {
  fts5Match,
  HistoryError,
  parseSearchQuery,
  SEARCH_LIMITS,
  tokenize,
} from '../../src/history/query.js';
import { buildSearchSql } from '../../src/history/sql.js';

const INJECTIONS = [
  `'; DROP TABLE records; --`,
  `" OR 1=1 --`,
  `exit" OR "a`,
  `NEAR(exit entry, 2)`,
  `exit*`,
  `text:exit`,
  `^exit AND -entry`,
  `') UNION SELECT * FROM keyframes --`,
  `$1 $$ \\x00 ::text`,
  `{"$ne": 1}`,
];

describe('history search queries', () => {
  it('tokenises free text into plain words; quoted parts are phrases', () => {
    expect(tokenize('EXIT 12 "Gate Two" now')).toEqual([['exit'], ['12'], ['gate', 'two'], ['now']]);
    expect(tokenize('Straße café 東京')).toEqual([['straße'], ['café'], ['東京']]);
    expect(tokenize('***')).toEqual([]);
  });

  it('bounds the words used and rejects overlong text', () => {
    const many = Array.from({ length: 100 }, (_, i) => `w${i}`).join(' ');
    expect(tokenize(many).flat()).toHaveLength(SEARCH_LIMITS.maxTerms);
    expect(() => tokenize('x'.repeat(SEARCH_LIMITS.maxTextChars + 1))).toThrow(HistoryError);
    expect(tokenize('a'.repeat(500))[0]![0]).toHaveLength(SEARCH_LIMITS.maxTermChars);
  });

  it.each(INJECTIONS)('never puts user text into the SQL: %s', (text) => {
    const q = parseSearchQuery({ text, label: 'person', stream: 'cam-1', zone: 'gate' });
    for (const dialect of ['sqlite', 'postgres'] as const) {
      const { sql, params } = buildSearchSql(q, dialect);
      for (const word of q.text.flat()) expect(sql.toLowerCase()).not.toContain(`'${word}`);
      expect(sql).not.toMatch(/DROP|UNION|--|\$\$/);
      expect(params.length).toBeGreaterThan(0);
    }
    // FTS5 operators become quoted words.
    expect(fts5Match(q.text)).toMatch(/^("[\p{L}\p{N} ]+"( AND )?)+$/u);
  });

  it('requires every label group on the same record (objects seen together)', () => {
    const q = { ...parseSearchQuery({}), labelGroups: [['person'], ['horse', 'zebra']] };
    const s = buildSearchSql(q, 'sqlite');
    expect(s.sql.match(/EXISTS \(SELECT 1 FROM record_tags/g)).toHaveLength(2);
    expect(s.params).toEqual(expect.arrayContaining(['l:person', 'l:horse', 'l:zebra']));
    const p = buildSearchSql(q, 'postgres');
    expect(p.sql).toContain('r.labels && $1::text[] AND r.labels && $2::text[]');
    expect(p.params.slice(0, 2)).toEqual([['person'], ['horse', 'zebra']]);
  });

  it('builds one parameterised query per dialect', () => {
    const q = parseSearchQuery({
      stream: 'a',
      label: 'car',
      from: '0:10',
      to: '0:20',
      minCount: 2,
      type: 'object',
    });
    const s = buildSearchSql(q, 'sqlite');
    expect(s.sql).toContain('r.stream IN (?)');
    expect(s.sql).toContain('r.end_ms >= ?');
    expect(s.sql).toContain('record_tags');
    expect(s.params).toEqual([
      'a',
      10_000,
      20_000,
      'l:car',
      2,
      'object',
      'object',
      'object.',
      'object/',
      21,
      0,
    ]);
    const p = buildSearchSql(q, 'postgres');
    expect(p.sql).toContain('r.labels && $4::text[]');
    expect(p.sql).toMatch(/LIMIT \$10 OFFSET \$11$/);
  });

  it('orders best-first by relevance with text, newest first without', () => {
    expect(parseSearchQuery({ text: 'exit' }).order).toBe('best');
    expect(parseSearchQuery({}).order).toBe('newest');
    expect(buildSearchSql(parseSearchQuery({ text: 'exit' }), 'sqlite').sql).toContain('ORDER BY score DESC');
  });

  it('reads stream times, ISO wall times and numbers', () => {
    expect(parseSearchQuery({ from: '1:02', to: '1:02:03.5' })).toMatchObject({
      from: 62_000,
      to: 3_723_500,
      clock: 'stream',
    });
    const w = parseSearchQuery({ from: '2026-12-05T10:00:00Z', to: '2026-12-05T10:05:00Z' });
    expect(w).toMatchObject({
      clock: 'wall',
      from: Date.UTC(2026, 11, 5, 10),
      to: Date.UTC(2026, 11, 5, 10, 5),
    });
    expect(parseSearchQuery({ from: 1000, to: '2000' })).toMatchObject({
      from: 1000,
      to: 2000,
      clock: 'stream',
    });
  });

  it.each([
    [{ from: '0:20', to: '0:10' }, 'VIGIL_ERR_HISTORY_RANGE'],
    [{ from: -1 }, 'VIGIL_ERR_HISTORY_RANGE'],
    [{ from: '1999-01-01T00:00:00Z', clock: 'wall' }, 'VIGIL_ERR_HISTORY_RANGE'],
    [{ from: '0:10', to: '2026-12-05T10:00:00Z' }, 'VIGIL_ERR_HISTORY_RANGE'],
    [{ from: 'yesterday-ish' }, 'VIGIL_ERR_HISTORY_QUERY'],
    [{ limit: 0 }, 'VIGIL_ERR_HISTORY_RANGE'],
    [{ limit: 100_000 }, 'VIGIL_ERR_HISTORY_RANGE'],
    [{ offset: 1e9 }, 'VIGIL_ERR_HISTORY_RANGE'],
    [{ limit: 'ten' }, 'VIGIL_ERR_HISTORY_QUERY'],
    [{ order: 'random()' }, 'VIGIL_ERR_HISTORY_QUERY'],
    [{ stream: 'a.b' }, 'VIGIL_ERR_HISTORY_QUERY'],
    [{ label: "person' OR 1=1" }, 'VIGIL_ERR_HISTORY_QUERY'],
    [{ type: 'x;drop' }, 'VIGIL_ERR_HISTORY_QUERY'],
    [{ surprise: 1 }, 'VIGIL_ERR_HISTORY_QUERY'],
    [{ label: Array.from({ length: 40 }, (_, i) => `l${i}`) }, 'VIGIL_ERR_HISTORY_QUERY'],
    [[1, 2], 'VIGIL_ERR_HISTORY_QUERY'],
  ])('rejects %j with %s', (input, code) => {
    let err: unknown;
    try {
      parseSearchQuery(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HistoryError);
    expect((err as HistoryError).code).toBe(code);
  });
});
