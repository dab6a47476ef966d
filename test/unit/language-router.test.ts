/**
 * Per-stream language models (createLanguageRouter): a stream's own `inference` over the
 * service's, per role; stages shared between streams with the same config and closed when the last
 * stream using a stream-only config lets go; what a stream may name as its API-key variable.
 * No request is made here (the stages only connect when a model is called).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLanguageRouter, type LanguageRouter } from '../../src/analyzer/language.js';
import { validateLanguageModels } from '../../src/config/language-models.js';
import { ConfigError } from '../../src/core/errors.js';
import { Registry } from 'prom-client';
import { formatModelTotals, LanguageModelMetrics } from '../../src/observability/metrics.js';

const URL_A = 'http://127.0.0.1:9/v1';
let router: LanguageRouter | undefined;
afterEach(async () => {
  await router?.close();
  router = undefined;
});

describe('per-stream language models', () => {
  it('nothing configured anywhere: no stage, no field, for every stream (the product as before)', () => {
    router = createLanguageRouter({});
    const lease = router.acquire('cam', undefined);
    expect(lease.fields).toEqual({});
    expect(router.acquire('cam2', {}).fields).toEqual({});
    expect(router.active).toBe(0);
    expect(router.describe()).toEqual([]);
  });

  it("a stream's own role replaces the service's; false turns it off; the rest stay the service's", () => {
    const service = validateLanguageModels({
      captioner: { url: URL_A, model: 'vlm' },
      summarizer: { url: URL_A, model: 'llm' },
    });
    router = createLanguageRouter(service, { env: {} });
    expect(router.active).toBe(2);
    expect(router.describe()).toEqual([`captioner: vlm at ${URL_A}`, `summarizer: llm at ${URL_A}`]);
    const a = router.acquire('a', undefined);
    const b = router.acquire('b', undefined);
    // One captioner for both (its in-flight bound holds across them); a summarizer (chain) each.
    expect(a.fields.captioner).toBeDefined();
    expect(a.fields.captioner).toBe(b.fields.captioner);
    expect(a.fields.summarizer).toBeDefined();
    expect(a.fields.summarizer).not.toBe(b.fields.summarizer);
    const c = router.acquire('c', { captioner: { url: URL_A, model: 'vlm-big' }, summarizer: false });
    expect(c.fields.captioner?.model).toBe('vlm-big');
    expect(c.fields.summarizer).toBeUndefined();
    expect(router.active).toBe(3);
    const d = router.acquire('d', {
      captioner: { url: URL_A, model: 'vlm-big' },
      asr: { url: URL_A, model: 'w' },
    });
    expect(d.fields.captioner).toBe(c.fields.captioner);
    expect(d.fields.transcriber).toBeDefined();
    expect(router.active).toBe(4);
    // The stream-only stages close with the last stream that uses them; the service's stay.
    c.release();
    c.release();
    expect(router.active).toBe(4);
    d.release();
    expect(router.active).toBe(2);
    a.release();
    b.release();
    expect(router.active).toBe(2);
  });

  it('bad own configs are config errors naming the key; nothing is left held', () => {
    router = createLanguageRouter(
      validateLanguageModels({ captioner: { url: URL_A, model: 'vlm', apiKeyEnv: 'SVC_KEY' } }),
      {
        env: { SVC_KEY: 'k1', VIGIL_CAM_KEY: 'k2', HOME: '/root' },
      },
    );
    const bad: [unknown, RegExp][] = [
      [{ captioner: { url: URL_A } }, /inference\.captioner\.model is required/],
      [{ bogus: {} }, /inference: unknown key 'bogus'/],
      [{ asr: { url: 'ftp://x/v1', model: 'w' } }, /inference\.asr\.url must be http\(s\)/],
      // Any variable of the process, sent to a server of the attacher's choice: refused.
      [
        { captioner: { url: URL_A, model: 'v', apiKeyEnv: 'HOME' } },
        /inference\.captioner\.apiKeyEnv: a stream may name only/,
      ],
      [{ summarizer: { url: URL_A, model: 'l', apiKeyEnv: 'VIGIL_UNSET' } }, /VIGIL_UNSET is not set/],
    ];
    for (const [own, message] of bad) {
      expect(() => router!.acquire('x', own as never)).toThrow(ConfigError);
      expect(() => router!.acquire('x', own as never)).toThrow(message);
    }
    expect(router.active).toBe(1);
    // The service's own variable, or one starting with VIGIL_, is allowed.
    const ok = router.acquire('y', {
      captioner: { url: URL_A, model: 'v2', apiKeyEnv: 'SVC_KEY' },
      asr: { url: URL_A, model: 'w', apiKeyEnv: 'VIGIL_CAM_KEY' },
    });
    expect(ok.fields.transcriber).toBeDefined();
    expect(router.active).toBe(3);
  });

  it('close is idempotent and later acquires fail', async () => {
    router = createLanguageRouter(validateLanguageModels({ asr: { url: URL_A, model: 'w' } }));
    router.acquire('a', undefined);
    await Promise.all([router.close(), router.close()]);
    expect(router.active).toBe(0);
    expect(() => router!.acquire('b', undefined)).toThrow(/closed/);
  });
});

describe('language-model metrics', () => {
  it('per role and model: outcomes, latency, tokens; streams’ own model names are bounded', async () => {
    const registry = new Registry();
    const m = new LanguageModelMetrics(registry);
    m.observe({
      role: 'captioner',
      model: 'vlm',
      outcome: 'ok',
      latencyMs: 200,
      usage: { promptTokens: 300, completionTokens: 20 },
    });
    m.observe({ role: 'captioner', model: 'vlm', outcome: 'refusal', latencyMs: 400 });
    m.observe({ role: 'captioner', model: 'vlm', outcome: 'dropped_budget' });
    for (let i = 0; i < 40; i++)
      m.observe({ role: 'summarizer', model: `m${i}`, outcome: 'error', latencyMs: 1 });
    const text = await registry.metrics();
    expect(text).toContain('vigil_model_calls_total{role="captioner",model="vlm",outcome="ok"} 1');
    expect(text).toContain(
      'vigil_model_calls_total{role="captioner",model="vlm",outcome="dropped_budget"} 1',
    );
    expect(text).toContain('vigil_model_tokens_total{role="captioner",model="vlm",kind="prompt"} 300');
    expect(text).toContain('vigil_model_latency_seconds_count{role="captioner",model="vlm"} 2');
    // 1 + 31 distinct names, then 'other'.
    expect(text).toContain('vigil_model_calls_total{role="summarizer",model="other",outcome="error"} 9');
    const vlm = m.totalsByModel().find((t) => t.model === 'vlm')!;
    expect(formatModelTotals(vlm)).toBe(
      'captioner vlm: 3 calls (1 ok, 1 refusal, 1 dropped_budget), 300 ms mean, 320 tokens',
    );
  });
});
