/**
 * The README and docs/ are part of the product: the README's commands, config example, links and
 * exit codes must be real, and the configuration reference must match the config loader key for
 * key and default for default.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import { EXIT } from '../../src/cli/main.js';
import {
  KEYFRAME_DEFAULTS,
  parseEventOptions,
  parseRules,
  parseTrackerOptions,
} from '../../src/stream/index.js';
import { ROOT } from '../helpers/paths.js';

const read = (path: string) => readFileSync(resolve(ROOT, path), 'utf8');
const readme = read('README.md');
const configDoc = read('docs/configuration.md');

/** Relative link targets of a markdown file (no URLs, no in-page anchors), anchor stripped. */
function relativeLinks(markdown: string): string[] {
  return [...markdown.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1]!.split('#')[0]!)
    .filter((t) => t !== '' && !/^[a-z]+:/i.test(t));
}

describe('README', () => {
  it('starts with the two set-up commands: the demo and the test suite', () => {
    const blocks = [...readme.matchAll(/```sh\n([^`]+)```/g)].map((m) => m[1]!.trim());
    expect(blocks[0]).toBe('bash scripts/setup.sh && node bin/vigil.js demo');
    expect(blocks[1]).toBe('bash scripts/setup.sh && npm test');
    expect(read('.ci/run')).toContain('bash scripts/setup.sh && npm test');
  });

  it('is a front page: at most 200 lines, no timestamped lab notes', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(200);
    expect(readme).not.toMatch(/\b\d{1,2}:\d{2}(-\d{1,2}:\d{2})? UTC\b/);
  });

  it('has a service config example that the config loader accepts', () => {
    const yaml = /```yaml\n([^`]+)```/.exec(readme)?.[1];
    expect(yaml).toBeDefined();
    const config = parseConfig(yaml!, 'README.md', { VIGIL_NATS_PASSWORD: 'x' }, ROOT);
    expect(config.streams.map((s) => s.id)).toEqual(['door']);
  });

  it('links only to files that exist, and to every guide in docs/', () => {
    const links = relativeLinks(readme);
    for (const target of links) expect(existsSync(resolve(ROOT, target)), target).toBe(true);
    const guides = readdirSync(resolve(ROOT, 'docs')).filter((f) => f.endsWith('.md'));
    expect(guides.length).toBeGreaterThan(0);
    for (const guide of guides) expect(links, `README links docs/${guide}`).toContain(`docs/${guide}`);
    expect(links).toContain('bench/RESULTS.md');
  });

  it('dates its headline figures and names their commit', () => {
    const section = readme.slice(readme.indexOf('## Headline figures'));
    expect(section.length).toBeLessThan(readme.length);
    expect(section).toMatch(/\b20\d\d-\d\d-\d\d\b/);
    expect(section).toMatch(/\b[0-9a-f]{7,40}\b/);
  });

  it('lists the exit codes of the CLI', () => {
    const rows = new Map(
      [...readme.matchAll(/^\| (\d+) +\| ([^|]+)\|/gm)].map((m) => [Number(m[1]), m[2]!.trim()]),
    );
    expect([...rows.keys()].sort((a, b) => a - b)).toEqual(Object.values(EXIT).sort((a, b) => a - b));
  });
});

describe('docs/', () => {
  it('links only to files that exist', () => {
    for (const guide of readdirSync(resolve(ROOT, 'docs')).filter((f) => f.endsWith('.md'))) {
      const path = resolve(ROOT, 'docs', guide);
      for (const target of relativeLinks(readFileSync(path, 'utf8'))) {
        expect(existsSync(resolve(dirname(path), target)), `${guide} → ${target}`).toBe(true);
      }
    }
  });
});

// ---- The configuration reference against the loader ----

/** `| \`key.path\` | default | …` rows of docs/configuration.md. */
const rows = [
  ...configDoc.matchAll(
    /^\| `((?:nats|inference|control|web|history|analyzer|streams)[\w.[\]]*)` +\| ([^|]*)\|/gm,
  ),
].map((m) => ({ key: m[1]!, defaultCell: m[2]!.trim() }));
const documented = (key: string) =>
  rows.some((r) => r.key === key || r.key.startsWith(`${key}.`) || r.key.startsWith(`${key}[]`));

/** What a list item or object needs to be valid besides the key under test. */
const SEED: Record<string, Record<string, unknown>> = {
  streams: { id: 'door', url: 'test:ball' },
  rules: { name: 'r' },
  zone: {
    points: [
      [0, 0],
      [1, 0],
      [0, 1],
    ],
  },
};

/** A config object with `path` (e.g. `streams[].events.rules[].minDwellMs`) set to `value`. */
function configWith(path: string, value: unknown): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let current = root;
  const segments = path.split('.').filter((s) => s !== '');
  segments.forEach((segment, i) => {
    const list = segment.endsWith('[]');
    const name = list ? segment.slice(0, -2) : segment;
    if (i === segments.length - 1 && !list) {
      current[name] = value;
      return;
    }
    const child = { ...(SEED[name] ?? {}) };
    current[name] = list ? [child] : child;
    current = child;
  });
  return root;
}

/** The loader's verdict on a config object: undefined when accepted, else the error message. */
function load(config: Record<string, unknown>): string | undefined {
  try {
    parseConfig(JSON.stringify(config), 'test.yaml', {}, ROOT);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** The default the code applies for a stream-level key, where it is readable. */
function codeDefault(key: string): unknown {
  const leaf = key.slice(key.lastIndexOf('.') + 1);
  const pick = (o: object) => (o as Record<string, unknown>)[leaf];
  if (key.startsWith('streams[].keyframes.')) return pick(KEYFRAME_DEFAULTS);
  if (key.startsWith('streams[].events.tracker.')) return pick(parseTrackerOptions({}));
  if (key.startsWith('streams[].events.rules[].zone.')) return undefined;
  if (key.startsWith('streams[].events.rules[].')) return pick(parseRules([{ name: 'r' }])[0]!);
  if (key.startsWith('streams[].events.')) return pick(parseEventOptions({}));
  if (key.startsWith('streams')) return undefined;
  let v: unknown = parseConfig('{}', 'empty.yaml', {}, ROOT);
  for (const segment of key.split('.')) v = (v as Record<string, unknown> | undefined)?.[segment];
  return v;
}

describe('docs/configuration.md', () => {
  it('documents keys under every section', () => {
    expect(rows.length).toBeGreaterThan(80);
    for (const section of ['nats', 'inference', 'control', 'web', 'history', 'analyzer', 'streams']) {
      expect(documented(section), section).toBe(true);
    }
  });

  it('documents only keys the loader knows', () => {
    for (const { key } of rows) {
      const message = load(configWith(key, null)) ?? '';
      expect(message, key).not.toMatch(/unknown (key|option)/);
    }
  });

  it('documents every key the loader knows', () => {
    const parents = new Set(['', ...rows.map((r) => r.key.slice(0, Math.max(0, r.key.lastIndexOf('.'))))]);
    for (const parent of parents) {
      const probe = parent === '' ? 'undocumentedKey' : `${parent}.undocumentedKey`;
      const message = load(configWith(probe, 1));
      const known = /(?:expected one of|known): ([^)]*)\)/.exec(message ?? '')?.[1];
      expect(known, `probing ${probe}: ${message}`).toBeDefined();
      for (const key of known!.split(',').map((k) => k.trim())) {
        const full = parent === '' ? key : `${parent}.${key}`;
        expect(documented(full), `${full} is missing from docs/configuration.md`).toBe(true);
      }
    }
  });

  it('gives literal defaults that the loader accepts and applies', () => {
    let compared = 0;
    for (const { key, defaultCell } of rows) {
      const literal = /^`([^`]+)`$/.exec(defaultCell)?.[1];
      if (literal === undefined) continue;
      const value: unknown = parseYaml(literal);
      expect(load(configWith(key, value)), `${key}: ${literal}`).toBeUndefined();
      const actual = codeDefault(key);
      if (actual === undefined || (typeof actual === 'object' && !Array.isArray(actual))) continue;
      expect(actual, `default of ${key}`).toEqual(value);
      compared++;
    }
    expect(compared).toBeGreaterThan(40);
  });
});
