/**
 * Stand-in for an OpenAI-compatible server (what vLLM, Ollama, llama.cpp server and the whisper
 * servers expose), for tests only: no model runs here. It implements the wire protocol as the public
 * API reference publishes it and checks every request field against it:
 *
 * - `POST /v1/chat/completions`: JSON body { model, messages[{ role, content: string | parts }],
 *   max_tokens | max_completion_tokens, temperature, stream, ... }; content parts `text` and
 *   `image_url` (a base64 `data:image/...` URL whose bytes must be a JPEG or PNG);
 * - `POST /v1/audio/transcriptions`: multipart/form-data with `file` (a RIFF/WAVE PCM file), `model`,
 *   optional `language` (ISO-639-1), `prompt`, `response_format` (json, text, verbose_json, srt, vtt),
 *   `temperature`;
 * - `GET /v1/models`.
 *
 * A request that breaks the reference is answered 400 with the reference's error body and recorded
 * in `violations`, so a test can assert there were none. Behaviours a test can set: slow answers,
 * 5xx failures, malformed JSON, empty content, refusals, closing the connection mid-response, and
 * any reply text (a function of the request, e.g. citing ids that do not exist).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type StandInMode = 'ok' | 'fail' | 'malformed' | 'empty' | 'refusal' | 'close';

export interface ChatPart {
  type: string;
  text?: string;
  image_url?: { url: string; detail?: string };
}

export interface ChatRequest {
  model: string;
  messages: { role: string; content: string | ChatPart[] }[];
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  [key: string]: unknown;
}

export interface ChatCall {
  body: ChatRequest;
  /** The text of every `text` part and string content, joined. */
  text: string;
  /** Decoded bytes of each image_url data URL. */
  images: Uint8Array[];
  authorization: string | undefined;
}

export interface TranscriptionCall {
  model: string;
  language: string | undefined;
  responseFormat: string;
  fileName: string;
  /** Decoded WAV: samples (mono S16) and rate. */
  sampleRate: number;
  channels: number;
  samples: number;
  authorization: string | undefined;
}

export interface OpenAIStandInOptions {
  /** Model ids listed by GET /v1/models and accepted in requests (default ['standin-vlm']). */
  models?: string[];
  /** When set, every request must carry `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string;
}

export interface OpenAIStandIn {
  /** Base URL including `/v1`, as a user would configure it. */
  readonly url: string;
  readonly chats: ChatCall[];
  readonly transcriptions: TranscriptionCall[];
  /** Requests that broke the API reference (each answered 400). */
  readonly violations: string[];
  /** Requests being answered right now, and the most at once. */
  readonly inFlight: { now: number; max: number };
  mode: StandInMode;
  /** Delay before answering, ms (a slow model). */
  delayMs: number;
  /** Chat answer text (default: a fixed one-sentence description). */
  reply: (call: ChatCall) => string;
  /** Transcription text (default 'hello from the stand-in'). */
  transcript: (call: TranscriptionCall) => string;
  close(): Promise<void>;
}

const CHAT_KEYS = new Set([
  'model',
  'messages',
  'max_tokens',
  'max_completion_tokens',
  'temperature',
  'top_p',
  'n',
  'stream',
  'stop',
  'seed',
  'presence_penalty',
  'frequency_penalty',
  'response_format',
  'user',
]);
const ROLES = new Set(['system', 'developer', 'user', 'assistant']);
const FORMATS = new Set(['json', 'text', 'srt', 'verbose_json', 'vtt']);
const AUDIO_EXT = /\.(flac|mp3|mp4|mpeg|mpga|m4a|ogg|wav|webm)$/;
const TRANSCRIPTION_FIELDS = new Set([
  'file',
  'model',
  'language',
  'prompt',
  'response_format',
  'temperature',
  'timestamp_granularities[]',
]);
const BODY_LIMIT = 32 * 1024 * 1024;

class Violation extends Error {}

function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Violation(message);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > BODY_LIMIT) {
        reject(new Violation('body over 32 MiB'));
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

function checkChat(raw: unknown, models: string[]): ChatCall {
  check(typeof raw === 'object' && raw !== null && !Array.isArray(raw), 'body must be a JSON object');
  const body = raw as ChatRequest;
  for (const k of Object.keys(body)) check(CHAT_KEYS.has(k), `unknown field '${k}'`);
  check(typeof body.model === 'string' && body.model !== '', 'model must be a non-empty string');
  check(models.includes(body.model), `model '${body.model}' does not exist`);
  check(Array.isArray(body.messages) && body.messages.length > 0, 'messages must be a non-empty array');
  for (const k of ['max_tokens', 'max_completion_tokens'] as const) {
    const v = body[k];
    if (v !== undefined) check(Number.isInteger(v) && v > 0, `${k} must be a positive integer`);
  }
  if (body.temperature !== undefined)
    check(
      typeof body.temperature === 'number' && body.temperature >= 0 && body.temperature <= 2,
      'temperature must be a number in [0, 2]',
    );
  if (body['stream'] !== undefined) check(typeof body['stream'] === 'boolean', 'stream must be a boolean');
  check(body['stream'] !== true, 'the stand-in answers stream: false only');
  const texts: string[] = [];
  const images: Uint8Array[] = [];
  body.messages.forEach((m, i) => {
    check(typeof m === 'object' && m !== null, `messages[${i}] must be an object`);
    for (const k of Object.keys(m))
      check(k === 'role' || k === 'content' || k === 'name', `messages[${i}].${k}`);
    check(ROLES.has(m.role), `messages[${i}].role '${String(m.role)}' is not a role`);
    if (typeof m.content === 'string') {
      texts.push(m.content);
      return;
    }
    check(Array.isArray(m.content) && m.content.length > 0, `messages[${i}].content: string or parts`);
    check(m.role === 'user', `messages[${i}]: content parts with images only in user messages`);
    m.content.forEach((p, j) => {
      const at = `messages[${i}].content[${j}]`;
      if (p.type === 'text') {
        check(typeof p.text === 'string', `${at}.text must be a string`);
        check(
          Object.keys(p).every((k) => k === 'type' || k === 'text'),
          `${at}: unknown field`,
        );
        texts.push(p.text);
      } else if (p.type === 'image_url') {
        check(typeof p.image_url === 'object' && p.image_url !== null, `${at}.image_url must be an object`);
        check(typeof p.image_url.url === 'string', `${at}.image_url.url must be a string`);
        if (p.image_url.detail !== undefined)
          check(['auto', 'low', 'high'].includes(p.image_url.detail), `${at}.image_url.detail`);
        const m2 = /^data:image\/(jpeg|png|webp|gif);base64,([A-Za-z0-9+/]+={0,2})$/.exec(p.image_url.url);
        check(m2 !== null, `${at}.image_url.url must be a base64 image data URL`);
        const bytes = Buffer.from(m2[2]!, 'base64');
        const jpeg = bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[bytes.length - 2] === 0xff;
        const png = bytes.subarray(0, 4).toString('latin1') === '\x89PNG';
        check(m2[1] === 'jpeg' ? jpeg : png, `${at}: the data URL's bytes are not a ${m2[1]} image`);
        images.push(new Uint8Array(bytes));
      } else {
        throw new Violation(`${at}.type '${String(p.type)}' is not text or image_url`);
      }
    });
  });
  return { body, text: texts.join('\n'), images, authorization: undefined };
}

/** Parses a RIFF/WAVE file with a PCM fmt chunk; throws Violation when it is not one. */
function checkWav(b: Buffer): { sampleRate: number; channels: number; samples: number } {
  check(b.length >= 44, 'file is too short for a WAV');
  check(
    b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WAVE',
    'file is not RIFF/WAVE',
  );
  check(b.readUInt32LE(4) === b.length - 8, 'RIFF size does not match the file');
  let off = 12;
  let fmt: { channels: number; sampleRate: number; bits: number } | undefined;
  while (off + 8 <= b.length) {
    const id = b.toString('latin1', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      check(b.readUInt16LE(off + 8) === 1, 'WAV is not PCM');
      const channels = b.readUInt16LE(off + 10);
      const sampleRate = b.readUInt32LE(off + 12);
      const bits = b.readUInt16LE(off + 22);
      check(b.readUInt32LE(off + 16) === (sampleRate * channels * bits) / 8, 'WAV byte rate is wrong');
      check(b.readUInt16LE(off + 20) === (channels * bits) / 8, 'WAV block align is wrong');
      fmt = { channels, sampleRate, bits };
    } else if (id === 'data') {
      check(fmt !== undefined, 'WAV data before fmt');
      check(off + 8 + size === b.length, 'WAV data size does not match the file');
      return {
        sampleRate: fmt.sampleRate,
        channels: fmt.channels,
        samples: size / fmt.channels / (fmt.bits / 8),
      };
    }
    off += 8 + size + (size % 2);
  }
  throw new Violation('WAV has no data chunk');
}

async function checkTranscription(req: IncomingMessage, body: Buffer, models: string[]) {
  const type = req.headers['content-type'] ?? '';
  check(/^multipart\/form-data;\s*boundary=/.test(type), 'content-type must be multipart/form-data');
  let form: FormData;
  try {
    form = await new Response(body, { headers: { 'content-type': type } }).formData();
  } catch {
    throw new Violation('body is not valid multipart/form-data');
  }
  for (const k of form.keys()) check(TRANSCRIPTION_FIELDS.has(k), `unknown field '${k}'`);
  const file = form.get('file');
  check(file instanceof Blob && 'name' in file, 'file is required (a file part)');
  const fileName = (file as File).name;
  check(AUDIO_EXT.test(fileName), `file name '${fileName}' has no supported audio extension`);
  const model = form.get('model');
  check(typeof model === 'string' && model !== '', 'model is required');
  check(models.includes(model), `model '${model}' does not exist`);
  const language = form.get('language');
  if (language !== null)
    check(typeof language === 'string' && /^[a-z]{2}$/.test(language), 'language: ISO-639-1');
  const format = form.get('response_format') ?? 'json';
  check(typeof format === 'string' && FORMATS.has(format), `response_format '${String(format)}'`);
  const t = form.get('temperature');
  if (t !== null) check(typeof t === 'string' && Number(t) >= 0 && Number(t) <= 1, 'temperature in [0, 1]');
  const wav = checkWav(Buffer.from(await (file as Blob).arrayBuffer()));
  return {
    model,
    language: language === null ? undefined : (language as string),
    responseFormat: format as string,
    fileName,
    ...wav,
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function errorBody(message: string, type: string) {
  return { error: { message, type, param: null, code: null } };
}

export async function startOpenAIStandIn(options: OpenAIStandInOptions = {}): Promise<OpenAIStandIn> {
  const models = options.models ?? ['standin-vlm'];
  const sockets = new Set<Socket>();
  let seq = 0;
  const state: Omit<OpenAIStandIn, 'url' | 'close'> = {
    chats: [],
    transcriptions: [],
    violations: [],
    inFlight: { now: 0, max: 0 },
    mode: 'ok',
    delayMs: 0,
    reply: () => 'A person walks across a paved square.',
    transcript: () => 'hello from the stand-in',
  };

  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split('?')[0];
    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      sendJson(res, 401, errorBody('Incorrect API key provided', 'invalid_request_error'));
      return;
    }
    if (req.method === 'GET' && path === '/v1/models') {
      sendJson(res, 200, {
        object: 'list',
        data: models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'standin' })),
      });
      return;
    }
    const isChat = path === '/v1/chat/completions';
    const isAsr = path === '/v1/audio/transcriptions';
    if (!isChat && !isAsr) {
      sendJson(res, 404, errorBody(`no route ${req.method} ${path}`, 'invalid_request_error'));
      return;
    }
    if (req.method !== 'POST') {
      sendJson(res, 405, errorBody('method not allowed', 'invalid_request_error'));
      return;
    }
    const body = await readBody(req);
    let text: string;
    let usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | undefined;
    let asr: TranscriptionCall | undefined;
    if (isChat) {
      check(
        /^application\/json\b/.test(req.headers['content-type'] ?? ''),
        'content-type must be application/json',
      );
      let raw: unknown;
      try {
        raw = JSON.parse(body.toString('utf8'));
      } catch {
        throw new Violation('body is not JSON');
      }
      const call = checkChat(raw, models);
      call.authorization = req.headers.authorization;
      state.chats.push(call);
      text = state.reply(call);
      const prompt = Math.ceil(call.text.length / 4) + call.images.length * 256;
      const completion = Math.ceil(text.length / 4);
      usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
    } else {
      asr = { ...(await checkTranscription(req, body, models)), authorization: req.headers.authorization };
      state.transcriptions.push(asr);
      text = state.transcript(asr);
    }
    if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));
    if (res.destroyed) return;
    switch (state.mode) {
      case 'fail':
        sendJson(res, 503, errorBody('the stand-in is told to fail', 'server_error'));
        return;
      case 'malformed':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"id": "x", "choices": [{"message": {"content": "unterminated');
        return;
      case 'close': {
        // Headers and part of the body, then the connection goes away.
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '4096' });
        res.write('{"id": "chatcmpl-cut", "choices": [');
        setTimeout(() => res.socket?.destroy(), 5).unref();
        return;
      }
      case 'empty':
        text = '';
        break;
      case 'refusal':
        text = "I'm sorry, but I cannot determine what is shown in this image.";
        break;
      case 'ok':
        break;
    }
    if (asr) {
      if (asr.responseFormat === 'text') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(text);
      } else if (asr.responseFormat === 'verbose_json') {
        sendJson(res, 200, {
          task: 'transcribe',
          language: asr.language === 'de' ? 'german' : 'english',
          duration: asr.samples / asr.sampleRate,
          text,
          segments: [],
        });
      } else {
        sendJson(res, 200, { text });
      }
      return;
    }
    sendJson(res, 200, {
      id: `chatcmpl-standin-${++seq}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: state.chats[state.chats.length - 1]?.body.model,
      choices: [
        {
          index: 0,
          message: {
            role: 'assistant',
            content: text,
            refusal: state.mode === 'refusal' ? text : null,
          },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage,
    });
  };

  const server = createServer((req, res) => {
    state.inFlight.now++;
    state.inFlight.max = Math.max(state.inFlight.max, state.inFlight.now);
    res.on('close', () => state.inFlight.now--);
    answer(req, res).catch((e: unknown) => {
      if (e instanceof Violation) {
        state.violations.push(e.message);
        if (!res.headersSent) sendJson(res, 400, errorBody(e.message, 'invalid_request_error'));
        return;
      }
      if (!res.headersSent) sendJson(res, 500, errorBody('stand-in error', 'server_error'));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/v1`,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      })),
  });
}
