/**
 * Regression, issue 22 item 6 ("RSS grows with churn"): after a pipeline is released, one
 * malloc_trim runs off the JS thread a moment later (releases close together share it), unless
 * VIGIL_MALLOC_TRIM=off; with an addon build that predates the patch nothing happens. The addon is
 * a stand-in here (the call itself is glibc's); the installed build is checked when it has it.
 */
import { createRequire } from 'node:module';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const addon: { mallocTrim?: (done?: (released: boolean) => void) => boolean | undefined } = {};
vi.mock('../../src/ingest/gst.js', () => ({ gstIfLoaded: () => addon }));

const trim = await import('../../src/ingest/malloc-trim.js');

describe('issue 22 item 6: RSS with churn (malloc trim after a release)', () => {
  let calls: ((released: boolean) => void)[];
  beforeEach(() => {
    vi.useFakeTimers();
    calls = [];
    addon.mallocTrim = (done) => {
      calls.push(done!);
      return undefined;
    };
    delete process.env.VIGIL_MALLOC_TRIM;
  });
  afterEach(async () => {
    // Let any trim still pending finish, so tests do not share one.
    await vi.runAllTimersAsync();
    for (const done of calls.splice(0)) done(false);
    vi.useRealTimers();
    delete process.env.VIGIL_MALLOC_TRIM;
  });

  it('runs one trim TRIM_DELAY_MS after releases close together, off the JS thread', async () => {
    const before = trim.mallocTrimStats().calls;
    trim.scheduleMallocTrim();
    trim.scheduleMallocTrim();
    await vi.advanceTimersByTimeAsync(trim.TRIM_DELAY_MS - 1);
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    trim.scheduleMallocTrim(); // a release after the first trim started: a second one later
    expect(calls).toHaveLength(1);
    calls[0]!(true);
    await vi.advanceTimersByTimeAsync(trim.TRIM_DELAY_MS);
    expect(calls).toHaveLength(2);
    calls[1]!(false);
    await Promise.resolve();
    expect(trim.mallocTrimStats().calls - before).toBe(2);
  });

  it('never runs two trims at once', async () => {
    const a = trim.mallocTrimNow();
    const b = trim.mallocTrimNow();
    expect(calls).toHaveLength(1);
    calls[0]!(true);
    expect(await a).toBe(true);
    expect(await b).toBe(true);
  });

  it('VIGIL_MALLOC_TRIM=off turns it off', async () => {
    process.env.VIGIL_MALLOC_TRIM = 'off';
    trim.scheduleMallocTrim();
    await vi.advanceTimersByTimeAsync(trim.TRIM_DELAY_MS * 2);
    expect(await trim.mallocTrimNow()).toBe(false);
    expect(calls).toHaveLength(0);
    expect(trim.mallocTrimEnabled({ VIGIL_MALLOC_TRIM: '0' })).toBe(false);
    expect(trim.mallocTrimEnabled({})).toBe(true);
  });

  it('a stopped pipeline asks for one (PipelineRunner)', async () => {
    const { PipelineRunner } = await import('../../src/ingest/pipeline-run.js');
    const released: string[] = [];
    const parts = {
      pipeline: { release: () => released.push('pipeline') },
      frameSink: {},
      audioSink: undefined,
    } as unknown as ConstructorParameters<typeof PipelineRunner>[0];
    const run = new PipelineRunner(
      parts,
      { live: true, analysisWidth: 80, maxBuffers: 2 },
      { frame: () => undefined, end: () => undefined, error: () => undefined },
    );
    run.stop();
    run.stop();
    expect(released).toEqual(['pipeline']);
    await vi.advanceTimersByTimeAsync(trim.TRIM_DELAY_MS);
    expect(calls).toHaveLength(1);
    calls[0]!(true);
  });

  it('does nothing with an addon build that predates the patch', async () => {
    delete addon.mallocTrim;
    trim.scheduleMallocTrim();
    await vi.advanceTimersByTimeAsync(trim.TRIM_DELAY_MS * 2);
    expect(await trim.mallocTrimNow()).toBe(false);
  });
});

const installed = createRequire(import.meta.url)('gstreamer-superficial') as typeof addon;
describe.skipIf(typeof installed.mallocTrim !== 'function')('the installed addon', () => {
  it('trims on a thread-pool thread and calls back with a boolean', async () => {
    const released = await new Promise<boolean>((resolve) => installed.mallocTrim!(resolve));
    expect(typeof released).toBe('boolean');
    expect(typeof installed.mallocTrim!()).toBe('boolean');
  });
});

describe('VIGIL_ORT_CPU_MEM_ARENA (the local inference server keeps onnxruntime’s CPU arena by default)', () => {
  it('is on unless turned off', async () => {
    const { cpuMemArena } = await import('../../src/infer/repository.js');
    expect(cpuMemArena({})).toBe(true);
    expect(cpuMemArena({ VIGIL_ORT_CPU_MEM_ARENA: 'on' })).toBe(true);
    for (const off of ['off', '0', 'false', 'NO'])
      expect(cpuMemArena({ VIGIL_ORT_CPU_MEM_ARENA: off })).toBe(false);
  });
});
