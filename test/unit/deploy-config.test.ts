/** The analyzer's YAML config names a pool of inference servers (the gRPC client rotates over them). */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';

describe('config: inference.addresses (a pool of inference servers)', () => {
  it('takes a list of host:port entries', () => {
    const c = parseConfig(
      'inference: { addresses: ["infer-0:8001", "infer-1:8001", "10.0.0.7:8001"] }\n',
      'v.yaml',
    );
    expect(c.inference.addresses).toEqual(['infer-0:8001', 'infer-1:8001', '10.0.0.7:8001']);
    expect(c.inference.address).toBe('infer-0:8001');
  });

  it('keeps a single address working, and none means a local server', () => {
    expect(parseConfig('inference: { address: "a:8001" }\n', 'v.yaml').inference.addresses).toEqual([
      'a:8001',
    ]);
    expect(parseConfig('{}\n', 'v.yaml').inference.addresses).toEqual([]);
  });

  it('rejects an entry that is not host:port, naming its position', () => {
    expect(() => parseConfig('inference: { addresses: ["a:8001", "http://b/"] }\n', 'v.yaml')).toThrow(
      /inference\.addresses\[1\]/,
    );
  });
});
