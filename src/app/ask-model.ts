/**
 * The model behind `ask` (vigil run's /v1/ask and vigil.ctl.ask, `vigil ask --history`): the
 * summarizer's configuration (`inference.summarizer` or `--summarizer URL --summarizer-model NAME`)
 * on its own chat connection. The API key comes from the variable `apiKeyEnv` names; an unset one
 * is a ConfigError naming the variable, never a value.
 */
import { resolveApiKey, type LanguageModelConfig } from '../config/language-models.js';
import type { AskModel } from '../history/index.js';
import { createChatModel } from '../infer/language-transport.js';

export interface ClosableAskModel extends AskModel {
  /** Closes the connection (idempotent). */
  close(): Promise<void>;
}

export function openAskModel(
  cfg: LanguageModelConfig,
  env: Record<string, string | undefined> = process.env,
  where = 'inference.summarizer',
): ClosableAskModel {
  const chat = createChatModel(cfg, resolveApiKey(cfg, where, env));
  let closing: Promise<void> | undefined;
  return {
    model: cfg.model,
    ask: (input, signal) => chat.ask(input, signal),
    close: () => (closing ??= chat.close()),
  };
}
