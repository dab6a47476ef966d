/**
 * Speech events end to end on the real stack: a clip spoken by espeak-ng (1 s of silence, the
 * sentence, silence to 8 s) muxed with a test video by ffmpeg, analysed by the service (the manager,
 * a file stream in fast mode) and by `runAnalysis` (the CLI's session) against a real nats-server and
 * the real inference server serving Silero VAD: speech.started then speech.stopped arrive on NATS
 * with evidence, at the times the speech really starts and stops, valid against their schema.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAnalysis } from '../../src/app/cli-session.js';
import { startService, type Service } from '../../src/app/service.js';
import { parseConfig } from '../../src/config/index.js';
import type { InferenceServer } from '../../src/infer/index.js';
import type { LocalNatsServer } from '../../src/publish/nats-server.js';
import { validateMessage } from '../../src/publish/schemas.js';
import type { VigilEvent } from '../../src/core/contracts.js';
import { collect, type Collected } from '../helpers/collector.js';
import { startAnalyzerDeps, type AnalyzerDeps } from '../helpers/analyzer-deps.js';
import { MODEL_REPO } from '../helpers/paths.js';

const run = promisify(execFile);
const SPEECH_START_S = 1;
const CLIP_S = 8;

/** 8 s: a 320x240 test video; audio: silence, espeak-ng from 1 s, silence to the end (16 kHz PCM). */
async function makeSpokenClip(dir: string): Promise<{ file: string; speechS: number }> {
  const wav = join(dir, 'speech.wav');
  await run('espeak-ng', ['-w', wav, 'The quick brown fox jumps over the lazy dog near the river bank']);
  const probe = await run('ffprobe', [
    '-v',
    'error',
    '-show_entries',
    'format=duration',
    '-of',
    'csv=p=0',
    wav,
  ]);
  const speechS = Number(probe.stdout.trim());
  expect(speechS).toBeGreaterThan(1);
  expect(SPEECH_START_S + speechS).toBeLessThan(CLIP_S - 2);
  const file = join(dir, 'spoken.mkv');
  // execFile: no shell; the filter graph is one argument.
  await run('ffmpeg', [
    ...['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc=size=320x240:rate=10:duration=${CLIP_S}`],
    ...['-i', wav, '-filter_complex', `[1:a]adelay=${SPEECH_START_S * 1000}:all=1,apad,aresample=16000[a]`],
    ...['-map', '0:v', '-map', '[a]', '-t', String(CLIP_S), '-c:v', 'libx264', '-preset', 'ultrafast'],
    ...['-c:a', 'pcm_s16le', file],
  ]);
  return { file, speechS };
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

/** The speech events among collected messages, each checked against the event schema. */
function speechEvents(messages: Collected[]): VigilEvent[] {
  const out: VigilEvent[] = [];
  for (const m of messages) {
    if (!/\.event\.speech\./.test(m.subject)) continue;
    expect(validateMessage('event', m.body)).toBeNull();
    out.push((m.body as { data: VigilEvent }).data);
  }
  return out;
}

function expectSpeechSegment(events: VigilEvent[], streamId: string, speechS: number) {
  expect(events.map((e) => e.type)).toEqual(['speech.started', 'speech.stopped']);
  const [started, stopped] = events as [VigilEvent, VigilEvent];
  for (const e of events) {
    expect(e.streamId).toBe(streamId);
    expect(e.evidence.streamId).toBe(streamId);
    expect(e.evidence.ptsNs).toBe(e.ptsNs);
    expect(e.evidence.timeMs).toBeGreaterThan(0);
  }
  // Within 300 ms of where espeak-ng's voice starts; it stops before the sentence's end plus the silence rule.
  expect(Math.abs(started.ptsNs / 1e9 - SPEECH_START_S)).toBeLessThan(0.3);
  const end = SPEECH_START_S + speechS;
  expect(stopped.ptsNs / 1e9).toBeGreaterThan(end - 1);
  expect(stopped.ptsNs / 1e9).toBeLessThan(end + 0.5);
  const data = stopped.data as { startPtsNs: number; durationMs: number; probability: number };
  expect(data.startPtsNs).toBe(started.ptsNs);
  expect(data.durationMs).toBeGreaterThan((speechS - 1) * 1000);
  expect(data.probability).toBeGreaterThan(0.5);
}

describe('speech events wired end to end (Silero VAD on the audio branch)', () => {
  let deps: AnalyzerDeps<{ file: string; speechS: number }>;
  let clip: { file: string; speechS: number };
  let nats: LocalNatsServer;
  let infer: InferenceServer;

  beforeAll(async () => {
    deps = await startAnalyzerDeps('vigil-wiring-speech-', makeSpokenClip);
    ({ prepared: clip, nats, infer } = deps);
  }, 60_000);

  afterAll(async () => {
    await deps?.close();
  });

  it('the service publishes speech.started then speech.stopped for a file stream with audio', async () => {
    const collector = await collect(nats.url, 'vigil.talk.event.>');
    let service: Service | undefined;
    try {
      const config = parseConfig(
        `
nats: { servers: ${JSON.stringify(nats.url)} }
inference: { address: "127.0.0.1:${infer.port}" }
control: { port: 0, nats: false, requireToken: false }
web: { enabled: false }
streams:
  - { id: talk, url: ${JSON.stringify(clip.file)}, live: false, windowMs: 2000 }
`,
        'test.yaml',
      );
      service = await startService(config, () => undefined);
      const s = service;
      await until(() => ['completed', 'failed'].includes(s.manager.status('talk').state), 30_000);
      const info = s.manager.status('talk');
      expect(info.state).toBe('completed');
      // Every 32 ms window of the 8 s of audio went through the VAD: nothing dropped in fast mode.
      expect(info.counters.vadWindows).toBeGreaterThan(((CLIP_S - 0.5) * 1000) / 32);
      expect(info.counters.vadDropped).toBe(0);
      expect(info.counters.vadFailed).toBe(0);
      await s.publisher.flush();
      await collector.flush();
      await until(() => speechEvents(collector.messages).length >= 2, 5_000);
      expectSpeechSegment(speechEvents(collector.messages), 'talk', clip.speechS);
    } finally {
      await service?.close();
      await collector.close();
    }
  }, 45_000);

  it('runAnalysis (vigil analyze) publishes them too, and none with the VAD turned off', async () => {
    for (const vad of [true, false]) {
      const id = vad ? 'spoken' : 'muted';
      const collector = await collect(nats.url, `vigil.${id}.event.>`);
      try {
        const code = await runAnalysis({
          source: clip.file,
          streamId: id,
          live: false,
          windowMs: 2000,
          nats: { servers: [nats.url] },
          inferAddress: `127.0.0.1:${infer.port}`,
          modelRepository: MODEL_REPO,
          json: true,
          print: () => undefined,
          stopSignal: new Promise<void>(() => undefined),
          vad,
        });
        expect(code).toBe(0);
        await collector.flush();
        if (vad) {
          await until(() => speechEvents(collector.messages).length >= 2, 5_000);
          expectSpeechSegment(speechEvents(collector.messages), id, clip.speechS);
        } else {
          expect(speechEvents(collector.messages)).toEqual([]);
        }
      } finally {
        await collector.close();
      }
    }
  }, 45_000);
});
