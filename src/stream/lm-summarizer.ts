/**
 * A language-model summarizer behind the same `Summarizer` interface: the structured summarizer
 * computes the facts and evidence (deterministic), then a text-generation backend rewrites the
 * readable text from a refine prompt (previous summary + new digest facts). The backend is an edge
 * passed in as a plain function (KServe v2 `text_input`/`text_output`, or an OpenAI-compatible
 * endpoint, adapted in src/infer); this module does no I/O. On error, timeout or an empty answer
 * the structured text is kept and `facts.textSource` says so, so the chain never stalls on the model.
 */
import type { Summary, WindowDigest } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import { checkNumber, rejectUnknownKeys } from './options.js';
import {
  createStructuredSummarizer,
  formatStreamTime,
  type Summarizer,
  type SummaryContext,
} from './summarize.js';

/** A text-generation backend: prompt in, completion out; must honour `signal` (aborted on timeout). */
export type TextGenerate = (prompt: string, options: { signal: AbortSignal }) => Promise<string>;

export interface RefinePromptInput {
  level: SummaryContext['level'];
  previous: Summary | null;
  digest: WindowDigest;
  /** The structured summary of this digest (facts and fallback text). */
  structured: Summary;
}

export interface TextGenerationSummarizerOptions {
  generate: TextGenerate;
  /** Per-call deadline, ms (default 10000). */
  timeoutMs?: number;
  /** Facts, evidence and fallback text (default createStructuredSummarizer()). */
  fallback?: Summarizer;
  /** Prompt builder (default buildRefinePrompt). */
  buildPrompt?: (input: RefinePromptInput) => string;
  /** Characters kept from the model's answer (default 1200). */
  maxTextChars?: number;
  /** Characters of prompt sent at most (default 6000; the previous summary is trimmed first). */
  maxPromptChars?: number;
}

export interface TextGenerationStats {
  calls: number;
  fallbacks: number;
  timeouts: number;
}

/** The default refine prompt: previous summary + the new digest's facts, asking for 1-2 sentences. */
export function buildRefinePrompt(input: RefinePromptInput, maxChars = 6000): string {
  const { digest, previous, structured, level } = input;
  const range = `${formatStreamTime(digest.startPtsNs)}-${formatStreamTime(digest.endPtsNs)}`;
  const facts = JSON.stringify({
    peakCounts: digest.peakCounts,
    lastCounts: digest.lastCounts,
    analysedKeyframes: digest.analysed,
    missingKeyframes: digest.missing,
    text: digest.text.slice(0, 10),
    sceneCuts: digest.keyframes.filter((k) => k.reason === 'scene-cut').length,
    tracks: digest.tracks?.slice(0, 20),
    speech: digest.speech?.slice(0, 10),
  });
  const head =
    'You maintain a running summary of a video stream. Write one or two plain sentences describing ' +
    `the ${level} ${range}, citing times as mm:ss, using only the facts given. Do not invent objects.`;
  const prev = previous === null ? '(none: this is the first)' : previous.text;
  const tail = `\nNew facts (${range}): ${facts}\nDraft: ${structured.text}\nSummary:`;
  const room = Math.max(0, maxChars - head.length - tail.length - 32);
  const prevText = prev.length > room ? `…${prev.slice(prev.length - room + 1)}` : prev;
  return `${head}\nPrevious summary: ${prevText}${tail}`;
}

export interface TextGenerationSummarizer extends Summarizer {
  stats(): TextGenerationStats;
}

export function createTextGenerationSummarizer(
  options: TextGenerationSummarizerOptions,
): TextGenerationSummarizer {
  const C = 'createTextGenerationSummarizer';
  if (typeof options !== 'object' || options === null)
    throw new ConfigError(`${C}: options { generate } are required`);
  rejectUnknownKeys(C, options, [
    'generate',
    'timeoutMs',
    'fallback',
    'buildPrompt',
    'maxTextChars',
    'maxPromptChars',
  ]);
  if (typeof options.generate !== 'function')
    throw new ConfigError(`${C}: generate must be a function (prompt, { signal }) => Promise<string>`);
  if (options.buildPrompt !== undefined && typeof options.buildPrompt !== 'function') {
    throw new ConfigError(`${C}: buildPrompt must be a function`);
  }
  const timeoutMs = checkNumber(C, 'timeoutMs', options.timeoutMs ?? 10_000, { min: 1 });
  const maxTextChars = checkNumber(C, 'maxTextChars', options.maxTextChars ?? 1200, {
    min: 1,
    integer: true,
  });
  const maxPromptChars = checkNumber(C, 'maxPromptChars', options.maxPromptChars ?? 6000, {
    min: 100,
    integer: true,
  });
  const fallback = options.fallback ?? createStructuredSummarizer();
  const build = options.buildPrompt ?? ((i: RefinePromptInput) => buildRefinePrompt(i, maxPromptChars));
  const generate = options.generate;
  const st: TextGenerationStats = { calls: 0, fallbacks: 0, timeouts: 0 };

  const withDeadline = async (prompt: string): Promise<string> => {
    const ac = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        st.timeouts++;
        // Settle the deadline first so the race reports the timeout, then abort the call.
        reject(new Error(`text generation timed out after ${timeoutMs} ms`));
        ac.abort();
      }, timeoutMs);
      timer.unref?.();
    });
    try {
      return await Promise.race([generate(prompt, { signal: ac.signal }), deadline]);
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    stats: () => ({ ...st }),
    async summarize(digest, previous, context) {
      const level = context?.level ?? 'window';
      const structured = await fallback.summarize(digest, previous, context);
      st.calls++;
      let text: string;
      try {
        const prompt = build({ level, previous, digest, structured }).slice(0, maxPromptChars);
        text = (await withDeadline(prompt)).trim();
        if (text === '') throw new Error('empty answer');
      } catch (err) {
        st.fallbacks++;
        const message = err instanceof Error ? err.message : String(err);
        return {
          ...structured,
          facts: { ...structured.facts, textSource: 'structured', modelError: message.slice(0, 200) },
        };
      }
      return {
        ...structured,
        text: text.length > maxTextChars ? `${text.slice(0, maxTextChars - 1)}…` : text,
        facts: { ...structured.facts, textSource: 'model', structuredText: structured.text },
      };
    },
  };
}
