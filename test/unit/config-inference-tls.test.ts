import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { ConfigError } from '../../src/core/errors.js';

describe('config: inference.tls', () => {
  it('resolves the CA, certificate and key paths against the config file', () => {
    const c = parseConfig(
      `inference: { address: "infer:8001", tls: { caFile: ca.pem, certFile: client.pem, keyFile: client.key, serverName: infer.local } }`,
      'vigil.yaml',
      {},
      '/etc/vigil',
    );
    expect(c.inference.tls).toEqual({
      caFile: '/etc/vigil/ca.pem',
      certFile: '/etc/vigil/client.pem',
      keyFile: '/etc/vigil/client.key',
      serverName: 'infer.local',
    });
  });

  it('refuses a certificate without its key, and unknown keys', () => {
    expect(() => parseConfig(`inference: { tls: { certFile: client.pem } }`, 'vigil.yaml')).toThrow(
      /certFile and inference.tls.keyFile go together/,
    );
    expect(() => parseConfig(`inference: { tls: { caFlie: ca.pem } }`, 'vigil.yaml')).toThrow(ConfigError);
  });
});
