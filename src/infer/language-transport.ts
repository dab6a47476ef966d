/**
 * Transports to language models, one interface each, two wire protocols each:
 *
 * - `ChatModel.ask({ prompt, system?, jpeg? })`: an OpenAI-compatible `POST <url>/chat/completions`
 *   (vLLM, Ollama, llama.cpp server, LM Studio; the image as an `image_url` data-URL content part),
 *   or KServe v2 gRPC as Triton's vLLM backend takes it (`text_input` BYTES, `image` BYTES holding
 *   the base64 JPEG, `sampling_parameters` JSON with `max_tokens`; `text_output` back).
 * - `SpeechModel.transcribe(wav)`: an OpenAI-compatible `POST <url>/audio/transcriptions`
 *   (multipart: file, model, language, response_format verbose_json; whisper.cpp server,
 *   faster-whisper servers, vLLM), or KServe v2 (`audio` BYTES holding the WAV file, `text_input`
 *   the task prompt; `text_output` back).
 *
 * Every call takes an AbortSignal (the deadline). Errors are InferenceError; messages name the
 * endpoint without credentials and never carry the API key.
 */
import { InferenceError } from '../core/errors.js';
import type { LanguageModelConfig } from '../core/language-model.js';
import { asStrings, bytesTensor, InferenceClient, type Tensor } from './client.js';
import type { ModelUsage } from './model-call.js';

export interface ChatAnswer {
  text: string;
  usage?: ModelUsage;
  /** The server flagged the answer as a refusal (OpenAI's `message.refusal`). */
  refused?: boolean;
}

export interface ChatModel {
  readonly model: string;
  ask(
    input: { prompt: string; system?: string; jpeg?: Uint8Array },
    signal: AbortSignal,
  ): Promise<ChatAnswer>;
  close(): Promise<void>;
}

export interface SpeechAnswer {
  text: string;
  language?: string;
  usage?: ModelUsage;
}

export interface SpeechModel {
  readonly model: string;
  transcribe(wav: Uint8Array, signal: AbortSignal): Promise<SpeechAnswer>;
  close(): Promise<void>;
}

/** 16-bit PCM mono samples → a RIFF/WAVE file. */
export function encodeWav(samples: Int16Array, sampleRate: number): Uint8Array {
  const data = samples.length * 2;
  const b = Buffer.alloc(44 + data);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(36 + data, 4);
  b.write('WAVE', 8, 'latin1');
  b.write('fmt ', 12, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20); // PCM
  b.writeUInt16LE(1, 22); // mono
  b.writeUInt32LE(sampleRate, 24);
  b.writeUInt32LE(sampleRate * 2, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(data, 40);
  for (let i = 0; i < samples.length; i++) b.writeInt16LE(samples[i]!, 44 + i * 2);
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function endpoint(base: string, path: string): URL {
  return new URL(path, base.endsWith('/') ? base : `${base}/`);
}

function httpError(where: string, status: number, body: string): InferenceError {
  const code =
    status === 404
      ? 'VIGIL_ERR_INFER_NOT_FOUND'
      : status === 400 || status === 422
        ? 'VIGIL_ERR_INFER_INVALID_ARGUMENT'
        : status === 429
          ? 'VIGIL_ERR_INFER_RESOURCE_EXHAUSTED'
          : status >= 500
            ? 'VIGIL_ERR_INFER_UNAVAILABLE'
            : 'VIGIL_ERR_INFER_MODEL';
  // The server's own message, cut short; it never holds our key (sent only as a header).
  return new InferenceError(code, `${where}: HTTP ${status} ${body.slice(0, 160)}`);
}

async function post(
  where: string,
  url: URL,
  init: { headers: Record<string, string>; body: string | FormData },
  apiKey: string | undefined,
  signal: AbortSignal,
): Promise<{ status: number; text: string }> {
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { ...init.headers, ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
      body: init.body,
      signal,
    });
    text = await res.text();
  } catch (e) {
    const aborted = signal.aborted;
    throw new InferenceError(
      aborted ? 'VIGIL_ERR_INFER_DEADLINE' : 'VIGIL_ERR_INFER_UNAVAILABLE',
      `${where}: ${aborted ? 'deadline passed' : `connection failed (${(e as Error).message})`}`,
    );
  }
  if (!res.ok) throw httpError(where, res.status, text);
  return { status: res.status, text };
}

function parseJson(where: string, text: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(text);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new InferenceError('VIGIL_ERR_INFER_BAD_RESPONSE', `${where}: response is not a JSON object`);
}

function usageOf(v: unknown): ModelUsage | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const u = v as { prompt_tokens?: unknown; completion_tokens?: unknown };
  const out: ModelUsage = {};
  if (typeof u.prompt_tokens === 'number') out.promptTokens = u.prompt_tokens;
  if (typeof u.completion_tokens === 'number') out.completionTokens = u.completion_tokens;
  return out;
}

function openAIChat(cfg: LanguageModelConfig, apiKey: string | undefined): ChatModel {
  const url = endpoint(cfg.url!, 'chat/completions');
  const where = `chat completions at ${url.origin}${url.pathname}`;
  return {
    model: cfg.model,
    async ask(input, signal) {
      const content = input.jpeg
        ? [
            { type: 'text', text: input.prompt },
            {
              type: 'image_url',
              image_url: { url: `data:image/jpeg;base64,${Buffer.from(input.jpeg).toString('base64')}` },
            },
          ]
        : input.prompt;
      const messages = [
        ...(input.system ? [{ role: 'system', content: input.system }] : []),
        { role: 'user', content },
      ];
      const body = JSON.stringify({
        model: cfg.model,
        messages,
        max_tokens: cfg.maxTokens,
        temperature: 0,
        stream: false,
      });
      const { text } = await post(
        where,
        url,
        { headers: { 'content-type': 'application/json' }, body },
        apiKey,
        signal,
      );
      const parsed = parseJson(where, text);
      const choice = (
        parsed['choices'] as { message?: { content?: unknown; refusal?: unknown } }[] | undefined
      )?.[0];
      const out = choice?.message?.content;
      const refusal = choice?.message?.refusal;
      if (typeof out !== 'string' && typeof refusal !== 'string')
        throw new InferenceError('VIGIL_ERR_INFER_BAD_RESPONSE', `${where}: no choices[0].message.content`);
      const usage = usageOf(parsed['usage']);
      return {
        text: typeof out === 'string' ? out : '',
        ...(usage ? { usage } : {}),
        ...(typeof refusal === 'string' && refusal !== '' ? { refused: true } : {}),
      };
    },
    close: () => Promise.resolve(),
  };
}

function kserveClient(cfg: LanguageModelConfig): InferenceClient {
  return new InferenceClient({
    addresses: [cfg.address!],
    deadlineMs: cfg.timeoutMs,
    retries: 0,
    sharedMemory: 'off',
    streamInfer: false,
  });
}

async function kserveText(
  client: InferenceClient,
  cfg: LanguageModelConfig,
  inputs: Tensor[],
  signal: AbortSignal,
): Promise<string> {
  const call = client.infer({
    model: cfg.model,
    inputs: [
      ...inputs,
      bytesTensor(
        'sampling_parameters',
        [JSON.stringify({ max_tokens: cfg.maxTokens, temperature: 0 })],
        [1],
      ),
      { name: 'exclude_input_in_output', datatype: 'BOOL', shape: [1], data: Uint8Array.from([1]) },
    ],
    outputs: ['text_output'],
    deadlineMs: cfg.timeoutMs,
  });
  const aborted = new Promise<never>((_, reject) =>
    signal.addEventListener('abort', () =>
      reject(new InferenceError('VIGIL_ERR_INFER_DEADLINE', `model '${cfg.model}': deadline passed`)),
    ),
  );
  const res = await Promise.race([call, aborted]);
  const out = res.outputs.find((o) => o.name === 'text_output');
  if (!out)
    throw new InferenceError('VIGIL_ERR_INFER_BAD_RESPONSE', `model '${cfg.model}' returned no text_output`);
  return asStrings(out).join('');
}

function kserveChat(cfg: LanguageModelConfig): ChatModel {
  const client = kserveClient(cfg);
  return {
    model: cfg.model,
    async ask(input, signal) {
      const prompt = input.system ? `${input.system}\n\n${input.prompt}` : input.prompt;
      const inputs: Tensor[] = [bytesTensor('text_input', [prompt], [1])];
      if (input.jpeg) inputs.push(bytesTensor('image', [Buffer.from(input.jpeg).toString('base64')], [1]));
      return { text: await kserveText(client, cfg, inputs, signal) };
    },
    close: () => {
      client.close();
      return Promise.resolve();
    },
  };
}

export function createChatModel(cfg: LanguageModelConfig, apiKey?: string): ChatModel {
  return cfg.kind === 'openai' ? openAIChat(cfg, apiKey) : kserveChat(cfg);
}

const LANGUAGE_NAMES: Record<string, string> = {
  english: 'en',
  german: 'de',
  french: 'fr',
  spanish: 'es',
  italian: 'it',
  portuguese: 'pt',
  dutch: 'nl',
  japanese: 'ja',
  chinese: 'zh',
};

function openAISpeech(cfg: LanguageModelConfig, apiKey: string | undefined): SpeechModel {
  const url = endpoint(cfg.url!, 'audio/transcriptions');
  const where = `audio transcriptions at ${url.origin}${url.pathname}`;
  return {
    model: cfg.model,
    async transcribe(wav, signal) {
      const form = new FormData();
      form.append('file', new Blob([wav], { type: 'audio/wav' }), 'speech.wav');
      form.append('model', cfg.model);
      if (cfg.language) form.append('language', cfg.language);
      form.append('response_format', 'verbose_json');
      form.append('temperature', '0');
      const { text } = await post(where, url, { headers: {}, body: form }, apiKey, signal);
      const parsed = parseJson(where, text);
      if (typeof parsed['text'] !== 'string')
        throw new InferenceError('VIGIL_ERR_INFER_BAD_RESPONSE', `${where}: no text in the answer`);
      const lang = typeof parsed['language'] === 'string' ? parsed['language'].toLowerCase() : cfg.language;
      const language = lang === undefined ? undefined : (LANGUAGE_NAMES[lang] ?? lang).slice(0, 16);
      return { text: parsed['text'], ...(language ? { language } : {}) };
    },
    close: () => Promise.resolve(),
  };
}

function kserveSpeech(cfg: LanguageModelConfig): SpeechModel {
  const client = kserveClient(cfg);
  return {
    model: cfg.model,
    async transcribe(wav, signal) {
      const task = cfg.language ? `transcribe:${cfg.language}` : 'transcribe';
      const text = await kserveText(
        client,
        cfg,
        [bytesTensor('text_input', [task], [1]), bytesTensor('audio', [wav], [1])],
        signal,
      );
      return { text, ...(cfg.language ? { language: cfg.language } : {}) };
    },
    close: () => {
      client.close();
      return Promise.resolve();
    },
  };
}

export function createSpeechModel(cfg: LanguageModelConfig, apiKey?: string): SpeechModel {
  return cfg.kind === 'openai' ? openAISpeech(cfg, apiKey) : kserveSpeech(cfg);
}
