/**
 * On-screen text end to end on the real stack: a clip with large text rendered by GStreamer's
 * textoverlay, analysed with OCR on (PaddleOCR det + rec on the real inference server) through
 * `runAnalysis` (`vigil analyze --ocr`) and through the service (`inference.ocr: true`): a
 * `text.appeared` event with the text arrives on NATS, valid against its schema, and the window
 * summary quotes it. With OCR off (the default) neither happens.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAnalysis } from '../../src/app/cli-session.js';
import { startService, type Service } from '../../src/app/service.js';
import { parseConfig } from '../../src/config/index.js';
import type { Summary, VigilEvent } from '../../src/core/contracts.js';
import type { InferenceServer } from '../../src/infer/index.js';
import type { LocalNatsServer } from '../../src/publish/nats-server.js';
import { validateMessage } from '../../src/publish/schemas.js';
import { collect, type Collected } from '../helpers/collector.js';
import { startAnalyzerDeps, type AnalyzerDeps } from '../helpers/analyzer-deps.js';
import { MODEL_REPO } from '../helpers/paths.js';

const run = promisify(execFile);
const TEXT = 'EXIT 12';

/** 3 s of black 640x360 video with TEXT in large white letters, H.264 in Matroska. */
async function makeTextClip(dir: string): Promise<string> {
  const file = join(dir, 'sign.mkv');
  await run('gst-launch-1.0', [
    ...['-q', 'videotestsrc', 'pattern=black', 'num-buffers=30', '!'],
    ...['video/x-raw,width=640,height=360,framerate=10/1', '!'],
    ...['textoverlay', `text=${TEXT}`, 'font-desc=Sans 48', 'valignment=center', 'halignment=center', '!'],
    ...['videoconvert', '!', 'x264enc', 'speed-preset=ultrafast', '!', 'matroskamux', '!'],
    ...['filesink', `location=${file}`],
  ]);
  return file;
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

function bodies<T>(messages: Collected[], kind: 'event' | 'summary', match: RegExp): T[] {
  return messages
    .filter((m) => match.test(m.subject))
    .map((m) => {
      expect(validateMessage(kind, m.body)).toBeNull();
      return (m.body as { data: T }).data;
    });
}

function expectText(messages: Collected[], streamId: string) {
  const events = bodies<VigilEvent>(messages, 'event', /\.event\.text\.appeared$/);
  expect(events.length).toBeGreaterThanOrEqual(1);
  const e = events[0]!;
  expect(e.streamId).toBe(streamId);
  expect(JSON.stringify(e.data)).toContain(TEXT);
  expect(e.evidence.keyframeId).toMatch(new RegExp(`^${streamId}:`));
  const windows = bodies<Summary>(messages, 'summary', /\.summary\.window$/);
  expect(windows.length).toBeGreaterThanOrEqual(1);
  expect(windows[0]!.text).toContain(TEXT);
}

describe('OCR wired end to end (text.appeared, summary text)', () => {
  let deps: AnalyzerDeps<string>;
  let clip: string;
  let nats: LocalNatsServer;
  let infer: InferenceServer;

  beforeAll(async () => {
    deps = await startAnalyzerDeps('vigil-wiring-ocr-', makeTextClip);
    ({ prepared: clip, nats, infer } = deps);
  }, 60_000);

  afterAll(async () => {
    await deps?.close();
  });

  it('runAnalysis with ocr reads the sign; without it (the default) no text appears', async () => {
    for (const ocr of [true, false]) {
      const id = ocr ? 'sign' : 'plain';
      const collector = await collect(nats.url, `vigil.${id}.>`);
      try {
        const code = await runAnalysis({
          source: clip,
          streamId: id,
          live: false,
          windowMs: 1000,
          nats: { servers: [nats.url] },
          inferAddress: `127.0.0.1:${infer.port}`,
          modelRepository: MODEL_REPO,
          json: true,
          print: () => undefined,
          stopSignal: new Promise<void>(() => undefined),
          ...(ocr ? { ocr } : {}),
        });
        expect(code).toBe(0);
        await collector.flush();
        if (ocr) {
          await until(() => collector.messages.some((m) => m.subject.endsWith('text.appeared')), 5_000);
          expectText(collector.messages, id);
        } else {
          await until(() => collector.messages.some((m) => m.subject.endsWith('summary.window')), 5_000);
          expect(collector.messages.some((m) => m.subject.endsWith('text.appeared'))).toBe(false);
          expect(JSON.stringify(collector.messages)).not.toContain(TEXT);
        }
      } finally {
        await collector.close();
      }
    }
  }, 45_000);

  it('the service with inference.ocr: true publishes text.appeared and a summary quoting it', async () => {
    const collector = await collect(nats.url, 'vigil.door.>');
    let service: Service | undefined;
    try {
      const config = parseConfig(
        `
nats: { servers: ${JSON.stringify(nats.url)} }
inference: { address: "127.0.0.1:${infer.port}", ocr: true, modelRepository: ${JSON.stringify(MODEL_REPO)} }
control: { port: 0, nats: false, requireToken: false }
web: { enabled: false }
streams:
  - { id: door, url: ${JSON.stringify(clip)}, live: false, windowMs: 1000, audio: { vad: false } }
`,
        'test.yaml',
      );
      expect(config.inference.ocr).toBe(true);
      service = await startService(config, () => undefined);
      const s = service;
      await until(() => ['completed', 'failed'].includes(s.manager.status('door').state), 30_000);
      expect(s.manager.status('door').state).toBe('completed');
      await s.publisher.flush();
      await collector.flush();
      await until(() => collector.messages.some((m) => m.subject.endsWith('text.appeared')), 5_000);
      expectText(collector.messages, 'door');
    } finally {
      await service?.close();
      await collector.close();
    }
  }, 45_000);
});
