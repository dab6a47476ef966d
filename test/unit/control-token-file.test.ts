import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  controlTokenHint,
  loadOrCreateControlToken,
  readControlTokenFile,
} from '../../src/control/token-file.js';

describe('control token file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-token-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('makes a random token at first start (0600 in a 0700 directory) and reads it back later', () => {
    const file = join(dir, 'data', 'control-token');
    const first = loadOrCreateControlToken(file);
    expect(first.created).toBe(true);
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'data')).mode & 0o777).toBe(0o700);
    const second = loadOrCreateControlToken(file);
    expect(second).toEqual({ token: first.token, created: false });
    expect(loadOrCreateControlToken(join(dir, 'other')).token).not.toBe(first.token);
    expect(readControlTokenFile(join(dir, 'missing'))).toBeUndefined();
  });

  it('refuses files that hold no token, are too large or are not regular files', () => {
    writeFileSync(join(dir, 'short'), 'abc\n');
    expect(() => readControlTokenFile(join(dir, 'short'))).toThrow(/control\.tokenFile/);
    writeFileSync(join(dir, 'big'), 'x'.repeat(10_000));
    expect(() => readControlTokenFile(join(dir, 'big'))).toThrow(/control\.tokenFile/);
    mkdirSync(join(dir, 'adir'));
    expect(() => readControlTokenFile(join(dir, 'adir'))).toThrow(/control\.tokenFile/);
    expect(() => loadOrCreateControlToken('/proc/nope/control-token')).toThrow(
      /control\.tokenFile: cannot write/,
    );
  });

  it('names the file in the hint, never the token', () => {
    const file = join(dir, 'control-token');
    const { token } = loadOrCreateControlToken(file);
    const hint = controlTokenHint(file, 'http://127.0.0.1:8080');
    expect(hint).toContain(file);
    expect(hint).not.toContain(token);
    expect(readFileSync(file, 'utf8').trim()).toBe(token);
  });
});
