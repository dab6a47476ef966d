/**
 * The options of one language model (captioner, summarizer, ASR) as the stages use them: the
 * shape only. Validation, defaults and the CLI flags live in src/config/language-models.ts.
 */
export const LANGUAGE_ROLES = ['captioner', 'summarizer', 'asr'] as const;
export type LanguageRole = (typeof LANGUAGE_ROLES)[number];
export type LanguageModelKind = 'openai' | 'kserve';

export interface LanguageModelConfig {
  kind: LanguageModelKind;
  /** OpenAI-compatible base URL including the API prefix, e.g. `http://127.0.0.1:8000/v1` (kind 'openai'). */
  url?: string;
  /** KServe v2 gRPC `host:port` (kind 'kserve'). */
  address?: string;
  /** Model name on the server. */
  model: string;
  /** One call's deadline, ms. */
  timeoutMs: number;
  /** Most tokens the model may write per call. */
  maxTokens: number;
  /** Calls in flight at once to this model, all streams together; more are dropped and counted. */
  maxInFlight: number;
  /** Calls per minute per stream; more are dropped and counted. */
  perMinute: number;
  /** Name of the environment variable holding the API key (sent as a Bearer token). */
  apiKeyEnv?: string;
  /** captioner: the instruction sent with each keyframe. */
  prompt?: string;
  /** asr: the spoken language, ISO-639-1 (default: the model detects it). */
  language?: string;
  /** asr: padding around each VAD speech segment, ms. */
  paddingMs?: number;
  /** asr: longest audio sent in one call, ms (longer segments are cut). */
  maxSegmentMs?: number;
}

export type LanguageModelsConfig = Partial<Record<LanguageRole, LanguageModelConfig>>;

export const DEFAULT_CAPTION_PROMPT =
  'Describe this video keyframe in one short factual sentence: who or what is visible and what is happening.';
