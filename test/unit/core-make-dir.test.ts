import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeDirectory, MakeDirError } from '../../src/core/make-dir.js';

describe('makeDirectory', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-mkdir-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('makes missing parents with the mode and accepts an existing directory', () => {
    makeDirectory(join(dir, 'a', 'b', 'c'), 0o700);
    expect(statSync(join(dir, 'a', 'b', 'c')).isDirectory()).toBe(true);
    expect(statSync(join(dir, 'a')).mode & 0o777).toBe(0o700);
    expect(() => makeDirectory(join(dir, 'a', 'b'))).not.toThrow();
  });

  it('fails at once, naming the level, under /proc (Node 20 recursive mkdir loops there) and under a file', () => {
    expect(() => makeDirectory('/proc/nope/report')).toThrow(MakeDirError);
    expect(() => makeDirectory('/proc/nope/report')).toThrow(/^\/proc\/nope: /);
    writeFileSync(join(dir, 'file'), 'x');
    expect(() => makeDirectory(join(dir, 'file', 'sub'))).toThrow(/exists and is not a directory/);
  });
});
