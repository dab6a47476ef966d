/**
 * The inference client for real: TLS and mTLS with certificates made by openssl at test time,
 * degraded mode and recovery against a server process that is killed and restarted on the same
 * port, and the language-model adapters against local servers speaking KServe v2 (our server's
 * text test backend, BYTES tensors) and OpenAI chat completions (an HTTP server in this file).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import jpeg from 'jpeg-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeWith } from '../../src/analyzer/analyze.js';
import type { Image, Keyframe } from '../../src/core/contracts.js';
import { InferenceClient } from '../../src/infer/client.js';
import { createDetector } from '../../src/infer/detector.js';
import { createKServeTextGenerator, createOpenAIChat } from '../../src/infer/llm.js';
import { startInferenceServer } from '../../src/infer/server.js';
import { makePki } from '../helpers/faults-infer.js';
import { prepareModelRepo, writeTextTemplateModel } from '../helpers/model-repo.js';

const root = resolve(import.meta.dirname, '../..');
const rawModel = join(root, 'models/raw/yolov8n.onnx');
const silent = { info: () => undefined, warn: () => undefined };

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-infer-client-'));
  writeTextTemplateModel(join(dir, 'text'), 'llm', 'SUMMARY<{text_input}>');
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Starts bench/infer/serve.ts in its own process; resolves once it prints its port. */
async function spawnServer(repo: string, port: number): Promise<{ port: number; proc: ChildProcess }> {
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'bench/infer/serve.ts'),
      '--repo',
      repo,
      '--port',
      String(port),
      '--threads',
      '1',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const bound = await new Promise<number>((res, rej) => {
    let out = '';
    const timer = setTimeout(() => rej(new Error('server did not start within 60 s')), 60_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        res(Number(m[1]));
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`server exited with ${code}`));
    });
  });
  return { port: bound, proc };
}

function kill(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    proc.once('exit', () => res());
    proc.kill('SIGKILL');
  });
}

function keyframe(seq: number): Keyframe {
  const model: Image = {
    width: 320,
    height: 240,
    format: 'RGB',
    data: new Uint8Array(320 * 240 * 3).fill(90),
  };
  return {
    id: `cam:${seq}`,
    frame: {
      streamId: 'cam',
      seq,
      ptsNs: seq * 1e9,
      captureTimeMs: Date.now(),
      sourceWidth: 640,
      sourceHeight: 480,
      analysis: { width: 64, height: 48, format: 'GRAY8', data: new Uint8Array(64 * 48) },
      model,
    },
    reason: 'max-interval',
    motionScore: 0,
    sceneScore: 0,
    sincePreviousMs: 1000,
  };
}

describe.skipIf(!existsSync(rawModel))(
  'degraded mode: the server dies and comes back on the same port',
  () => {
    const procs: ChildProcess[] = [];
    afterAll(async () => {
      for (const p of procs) await kill(p);
    });

    it('analyses turn unavailable fast while the breaker is open, then recover by themselves', async () => {
      const repo = join(dir, 'yolo');
      await prepareModelRepo(repo, 'yolov8n');
      const first = await spawnServer(repo, 0);
      procs.push(first.proc);
      const port = first.port;
      const client = new InferenceClient({
        addresses: [`127.0.0.1:${port}`],
        deadlineMs: 20_000,
        retries: 1,
        retryBackoffMs: 20,
        breaker: { failureThreshold: 2, resetTimeoutMs: 300 },
        reconnectBackoffMaxMs: 200,
      });
      try {
        const analyze = analyzeWith(createDetector({ client }), 'yolov8n', { health: client });
        const ok = await analyze(keyframe(0));
        expect(ok.available).toBe(true);
        expect(client.health().state).toBe('closed');

        await kill(first.proc);
        const down = [];
        for (let i = 1; i <= 4; i++) down.push(await analyze(keyframe(i)));
        expect(down.every((a) => !a.available && a.detections.length === 0)).toBe(true);
        expect(client.health().state).toBe('open');
        // While open: no network, no queue, an answer at once.
        const t0 = performance.now();
        const fast = await analyze(keyframe(5));
        expect(performance.now() - t0).toBeLessThan(50);
        expect(fast.available).toBe(false);
        expect(fast.error).toMatch(/circuit open/);

        const second = await spawnServer(repo, port);
        procs.push(second.proc);
        expect(second.port).toBe(port);
        let recovered = false;
        for (let i = 0; i < 100 && !recovered; i++) {
          const a = await analyze(keyframe(10 + i));
          recovered = a.available;
          if (!recovered) await new Promise((r) => setTimeout(r, 100));
        }
        expect(recovered).toBe(true);
        expect(client.health().state).toBe('closed');
      } finally {
        client.close();
      }
    }, 120_000);
  },
);

describe('TLS and mTLS (certificates from openssl, loopback)', () => {
  let pki: string;
  const pem = (f: string): Buffer => readFileSync(join(pki, f));

  beforeAll(async () => {
    pki = (await makePki()).dir;
  });

  afterAll(() => rmSync(pki, { recursive: true, force: true }));

  it('TLS: a client trusting the CA talks; a plaintext client does not', async () => {
    const server = await startInferenceServer({
      modelRepository: join(dir, 'text'),
      port: 0,
      logger: silent,
      tls: { certChain: pem('server.crt'), privateKey: pem('server.key') },
    });
    const tlsClient = new InferenceClient({
      addresses: [`127.0.0.1:${server.port}`],
      tls: { rootCerts: pem('ca.crt') },
    });
    const named = new InferenceClient({
      addresses: [`127.0.0.1:${server.port}`],
      tls: { rootCerts: pem('ca.crt'), serverName: 'localhost' },
    });
    const plain = new InferenceClient({
      addresses: [`127.0.0.1:${server.port}`],
      retries: 0,
      deadlineMs: 2000,
    });
    try {
      expect(await tlsClient.serverLive()).toBe(true);
      expect(await named.modelReady('llm')).toBe(true);
      await expect(plain.serverLive()).rejects.toMatchObject({
        code: expect.stringMatching(/UNAVAILABLE|DEADLINE/),
      });
    } finally {
      tlsClient.close();
      named.close();
      plain.close();
      await server.close();
    }
  });

  it('mTLS: the server requires a client certificate signed by its CA', async () => {
    const server = await startInferenceServer({
      modelRepository: join(dir, 'text'),
      port: 0,
      logger: silent,
      tls: {
        certChain: pem('server.crt'),
        privateKey: pem('server.key'),
        rootCerts: pem('ca.crt'),
        requireClientCert: true,
      },
    });
    const withCert = new InferenceClient({
      addresses: [`127.0.0.1:${server.port}`],
      tls: { rootCerts: pem('ca.crt'), certChain: pem('client.crt'), privateKey: pem('client.key') },
    });
    const without = new InferenceClient({
      addresses: [`127.0.0.1:${server.port}`],
      tls: { rootCerts: pem('ca.crt') },
      retries: 0,
      deadlineMs: 2000,
    });
    try {
      expect(await withCert.serverLive()).toBe(true);
      await expect(without.serverLive()).rejects.toMatchObject({
        code: expect.stringMatching(/UNAVAILABLE|DEADLINE/),
      });
      expect(
        () => new InferenceClient({ addresses: ['127.0.0.1:1'], tls: { certChain: pem('client.crt') } }),
      ).toThrow(/go together/);
    } finally {
      withCert.close();
      without.close();
      await server.close();
    }
  });
});

describe('language-model adapters', () => {
  it('KServe v2 text generation: text_input / text_output BYTES against our server', async () => {
    const server = await startInferenceServer({
      modelRepository: join(dir, 'text'),
      port: 0,
      logger: silent,
    });
    const client = new InferenceClient({ addresses: [`127.0.0.1:${server.port}`] });
    try {
      const generate = createKServeTextGenerator({ client, model: 'llm' });
      expect(await generate('two people entered; zone A busy — ünïcode')).toBe(
        'SUMMARY<two people entered; zone A busy — ünïcode>',
      );
      // A model without the optional vLLM inputs refuses them by name (INVALID_ARGUMENT).
      const strict = createKServeTextGenerator({
        client,
        model: 'llm',
        samplingParameters: { temperature: 0 },
      });
      await expect(strict('x')).rejects.toMatchObject({
        code: 'VIGIL_ERR_INFER_INVALID_ARGUMENT',
        message: expect.stringMatching(/sampling_parameters/),
      });
    } finally {
      client.close();
      await server.close();
    }
  });

  it('OpenAI-compatible chat completions: generate and caption (image_url JPEG data URL)', async () => {
    const seen: { auth: string | undefined; body: Record<string, unknown> }[] = [];
    let fail = false;
    const http = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return void res.writeHead(404).end();
        if (fail) return void res.writeHead(503).end('{"error":"overloaded"}');
        const parsed = JSON.parse(body) as { model: string; messages: { role: string; content: unknown }[] };
        seen.push({ auth: req.headers.authorization, body: parsed });
        const last = parsed.messages[parsed.messages.length - 1]!;
        let reply: string;
        if (typeof last.content === 'string') reply = `echo ${last.content}`;
        else {
          const parts = last.content as { type: string; text?: string; image_url?: { url: string } }[];
          const img = parts.find((p) => p.type === 'image_url')!;
          const m = /^data:image\/jpeg;base64,(.+)$/.exec(img.image_url!.url)!;
          const decoded = jpeg.decode(Buffer.from(m[1]!, 'base64'));
          reply = `a ${decoded.width}x${decoded.height} picture; asked: ${parts.find((p) => p.type === 'text')!.text}`;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            id: 'c1',
            object: 'chat.completion',
            choices: [{ index: 0, message: { role: 'assistant', content: reply } }],
          }),
        );
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    const port = (http.address() as { port: number }).port;
    try {
      const chat = createOpenAIChat({
        baseUrl: `http://127.0.0.1:${port}/v1`,
        model: 'llava',
        apiKey: 'sk-secret-123',
        maxTokens: 64,
        captionPrompt: 'What is here?',
      });
      expect(await chat.generate('hello')).toBe('echo hello');
      const image: Image = {
        width: 64,
        height: 48,
        format: 'RGB',
        data: new Uint8Array(64 * 48 * 3).fill(200),
      };
      expect(await chat.caption(image)).toBe('a 64x48 picture; asked: What is here?');
      expect(seen[0]!.auth).toBe('Bearer sk-secret-123');
      expect(seen[0]!.body).toMatchObject({ model: 'llava', max_tokens: 64, stream: false });
      fail = true;
      const err = (await chat.generate('x').then(
        () => undefined,
        (e: unknown) => e,
      )) as Error & { code: string };
      expect(err).toMatchObject({
        code: 'VIGIL_ERR_INFER_UNAVAILABLE',
        message: expect.stringMatching(/HTTP 503/),
      });
      expect(err.message).not.toContain('sk-secret');
      expect(() => createOpenAIChat({ baseUrl: 'http://user:pw@h/v1', model: 'm' })).toThrow(/apiKey/);
    } finally {
      await new Promise((r) => http.close(r));
    }
  });
});
