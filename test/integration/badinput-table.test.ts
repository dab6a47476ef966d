/**
 * Bad input, table-driven, against ONE long-lived service (`startService`, as `vigil run` starts
 * it: a real nats-server, the real inference server with YOLOv8n, the HTTP and NATS control API)
 * with two healthy streams attached: an RTSP camera (the real gst-rtsp-server fixture, with
 * credentials) and a live test source. Every row feeds one bad input through the public surface
 * (the control API, the config loader, the gRPC client) and expects a typed error: a stable code
 * and a readable message that names the (redacted) source or the field, with no secret and no
 * stack trace in it. Odd-but-valid media (8K, 1x1, odd sizes, variable frame rate) must be
 * analysed, scaled to the model size. All along, the healthy streams must keep delivering frames.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startService, type Service } from '../../src/app/service.js';
import type { StreamInfo } from '../../src/analyzer/manager.js';
import { loadConfig, parseConfig } from '../../src/config/index.js';
import { controlRequest } from '../../src/control/nats.js';
import { InferenceClient } from '../../src/infer/index.js';
import type { VigilError } from '../../src/core/errors.js';
import { generateBadInputs, type BadInputFiles } from '../fixtures/badinput/generate.js';
import { MODEL_REPO, requireFile } from '../helpers/paths.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.js';

const USER = 'viewer';
const PASSWORD = 'Cam3ra-Pw';
const WRONG_PASSWORD = 'Wr0ng-Pw';
const SECRETS = [PASSWORD, WRONG_PASSWORD];
const STACK_LINE = /^\s+at .+:\d+:\d+\)?$/m;

/** What one row produced: a typed error (code + message), or a stream that ran to completion. */
interface Outcome {
  code: string;
  message: string;
  /** HTTP (or NATS Vigil-Status) status, for control requests. */
  status?: number;
  /** For streams that completed: frames seen, and the source size reported on NATS. */
  frames?: number;
  source?: { width: number; height: number } | null;
}

interface Row {
  /** What must appear in the message (the redacted source, the field, the file). */
  mentions?: string | RegExp;
  status?: number;
  run: () => Promise<Outcome>;
}

let dir: string;
let files: BadInputFiles;
let rtsp: RtspServer;
let bogusCodec: RtspServer;
let http: Server;
let httpBase: string;
let deadPort: number;
let service: Service;
let nc: NatsConnection;
let pwned: string;
const logs: string[] = [];
const sourceSizes = new Map<string, { width: number; height: number }>();
/** Frame counters of the healthy streams, sampled every 500 ms during the whole file. */
const samples: { atMs: number; rtsp: number; test: number; rtspState: string; testState: string }[] = [];
let sampler: ReturnType<typeof setInterval> | undefined;
let seq = 0;

async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function api(method: string, path: string, body?: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${service.controlUrl}${path}`, {
    method,
    ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: kept as text, and the row fails on it
  }
  return { status: res.status, body: parsed };
}

function errorOf(status: number, body: unknown): Outcome {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return {
    code: typeof e?.code === 'string' ? e.code : `(no error code; HTTP ${status})`,
    message: typeof e?.message === 'string' ? e.message : JSON.stringify(body),
    status,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Attaches a stream through the HTTP control API. A refusal comes back as the reply's error; an
 * accepted stream is followed until it fails, goes down (live sources retry) or completes, and is
 * detached.
 */
async function attach(url: string, extra: Record<string, unknown> = {}): Promise<Outcome> {
  const id = `bad-${++seq}`;
  const res = await api('POST', '/v1/streams', JSON.stringify({ id, url, ...extra }));
  if (res.status !== 201) return errorOf(res.status, res.body);
  try {
    const deadline = Date.now() + 25_000;
    for (;;) {
      const s = await api('GET', `/v1/streams/${id}`);
      const info = s.body as StreamInfo;
      if (info.state === 'completed') {
        // The keyframe message (with the source size) may land just after the stream completed.
        for (let i = 0; i < 100 && !sourceSizes.has(id); i++) await sleep(50);
        return {
          code: 'completed',
          message: `${info.source} completed`,
          frames: info.counters.frames,
          source: sourceSizes.get(id) ?? null,
        };
      }
      // A live source that failed retries: down, then connecting again with the error kept.
      if (info.error) {
        return { code: info.error.code, message: info.error.message };
      }
      if (Date.now() > deadline) return { code: `(still ${info.state} after 25 s)`, message: info.source };
      await sleep(50);
    }
  } finally {
    await api('DELETE', `/v1/streams/${id}`);
  }
}

async function config(text: string, name: string): Promise<Outcome> {
  const file = join(dir, name);
  writeFileSync(file, text);
  try {
    loadConfig(file, {});
    return { code: '(accepted)', message: '' };
  } catch (err) {
    return { code: (err as VigilError).code, message: (err as Error).message };
  }
}

async function natsCtl(op: string, data: string): Promise<Outcome> {
  const m = await nc.request(`vigil.ctl.${op}`, data, { timeout: 5_000 });
  return errorOf(Number(m.headers?.get('Vigil-Status') ?? 0), m.json<unknown>());
}

async function infer(maxMessageBytes: number | undefined, batch: number): Promise<Outcome> {
  const client = new InferenceClient({
    addresses: [service.inferAddress],
    ...(maxMessageBytes ? { maxMessageBytes } : {}),
    retries: 0,
  });
  try {
    await client.infer({
      model: 'yolov8n',
      inputs: [
        {
          name: 'images',
          datatype: 'FP32',
          shape: [batch, 3, 640, 640],
          data: new Float32Array(batch * 3 * 640 * 640),
        },
      ],
    });
    return { code: '(accepted)', message: '' };
  } catch (err) {
    return { code: (err as VigilError).code, message: (err as Error).message };
  } finally {
    client.close();
  }
}

const completed = (width: number, height: number) => ({ code: 'completed', width, height });
type Expect = { code: string | RegExp } | ReturnType<typeof completed>;

// The table: [name, expected, row]. Sources are attached over the HTTP control API.
const rows: [string, Expect, Row][] = [
  // malformed URLs
  ['empty url', { code: 'VIGIL_ERR_INVALID_ARGUMENT' }, { mentions: 'url', run: () => attach('') }],
  ['blank url', { code: 'VIGIL_ERR_SOURCE_URL' }, { mentions: 'empty', run: () => attach('   ') }],
  [
    'rtsp:// with nothing after it',
    { code: 'VIGIL_ERR_SOURCE_URL' },
    { mentions: 'rtsp://', run: () => attach('rtsp://') },
  ],
  [
    'rtsp URL without a host',
    { code: 'VIGIL_ERR_SOURCE_URL' },
    { mentions: 'rtsp://:8554/x', run: () => attach('rtsp://:8554/x') },
  ],
  [
    'unterminated IPv6 host',
    { code: 'VIGIL_ERR_SOURCE_URL' },
    { mentions: 'http://[::1', run: () => attach('http://[::1/cam.m3u8') },
  ],
  [
    'file URL with a remote host',
    { code: 'VIGIL_ERR_SOURCE_URL' },
    { mentions: 'file://camera-host', run: () => attach('file://camera-host/clip.mp4') },
  ],
  [
    'test source of absurd size',
    { code: 'VIGIL_ERR_SOURCE_URL' },
    { mentions: 'width', run: () => attach('test:ball?width=99999') },
  ],
  [
    'v4l2 pointing at a plain file',
    { code: 'VIGIL_ERR_SOURCE_URL' },
    { mentions: 'v4l2:///etc/passwd', run: () => attach('v4l2:///etc/passwd') },
  ],
  // unsupported schemes
  [
    'gopher:',
    { code: 'VIGIL_ERR_SOURCE_SCHEME' },
    { mentions: 'gopher', run: () => attach('gopher://127.0.0.1/feed') },
  ],
  [
    'javascript:',
    { code: 'VIGIL_ERR_SOURCE_SCHEME' },
    { mentions: 'javascript', run: () => attach('javascript:alert(1)') },
  ],
  [
    'data:',
    { code: 'VIGIL_ERR_SOURCE_SCHEME' },
    { mentions: 'data', run: () => attach('data:video/mp4;base64,AAAAIGZ0eXA=') },
  ],
  [
    'ftp:',
    { code: 'VIGIL_ERR_SOURCE_SCHEME' },
    { mentions: 'ftp', run: () => attach('ftp://127.0.0.1/cam.mp4') },
  ],
  [
    'rtmp:',
    { code: 'VIGIL_ERR_SOURCE_SCHEME' },
    { mentions: 'rtmp', run: () => attach('rtmp://127.0.0.1/live/cam') },
  ],
  // injection: pipeline syntax, shell metacharacters, control characters, path traversal
  [
    'gst-launch syntax as a path',
    { code: 'VIGIL_ERR_SOURCE_NOT_FOUND' },
    { mentions: 'filesink', run: () => attach(`videotestsrc ! filesink location=${pwned}`) },
  ],
  [
    'gst-launch syntax after a test pattern',
    { code: 'VIGIL_ERR_SOURCE_URL' },
    { mentions: 'filesink', run: () => attach(`test:ball ! filesink location=${pwned}`) },
  ],
  [
    'gst-launch syntax in an RTSP path',
    { code: 'VIGIL_ERR_SOURCE_UNREACHABLE' },
    {
      mentions: '127.0.0.1',
      run: () => attach(`rtsp://127.0.0.1:${deadPort}/s ! filesink location=${pwned}`),
    },
  ],
  [
    'shell metacharacters in an RTSP host',
    { code: 'VIGIL_ERR_SOURCE_URL' },
    { mentions: 'reboot', run: () => attach('rtsp://127.0.0.1;reboot/x') },
  ],
  [
    'command substitution as a path',
    { code: 'VIGIL_ERR_SOURCE_NOT_FOUND' },
    { mentions: '$(touch', run: () => attach(`$(touch ${pwned})`) },
  ],
  [
    'backticks and a command list',
    { code: 'VIGIL_ERR_SOURCE_NOT_FOUND' },
    { mentions: '`id`', run: () => attach(`\`id\`; rm -rf ${pwned} | cat`) },
  ],
  [
    'NUL byte',
    { code: 'VIGIL_ERR_SOURCE_URL' },
    { mentions: 'control characters', run: () => attach(`${'file:///tmp/a'}\u0000.mp4`) },
  ],
  [
    'newline and escape characters',
    { code: 'VIGIL_ERR_SOURCE_URL' },
    { mentions: 'control characters', run: () => attach('rtsp://127.0.0.1/x\n\u001b[2J') },
  ],
  [
    'path traversal to a system file',
    { code: 'VIGIL_ERR_SOURCE_DECODE' },
    {
      mentions: 'etc/passwd',
      run: () => attach(`${relative(process.cwd(), '/')}/../../etc/passwd`, { live: false }),
    },
  ],
  [
    'a device node',
    { code: 'VIGIL_ERR_SOURCE_NOT_FOUND' },
    { mentions: '/dev/zero', run: () => attach('/dev/zero') },
  ],
  [
    'a directory',
    { code: 'VIGIL_ERR_SOURCE_NOT_FOUND' },
    { mentions: 'not a regular file', run: () => attach(tmpdir()) },
  ],
  // credentials and unreachable hosts (loopback only)
  [
    'wrong RTSP password',
    { code: 'VIGIL_ERR_SOURCE_AUTH' },
    {
      mentions: `rtsp://${USER}:***@127.0.0.1`,
      run: () => attach(rtsp.url.replace('rtsp://', `rtsp://${USER}:${WRONG_PASSWORD}@`)),
    },
  ],
  [
    'missing RTSP credentials',
    { code: 'VIGIL_ERR_SOURCE_AUTH' },
    { mentions: 'rtsp://127.0.0.1', run: () => attach(rtsp.url) },
  ],
  [
    'unknown RTSP path',
    { code: 'VIGIL_ERR_SOURCE_NOT_FOUND' },
    {
      mentions: '/no-such-path',
      run: () =>
        attach(
          rtsp.url.replace('/stream', '/no-such-path').replace('rtsp://', `rtsp://${USER}:${PASSWORD}@`),
        ),
    },
  ],
  [
    'RTSP port with nothing listening',
    { code: 'VIGIL_ERR_SOURCE_UNREACHABLE' },
    {
      mentions: 'u:***@127.0.0.1',
      run: () => attach(`rtsp://u:${WRONG_PASSWORD}@127.0.0.1:${deadPort}/cam`),
    },
  ],
  [
    'HTTP port with nothing listening',
    { code: 'VIGIL_ERR_SOURCE_UNREACHABLE' },
    { mentions: '127.0.0.1', run: () => attach(`http://127.0.0.1:${deadPort}/cam.mp4`) },
  ],
  [
    'HTTP 404',
    { code: 'VIGIL_ERR_SOURCE_NOT_FOUND' },
    { mentions: 'missing.mp4', run: () => attach(`${httpBase}/missing.mp4`) },
  ],
  [
    'HTTP serving a text file',
    { code: 'VIGIL_ERR_SOURCE_DECODE' },
    { mentions: 'notes.mp4', run: () => attach(`${httpBase}/notes.mp4`) },
  ],
  [
    'RTSP with an unsupported codec',
    { code: 'VIGIL_ERR_SOURCE_DECODE' },
    { mentions: 'rtsp://127.0.0.1', run: () => attach(bogusCodec.url) },
  ],
  [
    'a capture device that does not exist',
    { code: 'VIGIL_ERR_SOURCE_UNREACHABLE' },
    { mentions: '/dev/video63', run: () => attach('v4l2:///dev/video63') },
  ],
  // files
  [
    'a missing file',
    { code: 'VIGIL_ERR_SOURCE_NOT_FOUND' },
    { mentions: 'no-such-clip.mp4', run: () => attach(join(dir, 'no-such-clip.mp4')) },
  ],
  [
    'a non-video file (text)',
    { code: 'VIGIL_ERR_SOURCE_DECODE' },
    { mentions: 'notes.mp4', run: () => attach(files.text, { live: false }) },
  ],
  [
    'a non-video file (random bytes)',
    { code: 'VIGIL_ERR_SOURCE_DECODE' },
    { mentions: 'noise.mp4', run: () => attach(files.noise, { live: false }) },
  ],
  [
    'a truncated MP4 (index lost)',
    { code: /^VIGIL_ERR_SOURCE_(DECODE|NO_FRAMES)$/ },
    { mentions: 'truncated.mp4', run: () => attach(files.truncatedMoovLast, { live: false }) },
  ],
  [
    'a zero-byte file',
    { code: 'VIGIL_ERR_SOURCE_DECODE' },
    { mentions: /zero\.mp4 is empty/, run: () => attach(files.zeroBytes) },
  ],
  // Where the demuxer fails while decodebin is still plugging elements, decodebin sometimes
  // swallows its error: then nothing at all arrives and the first-frame timeout (15 s) names the
  // source (NO_FRAMES) instead of DECODE at once. Both are typed and readable.
  [
    'an audio-only file',
    { code: /^VIGIL_ERR_SOURCE_(DECODE|NO_FRAMES)$/ },
    { mentions: 'audio-only.ogg', run: () => attach(files.audioOnly, { live: false }) },
  ],
  // odd but valid media: analysed, scaled to model size, never an OOM
  [
    'a truncated MP4 (index first): the frames that are there',
    completed(320, 240),
    { run: () => attach(files.truncatedFaststart, { live: false }) },
  ],
  ['an 8K stream (7680x4320)', completed(7680, 4320), { run: () => attach(files.eightK, { live: false }) }],
  ['a 1x1 video', completed(1, 1), { run: () => attach(files.onePixel, { live: false }) }],
  [
    'odd width and height (641x479)',
    completed(641, 479),
    { run: () => attach(files.oddSize, { live: false }) },
  ],
  ['variable frame rate', completed(320, 240), { run: () => attach(files.vfr, { live: false }) }],
  // config files
  [
    'config: broken YAML',
    { code: 'VIGIL_ERR_CONFIG' },
    {
      mentions: /broken\.yaml:\d+:\d+: invalid YAML/,
      run: () => config('analyzer: {maxStreams: [1, 2\nstreams: ]]\n', 'broken.yaml'),
    },
  ],
  [
    'config: binary garbage',
    { code: 'VIGIL_ERR_CONFIG' },
    {
      mentions: 'garbage.yaml',
      run: () => config(readFileSync(files.noise).toString('latin1'), 'garbage.yaml'),
    },
  ],
  [
    'config: wrong type',
    { code: 'VIGIL_ERR_CONFIG' },
    { mentions: 'analyzer.maxStreams', run: () => config('analyzer:\n  maxStreams: many\n', 'type.yaml') },
  ],
  [
    'config: unknown key',
    { code: 'VIGIL_ERR_CONFIG' },
    { mentions: 'contorl', run: () => config('contorl:\n  port: 8080\n', 'typo.yaml') },
  ],
  [
    'config: a stream without url',
    { code: 'VIGIL_ERR_CONFIG' },
    { mentions: 'streams[0].url', run: () => config('streams:\n  - id: door\n', 'nourl.yaml') },
  ],
  [
    'config: file does not exist',
    { code: 'VIGIL_ERR_CONFIG' },
    {
      mentions: 'absent.yaml',
      run: async () => {
        try {
          loadConfig(join(dir, 'absent.yaml'), {});
          return { code: '(accepted)', message: '' };
        } catch (err) {
          return { code: (err as VigilError).code, message: (err as Error).message };
        }
      },
    },
  ],
  // gRPC
  [
    'gRPC request over the client limit',
    { code: 'VIGIL_ERR_INFER_INVALID_ARGUMENT' },
    { mentions: 'exceeds maxMessageBytes', run: () => infer(undefined, 8) },
  ],
  [
    'gRPC request over the server limit',
    { code: 'VIGIL_ERR_INFER_RESOURCE_EXHAUSTED' },
    { mentions: /larger than max|message/i, run: () => infer(64 * 1024 * 1024, 4) },
  ],
  // control requests (HTTP, then NATS request-reply)
  [
    'control: body is not JSON',
    { code: 'VIGIL_ERR_BAD_REQUEST' },
    {
      status: 400,
      mentions: 'not valid JSON',
      run: async () => {
        const r = await api('POST', '/v1/streams', '{"id": "x", url: }');
        return errorOf(r.status, r.body);
      },
    },
  ],
  [
    'control: empty body',
    { code: 'VIGIL_ERR_BAD_REQUEST' },
    {
      status: 400,
      mentions: 'empty',
      run: async () => {
        const r = await api('POST', '/v1/streams', '');
        return errorOf(r.status, r.body);
      },
    },
  ],
  [
    'control: id of the wrong type',
    { code: 'VIGIL_ERR_INVALID_ARGUMENT' },
    {
      status: 400,
      mentions: 'id',
      run: async () => {
        const r = await api('POST', '/v1/streams', JSON.stringify({ id: 5, url: 'test:ball' }));
        return errorOf(r.status, r.body);
      },
    },
  ],
  [
    'control: live of the wrong type',
    { code: 'VIGIL_ERR_INVALID_ARGUMENT' },
    {
      status: 400,
      mentions: 'live',
      run: async () => {
        const r = await api(
          'POST',
          '/v1/streams',
          JSON.stringify({ id: 'x', url: 'test:ball', live: 'yes' }),
        );
        return errorOf(r.status, r.body);
      },
    },
  ],
  [
    'control: unknown field',
    { code: 'VIGIL_ERR_INVALID_ARGUMENT' },
    {
      status: 400,
      mentions: 'pasword',
      run: async () => {
        const r = await api(
          'POST',
          '/v1/streams',
          JSON.stringify({ id: 'x', url: 'test:ball', pasword: 'x' }),
        );
        return errorOf(r.status, r.body);
      },
    },
  ],
  [
    'control: bad keyframe option',
    { code: 'VIGIL_ERR_INVALID_ARGUMENT' },
    {
      status: 400,
      mentions: 'nope',
      run: async () => {
        const r = await api(
          'POST',
          '/v1/streams',
          JSON.stringify({ id: 'x', url: 'test:ball', keyframes: { nope: 1 } }),
        );
        return errorOf(r.status, r.body);
      },
    },
  ],
  [
    'control: array body',
    { code: 'VIGIL_ERR_INVALID_ARGUMENT' },
    {
      status: 400,
      mentions: 'object',
      run: async () => {
        const r = await api('POST', '/v1/streams', '[1, 2, 3]');
        return errorOf(r.status, r.body);
      },
    },
  ],
  [
    'control: stream id with a dot and slashes',
    { code: 'VIGIL_ERR_INVALID_ARGUMENT' },
    {
      status: 400,
      mentions: '../a.b',
      run: async () => {
        const r = await api('POST', '/v1/streams', JSON.stringify({ id: '../a.b', url: 'test:ball' }));
        return errorOf(r.status, r.body);
      },
    },
  ],
  [
    'control: huge body (1 MiB)',
    { code: 'VIGIL_ERR_TOO_LARGE' },
    {
      status: 413,
      mentions: 'bytes',
      run: async () => {
        const r = await api('POST', '/v1/streams', JSON.stringify({ id: 'x', url: 'x'.repeat(1 << 20) }));
        return errorOf(r.status, r.body);
      },
    },
  ],
  [
    'control: id already attached',
    { code: 'VIGIL_ERR_STREAM_EXISTS' },
    {
      status: 409,
      mentions: 'cam',
      run: async () => {
        const r = await api('POST', '/v1/streams', JSON.stringify({ id: 'cam', url: 'test:ball' }));
        return errorOf(r.status, r.body);
      },
    },
  ],
  [
    'control: unknown stream',
    { code: 'VIGIL_ERR_STREAM_NOT_FOUND' },
    {
      status: 404,
      mentions: 'ghost',
      run: async () => {
        const r = await api('GET', '/v1/streams/ghost');
        return errorOf(r.status, r.body);
      },
    },
  ],
  [
    'control: unknown endpoint',
    { code: 'VIGIL_ERR_UNKNOWN_OP' },
    {
      status: 404,
      mentions: '/v2/everything',
      run: async () => {
        const r = await api('GET', '/v2/everything');
        return errorOf(r.status, r.body);
      },
    },
  ],
  [
    'control: wrong method',
    { code: 'VIGIL_ERR_METHOD' },
    {
      status: 405,
      mentions: 'GET, POST',
      run: async () => {
        const r = await api('PUT', '/v1/streams', '{}');
        return errorOf(r.status, r.body);
      },
    },
  ],
  [
    'control over NATS: body is not JSON',
    { code: 'VIGIL_ERR_BAD_REQUEST' },
    { status: 400, mentions: 'not valid JSON', run: () => natsCtl('attach', '{nope') },
  ],
  [
    'control over NATS: unknown operation',
    { code: 'VIGIL_ERR_UNKNOWN_OP' },
    { status: 404, mentions: 'frobnicate', run: () => natsCtl('frobnicate', '{}') },
  ],
  [
    'control over NATS: detach without id',
    { code: 'VIGIL_ERR_BAD_REQUEST' },
    { status: 400, mentions: 'id', run: () => natsCtl('detach', '{"name": 1}') },
  ],
];

describe('bad input against one running service: typed errors, and the other streams keep flowing', () => {
  beforeAll(async () => {
    requireFile(join(MODEL_REPO, 'yolov8n'));
    dir = mkdtempSync(join(tmpdir(), 'vigil-badinput-'));
    pwned = join(dir, 'pwned');
    files = generateBadInputs(dir);
    deadPort = await freePort();
    [rtsp, bogusCodec] = await Promise.all([
      startRtspServer({ user: USER, password: PASSWORD, width: 320, height: 240, fps: 10 }),
      startRtspServer({ source: 'bogus' }),
    ]);
    http = createHttpServer((req, res) => {
      const name = (req.url ?? '/').slice(1);
      const file = join(dir, name);
      if (!/^[\w.-]+$/.test(name) || !existsSync(file)) {
        res.writeHead(404).end('not found');
        return;
      }
      res.writeHead(200, { 'content-type': 'video/mp4' }).end(readFileSync(file));
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
    httpBase = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
    const cfg = parseConfig(
      [
        'control: {host: 127.0.0.1, port: 0, requireToken: false}',
        'web: {enabled: false}',
        'analyzer: {maxStreams: 8}',
        'streams:',
        `  - {id: cam, url: "${rtsp.url.replace('rtsp://', `rtsp://${USER}:${PASSWORD}@`)}"}`,
        '  - {id: pattern, url: "test:ball?width=320&height=240&fps=10"}',
      ].join('\n'),
      'badinput.yaml',
      {},
    );
    cfg.inference.modelRepository = MODEL_REPO;
    service = await startService(cfg, (line) => logs.push(line));
    nc = await connect({ servers: service.natsUrl, name: 'badinput-test' });
    nc.subscribe('vigil.*.keyframe', {
      callback: (err, msg) => {
        if (err) return;
        const d = (msg.json() as { data?: { streamId: string; sourceWidth: number; sourceHeight: number } })
          .data;
        if (d && !sourceSizes.has(d.streamId))
          sourceSizes.set(d.streamId, { width: d.sourceWidth, height: d.sourceHeight });
      },
    });
    const deadline = Date.now() + 30_000;
    while (service.manager.list().some((s) => s.counters.frames === 0)) {
      if (Date.now() > deadline) throw new Error('the healthy streams did not start');
      await sleep(100);
    }
    sampler = setInterval(() => {
      const cam = service.manager.status('cam');
      const pattern = service.manager.status('pattern');
      samples.push({
        atMs: Date.now(),
        rtsp: cam.counters.frames,
        test: pattern.counters.frames,
        rtspState: cam.state,
        testState: pattern.state,
      });
    }, 500);
  }, 120_000);

  afterAll(async () => {
    clearInterval(sampler);
    await nc?.drain().catch(() => undefined);
    await service?.close();
    await new Promise<void>((r) => (http ? http.close(() => r()) : r()));
    await Promise.all([rtsp?.stop(), bogusCodec?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(rows)('%s', async (_name, expected, row) => {
    const out = await row.run();
    if ('width' in expected) {
      // Odd but valid: analysed to the end, the source size reported as it is.
      expect(out, out.message).toMatchObject({ code: 'completed' });
      expect(out.frames).toBeGreaterThan(0);
      expect(out.source).toEqual({ width: expected.width, height: expected.height });
      return;
    }
    if (typeof expected.code === 'string') expect(out.code, out.message).toBe(expected.code);
    else expect(out.code, out.message).toMatch(expected.code);
    if (row.status !== undefined) expect(out.status).toBe(row.status);
    if (typeof row.mentions === 'string') expect(out.message).toContain(row.mentions);
    else if (row.mentions) expect(out.message).toMatch(row.mentions);
    expect(out.message).not.toMatch(STACK_LINE);
    for (const secret of SECRETS) expect(out.message).not.toContain(secret);
    // Nothing typed into a source ever ran as a pipeline element or a shell command.
    expect(existsSync(pwned)).toBe(false);
  });

  it('the healthy streams kept flowing during and after the table, and the service still serves', async () => {
    const last = service.manager.status('cam').counters;
    await sleep(2_000);
    expect(samples.length).toBeGreaterThan(10);
    // No 3-second stretch without a new frame on either healthy stream.
    for (let i = 0, j = 0; i < samples.length; i++) {
      while (j < samples.length && samples[j]!.atMs - samples[i]!.atMs < 3_000) j++;
      if (j >= samples.length) break;
      expect(samples[j]!.rtsp, `rtsp stalled at sample ${i}`).toBeGreaterThan(samples[i]!.rtsp);
      expect(samples[j]!.test, `test source stalled at sample ${i}`).toBeGreaterThan(samples[i]!.test);
    }
    expect(samples.every((s) => s.rtspState === 'live' && s.testState === 'live')).toBe(true);
    const cam = service.manager.status('cam');
    expect(cam.counters.frames).toBeGreaterThan(last.frames);
    expect(cam.counters.analysed).toBeGreaterThan(0);
    // Only the two healthy streams are left: every bad one was detached.
    expect(
      service.manager
        .list()
        .map((s) => s.id)
        .sort(),
    ).toEqual(['cam', 'pattern']);
    const ready = await controlRequest(nc, 'ready');
    expect(ready.status).toBe(200);
    for (const line of logs) for (const secret of SECRETS) expect(line).not.toContain(secret);
  });
});
