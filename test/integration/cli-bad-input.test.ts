import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
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
