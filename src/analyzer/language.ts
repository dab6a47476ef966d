/**
 * The language stages of a service or CLI session, built once from `inference.captioner`,
 * `inference.summarizer` and `inference.asr` (src/config/language-models.ts): the captioner (which
 * also answers alert checks), a language-model summarizer per stream (the chain of summaries, with
 * the structured summarizer as its fallback), and the transcriber. `forStream()` gives the
 * StreamRunnerOptions fields for one stream. Nothing configured: `createLanguageStages` returns
 * null and the streams run exactly as before. `createLanguageRouter` (what the service uses) adds
 * per-stream models: a stream's own `inference` over the service's, per role.
 *
 * API keys are read from the environment variables the config names, here and nowhere else; they
 * go into request headers only.
 */
import {
  LANGUAGE_ROLES,
  describeModel,
  mergeLanguageModels,
  resolveApiKey,
  validateLanguageModel,
  type LanguageModelConfig,
  type LanguageModelsConfig,
  type LanguageRole,
} from '../config/language-models.js';
import { ConfigError } from '../core/errors.js';
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

/** The StreamRunnerOptions fields the language stages fill for one stream. */
export type StreamLanguageFields = Pick<StreamRunnerOptions, 'captioner' | 'transcriber' | 'summarizer'>;

/** One stream's hold on its language stages; `release()` (idempotent) when the stream stops. */
export interface StreamLanguageLease {
  readonly fields: StreamLanguageFields;
  release(): void;
}

/** What the stream manager needs of the language stages. */
export interface StreamLanguage {
  /**
   * The stages for one stream: the service's, with the stream's own `inference` (its attach body)
   * over them per role. Throws a ConfigError naming the key for an own config it cannot use.
   */
  acquire(streamId: string, own?: StreamLanguageSpec): StreamLanguageLease;
}

/** A stream's own language models as its definition carries them: per role a mapping, or false (off). */
export type StreamLanguageSpec = Partial<Record<LanguageRole, unknown>>;

export interface LanguageStages {
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

/** The service's language stages plus those built for streams that name their own models. */
export interface LanguageRouter extends StreamLanguage {
  /** The service's own models, one line per role (no keys). */
  describe(): string[];
  /** Stages alive now, one per distinct (role, config): the service's plus the streams' own. */
  readonly active: number;
  /** Closes every stage; idempotent. */
  close(): Promise<void>;
}

/**
 * A stream's own config (its attach body, its YAML entry, its KV entry) may name only API-key
 * variables that the service's config names, or whose name starts with `VIGIL_`: whoever may attach
 * a stream must not be able to send any of the process's environment to a server of their choice.
 */
const STREAM_KEY_ENV = /^VIGIL_/;

/**
 * Per-stream language stages over the service's (`inference.captioner` / `summarizer` / `asr`):
 * a stream's own config replaces the service's per role (mergeLanguageModels), `false` turns a role
 * off for that stream. Stages are built once per distinct (role, config) and shared by the streams
 * that use it, so the in-flight bound of one model holds across them; those a stream brought are
 * closed when the last stream using them releases. The service's are kept until `close()`.
 * With nothing configured anywhere, every stream gets no field: the product as before.
 */
export function createLanguageRouter(
  service: LanguageModelsConfig,
  options: LanguageStagesOptions = {},
): LanguageRouter {
  interface Entry {
    stages: LanguageStages;
    users: number;
    pinned: boolean;
  }
  const entries = new Map<string, Entry>();
  const serviceEnv = new Set(
    LANGUAGE_ROLES.map((r) => service[r]?.apiKeyEnv).filter((e): e is string => e !== undefined),
  );
  let closed = false;
  let closing: Promise<void> | undefined;
  const keyOf = (role: LanguageRole, cfg: LanguageModelConfig) => `${role}\n${JSON.stringify(cfg)}`;
  const entryFor = (role: LanguageRole, cfg: LanguageModelConfig, pinned: boolean): Entry => {
    const key = keyOf(role, cfg);
    let e = entries.get(key);
    if (!e) {
      const stages = createLanguageStages({ [role]: cfg }, options)!;
      e = { stages, users: 0, pinned };
      entries.set(key, e);
    }
    return e;
  };
  const drop = (key: string) => {
    const e = entries.get(key);
    if (!e) return;
    e.users--;
    if (e.users <= 0 && !e.pinned) {
      entries.delete(key);
      void e.stages.close().catch(() => undefined);
    }
  };
  // The service's stages are built up front (a missing key variable fails the start, not a stream).
  for (const role of LANGUAGE_ROLES) {
    const cfg = service[role];
    if (cfg) entryFor(role, cfg, true);
  }

  /** The stream's own roles, validated with their defaults; `null` for a role it turns off. */
  const ownConfig = (own: StreamLanguageSpec | undefined) => {
    const out: Partial<Record<LanguageRole, LanguageModelConfig | null>> = {};
    if (own === undefined || own === null) return out;
    if (typeof own !== 'object' || Array.isArray(own))
      throw new ConfigError('inference must be a mapping { captioner?, summarizer?, asr? }');
    for (const k of Object.keys(own)) {
      if (!(LANGUAGE_ROLES as readonly string[]).includes(k))
        throw new ConfigError(`inference: unknown key '${k}' (known: ${LANGUAGE_ROLES.join(', ')})`);
    }
    for (const role of LANGUAGE_ROLES) {
      const raw = own[role];
      if (raw === undefined) continue;
      if (raw === false || raw === null) {
        out[role] = null;
        continue;
      }
      const cfg = validateLanguageModel(raw, role, `inference.${role}`);
      if (
        cfg.apiKeyEnv !== undefined &&
        !serviceEnv.has(cfg.apiKeyEnv) &&
        !STREAM_KEY_ENV.test(cfg.apiKeyEnv)
      )
        throw new ConfigError(
          `inference.${role}.apiKeyEnv: a stream may name only a variable starting with VIGIL_ or one the service's inference section names`,
        );
      out[role] = cfg;
    }
    return out;
  };

  return {
    get active() {
      return entries.size;
    },
    acquire(streamId, own) {
      if (closed) throw new ConfigError('the language stages are closed');
      const mine = ownConfig(own);
      const given: LanguageModelsConfig = {};
      for (const role of LANGUAGE_ROLES) if (mine[role]) given[role] = mine[role];
      const merged = mergeLanguageModels(service, given);
      for (const role of LANGUAGE_ROLES) if (mine[role] === null) delete merged[role];
      const held: string[] = [];
      const fields: StreamLanguageFields = {};
      try {
        for (const role of LANGUAGE_ROLES) {
          const cfg = merged[role];
          if (!cfg) continue;
          const e = entryFor(role, cfg, false);
          e.users++;
          held.push(keyOf(role, cfg));
          Object.assign(fields, e.stages.forStream(streamId));
        }
      } catch (err) {
        for (const k of held) drop(k);
        throw err;
      }
      let released = false;
      return {
        fields,
        release() {
          if (released) return;
          released = true;
          for (const k of held) drop(k);
        },
      };
    },
    describe() {
      const lines: string[] = [];
      for (const role of LANGUAGE_ROLES) {
        const c = service[role];
        if (c) lines.push(`${role}: ${describeModel(c)}`);
      }
      return lines;
    },
    close() {
      closing ??= (async () => {
        closed = true;
        const all = [...entries.values()];
        entries.clear();
        await Promise.all(all.map((e) => e.stages.close()));
      })();
      return closing;
    },
  };
}
