/**
 * The language stages as a user switches them on, on the real stack (nats-server, the inference
 * server with Silero VAD, GStreamer, Chromium) with an OpenAI-compatible stand-in for the models:
 *
 * - `vigil analyze --asr URL --asr-model M` (runAnalysis with the flags' config) on a clip spoken
 *   by espeak-ng at 2.0 s and 7.5 s: two transcripts whose start and end match the speech within
 *   0.5 s, in report.json, on NATS (schema-valid) and in the printed lines; the stand-in got a
 *   multipart WAV per speech segment;
 * - `vigil run` with a YAML stream naming its own captioner over the service's summarizer, and a
 *   stream attached over HTTP with another captioner and the summarizer turned off: each stream's
 *   captions come from its own model, summaries from the model only where it is on, the call
 *   metrics per model on /metrics, a stream naming an API-key variable it may not is refused;
 * - the live web view shows the captions and transcripts, live and in a new page's snapshot.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BrowserContext } from 'playwright-core';
import { launchChromium, type TestBrowser } from '../helpers/chromium.js';
import { writeFileSync } from 'node:fs';
import { runAnalysis } from '../../src/app/cli-session.js';
import { startService, type Service } from '../../src/app/service.js';
import { parseConfig } from '../../src/config/index.js';
import { languageModelsFromFlags } from '../../src/config/language-models.js';
import type { Caption, Summary, Transcript } from '../../src/core/contracts.js';
import { validateMessage } from '../../src/publish/schemas.js';
import type { ModelCallTotals } from '../../src/observability/metrics.js';
import { collect } from '../helpers/collector.js';
import { startAnalyzerDeps, type AnalyzerDeps } from '../helpers/analyzer-deps.js';
import { MODEL_REPO } from '../helpers/paths.js';
import { runCli } from '../helpers/run-cli.js';
import { startOpenAIStandIn, type OpenAIStandIn } from '../helpers/standins/openai.js';

const run = promisify(execFile);
const TOKEN = 'lang-token-12345';
const CLIP_S = 11;
const SPEECH = [
  { atS: 2.0, text: 'Hello, the loading dock door is open.' },
  { atS: 7.5, text: 'Please close it now.' },
];

/** First and last sample louder than 1/30 of full scale in a 16-bit mono WAV, seconds. */
function voicedSpan(wav: Buffer): { startS: number; endS: number } {
  const rate = wav.readUInt32LE(24);
  let off = 12;
  while (wav.toString('latin1', off, off + 4) !== 'data') off += 8 + wav.readUInt32LE(off + 4);
  const data = wav.subarray(off + 8, off + 8 + wav.readUInt32LE(off + 4));
  let first = -1;
  let last = -1;
  for (let i = 0; i + 1 < data.length; i += 2) {
    if (Math.abs(data.readInt16LE(i)) > 32768 / 30) {
      if (first < 0) first = i / 2;
      last = i / 2;
    }
  }
  expect(first).toBeGreaterThanOrEqual(0);
  return { startS: first / rate, endS: last / rate };
}

interface Clip {
  file: string;
  /** Where the voice really is in the clip, seconds (from the spoken WAVs' samples). */
  speech: { startS: number; endS: number }[];
}

/** 11 s of test video; audio: espeak-ng's two sentences at 2.0 s and 7.5 s, silence elsewhere. */
async function makeClip(dir: string): Promise<Clip> {
  const speech: Clip['speech'] = [];
  const inputs: string[] = [];
  for (const [i, s] of SPEECH.entries()) {
    const wav = join(dir, `speech${i}.wav`);
    await run('espeak-ng', ['-w', wav, s.text]);
    const span = voicedSpan(readFileSync(wav));
    speech.push({ startS: s.atS + span.startS, endS: s.atS + span.endS });
    inputs.push('-i', wav);
  }
  expect(speech[0]!.endS).toBeLessThan(SPEECH[1]!.atS - 1);
  expect(speech[1]!.endS).toBeLessThan(CLIP_S - 1);
  const file = join(dir, 'spoken.mkv');
  // execFile: no shell; the filter graph is one argument.
  await run('ffmpeg', [
    ...['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc=size=320x240:rate=10:duration=${CLIP_S}`],
    ...inputs,
    '-filter_complex',
    `[1:a]adelay=${SPEECH[0]!.atS * 1000}:all=1[a1];[2:a]adelay=${SPEECH[1]!.atS * 1000}:all=1[a2];` +
      `[a1][a2]amix=inputs=2:duration=longest:normalize=0,apad,aresample=16000[a]`,
    ...['-map', '0:v', '-map', '[a]', '-t', String(CLIP_S), '-c:v', 'libx264', '-preset', 'ultrafast'],
    ...['-c:a', 'pcm_s16le', file],
  ]);
  return { file, speech };
}

async function until(cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

let deps: AnalyzerDeps<Clip>;
let http: OpenAIStandIn;

beforeAll(async () => {
  deps = await startAnalyzerDeps('vigil-lang-service-', makeClip);
  http = await startOpenAIStandIn({ models: ['vlm-a', 'vlm-b', 'llm', 'whisper-1'] });
  http.reply = (call) => {
    if (call.images.length > 0) return `A test pattern, seen by ${call.body.model}.`;
    const id = /"id":"([^"]+)"/.exec(call.text)?.[1];
    return `A test pattern stays in view [kf:${id ?? 'none'}].`;
  };
  http.transcript = (call) => `segment of ${(call.samples / call.sampleRate).toFixed(2)} s`;
}, 60_000);

afterAll(async () => {
  await http?.close();
  await deps?.close();
});

describe('speech to text through vigil analyze', () => {
  it('transcripts of speech at 2.0 s and 7.5 s match it within 0.5 s: report, NATS, printed lines', async () => {
    const { nats, infer, prepared: clip, dir } = deps;
    const collector = await collect(nats.url, 'vigil.spoken.transcript');
    const lines: string[] = [];
    const logs: string[] = [];
    const reportDir = join(dir, 'report');
    const before = http.transcriptions.length;
    try {
      const code = await runAnalysis({
        source: clip.file,
        streamId: 'spoken',
        live: false,
        windowMs: 2000,
        nats: { servers: [nats.url] },
        inferAddress: `127.0.0.1:${infer.port}`,
        modelRepository: MODEL_REPO,
        json: false,
        print: (l) => lines.push(l),
        log: (l) => logs.push(l),
        stopSignal: new Promise<void>(() => undefined),
        reportDir,
        // What `--asr URL --asr-model whisper-1` gives.
        language: languageModelsFromFlags({ asr: http.url, asrModel: 'whisper-1' }),
      });
      expect(code).toBe(0);
      const report = JSON.parse(readFileSync(join(reportDir, 'report.json'), 'utf8')) as {
        transcripts?: Transcript[];
        models?: ModelCallTotals[];
      };
      // The session's model calls: in the report and on the closing lines.
      expect(report.models).toEqual([
        expect.objectContaining({ role: 'asr', model: 'whisper-1', calls: { ok: 2 }, answered: 2 }),
      ]);
      expect(logs).toContainEqual(
        expect.stringMatching(/^vigil: model asr whisper-1: 2 calls \(2 ok\), \d+ ms mean$/),
      );
      const transcripts = report.transcripts ?? [];
      expect(transcripts).toHaveLength(2);
      for (const [i, t] of transcripts.entries()) {
        const truth = clip.speech[i]!;
        expect(Math.abs(t.startPtsNs / 1e9 - truth.startS), `start of ${i}`).toBeLessThan(0.5);
        expect(Math.abs(t.endPtsNs / 1e9 - truth.endS), `end of ${i}`).toBeLessThan(0.5);
        expect(t.model).toBe('whisper-1');
        expect(t.text).toMatch(/^segment of \d+\.\d\d s$/);
      }
      // One multipart call per segment, a 16 kHz mono WAV of about the segment's length (plus padding).
      const calls = http.transcriptions.slice(before);
      expect(calls).toHaveLength(2);
      for (const [i, c] of calls.entries()) {
        expect(c.model).toBe('whisper-1');
        expect(c.sampleRate).toBe(16000);
        expect(c.channels).toBe(1);
        const t = transcripts[i]!;
        const segS = (t.endPtsNs - t.startPtsNs) / 1e9;
        expect(c.samples / c.sampleRate).toBeGreaterThanOrEqual(segS);
        expect(c.samples / c.sampleRate).toBeLessThan(segS + 1);
      }
      expect(http.violations).toEqual([]);
      // On NATS, valid against the transcript schema; printed as lines by the CLI.
      await collector.flush();
      await until(() => collector.messages.length >= 2, 5000);
      expect(collector.messages).toHaveLength(2);
      for (const m of collector.messages) expect(validateMessage('transcript', m.body)).toBeNull();
      expect(lines.filter((l) => l.startsWith('[transcript '))).toHaveLength(2);
      expect(readFileSync(join(reportDir, 'report.md'), 'utf8')).toContain('segment of');
    } finally {
      await collector.close();
    }
  }, 90_000);
});

describe('per-stream language models in the service (vigil run)', () => {
  let service: Service | undefined;
  let browser: BrowserContext | undefined;
  let chrome: TestBrowser | undefined;

  afterAll(async () => {
    await chrome?.close();
    await service?.close();
  });

  it('a YAML stream and an attached stream each use their own models over the service default; metrics per model', async () => {
    const { nats, infer, prepared: clip } = deps;
    const collector = await collect(nats.url, 'vigil.*.>');
    try {
      const config = parseConfig(
        `
nats: { servers: ${JSON.stringify(nats.url)} }
inference:
  address: "127.0.0.1:${infer.port}"
  summarizer: { url: ${JSON.stringify(http.url)}, model: llm }
control: { port: 0, nats: false }
web: { enabled: true }
streams:
  - id: yard
    url: ${JSON.stringify(clip.file)}
    live: false
    windowMs: 4000
    audio: { vad: false }
    inference: { captioner: { url: ${JSON.stringify(http.url)}, model: vlm-a, perMinute: 600 } }
`,
        'test.yaml',
        { VIGIL_CONTROL_TOKEN: TOKEN },
      );
      service = await startService(config, () => undefined);
      const s = service;
      const post = (body: unknown) =>
        fetch(`${s.controlUrl}/v1/streams`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      // A stream may not send an arbitrary variable of the process to a server of its choice.
      const refused = await post({
        id: 'leak',
        url: clip.file,
        inference: { captioner: { url: http.url, model: 'vlm-b', apiKeyEnv: 'HOME' } },
      });
      expect(refused.status).toBe(400);
      expect(await refused.text()).toMatch(/inference\.captioner\.apiKeyEnv/);
      const bad = await post({ id: 'bad', url: clip.file, inference: { captioner: { url: http.url } } });
      expect(bad.status).toBe(400);
      expect(await bad.text()).toMatch(/inference\.captioner.*model/);

      const res = await post({
        id: 'dock',
        url: clip.file,
        live: false,
        windowMs: 4000,
        audio: { vad: false },
        inference: { captioner: { url: http.url, model: 'vlm-b', perMinute: 600 }, summarizer: false },
      });
      expect(res.status).toBe(201);
      await until(
        () => ['yard', 'dock'].every((id) => ['completed', 'failed'].includes(s.manager.status(id).state)),
        60_000,
      );
      expect(s.manager.status('yard').state).toBe('completed');
      expect(s.manager.status('dock').state).toBe('completed');
      await s.publisher.flush();
      await collector.flush();
      const data = <T>(pattern: RegExp) =>
        collector.messages.filter((m) => pattern.test(m.subject)).map((m) => (m.body as { data: T }).data);
      for (const [id, model] of [
        ['yard', 'vlm-a'],
        ['dock', 'vlm-b'],
      ] as const) {
        const captions = data<Caption>(new RegExp(`^vigil\\.${id}\\.caption$`));
        expect(captions.length, id).toBeGreaterThan(0);
        expect(captions.every((c) => c.model === model && c.text.includes(model))).toBe(true);
      }
      // The service's summarizer writes yard's summaries; dock turned it off: structured ones.
      const yard = data<Summary>(/^vigil\.yard\.summary\./);
      const dock = data<Summary>(/^vigil\.dock\.summary\./);
      expect(yard.length).toBeGreaterThan(0);
      expect(yard.every((x) => x.facts['generatedBy'] === 'model')).toBe(true);
      expect(dock.length).toBeGreaterThan(0);
      expect(dock.every((x) => x.facts['generatedBy'] === undefined)).toBe(true);
      expect(http.violations).toEqual([]);

      const metrics = await (
        await fetch(`${s.controlUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
      ).text();
      for (const model of ['vlm-a', 'vlm-b'])
        expect(metrics).toMatch(
          new RegExp(`vigil_model_calls_total\\{role="captioner",model="${model}",outcome="ok"\\} [1-9]`),
        );
      expect(metrics).toMatch(/vigil_model_calls_total\{role="summarizer",model="llm",outcome="ok"\} [1-9]/);
      expect(metrics).toMatch(/vigil_model_latency_seconds_count\{role="captioner",model="vlm-b"\} [1-9]/);
    } finally {
      await collector.close();
    }
  }, 120_000);

  it('models that are down: the stream still completes, with structured summaries marked as the fallback', async () => {
    const s = service!;
    const { nats, prepared: clip } = deps;
    const collector = await collect(nats.url, 'vigil.dead.>');
    try {
      // Port 9 on loopback: nothing listens, every call is refused.
      const down = 'http://127.0.0.1:9/v1';
      const res = await fetch(`${s.controlUrl}/v1/streams`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          id: 'dead',
          url: clip.file,
          live: false,
          windowMs: 4000,
          inference: {
            captioner: { url: down, model: 'dead-vlm' },
            summarizer: { url: down, model: 'dead-llm' },
            asr: { url: down, model: 'dead-asr' },
          },
        }),
      });
      expect(res.status).toBe(201);
      await until(() => ['completed', 'failed'].includes(s.manager.status('dead').state), 60_000);
      expect(s.manager.status('dead').state).toBe('completed');
      await s.publisher.flush();
      await collector.flush();
      const summaries = collector.messages
        .filter((m) => /\.summary\./.test(m.subject))
        .map((m) => (m.body as { data: Summary }).data);
      expect(summaries.length).toBeGreaterThan(0);
      expect(summaries.every((x) => x.facts['generatedBy'] === 'structured-fallback')).toBe(true);
      expect(collector.messages.filter((m) => /\.(caption|transcript)$/.test(m.subject))).toEqual([]);
      const metrics = await (
        await fetch(`${s.controlUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
      ).text();
      for (const [role, model] of [
        ['captioner', 'dead-vlm'],
        ['summarizer', 'dead-llm'],
        ['asr', 'dead-asr'],
      ])
        expect(metrics).toMatch(
          new RegExp(`vigil_model_calls_total\\{role="${role}",model="${model}",outcome="error"\\} [1-9]`),
        );
      await fetch(`${s.controlUrl}/v1/streams/dead`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${TOKEN}` },
      });
    } finally {
      await collector.close();
    }
  }, 90_000);

  it('the live web view shows captions and transcripts, live and in a new page’s snapshot', async () => {
    const s = service!;
    const { prepared: clip } = deps;
    chrome = await launchChromium();
    browser = chrome.context;
    const page = await browser.newPage();
    await page.goto(`${s.controlUrl}/?token=${TOKEN}`);
    await page.waitForSelector('#conn.up', { timeout: 10_000 });
    // A caption whose text is markup must show as text.
    http.reply = (call) =>
      call.images.length > 0 ? '<b id="injected">A test pattern</b>' : 'A test pattern [kf:none].';
    const res = await fetch(`${s.controlUrl}/v1/streams`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'talk',
        url: clip.file,
        live: false,
        windowMs: 4000,
        inference: {
          captioner: { url: http.url, model: 'vlm-a', perMinute: 600 },
          asr: { url: http.url, model: 'whisper-1' },
        },
      }),
    });
    expect(res.status).toBe(201);
    const card = page.locator('[data-stream="talk"]');
    await card
      .locator('.language .caption')
      .filter({ hasText: 'A test pattern' })
      .waitFor({ timeout: 30_000 });
    await page.waitForSelector('[data-stream="talk"] .language li.transcript >> nth=1', { timeout: 30_000 });
    expect(await card.locator('.language .caption').textContent()).toMatch(
      /^\[\d\d:\d\d\] <b id="injected">A test pattern<\/b>$/,
    );
    expect(await page.locator('#injected').count()).toBe(0);
    const live = await card.locator('.language li.transcript').allTextContents();
    expect(live).toHaveLength(2);
    // Newest first; each with its stream times.
    expect(live[0]).toMatch(/^7\.\d s–\d+\.\d s“segment of /);
    expect(live[1]).toMatch(/^[12]\.\d s–\d\.\d s“segment of /);
    // A new page gets them in its snapshot.
    const again = await browser.newPage();
    await again.goto(`${s.controlUrl}/?token=${TOKEN}`);
    await again.waitForSelector('[data-stream="talk"] .language li.transcript >> nth=1', { timeout: 10_000 });
    expect(await again.locator('[data-stream="talk"] .language .caption').textContent()).toContain(
      'A test pattern',
    );
  }, 90_000);
});

describe('vigil run --captioner URL --captioner-model M (the built binary)', () => {
  it("the flags switch the captioner on over the file's inference section; a model without a URL is a usage error", async () => {
    const { nats, infer, prepared: clip, dir } = deps;
    const file = join(dir, 'run.yaml');
    writeFileSync(
      file,
      `
nats: { servers: ${JSON.stringify(nats.url)} }
inference: { address: "127.0.0.1:${infer.port}" }
control: { port: 0, nats: false }
web: { enabled: false }
streams:
  - { id: cli, url: ${JSON.stringify(clip.file)}, live: false, windowMs: 4000, audio: { vad: false } }
`,
    );
    const before = http.chats.length;
    const { child, result } = runCli(
      ['run', '--config', file, '--captioner', http.url, '--captioner-model', 'vlm-b'],
      { timeoutMs: 60_000 },
    );
    await until(
      () => http.chats.slice(before).some((c) => c.body.model === 'vlm-b' && c.images.length > 0),
      45_000,
    );
    child.kill('SIGTERM');
    const r = await result;
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`vigil: captioner: vlm-b at ${http.url}`);
    expect(http.chats.slice(before).some((c) => c.body.model === 'vlm-b')).toBe(true);

    const usage = await runCli(['run', '--config', file, '--summarizer-model', 'llm'], { timeoutMs: 30_000 })
      .result;
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--summarizer-model needs --summarizer URL/);
  }, 90_000);
});
