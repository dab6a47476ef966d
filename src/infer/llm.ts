/**
 * Language-model adapters behind the summarizer and captioner interfaces:
 *
 * - `createKServeTextGenerator`: text generation over KServe v2 gRPC, the tensors of Triton's vLLM
 *   / TensorRT-LLM backends (`text_input` BYTES in, `text_output` BYTES out, optional
 *   `sampling_parameters` JSON and `exclude_input_in_output`).
 * - `createOpenAIChat`: an OpenAI-compatible `POST /v1/chat/completions` endpoint (vLLM, Ollama,
 *   llama.cpp server): `generate(prompt)` and `caption(image)` with the keyframe as a base64 JPEG
 *   data URL in an `image_url` content part.
 *
 * Both give a `TextGenerator` (`(prompt) => Promise<string>`), the function the stream's LLM
 * summarizer takes. Errors are InferenceError; API keys never appear in messages.
 */
import jpeg from 'jpeg-js';
import type { Image } from '../core/contracts.js';
import { ConfigError, InferenceError } from '../core/errors.js';
import { asStrings, bytesTensor, type InferenceClient, type Tensor } from './client.js';

export type TextGenerator = (prompt: string) => Promise<string>;

export interface Captioner {
  caption(image: Image | { jpeg: Uint8Array }): Promise<string>;
}

export interface KServeTextOptions {
  client: InferenceClient;
  /** Model name on the server (e.g. a vLLM model in Triton). */
  model: string;
  version?: string;
  /** Sent as the BYTES tensor `sampling_parameters` (JSON), as Triton's vLLM backend reads it. */
  samplingParameters?: Record<string, unknown>;
  /** Sent as BOOL `exclude_input_in_output` (vLLM backend): return only the completion. */
  excludeInputInOutput?: boolean;
  /** Per-call deadline, ms. Default: the client's. */
  deadlineMs?: number;
}

export function createKServeTextGenerator(options: KServeTextOptions): TextGenerator {
  const known = ['client', 'model', 'version', 'samplingParameters', 'excludeInputInOutput', 'deadlineMs'];
  for (const k of Object.keys(options)) {
    if (!known.includes(k))
      throw new ConfigError(`kserve text: unknown option '${k}' (known: ${known.join(', ')})`);
  }
  if (!options.model) throw new ConfigError('kserve text: model is required');
  const { client, model } = options;
  return async (prompt: string): Promise<string> => {
    const inputs: Tensor[] = [bytesTensor('text_input', [prompt], [1])];
    if (options.samplingParameters) {
      inputs.push(bytesTensor('sampling_parameters', [JSON.stringify(options.samplingParameters)], [1]));
    }
    if (options.excludeInputInOutput !== undefined) {
      inputs.push({
        name: 'exclude_input_in_output',
        datatype: 'BOOL',
        shape: [1],
        data: Uint8Array.from([options.excludeInputInOutput ? 1 : 0]),
      });
    }
    const res = await client.infer({
      model,
      ...(options.version ? { version: options.version } : {}),
      inputs,
      outputs: ['text_output'],
      ...(options.deadlineMs ? { deadlineMs: options.deadlineMs } : {}),
    });
    const out = res.outputs.find((o) => o.name === 'text_output');
    if (!out)
      throw new InferenceError('VIGIL_ERR_INFER_BAD_RESPONSE', `model '${model}' returned no text_output`);
    return asStrings(out).join('');
  };
}

export interface OpenAIChatOptions {
  /** Base URL including the API prefix, e.g. `http://127.0.0.1:11434/v1` (Ollama) or `http://host:8000/v1` (vLLM). */
  baseUrl: string;
  model: string;
  /** Sent as `Authorization: Bearer ...`; never logged. */
  apiKey?: string;
  /** Per-request timeout, ms. Default 60000. */
  timeoutMs?: number;
  maxTokens?: number;
  temperature?: number;
  /** Optional system message for both generate and caption. */
  systemPrompt?: string;
  /** Instruction sent with each keyframe. */
  captionPrompt?: string;
  /** JPEG quality for captions, 1..100. Default 80. */
  jpegQuality?: number;
}

export interface OpenAIChat extends Captioner {
  generate: TextGenerator;
}

type ContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

/** RGB (or GRAY8) image → baseline JPEG bytes. */
export function encodeJpeg(image: Image, quality = 80): Uint8Array {
  const px = image.width * image.height;
  const rgba = new Uint8Array(px * 4);
  const ch = image.format === 'RGB' ? 3 : 1;
  if (image.data.length !== px * ch) {
    throw new InferenceError(
      'VIGIL_ERR_INFER_INVALID_ARGUMENT',
      `image data is ${image.data.length} bytes, want ${px * ch}`,
    );
  }
  for (let i = 0; i < px; i++) {
    const s = i * ch;
    rgba[i * 4] = image.data[s]!;
    rgba[i * 4 + 1] = image.data[s + (ch === 3 ? 1 : 0)]!;
    rgba[i * 4 + 2] = image.data[s + (ch === 3 ? 2 : 0)]!;
    rgba[i * 4 + 3] = 255;
  }
  return jpeg.encode({ data: rgba, width: image.width, height: image.height }, quality).data;
}

export function createOpenAIChat(options: OpenAIChatOptions): OpenAIChat {
  const known = [
    'baseUrl',
    'model',
    'apiKey',
    'timeoutMs',
    'maxTokens',
    'temperature',
    'systemPrompt',
    'captionPrompt',
    'jpegQuality',
  ];
  for (const k of Object.keys(options)) {
    if (!known.includes(k))
      throw new ConfigError(`openai chat: unknown option '${k}' (known: ${known.join(', ')})`);
  }
  let base: URL;
  try {
    base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : options.baseUrl + '/');
  } catch {
    throw new ConfigError(`openai chat: baseUrl '${options.baseUrl}' is not a URL`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') {
    throw new ConfigError('openai chat: baseUrl must be http(s)');
  }
  if (base.username || base.password)
    throw new ConfigError('openai chat: put credentials in apiKey, not in baseUrl');
  if (!options.model) throw new ConfigError('openai chat: model is required');
  const url = new URL('chat/completions', base);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const quality = options.jpegQuality ?? 80;
  const where = `${url.origin}${url.pathname}`;

  const complete = async (content: string | ContentPart[]): Promise<string> => {
    const messages: { role: string; content: string | ContentPart[] }[] = [];
    if (options.systemPrompt) messages.push({ role: 'system', content: options.systemPrompt });
    messages.push({ role: 'user', content });
    const body = {
      model: options.model,
      messages,
      stream: false,
      ...(options.maxTokens !== undefined ? { max_tokens: options.maxTokens } : {}),
      ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
    };
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      const timedOut = (e as Error).name === 'TimeoutError';
      throw new InferenceError(
        timedOut ? 'VIGIL_ERR_INFER_DEADLINE' : 'VIGIL_ERR_INFER_UNAVAILABLE',
        `chat completions at ${where}: ${timedOut ? `no answer within ${timeoutMs} ms` : (e as Error).message}`,
        { cause: e },
      );
    }
    const text = await res.text();
    if (!res.ok) {
      const code =
        res.status === 404
          ? 'VIGIL_ERR_INFER_NOT_FOUND'
          : res.status === 400 || res.status === 422
            ? 'VIGIL_ERR_INFER_INVALID_ARGUMENT'
            : res.status === 429
              ? 'VIGIL_ERR_INFER_RESOURCE_EXHAUSTED'
              : res.status >= 500
                ? 'VIGIL_ERR_INFER_UNAVAILABLE'
                : 'VIGIL_ERR_INFER_MODEL';
      throw new InferenceError(
        code,
        `chat completions at ${where}: HTTP ${res.status} ${text.slice(0, 200)}`,
      );
    }
    let parsed: { choices?: { message?: { content?: unknown } }[] };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw new InferenceError(
        'VIGIL_ERR_INFER_BAD_RESPONSE',
        `chat completions at ${where}: response is not JSON`,
      );
    }
    const out = parsed.choices?.[0]?.message?.content;
    if (typeof out !== 'string') {
      throw new InferenceError(
        'VIGIL_ERR_INFER_BAD_RESPONSE',
        `chat completions at ${where}: no choices[0].message.content`,
      );
    }
    return out;
  };

  return {
    generate: (prompt) => complete(prompt),
    caption: (image) => {
      const bytes = 'jpeg' in image ? image.jpeg : encodeJpeg(image, quality);
      const dataUrl = `data:image/jpeg;base64,${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
      return complete([
        {
          type: 'text',
          text: options.captionPrompt ?? 'Describe this video keyframe in one short factual sentence.',
        },
        { type: 'image_url', image_url: { url: dataUrl } },
      ]);
    },
  };
}
