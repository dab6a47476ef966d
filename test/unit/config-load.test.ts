import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, MAX_CONFIG_BYTES, parseConfig } from '../../src/config/index.js';

const bad = (yaml: string) => {
  try {
    parseConfig(yaml, 'vigil.yaml');
  } catch (err) {
    return err as Error & { code: string };
  }
  throw new Error('expected a ConfigError');
};

describe('config', () => {
  it('parses a full file with defaults filled in', () => {
    const c = parseConfig(
      `
nats:
  servers: nats://10.0.0.5:4222
  evidence: false
  retry: { maxPending: 500 }
inference: { address: "127.0.0.1:8001" }
control: { port: 9090 }
analyzer: { maxStreams: 4, windowMs: 5000 }
streams:
  - id: door
    url: rtsp://cam.local/stream1
    keyframes: { maxIntervalMs: 2000 }
  - { id: lobby, url: "test:ball", live: true, windowMs: 2000 }
`,
      'vigil.yaml',
    );
    expect(c.nats.servers).toEqual(['nats://10.0.0.5:4222']);
    expect(c.nats.evidence).toBe(false);
    expect(c.nats.retry).toEqual({ maxPending: 500, ackTimeoutMs: 2000 });
    expect(c.nats.jetstream.stream).toBe('VIGIL');
    expect(c.inference.address).toBe('127.0.0.1:8001');
    expect(c.control).toMatchObject({ host: '127.0.0.1', port: 9090, nats: true });
    expect(c.analyzer).toEqual({ maxStreams: 4, windowMs: 5000 });
    expect(c.streams.map((s) => s.id)).toEqual(['door', 'lobby']);
    expect(c.web.enabled).toBe(true);
  });

  it('"{}" means all defaults (local NATS and inference server)', () => {
    const c = parseConfig('{}', 'defaults.yaml');
    expect(c.nats.servers).toBeNull();
    expect(c.inference.address).toBeNull();
    expect(c.streams).toEqual([]);
  });

  it('unknown keys are errors naming the path and the known keys', () => {
    const e = bad('nats:\n  sevrers: nats://x:4222\n');
    expect(e.code).toBe('VIGIL_ERR_CONFIG');
    expect(e.message).toMatch(/^vigil\.yaml: nats\.sevrers: unknown key \(expected one of: servers, /);
    expect(bad('colour: red\n').message).toMatch(/colour: unknown key/);
  });

  it('type errors name the key path, what was expected and what was found', () => {
    expect(bad('control:\n  port: "8080"\n').message).toBe(
      'vigil.yaml: control.port: expected an integer from 0 to 65535, got "8080"',
    );
    expect(bad('streams:\n  - id: a\n    url: x\n  - id: "bad id"\n    url: y\n').message).toMatch(
      /streams\[1\]\.id: expected a NATS-safe name .*got "bad id"/,
    );
    expect(bad('streams:\n  - url: x\n').message).toMatch(/streams\[0\]\.id: required/);
    expect(bad('streams:\n  - { id: a, url: x, keyframes: { maxIntervalMs: -5 } }\n').message).toMatch(
      /streams\[0\]\.keyframes: .*maxIntervalMs/,
    );
    expect(bad('streams:\n  - { id: a, url: x, events: { colour: 1 } }\n').message).toMatch(
      /streams\[0\]\.events: .*unknown option 'colour'/,
    );
    expect(bad('streams:\n  - { id: a, url: x }\n  - { id: a, url: y }\n').message).toMatch(
      /streams\[1\]\.id: duplicate stream id "a"/,
    );
    expect(bad('streams: {}\n').message).toMatch(/streams: expected a list/);
    expect(bad('- a\n- b\n').message).toMatch(/\(top level\): expected a mapping, got a list/);
  });

  it('reports several problems at once', () => {
    const e = bad('control: { port: -1 }\nanalyzer: { maxStreams: 0 }\n');
    expect(e.message).toMatch(/2 problems:\n {2}control\.port: .*\n {2}analyzer\.maxStreams: /);
  });

  it('invalid YAML gives the line and column', () => {
    expect(bad('nats:\n  servers: [a, b\n').message).toMatch(/^vigil\.yaml:\d+:\d+: invalid YAML/);
    expect(bad('a: 1\na: 2\n').message).toMatch(/invalid YAML/);
  });

  it('secrets come from the environment, overriding the file, and never need to be in it', () => {
    const c = parseConfig(
      'nats:\n  servers: nats://h:4222\n  user: vigil\n  password: from-file\ncontrol: { token: file-token-123 }\n',
      'vigil.yaml',
      {
        VIGIL_NATS_PASSWORD: 'from-env',
        VIGIL_CONTROL_TOKEN: 'env-token-456',
        VIGIL_NATS_NKEY_SEED: 'SUAEXAMPLE',
        VIGIL_NATS_URL: 'nats://a:1, nats://b:2',
      },
    );
    expect(c.nats.password).toBe('from-env');
    expect(c.nats.user).toBe('vigil');
    expect(c.nats.nkeySeed).toBe('SUAEXAMPLE');
    expect(c.nats.servers).toEqual(['nats://a:1', 'nats://b:2']);
    expect(c.control.token).toBe('env-token-456');
    expect(parseConfig('{}', 'x', { VIGIL_NATS_TOKEN: 't' }).nats.token).toBe('t');
    expect(() => parseConfig('nats: { user: a }\n', 'x')).toThrow(
      /nats\.user and nats\.password go together/,
    );
  });

  it('loadConfig resolves relative paths against the file and reports unreadable files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-config-'));
    try {
      const file = join(dir, 'vigil.yaml');
      writeFileSync(file, 'inference: { modelRepository: ./repo }\nnats: { tls: { caFile: ca.pem } }\n');
      const c = loadConfig(file, {});
      expect(c.inference.modelRepository).toBe(join(dir, 'repo'));
      expect(c.nats.tls).toEqual({ caFile: join(dir, 'ca.pem') });
      expect(() => loadConfig(join(dir, 'missing.yaml'), {})).toThrow(/cannot read config file .*ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Loads a config and returns its error (code and message), or fails when it is accepted. */
function loadError(file: string): { code: string; message: string } {
  try {
    loadConfig(file, {});
  } catch (err) {
    return { code: (err as { code: string }).code, message: (err as Error).message };
  }
  throw new Error(`${file} was accepted`);
}

describe('issue 22 #5: vigil run --config /dev/zero reached 7 GB of RSS', () => {
  it('refuses /dev/zero, a directory and a FIFO as not regular files, without reading (or blocking on) them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-config-'));
    try {
      expect(loadError('/dev/zero')).toEqual({
        code: 'VIGIL_ERR_CONFIG',
        message: 'cannot read config file /dev/zero: not a regular file (a character device)',
      });
      expect(loadError(dir).message).toMatch(/not a regular file \(a directory\)/);
      const fifo = join(dir, 'pipe.yaml');
      execFileSync('mkfifo', [fifo]);
      expect(loadError(fifo).message).toMatch(/pipe\.yaml: not a regular file \(a pipe\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('caps the size of a config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-config-'));
    try {
      const big = join(dir, 'big.yaml');
      writeFileSync(big, `# ${'x'.repeat(MAX_CONFIG_BYTES)}\n{}\n`);
      expect(loadError(big)).toMatchObject({
        code: 'VIGIL_ERR_CONFIG',
        message: /big\.yaml: \d+ bytes, over the limit/,
      });
      const fits = join(dir, 'fits.yaml');
      writeFileSync(fits, `# ${'x'.repeat(MAX_CONFIG_BYTES - 100)}\n{}\n`);
      expect(loadConfig(fits, {}).streams).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives a YAML alias bomb and other parser failures a typed VIGIL_ERR_CONFIG', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) {
      const p = String.fromCharCode(97 + i - 1);
      levels.push(
        `${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${p}`).join(',')}]`,
      );
    }
    const bomb = bad(`${levels.join('\n')}\n`);
    expect(bomb.code).toBe('VIGIL_ERR_CONFIG');
    expect(bomb.message).toMatch(/^vigil\.yaml: invalid YAML: .*alias/i);
    expect(bad('a: *nothing\n')).toMatchObject({ code: 'VIGIL_ERR_CONFIG', message: /invalid YAML/ });
    expect(bad('--- {}\n--- {}\n')).toMatchObject({ code: 'VIGIL_ERR_CONFIG', message: /invalid YAML/ });
    // Deep nesting is refused before the (recursive, slow) parser sees it.
    for (const deep of [
      `${'['.repeat(60_000)}${']'.repeat(60_000)}`,
      `${'- '.repeat(60_000)}x`,
      '{a: '.repeat(65),
    ]) {
      expect(bad(deep)).toMatchObject({ code: 'VIGIL_ERR_CONFIG', message: /nested more than 64 levels/ });
    }
    expect(
      parseConfig('streams:\n  - { id: a, url: "test:ball", keyframes: { maxIntervalMs: 1000 } }\n').streams,
    ).toHaveLength(1);
    // Duplicate keys, checked in one pass (thousands of keys stay fast), with their line.
    expect(bad('analyzer:\n  windowMs: 5000\n  windowMs: 6000\n')).toMatchObject({
      code: 'VIGIL_ERR_CONFIG',
      message: 'vigil.yaml:3:3: invalid YAML: duplicate key "windowMs"',
    });
    const manyKeys = Array.from({ length: 20_000 }, (_, i) => `k${i}: 1`).join('\n');
    expect(bad(manyKeys).message).toMatch(/k0: unknown key/);
    const dir = mkdtempSync(join(tmpdir(), 'vigil-config-'));
    try {
      const binary = join(dir, 'binary.yaml');
      writeFileSync(binary, Buffer.from([0x61, 0x3a, 0x20, 0xff, 0xfe, 0x0a]));
      expect(loadError(binary).message).toMatch(/binary\.yaml: not UTF-8 text/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('issue 22 #14: an empty config file started silently', () => {
  it.each([
    ['an empty file', ''],
    ['blank lines', '\n\n  \n'],
    ['comments only', '# vigil.yaml\n# streams: []\n'],
  ])('%s is a config error saying how to ask for the defaults', (_what, text) => {
    const e = bad(text);
    expect(e.code).toBe('VIGIL_ERR_CONFIG');
    expect(e.message).toMatch(/^vigil\.yaml: the config is empty; .*"\{\}" to run on the defaults/);
  });
});
