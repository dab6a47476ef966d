/**
 * Issue 17 (one definition per contract): a stream definition arriving from the YAML config, the
 * control API's attach body or the cluster's KV bucket goes through one spec, so the same bad
 * definition fails the same way everywhere, naming the key.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import {
  checkStreamDefinition,
  STREAM_DEFAULTS,
  STREAM_FIELDS,
  STREAM_SPEC,
} from '../../src/config/stream-spec.js';
import { parseStreamDefinition } from '../../src/analyzer/manager.js';
import { parseDefinition } from '../../src/cluster/desired.js';
import type { VigilError } from '../../src/core/errors.js';

/** Runs a definition through the three entry points; returns [code, message] of each failure. */
type Outcome = [code: string, message: string];

function viaAll(def: Record<string, unknown>): [Outcome, Outcome, Outcome] {
  const tries: (() => unknown)[] = [
    () => parseConfig(`streams:\n  - ${JSON.stringify(def)}\n`, 'vigil.yaml'),
    () => parseStreamDefinition(def),
    () => parseDefinition(String(def.id), new TextEncoder().encode(JSON.stringify(def))),
  ];
  const [config, api, kv] = tries.map((t): Outcome => {
    try {
      t();
      return ['(accepted)', ''];
    } catch (err) {
      return [(err as VigilError).code, (err as Error).message];
    }
  });
  return [config!, api!, kv!];
}

describe('the stream spec', () => {
  it.each([
    [
      'an unknown key',
      { id: 'a', url: 'test:ball', colour: 'red' },
      /colour: unknown key \(expected one of: id, url,/,
    ],
    [
      'windowMs under its range',
      { id: 'a', url: 'test:ball', windowMs: 5 },
      /windowMs: expected an integer from 100 to 86400000, got number 5/,
    ],
    [
      'windowMs of 1e99',
      { id: 'a', url: 'test:ball', windowMs: 1e99 },
      /windowMs: expected an integer from 100 to 86400000/,
    ],
    [
      'inferQueue over its range',
      { id: 'a', url: 'test:ball', inferQueue: 10_001 },
      /inferQueue: expected an integer from 0 to 10000/,
    ],
    [
      'a fractional inferConcurrency',
      { id: 'a', url: 'test:ball', inferConcurrency: 1.5 },
      /inferConcurrency: expected an integer from 1 to 64/,
    ],
    [
      'live of the wrong type',
      { id: 'a', url: 'test:ball', live: 'yes' },
      /live: expected true or false, got "yes"/,
    ],
    ['a bad id', { id: 'a b', url: 'test:ball' }, /id: expected a NATS-safe name/],
    ['the reserved id ctl', { id: 'ctl', url: 'test:ball' }, /id: stream id "ctl" is reserved/],
    ['no url', { id: 'a' }, /url: required/],
    [
      'an unknown keyframe option',
      { id: 'a', url: 'test:ball', keyframes: { bogus: 1 } },
      /keyframes: selectKeyframes: unknown option 'bogus'/,
    ],
    [
      'a bad event option',
      { id: 'a', url: 'test:ball', events: { confirmKeyframes: -1 } },
      /events: .*confirmKeyframes/,
    ],
    [
      'cache: true',
      { id: 'a', url: 'test:ball', cache: true },
      /cache: expected false or a mapping, got boolean true/,
    ],
    [
      'a bad cache option',
      { id: 'a', url: 'test:ball', cache: { maxEntries: -1 } },
      /cache: AnalysisCache: maxEntries/,
    ],
    ['an unknown audio key', { id: 'a', url: 'test:ball', audio: { asr: true } }, /audio\.asr: unknown key/],
  ])(
    '%s fails the config file, the control API and the KV entry alike, naming the key',
    (_what, def, message) => {
      const [config, api, kv] = viaAll(def);
      expect(config[0]).toBe('VIGIL_ERR_CONFIG');
      expect(config[1]).toMatch(/^vigil\.yaml: streams\[0\]\./);
      expect(config[1]).toMatch(message);
      expect(api[0]).toBe('VIGIL_ERR_INVALID_ARGUMENT');
      expect(api[1]).toMatch(message);
      expect(kv[0]).toBe('VIGIL_ERR_CONFIG');
      expect(kv[1]).toMatch(/^desired stream /);
      expect(kv[1]).toMatch(message);
    },
  );

  it('accepts a full definition the same way everywhere', () => {
    const def = {
      id: 'door',
      url: 'test:ball',
      live: false,
      windowMs: 5000,
      keyframes: { maxIntervalMs: 1500 },
      events: {},
      inferConcurrency: 2,
      inferQueue: 0,
      maxKeyframeAgeMs: 0,
      cache: { maxEntries: 8 },
      audio: { vad: false },
    };
    expect(viaAll(def)).toEqual([
      ['(accepted)', ''],
      ['(accepted)', ''],
      ['(accepted)', ''],
    ]);
    expect(parseConfig(`streams:\n  - ${JSON.stringify(def)}\n`).streams[0]).toEqual(def);
  });

  it('reports every problem of a definition at once', () => {
    expect(checkStreamDefinition({ id: 'a', url: '', live: 1, bogus: 2 }, 'streams[3]')).toEqual([
      'streams[3].bogus: unknown key (expected one of: id, url, live, windowMs, keyframes, events, inferConcurrency, inferQueue, maxKeyframeAgeMs, cache, audio, detect, objects, track, oneShot, inference)',
      'streams[3].url: expected a non-empty string, got ""',
      'streams[3].live: expected true or false, got number 1',
    ]);
    expect(checkStreamDefinition([1, 2])).toEqual([
      'expected a stream definition (an object with id and url), got a list',
    ]);
  });

  it('documents every field: a doc line each, and a default for each optional one', () => {
    for (const [key, field] of Object.entries(STREAM_FIELDS)) {
      expect(field.doc, key).toMatch(/\w{3}/);
      if (!('required' in field))
        expect('default' in field || field.kind === 'map' || field.kind === 'object', key).toBe(true);
    }
    expect(STREAM_SPEC.kind).toBe('object');
    expect(STREAM_FIELDS.live.default).toBe(STREAM_DEFAULTS.live);
  });

  it('the analyzer-wide windowMs and maxKeyframeAgeMs take the same ranges as a stream’s', () => {
    expect(() => parseConfig('analyzer:\n  windowMs: 99\n', 'v.yaml')).toThrow(
      /analyzer\.windowMs: expected an integer from 100 to 86400000/,
    );
    expect(() => parseConfig('analyzer:\n  maxKeyframeAgeMs: 3600001\n', 'v.yaml')).toThrow(
      /analyzer\.maxKeyframeAgeMs: expected an integer from 0 to 3600000/,
    );
  });
});
