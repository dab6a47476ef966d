/**
 * Options of the language-model stages (captions, chain of summaries, speech to text), one schema
 * for the YAML (`inference.captioner`, `inference.summarizer`, `inference.asr`), the control API's
 * attach body (per stream, overriding the service's) and the CLI flags. Each is either an
 * OpenAI-compatible base URL (`url`, kind 'openai') or a KServe v2 gRPC address (`address`, kind
 * 'kserve'). Nothing configured: no stage, the product as before.
 *
 * API keys never appear here: `apiKeyEnv` names the environment variable that holds one, read
 * (`resolveApiKey`) when the stage is built; errors name the variable, never its value.
 */
import { ConfigError } from '../core/errors.js';
import {
  LANGUAGE_ROLES,
  type LanguageModelConfig,
  type LanguageModelsConfig,
  type LanguageRole,
} from '../core/language-model.js';

export {
  DEFAULT_CAPTION_PROMPT,
  LANGUAGE_ROLES,
  type LanguageModelConfig,
  type LanguageModelKind,
  type LanguageModelsConfig,
  type LanguageRole,
} from '../core/language-model.js';

const DEFAULTS: Record<
  LanguageRole,
  Pick<LanguageModelConfig, 'timeoutMs' | 'maxTokens' | 'maxInFlight' | 'perMinute'>
> = {
  captioner: { timeoutMs: 15_000, maxTokens: 96, maxInFlight: 2, perMinute: 12 },
  summarizer: { timeoutMs: 20_000, maxTokens: 300, maxInFlight: 2, perMinute: 30 },
  asr: { timeoutMs: 30_000, maxTokens: 448, maxInFlight: 2, perMinute: 30 },
};

const KNOWN = [
  'kind',
  'url',
  'address',
  'model',
  'timeoutMs',
  'maxTokens',
  'maxInFlight',
  'perMinute',
  'apiKeyEnv',
  'prompt',
  'language',
  'paddingMs',
  'maxSegmentMs',
];
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const ADDRESS = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

function int(where: string, key: string, v: unknown, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new ConfigError(`${where}.${key} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  return v;
}

function str(where: string, key: string, v: unknown, maxLen: number): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.trim() === '' || v.length > maxLen)
    throw new ConfigError(`${where}.${key} must be a non-empty string of at most ${maxLen} characters`);
  return v;
}

/** Validates one role's options; `where` names the key in errors (e.g. `inference.captioner`). */
export function validateLanguageModel(raw: unknown, role: LanguageRole, where: string): LanguageModelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError(`${where} must be a mapping { url or address, model, ... }`);
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!KNOWN.includes(k))
      throw new ConfigError(`${where}: unknown key '${k}' (known: ${KNOWN.join(', ')})`);
  }
  const url = str(where, 'url', r['url'], 2048);
  const address = str(where, 'address', r['address'], 300);
  if ((url === undefined) === (address === undefined))
    throw new ConfigError(`${where}: give exactly one of url (OpenAI-compatible) or address (KServe v2)`);
  const kind = r['kind'] ?? (url !== undefined ? 'openai' : 'kserve');
  if (kind !== 'openai' && kind !== 'kserve')
    throw new ConfigError(`${where}.kind must be 'openai' or 'kserve', got ${JSON.stringify(kind)}`);
  if (kind === 'openai' && url === undefined) throw new ConfigError(`${where}: kind 'openai' needs url`);
  if (kind === 'kserve' && address === undefined)
    throw new ConfigError(`${where}: kind 'kserve' needs address`);
  if (url !== undefined) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw new ConfigError(`${where}.url is not a URL`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      throw new ConfigError(`${where}.url must be http(s)`);
    // The URL may be printed (logs, errors): credentials belong in apiKeyEnv.
    if (u.username || u.password || u.search)
      throw new ConfigError(`${where}.url must carry no credentials or query: name the key in apiKeyEnv`);
  }
  if (address !== undefined && !ADDRESS.test(address))
    throw new ConfigError(`${where}.address must be host:port`);
  const model = str(where, 'model', r['model'], 256);
  if (model === undefined) throw new ConfigError(`${where}.model is required`);
  const apiKeyEnv = str(where, 'apiKeyEnv', r['apiKeyEnv'], 128);
  if (apiKeyEnv !== undefined && !ENV_NAME.test(apiKeyEnv))
    throw new ConfigError(`${where}.apiKeyEnv must name an environment variable (letters, digits, '_')`);
  const d = DEFAULTS[role];
  const out: LanguageModelConfig = {
    kind,
    ...(url !== undefined ? { url } : {}),
    ...(address !== undefined ? { address } : {}),
    model,
    timeoutMs: int(where, 'timeoutMs', r['timeoutMs'], d.timeoutMs, 100, 600_000),
    maxTokens: int(where, 'maxTokens', r['maxTokens'], d.maxTokens, 1, 32_768),
    maxInFlight: int(where, 'maxInFlight', r['maxInFlight'], d.maxInFlight, 1, 256),
    perMinute: int(where, 'perMinute', r['perMinute'], d.perMinute, 1, 6000),
    ...(apiKeyEnv !== undefined ? { apiKeyEnv } : {}),
  };
  const prompt = str(where, 'prompt', r['prompt'], 2000);
  if (prompt !== undefined) {
    if (role !== 'captioner') throw new ConfigError(`${where}.prompt applies to the captioner only`);
    out.prompt = prompt;
  }
  const language = str(where, 'language', r['language'], 16);
  if (language !== undefined) {
    if (role !== 'asr' || !/^[a-z]{2}$/.test(language))
      throw new ConfigError(`${where}.language: an ISO-639-1 code (two lowercase letters), asr only`);
    out.language = language;
  }
  for (const [key, dflt, min, max] of [
    ['paddingMs', 200, 0, 2000],
    ['maxSegmentMs', 30_000, 1000, 120_000],
  ] as const) {
    if (role === 'asr') out[key] = int(where, key, r[key], dflt, min, max);
    else if (r[key] !== undefined) throw new ConfigError(`${where}.${key} applies to asr only`);
  }
  return out;
}

/** Validates `{ captioner?, summarizer?, asr? }` (the language keys of `inference`, or an attach body's). */
export function validateLanguageModels(raw: unknown, where = 'inference'): LanguageModelsConfig {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${where} must be a mapping`);
  const r = raw as Record<string, unknown>;
  const out: LanguageModelsConfig = {};
  for (const role of LANGUAGE_ROLES) {
    if (r[role] !== undefined && r[role] !== null)
      out[role] = validateLanguageModel(r[role], role, `${where}.${role}`);
  }
  return out;
}

/** Picks the language keys out of a larger section (e.g. `inference`), leaving the rest to its own validator. */
export function pickLanguageKeys(section: Record<string, unknown>): {
  language: Record<string, unknown>;
  rest: Record<string, unknown>;
} {
  const language: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(section)) {
    if ((LANGUAGE_ROLES as readonly string[]).includes(k)) language[k] = v;
    else rest[k] = v;
  }
  return { language, rest };
}

/** A stream's own settings replace the service's per role. */
export function mergeLanguageModels(
  service: LanguageModelsConfig,
  stream: LanguageModelsConfig | undefined,
): LanguageModelsConfig {
  return { ...service, ...(stream ?? {}) };
}

export interface LanguageModelFlags {
  captioner?: string;
  captionerModel?: string;
  summarizer?: string;
  summarizerModel?: string;
  asr?: string;
  asrModel?: string;
}

/**
 * CLI flags → config: `--captioner URL --captioner-model NAME` (likewise summarizer, asr). A value
 * of the form `grpc://host:port` or bare `host:port` is a KServe v2 address; http(s) an
 * OpenAI-compatible base URL. Flags override the config file's role wholesale (other keys kept).
 */
export function languageModelsFromFlags(
  flags: LanguageModelFlags,
  base: LanguageModelsConfig = {},
): LanguageModelsConfig {
  const out: LanguageModelsConfig = { ...base };
  for (const role of LANGUAGE_ROLES) {
    const where = `--${role}`;
    const target = flags[role];
    const model = flags[`${role}Model` as const];
    if (target === undefined && model === undefined) continue;
    const prev = base[role];
    if (target === undefined && prev === undefined)
      throw new ConfigError(`${where}-model needs ${where} URL (or inference.${role} in the config file)`);
    const raw: Record<string, unknown> = {};
    if (prev) {
      for (const [k, v] of Object.entries(prev)) if (!['kind', 'url', 'address'].includes(k)) raw[k] = v;
      if (target === undefined) Object.assign(raw, { kind: prev.kind, url: prev.url, address: prev.address });
    }
    if (target !== undefined) {
      if (/^https?:\/\//.test(target)) raw['url'] = target;
      else raw['address'] = target.replace(/^grpc:\/\//, '');
    }
    if (model !== undefined) raw['model'] = model;
    if (raw['model'] === undefined) throw new ConfigError(`${where} needs ${where}-model NAME`);
    for (const k of Object.keys(raw)) if (raw[k] === undefined) delete raw[k];
    out[role] = validateLanguageModel(raw, role, where);
  }
  return out;
}

/**
 * The API key for a model from the environment variable its config names; undefined when none is
 * named. A named variable that is unset is a config error naming the variable (never a value).
 */
export function resolveApiKey(
  cfg: LanguageModelConfig,
  where: string,
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  if (cfg.apiKeyEnv === undefined) return undefined;
  const v = env[cfg.apiKeyEnv];
  if (v === undefined || v === '')
    throw new ConfigError(`${where}.apiKeyEnv: environment variable ${cfg.apiKeyEnv} is not set`);
  return v;
}

/** Where a model lives, for logs and reports: never a key, never a query string. */
export function describeModel(cfg: LanguageModelConfig): string {
  return `${cfg.model} at ${cfg.kind === 'openai' ? cfg.url : `grpc://${cfg.address}`}`;
}
