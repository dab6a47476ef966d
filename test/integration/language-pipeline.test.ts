/**
 * One stream through the runner with the language stages on (stand-in models over real HTTP):
 * captions of selected keyframes are published and reach their window's digest, and the summaries
 * are written by the "model" from that digest with valid citations. Without stages the runner is
 * unchanged (no caption, no model call).
 */
import { from } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Analysis, Caption, Frame, Keyframe, Summary } from '../../src/core/contracts.js';
import { validateLanguageModels } from '../../src/config/language-models.js';
import { createLanguageStages, type LanguageStages } from '../../src/analyzer/language.js';
import { runStreamToEnd } from '../../src/analyzer/stream-runner.js';
import { DATA_BEGIN } from '../../src/stream/lm-summarizer.js';
import { startOpenAIStandIn, type OpenAIStandIn } from '../helpers/standins/openai.js';

const T = 1_700_000_000_000;
const frame = (i: number): Frame => ({
  streamId: 'cam',
  seq: i,
  ptsNs: i * 500e6,
  captureTimeMs: T + i * 500,
  sourceWidth: 16,
  sourceHeight: 16,
  analysis: { width: 8, height: 8, format: 'GRAY8', data: new Uint8Array(64).fill(90) },
  model: { width: 16, height: 16, format: 'RGB', data: new Uint8Array(16 * 16 * 3).fill(120) },
});
const analysis = (kf: Keyframe): Analysis => ({
  keyframeId: kf.id,
  streamId: 'cam',
  ptsNs: kf.frame.ptsNs,
  captureTimeMs: kf.frame.captureTimeMs,
  available: true,
  // A person appears from 4 s on: a new object.
  detections:
    kf.frame.ptsNs >= 4e9
      ? [{ label: 'person', classId: 0, score: 0.9, box: { x: 1, y: 1, w: 4, h: 8 } }]
      : [],
  text: kf.frame.ptsNs >= 4e9 ? ['EXIT'] : [],
  model: { name: 'fake', version: '1' },
  inferenceMs: 1,
});

let http: OpenAIStandIn;
let stages: LanguageStages | null = null;
beforeAll(async () => {
  http = await startOpenAIStandIn({ models: ['vlm', 'llm'] });
});
afterAll(async () => {
  await stages?.close();
  await http?.close();
});

async function run(withStages: boolean) {
  const captions: Caption[] = [];
  const summaries: Summary[] = [];
  const lang = withStages ? stages!.forStream('cam') : {};
  await runStreamToEnd({
    streamId: 'cam',
    frames: from(Array.from({ length: 24 }, (_, i) => frame(i))),
    analyze: (kf) => Promise.resolve(analysis(kf)),
    sink: {
      summary: async (s) => void summaries.push(s),
      event: async () => undefined,
      caption: async (c) => void captions.push(c),
    },
    keyframes: { minIntervalMs: 0, maxIntervalMs: 2000 },
    windowMs: 6000,
    segmentWindows: 2,
    live: false,
    cache: false,
    ...lang,
  });
  return { captions, summaries };
}

describe('language stages in the stream runner', () => {
  it('captions reach the caption sink and the digest; the model writes chained, cited summaries', async () => {
    stages = createLanguageStages(
      validateLanguageModels({
        captioner: { url: http.url, model: 'vlm', perMinute: 100 },
        summarizer: { url: http.url, model: 'llm' },
      }),
    );
    http.reply = (call) => {
      if (call.images.length > 0) return 'A grey empty scene.';
      const ids = [...call.text.matchAll(/"id":"(cam:[^"]+)"/g)].map((m) => m[1]);
      return `The scene stays grey [kf:${ids[0]}] and then a sign appears [kf:cam:bogus].`;
    };
    const { captions, summaries } = await run(true);
    expect(captions.length).toBeGreaterThanOrEqual(2);
    expect(captions.map((c) => c.why)).toContain('shot-start');
    expect(captions.map((c) => c.why)).toContain('new-object');
    expect(captions.every((c) => c.text === 'A grey empty scene.' && c.model === 'vlm')).toBe(true);
    const prompts = http.chats.filter((c) => c.images.length === 0).map((c) => c.text);
    // The digest carried the captions and the OCR text with keyframe ids into the prompt.
    expect(prompts.some((p) => p.includes('"captions":[{"kf":"cam:'))).toBe(true);
    expect(prompts.some((p) => p.includes('"onScreenText":[{"text":"EXIT"'))).toBe(true);
    expect(prompts.every((p) => p.includes(DATA_BEGIN))).toBe(true);
    const windows = summaries.filter((s) => s.level === 'window');
    expect(windows.length).toBeGreaterThanOrEqual(2);
    for (const s of summaries) {
      expect(s.facts['generatedBy']).toBe('model');
      expect(s.text).not.toContain('bogus');
      expect(s.facts['removedCitations']).toBe(1);
      const cited = s.facts['citations'] as string[];
      expect(cited.length).toBe(1);
      expect(s.evidence).toContain(cited[0]);
    }
    expect(summaries.some((s) => s.level === 'segment')).toBe(true);
    expect(windows[1]!.previousId).toBe(windows[0]!.id);
    expect(http.violations).toEqual([]);
  });

  it('without stages: no caption, no model call, structured summaries as before', async () => {
    const before = http.chats.length;
    const { captions, summaries } = await run(false);
    expect(captions).toEqual([]);
    expect(http.chats.length).toBe(before);
    expect(summaries.every((s) => s.facts['generatedBy'] === undefined)).toBe(true);
  });
});
