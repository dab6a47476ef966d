/**
 * The language stages of a service or CLI session, built once from `inference.captioner`,
 * `inference.summarizer` and `inference.asr` (src/config/language-models.ts): the captioner (which
 * also answers alert checks), a language-model summarizer per stream (the chain of summaries, with
 * the structured summarizer as its fallback), and the transcriber. `forStream()` gives the
 * StreamRunnerOptions fields for one stream. Nothing configured: `createLanguageStages` returns
 * null and the streams run exactly as before.
 *
 * API keys are read from the environment variables the config names, here and nowhere else; they
 * go into request headers only.
 */
import type { LanguageModelsConfig, LanguageRole } from '../config/language-models.js';
import { describeModel, resolveApiKey } from '../config/language-models.js';
import { isRefusal } from '../core/refusal.js';
import { Captioner } from '../infer/captioner.js';
import { createChatModel, type ChatModel, type SpeechModel } from '../infer/language-transport.js';
import { guardedCall, ModelGate, type ModelCallObserver } from '../infer/model-call.js';
import { createTextGenerationSummarizer, type TextGenerationSummarizer } from '../stream/lm-summarizer.js';
import type { StreamRunnerOptions } from './stream-runner.js';
import { Transcriber } from './transcriber.js';

export interface LanguageStagesOptions {
  /** Metrics (e.g. LanguageModelMetrics); told of every call. */
  observer?: ModelCallObserver;
  env?: Record<string, string | undefined>;
  /** Transports to use instead of the config's (tests). */
  transports?: { captioner?: ChatModel; summarizer?: ChatModel; asr?: SpeechModel };
  now?: () => number;
}

/** What a stream run needs of the language stages: its own fields of StreamRunnerOptions. */
export interface StreamLanguage {
  forStream(streamId: string): Pick<StreamRunnerOptions, 'captioner' | 'transcriber' | 'summarizer'>;
}

export interface LanguageStages extends StreamLanguage {
  readonly config: LanguageModelsConfig;
  readonly captioner: Captioner | undefined;
  readonly transcriber: Transcriber | undefined;
  /** The StreamRunnerOptions fields for one stream (its own summarizer: the chain is per stream). */
  forStream(streamId: string): Pick<StreamRunnerOptions, 'captioner' | 'transcriber' | 'summarizer'> & {
    summarizer?: TextGenerationSummarizer;
  };
  /** One line per configured model, for start-up logs and reports (no keys). */
  describe(): string[];
  close(): Promise<void>;
}

export function createLanguageStages(
  config: LanguageModelsConfig,
  options: LanguageStagesOptions = {},
): LanguageStages | null {
  if (!config.captioner && !config.summarizer && !config.asr) return null;
  const env = options.env ?? process.env;
  const key = (role: LanguageRole) => resolveApiKey(config[role]!, `inference.${role}`, env);
  const observer = options.observer;
  const captioner = config.captioner
    ? new Captioner({
        config: config.captioner,
        ...(key('captioner') !== undefined ? { apiKey: key('captioner')! } : {}),
        ...(observer ? { observer } : {}),
        ...(options.transports?.captioner ? { chat: options.transports.captioner } : {}),
        ...(options.now ? { now: options.now } : {}),
      })
    : undefined;
  const transcriber = config.asr
    ? new Transcriber(config.asr, {
        ...(key('asr') !== undefined ? { apiKey: key('asr')! } : {}),
        ...(observer ? { observer } : {}),
        ...(options.transports?.asr ? { speech: options.transports.asr } : {}),
        ...(options.now ? { now: options.now } : {}),
      })
    : undefined;
  const sumCfg = config.summarizer;
  const chat = sumCfg
    ? (options.transports?.summarizer ?? createChatModel(sumCfg, key('summarizer')))
    : undefined;
  const gate = sumCfg
    ? new ModelGate({
        maxInFlight: sumCfg.maxInFlight,
        perMinute: sumCfg.perMinute,
        ...(options.now ? { now: options.now } : {}),
      })
    : undefined;
  let closing: Promise<void> | undefined;
  return {
    config,
    captioner,
    transcriber,
    forStream(streamId) {
      const out: ReturnType<LanguageStages['forStream']> = {};
      if (captioner) out.captioner = captioner;
      if (transcriber) out.transcriber = transcriber;
      if (sumCfg && chat && gate) {
        out.summarizer = createTextGenerationSummarizer({
          model: sumCfg.model,
          // The gate's own deadline decides; this one only backs it up.
          timeoutMs: sumCfg.timeoutMs + 1000,
          generate: async (prompt) => {
            const r = await guardedCall(
              gate,
              streamId,
              { role: 'summarizer', model: sumCfg.model, timeoutMs: sumCfg.timeoutMs, observer },
              (signal) => chat.ask({ prompt }, signal),
              options.now,
            );
            if (!r.ok) throw new Error(`summarizer ${r.outcome}${r.error ? `: ${r.error}` : ''}`);
            const text = r.value.text.trim();
            const said = text !== '' && !isRefusal(text) && r.value.refused !== true;
            try {
              observer?.observe({
                role: 'summarizer',
                model: sumCfg.model,
                outcome: said ? 'ok' : text === '' ? 'empty' : 'refusal',
                latencyMs: r.latencyMs,
                ...(r.value.usage ? { usage: r.value.usage } : {}),
              });
            } catch {
              // metrics must not break the chain
            }
            return text;
          },
        });
      }
      return out;
    },
    describe() {
      const lines: string[] = [];
      for (const role of ['captioner', 'summarizer', 'asr'] as const) {
        const c = config[role];
        if (c) lines.push(`${role}: ${describeModel(c)}`);
      }
      return lines;
    },
    close() {
      closing ??= Promise.all([captioner?.close(), transcriber?.close(), chat?.close()]).then(
        () => undefined,
      );
      return closing;
    },
  };
}
