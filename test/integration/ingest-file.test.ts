import { describe, expect, it } from 'vitest';
import { firstValueFrom, lastValueFrom, map, take, toArray } from 'rxjs';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { DEFAULT_INGEST_OPTIONS, openFrames, type IngestCounters } from '../../src/ingest/frames.js';
import { parseSource } from '../../src/ingest/source.js';
import type { Frame } from '../../src/core/contracts.js';
import { SourceError } from '../../src/core/errors.js';
import { requireFile, VTEST } from '../helpers/paths.js';

describe('ingest: real GStreamer decoding of a real clip', () => {
  it('delivers every frame of vtest.avi as paired gray + RGB frames of the same PTS', async () => {
    const counters: IngestCounters = { framesIn: 0, dropped: {} };
    const spec = parseSource(requireFile(VTEST));
    const frames: Frame[] = await lastValueFrom(
      openFrames(spec, { ...DEFAULT_INGEST_OPTIONS, streamId: 'vtest', live: false }, counters).pipe(
        toArray(),
      ),
    );
    // 80 s at 10 fps; fast mode waits for the consumer, so nothing may be lost.
    expect(frames.length).toBeGreaterThan(780);
    expect(counters.dropped).toEqual({});
    frames.forEach((f, i) => {
      expect(f.seq).toBe(i);
      if (i > 0) expect(f.ptsNs).toBeGreaterThan(frames[i - 1]!.ptsNs);
    });
    const f = frames[100]!;
    expect(f.streamId).toBe('vtest');
    expect([f.sourceWidth, f.sourceHeight]).toEqual([768, 576]);
    expect([f.analysis.width, f.analysis.height, f.analysis.format]).toEqual([160, 120, 'GRAY8']);
    expect(f.analysis.data.length).toBe(160 * 120);
    expect([f.model.width, f.model.height, f.model.format]).toEqual([640, 480, 'RGB']);
    expect(f.model.data.length).toBe(640 * 480 * 3);
    expect(f.ptsNs).toBe(10_000_000_000);
  });

  it('fast mode: a frame never waits for the next to arrive (a short batch is swept up)', async () => {
    // Fast mode wakes JS once per batch of frames (half the appsink); a source slower than that
    // must still get each frame through before its next one (1 fps: a second apart).
    const frames: { arrivalMs: number; deliveredMs: number }[] = await lastValueFrom(
      openFrames(parseSource('test:ball?width=160&height=120&fps=1'), {
        ...DEFAULT_INGEST_OPTIONS,
        streamId: 'slow',
        live: false,
      }).pipe(
        take(3),
        map((f) => ({ arrivalMs: f.captureTimeMs, deliveredMs: performance.timeOrigin + performance.now() })),
        toArray(),
      ),
    );
    expect(frames).toHaveLength(3);
    for (const f of frames) expect(f.deliveredMs - f.arrivalMs).toBeLessThan(1000);
  });

  it('paces a file at its own frame rate in live mode and stops on unsubscribe', async () => {
    const spec = parseSource(requireFile(VTEST));
    const t0 = Date.now();
    const frames = await lastValueFrom(
      openFrames(spec, { ...DEFAULT_INGEST_OPTIONS, streamId: 'live', live: true }).pipe(take(11), toArray()),
    );
    const elapsed = Date.now() - t0;
    // 11 frames at 10 fps span 1 s of stream time: real-time pacing, not a burst.
    expect(frames[10]!.ptsNs - frames[0]!.ptsNs).toBe(1_000_000_000);
    expect(elapsed).toBeGreaterThan(700);
  });

  it('fails a non-video file with a typed decode error naming the source', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-nonvideo-'));
    const path = join(dir, 'notes.mp4');
    writeFileSync(path, 'this is plain text, not a video\n'.repeat(200));
    const err = await firstValueFrom(
      openFrames(parseSource(path), { ...DEFAULT_INGEST_OPTIONS, streamId: 'x' }),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect((err as SourceError).code).toBe('VIGIL_ERR_SOURCE_DECODE');
    expect((err as SourceError).message).toContain(path);
  });

  it('fails with NO_FRAMES when nothing arrives in time (bounded, never a hang)', async () => {
    // A server that accepts the connection and never answers: no frame can ever arrive, so the
    // first-frame watchdog must fire (a real clip could beat a tiny timeout on a fast path).
    const silent = createServer(() => undefined);
    await new Promise<void>((res) => silent.listen(0, '127.0.0.1', res));
    const sockets = new Set<Socket>();
    silent.on('connection', (s) => sockets.add(s));
    try {
      const { port } = silent.address() as AddressInfo;
      const spec = parseSource(`rtsp://127.0.0.1:${port}/never`);
      const started = Date.now();
      const err = await firstValueFrom(
        openFrames(spec, { ...DEFAULT_INGEST_OPTIONS, streamId: 'x', firstFrameTimeoutMs: 500 }),
      ).catch((e: unknown) => e);
      expect((err as SourceError).code).toBe('VIGIL_ERR_SOURCE_NO_FRAMES');
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((res) => silent.close(res));
    }
  });
});
