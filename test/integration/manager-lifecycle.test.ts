/**
 * The multi-stream manager on real GStreamer test sources and the real inference server: streams
 * attach and detach at run time, a failing stream never stalls the others, bounds and duplicate
 * names give stable error codes, close is idempotent and releases every pipeline.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Summary, VigilEvent } from '../../src/core/contracts.js';
import { createDetector, InferenceClient, startInferenceServer } from '../../src/infer/index.js';
import { analyzeWith } from '../../src/analyzer/analyze.js';
import {
  createManager,
  type Manager,
  type ManagerSink,
  type ManagerUpdate,
} from '../../src/analyzer/manager.js';
import { MODEL_REPO, requireFile } from '../helpers/paths.js';

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('stream manager', () => {
  let server: Awaited<ReturnType<typeof startInferenceServer>>;
  let client: InferenceClient;
  let manager: Manager;
  let dir: string;
  const summaries: Summary[] = [];
  const events: VigilEvent[] = [];
  const statuses: { id: string; state: string }[] = [];
  const updates: ManagerUpdate['type'][] = [];
  /** Every update with the stream it is about (stats excluded), in order. */
  const log: { type: ManagerUpdate['type']; id: string }[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-manager-'));
    server = await startInferenceServer({
      modelRepository: requireFile(MODEL_REPO),
      host: '127.0.0.1',
      port: 0,
    });
    client = new InferenceClient({ addresses: [`127.0.0.1:${server.port}`] });
    const sink: ManagerSink = {
      summary: async (s) => void summaries.push(s),
      event: async (e) => void events.push(e),
      status: async (id, info) => void statuses.push({ id, state: info.state }),
    };
    manager = createManager({
      analyze: analyzeWith(createDetector({ client, model: 'yolov8n' }), 'yolov8n'),
      sink,
      maxStreams: 3,
      windowMs: 1000,
      statsIntervalMs: 200,
    });
    manager.onUpdate((u) => updates.push(u.type));
    manager.onUpdate((u) => {
      const id = 'info' in u ? u.info.id : 'streamId' in u ? u.streamId : undefined;
      if (id !== undefined) log.push({ type: u.type, id });
    });
    manager.onUpdate(() => {
      throw new Error('a bad listener');
    });
  });

  afterAll(async () => {
    await manager?.close();
    client?.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('attaches two live streams at run time; both produce frames, summaries and fps', async () => {
    const a = await manager.attach({ id: 'ball-a', url: 'test:ball', keyframes: { maxIntervalMs: 500 } });
    expect(a.state).toBe('connecting');
    expect(a.source).toBe('test:ball');
    await manager.attach({ id: 'ball-b', url: 'test:ball' });
    await until(
      () => summaries.some((s) => s.streamId === 'ball-a') && summaries.some((s) => s.streamId === 'ball-b'),
      30_000,
      'a summary from each stream',
    );
    await until(
      () => manager.status('ball-a').counters.analysed > 0 && manager.status('ball-a').fps > 0,
      20_000,
      'an analysed keyframe and an fps figure',
    );
    const infoA = manager.status('ball-a');
    expect(infoA.state).toBe('live');
    expect(infoA.counters.frames).toBeGreaterThan(0);
    expect(infoA.latencyMs).not.toBeNull();
    expect(manager.list().map((s) => s.id)).toEqual(['ball-a', 'ball-b']);
    expect(statuses).toContainEqual({ id: 'ball-a', state: 'live' });
    expect(updates).toContain('keyframe');
    expect(updates).toContain('stats');
  }, 60_000);

  it('rejects duplicates, bad ids, unknown options and going past the bound with stable codes', async () => {
    await expect(manager.attach({ id: 'ball-a', url: 'test:ball' })).rejects.toMatchObject({
      code: 'VIGIL_ERR_STREAM_EXISTS',
    });
    await expect(manager.attach({ id: 'bad id!', url: 'test:ball' })).rejects.toMatchObject({
      code: 'VIGIL_ERR_INVALID_ARGUMENT',
    });
    await expect(
      manager.attach({ id: 'x', url: 'test:ball', colour: 'red' } as unknown as { id: string; url: string }),
    ).rejects.toMatchObject({
      code: 'VIGIL_ERR_INVALID_ARGUMENT',
      message: /colour: unknown key/,
    });
    await expect(
      manager.attach({ id: 'x', url: 'test:ball', keyframes: { maxIntervalMs: -1 } }),
    ).rejects.toMatchObject({ code: 'VIGIL_ERR_INVALID_ARGUMENT', message: /maxIntervalMs/ });
    await expect(manager.attach({ id: 'x', url: '/nonexistent/clip.mp4' })).rejects.toMatchObject({
      code: 'VIGIL_ERR_SOURCE_NOT_FOUND',
    });
    await expect(manager.attach({ id: 'x', url: 'ftp://host/a' })).rejects.toMatchObject({
      code: 'VIGIL_ERR_SOURCE_SCHEME',
    });
    expect(() => manager.status('nope')).toThrow(
      expect.objectContaining({ code: 'VIGIL_ERR_STREAM_NOT_FOUND' }),
    );
    await expect(manager.detach('nope')).rejects.toMatchObject({ code: 'VIGIL_ERR_STREAM_NOT_FOUND' });
    // A failing stream takes the third slot; a fourth is over the bound.
    const garbage = join(dir, 'not-a-video.mp4');
    writeFileSync(garbage, 'this is not a video file\n'.repeat(100));
    await manager.attach({ id: 'broken', url: garbage });
    await expect(manager.attach({ id: 'four', url: 'test:ball' })).rejects.toMatchObject({
      code: 'VIGIL_ERR_STREAM_LIMIT',
    });
    expect(manager.list()).toHaveLength(3);
  });

  it('a failing stream ends in state failed with its error while the others keep running', async () => {
    await until(() => manager.status('broken').state === 'failed', 30_000, 'the broken stream to fail');
    const broken = manager.status('broken');
    expect(broken.error?.code).toBe('VIGIL_ERR_SOURCE_DECODE');
    const before = manager.status('ball-b').counters.frames;
    await until(() => manager.status('ball-b').counters.frames > before + 10, 20_000, 'ball-b to keep going');
    expect(manager.status('ball-a').state).toBe('live');
  }, 60_000);

  it('detaches at run time: frames stop, the slot frees, the id can be reused', async () => {
    const final = await manager.detach('ball-a');
    expect(final.state).toBe('stopped');
    const frames = final.counters.frames;
    await new Promise((r) => setTimeout(r, 300));
    expect(() => manager.status('ball-a')).toThrow();
    await manager.detach('broken');
    const again = await manager.attach({ id: 'ball-a', url: 'test:ball' });
    expect(again.runId).not.toBe(final.runId);
    expect(again.counters.frames).toBe(0);
    await until(() => manager.status('ball-a').counters.frames > 5, 20_000, 'the re-attached stream');
    expect(frames).toBeGreaterThan(0);
    expect(updates).toContain('detached');
    // Between its detach and its re-attach, ball-a's winding-down pipeline sends listeners nothing
    // (a live view would otherwise bring the card back); the sink still got its final status.
    const gone = log.findIndex((u) => u.id === 'ball-a' && u.type === 'detached');
    const back = log.findIndex((u, i) => i > gone && u.id === 'ball-a' && u.type === 'attached');
    expect(gone).toBeGreaterThanOrEqual(0);
    expect(back).toBeGreaterThan(gone);
    expect(log.slice(gone + 1, back).filter((u) => u.id === 'ball-a')).toEqual([]);
    expect(statuses).toContainEqual({ id: 'ball-a', state: 'stopped' });
  }, 40_000);

  it('a stream detached while its keyframe is at the model sends listeners nothing more', async () => {
    const real = analyzeWith(createDetector({ client, model: 'yolov8n' }), 'yolov8n');
    let inFlight = 0;
    let detached = false;
    let finishedAfterDetach = 0;
    const slow = createManager({
      analyze: async (kf) => {
        inFlight++;
        try {
          const analysis = await real(kf);
          // A slow model: the detach lands while this keyframe is still being analysed.
          await new Promise((r) => setTimeout(r, 400));
          return analysis;
        } finally {
          inFlight--;
          if (detached) finishedAfterDetach++;
        }
      },
      sink: { summary: async () => undefined, event: async () => undefined },
      maxStreams: 1,
      windowMs: 1000,
      statsIntervalMs: 200,
    });
    const seen: ManagerUpdate['type'][] = [];
    slow.onUpdate((u) => {
      if (u.type !== 'stats') seen.push(u.type);
    });
    try {
      await slow.attach({ id: 'slow', url: 'test:ball', keyframes: { maxIntervalMs: 500 } });
      await until(() => inFlight > 0, 20_000, 'a keyframe at the model');
      await slow.detach('slow');
      detached = true;
      const after = seen.length;
      expect(seen[after - 1]).toBe('detached');
      await until(() => finishedAfterDetach > 0, 10_000, 'the analysis in flight to finish');
      await new Promise((r) => setTimeout(r, 200));
      expect(seen.slice(after)).toEqual([]);
    } finally {
      await slow.close();
    }
  }, 40_000);

  it('close detaches everything, is idempotent, and refuses new attaches', async () => {
    await Promise.all([manager.close(), manager.close()]);
    await manager.close();
    expect(manager.closed).toBe(true);
    expect(manager.list()).toEqual([]);
    await expect(manager.attach({ id: 'late', url: 'test:ball' })).rejects.toMatchObject({
      code: 'VIGIL_ERR_CLOSED',
    });
    expect(statuses.filter((s) => s.state === 'stopped').map((s) => s.id)).toEqual(
      expect.arrayContaining(['ball-a', 'ball-b']),
    );
  });
});
