/**
 * Regression, issue 22 item 13: "Audio chunks are dropped in fast mode." Clips with audio lost 82-280
 * chunks ("VAD behind") where a file must pause instead. On the real stack: a clip with a tone
 * (ffmpeg), real GStreamer decoding in fast mode, the real inference server serving Silero VAD,
 * the VAD held back a few ms per call as on a loaded machine (the model still runs on every chunk).
 * Every chunk of the file's audio goes through the VAD and none is dropped, both through the
 * manager (`vigil run`, a file stream) and through `vigil analyze` (the same manager, one-shot).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeWith } from '../../src/analyzer/analyze.js';
import { createManager, type Manager, type ManagerSink } from '../../src/analyzer/manager.js';
import { vadProvider, type VadProvider } from '../../src/analyzer/speech.js';
import { createDetector, InferenceClient, type Vad } from '../../src/infer/index.js';
import { startAnalyzerDeps, type AnalyzerDeps } from '../helpers/analyzer-deps.js';

const run = promisify(execFile);
const CLIP_S = 20;
/** How long each VAD call is held back: the VAD then runs several times slower than the file decodes. */
const VAD_DELAY_MS = 8;

/** 20 s: a 320x240 test video at 25 fps, a 440 Hz tone at 48 kHz (AAC in MP4, as cameras and phones write). */
async function makeClip(dir: string): Promise<string> {
  const file = join(dir, 'tone.mp4');
  await run('ffmpeg', [
    ...['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc=size=320x240:rate=25:duration=${CLIP_S}`],
    ...['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${CLIP_S}`],
    ...['-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac', '-shortest', file],
  ]);
  return file;
}

/** The real VAD, each call held back by `delayMs` (a loaded machine). */
function slowVad(inner: VadProvider, delayMs: number): VadProvider {
  return {
    model: inner.model,
    ...(inner.health ? { health: inner.health } : {}),
    ready: () => inner.ready(),
    create: () => {
      const vad = inner.create();
      const slow: Vad = {
        process: async (pcm) => {
          await new Promise((r) => setTimeout(r, delayMs));
          return vad.process(pcm);
        },
        flush: () => vad.flush(),
        reset: () => vad.reset(),
      };
      return slow;
    },
  };
}

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('issue 22 item 13: audio chunks are not dropped in fast mode (files pause while the VAD is behind)', () => {
  let deps: AnalyzerDeps<string>;
  let client: InferenceClient;
  let manager: Manager;

  beforeAll(async () => {
    deps = await startAnalyzerDeps('vigil-fast-audio-', makeClip);
    client = new InferenceClient({ addresses: [`127.0.0.1:${deps.infer.port}`] });
    const sink: ManagerSink = { summary: async () => undefined, event: async () => undefined };
    manager = createManager({
      analyze: analyzeWith(createDetector({ client, model: 'yolov8n' }), 'yolov8n', { health: client }),
      sink,
      vad: slowVad(vadProvider(client), VAD_DELAY_MS),
      windowMs: 5000,
    });
  }, 60_000);

  afterAll(async () => {
    await manager?.close();
    client?.close();
    await deps?.close();
  });

  for (const oneShot of [false, true]) {
    it(`a file in fast mode${oneShot ? ' (one-shot, as vigil analyze)' : ''}: every chunk through the VAD, none dropped`, async () => {
      const id = oneShot ? 'tone-once' : 'tone';
      await manager.attach({ id, url: deps.prepared, live: false, ...(oneShot ? { oneShot } : {}) });
      await until(() => ['completed', 'failed'].includes(manager.status(id).state), 90_000, `${id} to end`);
      const info = manager.status(id);
      expect(info.state, JSON.stringify(info.error)).toBe('completed');
      expect(info.counters.vadDropped).toBe(0);
      expect(info.counters.vadSkipped).toBe(0);
      expect(info.counters.vadFailed).toBe(0);
      // 32 ms chunks of 20 s of audio: all of them reached the VAD (a few at the very end may be cut).
      expect(info.counters.audioChunks).toBeGreaterThan(((CLIP_S - 0.5) * 1000) / 32);
      expect(info.counters.vadWindows).toBeGreaterThan(((CLIP_S - 0.5) * 1000) / 32);
      expect(info.counters.frames).toBeGreaterThan(CLIP_S * 25 - 5);
      await manager.detach(id);
    }, 100_000);
  }
});
