/** `vigil ask "question"`: an answer with its evidence, from a local index or a server. */
import { openAskModel, type ClosableAskModel } from '../app/ask-model.js';
import { formatStreamTime } from '../history/ask.js';
import { answerQuestion, answerWithModel, type Answer, type ModelAnswerInfo } from '../history/index.js';
import { configFrom, languageFlagOptions, languageOption, languageUsage } from './command-options.js';
import {
  callServer,
  CliUsageError,
  historySource,
  historySourceOptions,
  type CliCommand,
} from './history.js';

/** What the model did, in words (an answer from a model-backed ask carries `model`). */
function modelLine(m: ModelAnswerInfo): string {
  return m.used
    ? `(answered by ${m.model}, citing ${m.citations.valid} of ${m.candidates} records retrieved)`
    : `(${m.model} not used: ${m.fallback ?? 'unknown'}; the parser's answer)`;
}

export function formatAnswer(a: Answer & { model?: ModelAnswerInfo }): string {
  const lines = [a.answer];
  for (const e of a.evidence) {
    const range =
      e.startMs === e.endMs
        ? formatStreamTime(e.startMs)
        : `${formatStreamTime(e.startMs)}–${formatStreamTime(e.endMs)}`;
    const kf = e.keyframeIds.length > 0 ? ` keyframes ${e.keyframeIds.slice(0, 3).join(' ')}` : '';
    const thumb = e.thumbnails[0] ? ` ${e.thumbnails[0]}` : '';
    lines.push(`  ${e.stream} ${range} ${e.type}${kf}${thumb}`);
  }
  if (!a.empty) lines.push(`(searched ${a.searched.description})`);
  if (a.model) lines.push(modelLine(a.model));
  return lines.join('\n');
}

const SUMMARIZER = ['summarizer'] as const;

export const askCommand: CliCommand = {
  summary: 'Ask the stream history a question in plain words; the answer comes with its evidence',
  usage: `vigil ask [--history PATH | --server URL] "question" [--config FILE] ${languageUsage(SUMMARIZER)} [--json]`,
  examples: [
    'vigil ask --history vigil-report-vtest "how many people were there at once?"',
    'vigil ask "when did a truck stop at the gate?"',
    'vigil ask --server http://analyzer:8080 "what happened on camera 3 between 10:00 and 10:05?" --json',
    'vigil ask --history out/ --summarizer http://127.0.0.1:11434/v1 --summarizer-model llama3.1:8b "when did the bus leave?"',
    'VLLM_API_KEY=... vigil ask --history out/ --config vigil.yaml "what was on the sign?"   # inference.summarizer with apiKeyEnv',
  ],
  options: {
    ...historySourceOptions,
    config: { type: 'string', short: 'c' },
    ...languageFlagOptions(SUMMARIZER),
  },
  run: async (values, positionals) => {
    if (positionals.length === 0) throw new CliUsageError('ask needs a question (quote it)');
    const question = positionals.join(' ');
    const modelFlags = ['config', 'summarizer', 'summarizer-model'].filter((k) => values[k] !== undefined);
    // The flags are checked before anything opens: a bad URL is exit 2 whatever the source.
    const { language } = languageOption(values, modelFlags.length > 0 ? configFrom(values) : undefined);
    const source = await historySource(values as Record<string, unknown>);
    let answer: Answer;
    if ('local' in source) {
      const sum = language?.summarizer;
      let model: ClosableAskModel | undefined;
      try {
        model = sum ? openAskModel(sum, process.env, '--summarizer') : undefined;
        answer =
          sum && model
            ? await answerWithModel(source.local, question, model, { timeoutMs: sum.timeoutMs })
            : await answerQuestion(source.local, question);
      } finally {
        await model?.close();
        await source.local.close();
      }
    } else {
      if (modelFlags.length > 0) {
        throw new CliUsageError(
          `--${modelFlags[0]} applies to --history: a server answers with its own inference.summarizer`,
        );
      }
      answer = (await callServer(source, 'POST', 'v1/ask', { question })) as Answer;
    }
    console.log(values.json ? JSON.stringify(answer) : formatAnswer(answer));
    return 0;
  },
};
