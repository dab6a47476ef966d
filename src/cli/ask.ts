/** `vigil ask "question"`: an answer with its evidence, from a local index or a server. */
import { formatStreamTime } from '../history/ask.js';
import { answerQuestion, type Answer } from '../history/index.js';
import {
  callServer,
  CliUsageError,
  historySource,
  historySourceOptions,
  type CliCommand,
} from './history.js';

export function formatAnswer(a: Answer): string {
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
  return lines.join('\n');
}

export const askCommand: CliCommand = {
  summary: 'Ask the stream history a question in plain words; the answer comes with its evidence',
  usage: 'vigil ask [--history PATH | --server URL] "question" [--json]',
  examples: [
    'vigil ask --history vigil-report-vtest "how many people were there at once?"',
    'vigil ask "when did a truck stop at the gate?"',
    'vigil ask --server http://analyzer:8080 "what happened on camera 3 between 10:00 and 10:05?" --json',
  ],
  options: historySourceOptions,
  run: async (values, positionals) => {
    if (positionals.length === 0) throw new CliUsageError('ask needs a question (quote it)');
    const question = positionals.join(' ');
    const source = await historySource(values as Record<string, unknown>);
    let answer: Answer;
    if ('local' in source) {
      try {
        answer = await answerQuestion(source.local, question);
      } finally {
        await source.local.close();
      }
    } else {
      answer = (await callServer(source, 'POST', 'v1/ask', { question })) as Answer;
    }
    console.log(values.json ? JSON.stringify(answer) : formatAnswer(answer));
    return 0;
  },
};
