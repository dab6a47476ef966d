/**
 * Search and ask over the control API, the same for HTTP and NATS:
 *
 *   GET  /v1/search?label=person&text=exit&from=0:10&to=0:20&stream=door&limit=20&offset=0
 *   POST /v1/ask         {"question": "when did a truck stop at the gate?"}
 *   vigil.ctl.search     {label, text, from, to, …}   (the same fields as the query string)
 *   vigil.ctl.ask        {question}
 *
 * With a language model (`inference.summarizer`), ask lets it answer from the retrieved records,
 * citations checked (src/history/ask-model.ts), and falls back to the parser's answer.
 *
 * Bad input is a 400 with a stable code (VIGIL_ERR_HISTORY_QUERY, VIGIL_ERR_HISTORY_RANGE); a
 * service without a history index answers 503 VIGIL_ERR_HISTORY_DISABLED.
 */
import { VigilError } from '../core/errors.js';
import {
  answerQuestion,
  answerWithModel,
  parseSearchQuery,
  type AskModel,
  type HistoryIndex,
} from '../history/index.js';
import { errorReply, type ControlReply } from './api.js';

export const HISTORY_OPS = ['search', 'ask'] as const;

class HistoryDisabled extends VigilError {
  constructor() {
    super('VIGIL_ERR_HISTORY_DISABLED', 'this analyzer keeps no history (history.enabled is false)');
  }
}

/** Query string → search fields (repeated keys become lists). */
export function searchArgsFromUrl(url: URL): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of new Set(url.searchParams.keys())) {
    const all = url.searchParams.getAll(key);
    out[key] = all.length === 1 ? all[0] : all;
  }
  return out;
}

/** Runs `search` or `ask`; never throws (errors become error replies). */
export async function handleHistory(
  history: HistoryIndex | undefined,
  op: (typeof HISTORY_OPS)[number],
  args: unknown,
  askModel?: AskModel,
): Promise<ControlReply> {
  try {
    if (!history) throw new HistoryDisabled();
    if (op === 'search') return { status: 200, body: await history.search(parseSearchQuery(args)) };
    const question = (args as { question?: unknown } | null)?.question;
    if (typeof question !== 'string' || question.trim() === '') {
      return errorReply(new VigilError('VIGIL_ERR_BAD_REQUEST', 'ask needs {"question": "..."}'));
    }
    return {
      status: 200,
      body: askModel
        ? await answerWithModel(history, question, askModel)
        : await answerQuestion(history, question),
    };
  } catch (err) {
    return errorReply(err);
  }
}
