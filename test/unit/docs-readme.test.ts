/** The README is part of the product: its config example must load, and it must name real commands. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseConfig } from '../../src/config/index.js';
import { ROOT } from '../helpers/paths.js';

const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8');

describe('README', () => {
  it('starts with the two set-up commands: the demo and the test suite', () => {
    const blocks = [...readme.matchAll(/```sh\n([^`]+)```/g)].map((m) => m[1]!.trim());
    expect(blocks[0]).toBe('bash scripts/setup.sh && node bin/vigil.js demo');
    expect(blocks[1]).toBe('bash scripts/setup.sh && npm test');
    expect(readFileSync(resolve(ROOT, '.ci/run'), 'utf8')).toContain('bash scripts/setup.sh && npm test');
  });

  it('has a service config example that the config loader accepts', () => {
    const yaml = /```yaml\n([^`]+)```/.exec(readme)?.[1];
    expect(yaml).toBeDefined();
    const config = parseConfig(yaml!, 'README.md', { VIGIL_NATS_PASSWORD: 'x' }, ROOT);
    expect(config.streams.map((s) => s.id)).toEqual(['door']);
  });
});
