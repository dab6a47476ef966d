import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';

describe('config: analyzer latency bounds', () => {
  it('takes maxKeyframeAgeMs and maxInferInFlight, absent by default', () => {
    expect(
      parseConfig('analyzer: { maxKeyframeAgeMs: 1500, maxInferInFlight: 2 }', 'v.yaml').analyzer,
    ).toMatchObject({
      maxKeyframeAgeMs: 1500,
      maxInferInFlight: 2,
    });
    const defaults = parseConfig('analyzer: { maxStreams: 4 }', 'v.yaml').analyzer;
    expect(defaults.maxKeyframeAgeMs).toBeUndefined();
    expect(defaults.maxInferInFlight).toBeUndefined();
  });

  it('names the key path of a bad value', () => {
    expect(() => parseConfig('analyzer: { maxInferInFlight: 0 }', 'v.yaml')).toThrow(
      /analyzer\.maxInferInFlight/,
    );
    expect(() => parseConfig('analyzer: { maxKeyframeAgeMs: "soon" }', 'v.yaml')).toThrow(
      /analyzer\.maxKeyframeAgeMs/,
    );
  });
});
