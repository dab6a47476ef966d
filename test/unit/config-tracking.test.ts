import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/core/errors.js';

const stream = (extra: string) => `streams:\n  - id: cam\n    url: test:ball\n${extra}`;

describe('config: per-stream tracking options', () => {
  it('accepts detect, objects (list or per class) and track', () => {
    const c = parseConfig(
      stream(
        '    detect: { fps: 4 }\n    objects: { person: { threshold: 0.6 }, car: {} }\n    track: { maxLostMs: 1200 }\n',
      ),
    );
    expect(c.streams[0]).toMatchObject({ detect: { fps: 4 }, track: { maxLostMs: 1200 } });
    expect(parseConfig(stream('    objects: [person, dog]\n')).streams[0]?.objects).toEqual([
      'person',
      'dog',
    ]);
  });

  it('bad values give a config error naming the key', () => {
    const cases: [string, RegExp][] = [
      ['    detect: { fps: 0 }\n', /streams\[0\]\.detect\.fps/],
      ['    detect: { fps: -1 }\n', /streams\[0\]\.detect\.fps/],
      ['    objects: [unicorn]\n', /streams\[0\]\.objects\.unicorn: unknown class name/],
      ['    objects: { person: { threshold: 1.5 } }\n', /objects\.person: threshold/],
      ['    track: { minScore: -1 }\n', /track: minScore/],
    ];
    for (const [yaml, re] of cases) {
      expect(() => parseConfig(stream(yaml))).toThrow(ConfigError);
      expect(() => parseConfig(stream(yaml))).toThrow(re);
    }
  });
});
