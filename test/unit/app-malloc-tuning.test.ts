/**
 * Regression, issue 22 item 6 ("RSS grows with churn"): long-running commands start again with a
 * fixed glibc mmap threshold, unless turned off or already set; the signal guard takes a signal
 * delivered to both starts as one.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CHILD_MARK, mallocTuningEnv } from '../../src/app/malloc-tuning.js';
import { guardSignals } from '../../src/cli/command-options.js';

const glibc = () => '2.36';
const base = { platform: 'linux', glibc, argv: ['run', '--config', 'x.yaml'] };

describe('issue 22 item 6: RSS with churn (malloc tuning)', () => {
  it('sets a fixed mmap threshold for long-running commands on glibc', () => {
    const env = mallocTuningEnv({ ...base, env: { PATH: '/bin' } });
    expect(env?.GLIBC_TUNABLES).toBe('glibc.malloc.mmap_threshold=131072');
    expect(env?.PATH).toBe('/bin');
    expect(env?.[CHILD_MARK]).toBe('1');
  });

  it('appends to tunables already set, and takes VIGIL_MALLOC_MMAP_THRESHOLD', () => {
    const env = mallocTuningEnv({
      ...base,
      env: { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2', VIGIL_MALLOC_MMAP_THRESHOLD: '262144' },
    });
    expect(env?.GLIBC_TUNABLES).toBe('glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=262144');
  });

  it.each([
    ['turned off', { env: { VIGIL_MALLOC_MMAP_THRESHOLD: 'off' } }],
    ['a threshold in GLIBC_TUNABLES', { env: { GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=1048576' } }],
    ['MALLOC_MMAP_THRESHOLD_ set', { env: { MALLOC_MMAP_THRESHOLD_: '65536' } }],
    ['already the second start', { env: { [CHILD_MARK]: '1' } }],
    ['not Linux', { env: {}, platform: 'darwin' }],
    ['not glibc (musl)', { env: {}, glibc: () => undefined }],
    ['a short command', { env: {}, argv: ['ls'] }],
    ['no command', { env: {}, argv: [] }],
    ['help', { env: {}, argv: ['run', '--help'] }],
  ])('leaves the process as it is: %s', (_what, over) => {
    expect(mallocTuningEnv({ ...base, ...over })).toBeUndefined();
  });

  it('asks for the glibc version only when it matters (process.report is not free)', () => {
    const probe = vi.fn(() => '2.36');
    mallocTuningEnv({ ...base, glibc: probe, env: {}, argv: ['ls'] });
    expect(probe).not.toHaveBeenCalled();
  });

  it.each(['abc', '-1', '100', '99999999999', '1e6'])('refuses VIGIL_MALLOC_MMAP_THRESHOLD=%s', (v) => {
    expect(() => mallocTuningEnv({ ...base, env: { VIGIL_MALLOC_MMAP_THRESHOLD: v } })).toThrow(
      /VIGIL_MALLOC_MMAP_THRESHOLD must be 'off' or a byte count/,
    );
  });
});

describe('the signal guard takes one signal delivered twice as one', () => {
  const removers: (() => void)[] = [];
  afterEach(() => {
    for (const r of removers.splice(0)) r();
    vi.restoreAllMocks();
  });

  function guarded(repeatMs: number) {
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    removers.push(guardSignals(60_000, () => undefined, repeatMs));
    // The command listens (an orderly stop): the first signal does not exit.
    const command = () => undefined;
    process.on('SIGTERM', command);
    removers.push(() => process.off('SIGTERM', command));
    return exit;
  }

  it('ignores the same signal again within repeatMs', () => {
    const exit = guarded(60_000);
    process.emit('SIGTERM', 'SIGTERM');
    process.emit('SIGTERM', 'SIGTERM');
    expect(exit).not.toHaveBeenCalled();
  });

  it('exits at once on a second signal after repeatMs', () => {
    const exit = guarded(0);
    process.emit('SIGTERM', 'SIGTERM');
    expect(exit).not.toHaveBeenCalled();
    process.emit('SIGTERM', 'SIGTERM');
    expect(exit).toHaveBeenCalledWith(130);
  });
});
