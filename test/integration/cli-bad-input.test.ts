import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-bad-'));
const notVideo = join(dir, 'notes.mp4');
writeFileSync(notVideo, 'plain text, not a video\n'.repeat(500));

const STACK_LINE = /^\s+at .+\(.+:\d+:\d+\)$/m;

describe('vigil analyze on bad input: a clear error naming the source, exit 2, never a hang or a stack trace', () => {
  it.each([
    ['a missing file', join(dir, 'missing.mp4'), /missing\.mp4: no such file/, 'VIGIL_ERR_SOURCE_NOT_FOUND'],
    ['an unknown URL scheme', 'gopher://camera.local/feed', /gopher/, 'VIGIL_ERR_SOURCE_SCHEME'],
    ['a non-video file', notVideo, /notes\.mp4: cannot decode as video/, 'VIGIL_ERR_SOURCE_DECODE'],
  ])('%s', async (_what, source, message, code) => {
    const { result } = runCli(['analyze', source], { timeoutMs: 45_000 });
    const r = await result;
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain(code);
    expect(r.stderr).not.toMatch(STACK_LINE);
  });

  it('a bad VIGIL_MMAP_THRESHOLD is VIGIL_ERR_CONFIG with exit 2 (issue 22 item 6)', async () => {
    const r = await runCli(['analyze', notVideo], {
      env: { VIGIL_MMAP_THRESHOLD: '128k' },
      timeoutMs: 45_000,
    }).result;
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/VIGIL_MMAP_THRESHOLD must be a whole number of bytes/);
    expect(r.stderr).toContain('VIGIL_ERR_CONFIG');
    expect(r.stderr).not.toMatch(STACK_LINE);
  });

  it('refuses unknown options and commands with exit 2 and usage', async () => {
    const a = await runCli(['analyze', '--no-such-flag', 'x.mp4']).result;
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/no-such-flag/);
    const b = await runCli(['frobnicate']).result;
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/unknown command "frobnicate"/);
  });

  it('prints help with examples for every command', async () => {
    for (const cmd of ['demo', 'analyze', 'infer-server']) {
      const r = await runCli([cmd, '--help']).result;
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/Usage: vigil/);
      expect(r.stdout).toMatch(/Examples:/);
    }
  });
});

describe('issue 22 #5: vigil run --config /dev/zero reached 7 GB of RSS', () => {
  const bomb = join(dir, 'bomb.yaml');
  const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 9; i++) {
    const [name, prev] = [String.fromCharCode(97 + i), String.fromCharCode(96 + i)];
    levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
  }
  writeFileSync(bomb, `${levels.join('\n')}\n`);

  it.each([
    ['/dev/zero', '/dev/zero', /\/dev\/zero: not a regular file \(a character device\)/],
    ['a YAML alias bomb', bomb, /bomb\.yaml: invalid YAML: Excessive alias count/],
  ])(
    '%s: a typed VIGIL_ERR_CONFIG and exit 2, not a runaway read or "unexpected failure"',
    async (_what, file, message) => {
      const r = await runCli(['run', '--config', file], { timeoutMs: 30_000 }).result;
      expect(r.timedOut).toBe(false);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain('[VIGIL_ERR_CONFIG]');
      expect(r.stderr).not.toMatch(/unexpected failure/);
      expect(r.stderr).not.toMatch(STACK_LINE);
    },
  );
});

describe('issue 22 #14: an empty config file started silently; --window-ms 1e99 printed 1e+99', () => {
  it('vigil run --config on an empty file exits 2 saying the config is empty', async () => {
    const empty = join(dir, 'empty.yaml');
    writeFileSync(empty, '# nothing here yet\n');
    const r = await runCli(['run', '--config', empty], { timeoutMs: 30_000 }).result;
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /empty\.yaml: the config is empty; .*"\{\}" to run on the defaults .*\[VIGIL_ERR_CONFIG\]/,
    );
  });

  it.each([
    ['analyze', 'test:ball', ['1e99', '99', '86400001', '1.5', '0x10']],
    ['attach', 'test:ball', ['1e99']],
    ['demo', '--source=test:ball', ['1e99']],
  ])('vigil %s --window-ms 1e99 is a usage error giving the range', async (command, source, values) => {
    for (const bad of values) {
      const r = await runCli([command, source, `--window-ms=${bad}`], { timeoutMs: 30_000 }).result;
      expect(r.code, bad).toBe(2);
      expect(r.stderr, bad).toContain(
        `--window-ms: expected an integer from 100 to 86400000, got ${bad} [VIGIL_ERR_USAGE]`,
      );
      expect(r.stderr, bad).not.toContain('1e+99');
    }
  });
});

describe('issue 22 #4: analyze --report /proc/nope spun at 95% CPU and ignored SIGTERM', () => {
  const file = join(dir, 'a-file');
  writeFileSync(file, 'not a directory\n');
  // As root a mode-0500 directory is still writable; sysfs refuses new files even to root.
  const unwritable = process.getuid?.() === 0 ? '/sys/kernel' : join(dir, 'read-only');
  if (unwritable !== '/sys/kernel') mkdirSync(unwritable, { mode: 0o500 });

  it.each([
    [
      'under /proc',
      '/proc/nope',
      /--report \/proc\/nope: cannot make the directory \(\/proc\/nope: ENOENT\)/,
    ],
    ['under a regular file', join(file, 'report'), /a-file: exists and is not a directory/],
    ['an unwritable directory', unwritable, /the directory is not writable \(EACCES\)/],
  ])(
    'a --report %s fails at once with a typed usage error (exit 2), before any analysis',
    async (_what, report, message) => {
      const r = await runCli(['analyze', 'test:ball', '--fast', '--report', report], { timeoutMs: 20_000 })
        .result;
      expect(r.timedOut).toBe(false);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toContain('[VIGIL_ERR_USAGE]');
      // Nothing started: the check comes before the analyzer.
      expect(r.stderr).not.toMatch(/started nats-server|analyzing/);
      expect(r.stderr).not.toMatch(/unexpected failure/);
    },
  );
});
