/**
 * The default text and audio models end to end through the real server: PaddleOCR reads text
 * rendered into an image by GStreamer's textoverlay, and Silero VAD finds speech in a clip spoken
 * by espeak-ng (resampled to 16 kHz mono by GStreamer) and none in silence.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeWith } from '../../src/analyzer/analyze.js';
import type { Image } from '../../src/core/contracts.js';
import { InferenceClient } from '../../src/infer/client.js';
import { createOcr, loadOcrDictionary } from '../../src/infer/ocr.js';
import { startInferenceServer, type InferenceServer } from '../../src/infer/server.js';
import { createVad, type VadSegment } from '../../src/infer/vad.js';
import { prepareModelRepo } from '../helpers/model-repo.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const raw = (f: string) => join(root, 'models/raw', f);
const haveModels = ['ppocr_det.onnx', 'ppocr_rec.onnx', 'ppocr_keys_v1.txt', 'silero_vad.onnx'].every((f) =>
  existsSync(raw(f)),
);

/** Renders `text` (black on white) into a 640x360 RGB frame with GStreamer's textoverlay. */
async function renderText(text: string, dir: string, valign: 'top' | 'center' | 'bottom'): Promise<Image> {
  const out = join(dir, `text-${valign}.rgb`);
  await run('gst-launch-1.0', [
    '-q',
    'videotestsrc',
    'num-buffers=1',
    'pattern=white',
    '!',
    'video/x-raw,width=640,height=360',
    '!',
    'textoverlay',
    `text=${text}`,
    'font-desc=Sans Bold 36',
    `valignment=${valign}`,
    'halignment=center',
    'color=0xff000000',
    'draw-shadow=false',
    'draw-outline=false',
    '!',
    'videoconvert',
    '!',
    'video/x-raw,format=RGB',
    '!',
    'filesink',
    `location=${out}`,
  ]);
  const data = new Uint8Array(readFileSync(out));
  expect(data.length).toBe(640 * 360 * 3);
  return { width: 640, height: 360, format: 'RGB', data };
}

/** Speaks `text` with espeak-ng and converts it to 16 kHz mono S16LE with GStreamer. */
async function speak(text: string, dir: string): Promise<Int16Array> {
  const wav = join(dir, 'speech.wav');
  const pcm = join(dir, 'speech.pcm');
  await run('espeak-ng', ['-w', wav, text]);
  await run('gst-launch-1.0', [
    '-q',
    'filesrc',
    `location=${wav}`,
    '!',
    'wavparse',
    '!',
    'audioconvert',
    '!',
    'audioresample',
    '!',
    'audio/x-raw,format=S16LE,rate=16000,channels=1',
    '!',
    'filesink',
    `location=${pcm}`,
  ]);
  const b = readFileSync(pcm);
  return new Int16Array(b.buffer, b.byteOffset, b.byteLength / 2);
}

const hasEspeak = existsSync('/usr/bin/espeak-ng');

describe.skipIf(!haveModels)('default text and audio models through the server', () => {
  let dir: string;
  let server: InferenceServer;
  let client: InferenceClient;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-infer-models-'));
    const repo = join(dir, 'repo');
    await prepareModelRepo(repo, 'ppocr_det,ppocr_rec,silero_vad');
    server = await startInferenceServer({
      modelRepository: repo,
      port: 0,
      logger: { info: () => undefined, warn: () => undefined },
      intraOpNumThreads: 2,
    });
    client = new InferenceClient({ addresses: [`127.0.0.1:${server.port}`], deadlineMs: 60_000 });
  });

  afterAll(async () => {
    client?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('OCR reads text rendered into an image, line by line, and nothing in a blank one', async () => {
    const ocr = createOcr({ client, dictionary: loadOcrDictionary(raw('ppocr_keys_v1.txt')) });
    const image = await renderText('GOAL 2-1 AT 87', dir, 'center');
    const r = await ocr.recognize(image);
    expect(r.lines.map((l) => l.text)).toEqual(['GOAL 2-1 AT 87']);
    const box = r.lines[0]!.box;
    // The box is where textoverlay put it: centred, inside the frame.
    expect(box.x + box.w / 2).toBeGreaterThan(280);
    expect(box.x + box.w / 2).toBeLessThan(360);
    expect(box.y + box.h / 2).toBeGreaterThan(150);
    expect(box.y + box.h / 2).toBeLessThan(210);
    const blank: Image = {
      width: 320,
      height: 192,
      format: 'RGB',
      data: new Uint8Array(320 * 192 * 3).fill(255),
    };
    expect((await ocr.recognize(blank)).lines).toEqual([]);
    // Through the analyzer: the keyframe's text lands in Analysis.text.
    const detector = {
      detect: () =>
        Promise.resolve({ detections: [], model: { name: 'none', version: '1' }, inferenceMs: 0 }),
    };
    const analyze = analyzeWith(detector, 'none', { ocr });
    const caption = await renderText('EXIT 12', dir, 'bottom');
    const a = await analyze({
      id: 's:1',
      frame: {
        streamId: 's',
        seq: 1,
        ptsNs: 0,
        captureTimeMs: 0,
        sourceWidth: 640,
        sourceHeight: 360,
        analysis: { width: 1, height: 1, format: 'GRAY8', data: new Uint8Array(1) },
        model: caption,
      },
      reason: 'first',
      motionScore: 0,
      sceneScore: 0,
      sincePreviousMs: Infinity,
    });
    expect(a.available).toBe(true);
    expect(a.text).toEqual(['EXIT 12']);
  });

  it.skipIf(!hasEspeak)('VAD finds speech in a spoken clip and none in silence', async () => {
    const speech = await speak('Attention please. The north gate is now closed.', dir);
    const lead = 16000; // one second of silence before the speech
    const clip = new Int16Array(lead + speech.length + 16000);
    clip.set(speech, lead);
    const vad = createVad({ client });
    const segments: VadSegment[] = [];
    // Fed in 100 ms chunks, as the audio branch delivers them.
    for (let i = 0; i < clip.length; i += 1600)
      segments.push(...(await vad.process(clip.subarray(i, i + 1600))).ended);
    segments.push(...vad.flush());
    expect(segments.length).toBeGreaterThanOrEqual(1);
    const speechMs = (speech.length / 16000) * 1000;
    expect(segments[0]!.startMs).toBeGreaterThan(800);
    expect(segments[0]!.startMs).toBeLessThan(1000 + speechMs / 2);
    expect(segments[segments.length - 1]!.endMs!).toBeLessThan(1000 + speechMs + 500);
    const covered = segments.reduce((n, s) => n + (s.endMs! - s.startMs), 0);
    expect(covered).toBeGreaterThan(speechMs * 0.5);

    vad.reset();
    const quiet = await vad.process(new Float32Array(16000 * 2));
    expect(quiet.windows).toHaveLength(62);
    expect(quiet.ended).toEqual([]);
    expect(quiet.active).toBeNull();
    expect(vad.flush()).toEqual([]);
    expect(Math.max(...quiet.windows.map((w) => w.probability))).toBeLessThan(0.2);
  });
});
