import { describe, expect, it } from 'vitest';
import {
  languageModelsFromFlags,
  mergeLanguageModels,
  resolveApiKey,
  validateLanguageModels,
} from '../../src/config/language-models.js';
import { ConfigError } from '../../src/core/errors.js';
import { isRefusal } from '../../src/core/refusal.js';
import { ModelGate } from '../../src/infer/model-call.js';
import { parseRules } from '../../src/stream/rules.js';

describe('language model config', () => {
  it('nothing configured is no stage at all', () => {
    expect(validateLanguageModels(undefined)).toEqual({});
    expect(validateLanguageModels({})).toEqual({});
  });

  it('fills defaults per role and infers the kind from url or address', () => {
    const c = validateLanguageModels({
      captioner: { url: 'http://127.0.0.1:8000/v1', model: 'Qwen/Qwen2.5-VL-7B-Instruct' },
      summarizer: { address: '127.0.0.1:8001', model: 'llm', perMinute: 10 },
      asr: { url: 'http://127.0.0.1:9000/v1', model: 'whisper-1', language: 'en' },
    });
    expect(c.captioner).toMatchObject({
      kind: 'openai',
      timeoutMs: 15000,
      maxTokens: 96,
      maxInFlight: 2,
      perMinute: 12,
    });
    expect(c.summarizer).toMatchObject({ kind: 'kserve', address: '127.0.0.1:8001', perMinute: 10 });
    expect(c.asr).toMatchObject({ kind: 'openai', language: 'en', paddingMs: 200, maxSegmentMs: 30000 });
  });

  it('bad values are typed config errors naming the key', () => {
    const bad: [unknown, RegExp][] = [
      [{ captioner: { model: 'm' } }, /inference\.captioner: give exactly one of url/],
      [{ captioner: { url: 'http://h/v1', address: 'h:1', model: 'm' } }, /exactly one/],
      [{ captioner: { url: 'http://h/v1' } }, /inference\.captioner\.model is required/],
      [{ captioner: { url: 'ftp://h/v1', model: 'm' } }, /inference\.captioner\.url must be http/],
      [{ captioner: { url: 'http://u:p@h/v1', model: 'm' } }, /no credentials/],
      [{ summarizer: { url: 'http://h/v1', model: 'm', timeoutMs: 5 } }, /inference\.summarizer\.timeoutMs/],
      [{ summarizer: { url: 'http://h/v1', model: 'm', maxInFlight: 0 } }, /maxInFlight/],
      [{ summarizer: { url: 'http://h/v1', model: 'm', colour: 1 } }, /unknown key 'colour'/],
      [{ summarizer: { url: 'http://h/v1', model: 'm', prompt: 'x' } }, /captioner only/],
      [{ asr: { url: 'http://h/v1', model: 'm', language: 'english' } }, /ISO-639-1/],
      [{ asr: { address: 'no-port', model: 'm' } }, /host:port/],
      [{ asr: { url: 'http://h/v1', model: 'm', apiKeyEnv: 'sk-123 secret' } }, /apiKeyEnv must name/],
      [{ asr: { url: 'http://h/v1', model: 'm', kind: 'kserve' } }, /kind 'kserve' needs address/],
    ];
    for (const [raw, re] of bad) {
      expect(() => validateLanguageModels(raw)).toThrow(ConfigError);
      expect(() => validateLanguageModels(raw)).toThrow(re);
    }
  });

  it('CLI flags: http(s) is OpenAI-compatible, host:port or grpc:// is KServe; the model is required', () => {
    const c = languageModelsFromFlags({
      captioner: 'http://127.0.0.1:8000/v1',
      captionerModel: 'vlm',
      summarizer: 'grpc://127.0.0.1:8001',
      summarizerModel: 'llm',
    });
    expect(c.captioner).toMatchObject({ kind: 'openai', url: 'http://127.0.0.1:8000/v1', model: 'vlm' });
    expect(c.summarizer).toMatchObject({ kind: 'kserve', address: '127.0.0.1:8001', model: 'llm' });
    expect(() => languageModelsFromFlags({ asr: 'http://h/v1' })).toThrow(/--asr needs --asr-model/);
    expect(() => languageModelsFromFlags({ asrModel: 'w' })).toThrow(/--asr-model needs --asr/);
    // A flag overrides the file's endpoint and keeps its other settings.
    const file = validateLanguageModels({ asr: { url: 'http://a/v1', model: 'w', perMinute: 5 } });
    expect(languageModelsFromFlags({ asr: 'http://b/v1' }, file).asr).toMatchObject({
      url: 'http://b/v1',
      model: 'w',
      perMinute: 5,
    });
  });

  it('a stream overrides the service per role', () => {
    const service = validateLanguageModels({ captioner: { url: 'http://a/v1', model: 'a' } });
    const stream = validateLanguageModels({ captioner: { url: 'http://b/v1', model: 'b' } }, 'streams[0]');
    expect(mergeLanguageModels(service, stream).captioner?.model).toBe('b');
    expect(mergeLanguageModels(service, undefined).captioner?.model).toBe('a');
  });

  it('API keys come from the named environment variable; errors name the variable, never a value', () => {
    const c = validateLanguageModels({ captioner: { url: 'http://a/v1', model: 'a', apiKeyEnv: 'VLM_KEY' } });
    expect(resolveApiKey(c.captioner!, 'inference.captioner', { VLM_KEY: 'sk-secret' })).toBe('sk-secret');
    expect(() => resolveApiKey(c.captioner!, 'inference.captioner', {})).toThrow(
      /inference\.captioner\.apiKeyEnv: environment variable VLM_KEY is not set/,
    );
  });
});

describe('model call bounds', () => {
  it('per-stream rate refills over time; the in-flight bound is global', () => {
    let now = 0;
    const gate = new ModelGate({ maxInFlight: 2, perMinute: 2, now: () => now });
    const a = gate.tryAcquire('a');
    const b = gate.tryAcquire('a');
    expect(typeof a).toBe('object');
    expect(typeof b).toBe('object');
    expect(gate.tryAcquire('b')).toBe('in_flight');
    (a as { release(): void }).release();
    (a as { release(): void }).release(); // idempotent
    expect(gate.tryAcquire('a')).toBe('budget');
    const c = gate.tryAcquire('b');
    expect(typeof c).toBe('object');
    (b as { release(): void }).release();
    (c as { release(): void }).release();
    now += 30_000; // half a minute: one token back
    expect(typeof gate.tryAcquire('a')).toBe('object');
    expect(gate.active).toBe(1);
  });

  it('recognises refusals and empty answers', () => {
    for (const t of [
      '',
      '   ',
      "I'm sorry, but I can't help with that.",
      'I cannot determine what is in this image.',
      'Unable to determine the contents.',
      'N/A',
    ])
      expect(isRefusal(t), t).toBe(true);
    for (const t of ['Two people cross a square.', 'A sign reads "SORRY WE ARE CLOSED".'])
      expect(isRefusal(t), t).toBe(false);
  });

  it('rules accept verify: { prompt } and reject anything else', () => {
    const [r] = parseRules([{ name: 'door', verify: { prompt: 'Is a person at the door?' } }]);
    expect(r?.verify).toEqual({ prompt: 'Is a person at the door?' });
    expect(parseRules([{ name: 'x' }])[0]?.verify).toBeNull();
    expect(() => parseRules([{ name: 'x', verify: { prompt: '' } }])).toThrow(/verify\.prompt/);
    expect(() => parseRules([{ name: 'x', verify: { prompt: 'a', model: 'b' } }])).toThrow(/unknown/);
  });
});
