/**
 * Inference calls over ModelStreamInfer, for real: the client against Vigil's server (text test
 * backend, BYTES tensors) on 127.0.0.1, against a server without the stream RPC, and against small
 * loopback gRPC servers written here that misbehave on purpose (never answer, break the stream).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytesTensor, InferenceClient } from '../../src/infer/client.js';
import type { ModelInferRequest__Output } from '../../src/infer/generated/inference/ModelInferRequest.js';
import type { ModelInferResponse } from '../../src/infer/generated/inference/ModelInferResponse.js';
import type { ModelStreamInferResponse } from '../../src/infer/generated/inference/ModelStreamInferResponse.js';
import { InferStream } from '../../src/infer/infer-stream.js';
import { loadInferenceProto } from '../../src/infer/proto.js';
import { startInferenceServer, type InferenceServer } from '../../src/infer/server.js';
import { deserializeBytes, serializeBytes } from '../../src/infer/tensor.js';
import { startDelayProxy } from '../helpers/faults-infer.js';
import { writeTextTemplateModel } from '../helpers/model-repo.js';

const silent = { info: () => undefined, warn: () => undefined };

let dir: string;
let server: InferenceServer;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-infer-stream-'));
  writeTextTemplateModel(dir, 'echo', '<{text_input}>');
  server = await startInferenceServer({ modelRepository: dir, host: '127.0.0.1', port: 0, logger: silent });
});
afterAll(async () => {
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const echo = (client: InferenceClient, text: string, deadlineMs?: number) =>
  client
    .infer({
      model: 'echo',
      inputs: [bytesTensor('text_input', [text])],
      ...(deadlineMs ? { deadlineMs } : {}),
    })
    .then((r) => deserializeBytes(r.outputs[0]!.data as Uint8Array)[0]!.toString('utf8'));

/** A loopback gRPC server implementing only ModelStreamInfer (and a unary ModelInfer echo) as `onStream` says. */
async function startStreamServer(
  onStream: (call: grpc.ServerDuplexStream<ModelInferRequest__Output, ModelStreamInferResponse>) => void,
  unaryAnswers = true,
): Promise<{ address: string; unaryCalls: () => number; close: () => void }> {
  const service = loadInferenceProto().inference.GRPCInferenceService.service;
  let unary = 0;
  const s = new grpc.Server();
  s.addService(service, {
    ModelStreamInfer: onStream,
    ModelInfer: (
      call: grpc.ServerUnaryCall<ModelInferRequest__Output, ModelInferResponse>,
      cb: grpc.sendUnaryData<ModelInferResponse>,
    ) => {
      unary++;
      if (unaryAnswers) cb(null, answer(call.request));
    },
  });
  const port = await new Promise<number>((res, rej) =>
    s.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  return { address: `127.0.0.1:${port}`, unaryCalls: () => unary, close: () => s.forceShutdown() };
}

/** What the echo model answers, made by hand. */
function answer(req: ModelInferRequest__Output): ModelInferResponse {
  const text = deserializeBytes(req.raw_input_contents[0]!)[0]!.toString('utf8');
  return {
    model_name: req.model_name,
    id: req.id,
    outputs: [{ name: 'text_output', datatype: 'BYTES', shape: [1] }],
    raw_output_contents: [serializeBytes([Buffer.from(`<${text}>`)])],
  };
}

describe('ModelInfer over a stream', () => {
  it('answers concurrent calls each with its own result, over one stream', async () => {
    const client = new InferenceClient({ addresses: [`127.0.0.1:${server.port}`] });
    try {
      const texts = Array.from({ length: 24 }, (_, i) => `frame ${i} ${'x'.repeat(i * 7)}`);
      const got = await Promise.all(texts.map((t) => echo(client, t)));
      expect(got).toEqual(texts.map((t) => `<${t}>`));
      expect(client.streamedCalls).toBe(24);
      // The caller's request id comes back, not the stream's own.
      const r = await client.infer({
        model: 'echo',
        id: 'mine-7',
        inputs: [bytesTensor('text_input', ['a'])],
      });
      expect(r.id).toBe('mine-7');
    } finally {
      client.close();
    }
  });

  it('gives the same results as unary calls, and errors keep their exact codes', async () => {
    const streamed = new InferenceClient({ addresses: [`127.0.0.1:${server.port}`] });
    const unary = new InferenceClient({ addresses: [`127.0.0.1:${server.port}`], streamInfer: false });
    try {
      expect(await echo(streamed, 'ünïcode — ok')).toBe(await echo(unary, 'ünïcode — ok'));
      expect(unary.streamedCalls).toBe(0);
      const before = streamed.streamedCalls;
      const failures = async (): Promise<number> =>
        (await server.metricsRegistry.getSingleMetric('vigil_infer_request_failures_total')!.get()).values
          .filter((v) => v.labels['model'] === 'echo')
          .reduce((n, v) => n + v.value, 0);
      const failed = await failures();
      // Vigil's server leads a stream error with its status name: the code comes back as is, and
      // the call is not made again (the server saw the bad request once).
      await expect(
        streamed.infer({ model: 'nope', inputs: [bytesTensor('text_input', ['a'])] }),
      ).rejects.toMatchObject({ code: 'VIGIL_ERR_INFER_NOT_FOUND' });
      await expect(
        streamed.infer({ model: 'echo', inputs: [bytesTensor('text_input', ['a', 'b'], [1, 2])] }),
      ).rejects.toMatchObject({
        code: 'VIGIL_ERR_INFER_INVALID_ARGUMENT',
        grpcCode: grpc.status.INVALID_ARGUMENT,
      });
      expect(await failures()).toBe(failed + 1);
      expect(streamed.streamedCalls).toBe(before);
      expect(streamed.health().state).toBe('closed');
      // The stream still serves after errors.
      expect(await echo(streamed, 'again')).toBe('<again>');
      expect(streamed.streamedCalls).toBe(before + 1);
    } finally {
      streamed.close();
      unary.close();
    }
  });

  it('uses unary calls with a server that has no stream RPC', async () => {
    const proxy = await startDelayProxy(`127.0.0.1:${server.port}`, 0);
    const client = new InferenceClient({ addresses: [proxy.address] });
    try {
      expect(await echo(client, 'one')).toBe('<one>');
      expect(await echo(client, 'two')).toBe('<two>');
      expect(client.streamedCalls).toBe(0);
      expect(proxy.stats().calls).toBe(2);
    } finally {
      client.close();
      await proxy.close();
    }
  });

  it('a stream that never answers: the deadline holds, and the server is told it (Triton timeout, µs)', async () => {
    const seen: ModelInferRequest__Output[] = [];
    const silentServer = await startStreamServer((call) => call.on('data', (r) => seen.push(r)));
    const client = new InferenceClient({ addresses: [silentServer.address], retries: 0 });
    try {
      const t0 = Date.now();
      await expect(echo(client, 'x', 300)).rejects.toMatchObject({ code: 'VIGIL_ERR_INFER_DEADLINE' });
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(seen).toHaveLength(1);
      const timeout = seen[0]!.parameters['timeout'];
      expect(timeout?.parameter_choice).toBe('int64_param');
      expect(Number(timeout!.int64_param)).toBeGreaterThan(0);
      expect(Number(timeout!.int64_param)).toBeLessThanOrEqual(300_000);
      expect(client.health().addresses[0]!.consecutiveFailures).toBe(1);
    } finally {
      client.close();
      silentServer.close();
    }
  });

  it('a final status leading a stream error is the answer; other stream errors are repeated as unary calls', async () => {
    const replies = [
      'RESOURCE_EXHAUSTED: queue is full',
      'busy',
      'UNAVAILABLE: draining',
      'NOT_FOUND: no model',
    ];
    let next = 0;
    const srv = await startStreamServer((call) => {
      call.on('data', (r: ModelInferRequest__Output) =>
        call.write({
          error_message: replies[next++]!,
          infer_response: { id: r.id, model_name: r.model_name },
        }),
      );
      call.on('error', () => undefined);
    });
    const client = new InferenceClient({ addresses: [srv.address], retries: 0 });
    try {
      // A full queue: the code as is, no unary call, and the breaker sees an answering server.
      await expect(echo(client, 'a')).rejects.toMatchObject({
        code: 'VIGIL_ERR_INFER_RESOURCE_EXHAUSTED',
        grpcCode: grpc.status.RESOURCE_EXHAUSTED,
        message: expect.stringMatching(/queue is full$/),
      });
      expect(srv.unaryCalls()).toBe(0);
      // No status lead (Triton's own messages), or UNAVAILABLE: the unary call answers.
      expect(await echo(client, 'b')).toBe('<b>');
      expect(await echo(client, 'c')).toBe('<c>');
      expect(srv.unaryCalls()).toBe(2);
      await expect(echo(client, 'd')).rejects.toMatchObject({ code: 'VIGIL_ERR_INFER_NOT_FOUND' });
      expect(srv.unaryCalls()).toBe(2);
      expect(client.health().state).toBe('closed');
    } finally {
      client.close();
      srv.close();
    }
  });

  it('a call repeated as a unary call after a stream error gets only the time left of its deadline', async () => {
    // The stream answers every request with an error after 1.5 s; the unary call never answers.
    const slow = await startStreamServer((call) => {
      call.on('data', (r: ModelInferRequest__Output) =>
        setTimeout(
          () => call.write({ error_message: 'busy', infer_response: { id: r.id, model_name: r.model_name } }),
          1500,
        ),
      );
      call.on('error', () => undefined);
    }, false);
    const client = new InferenceClient({ addresses: [slow.address], retries: 0 });
    try {
      const t0 = Date.now();
      await expect(echo(client, 'x', 2000)).rejects.toMatchObject({ code: 'VIGIL_ERR_INFER_DEADLINE' });
      // The whole call keeps its 2 s (a fresh deadline for the unary call would end it at 3.5 s).
      expect(Date.now() - t0).toBeLessThan(3000);
      expect(slow.unaryCalls()).toBe(1);
    } finally {
      client.close();
      slow.close();
    }
  });

  it('a stream that ends early: the waiting call is made again as a unary call, the next call opens a new stream', async () => {
    let streams = 0;
    const flaky = await startStreamServer((call) => {
      streams++;
      const first = streams === 1;
      call.on('data', (r: ModelInferRequest__Output) => {
        // The first stream ends without answering (a server going away).
        if (first) call.end();
        else call.write({ infer_response: answer(r) });
      });
      call.on('error', () => undefined);
    });
    const client = new InferenceClient({ addresses: [flaky.address] });
    try {
      expect(await echo(client, 'a')).toBe('<a>');
      expect(flaky.unaryCalls()).toBe(1);
      expect(client.streamedCalls).toBe(0);
      expect(await echo(client, 'b')).toBe('<b>');
      expect(streams).toBe(2);
      expect(client.streamedCalls).toBe(1);
    } finally {
      client.close();
      flaky.close();
    }
  });

  it('close() ends the stream (the server sees it go) and is idempotent; an idle stream half-closes by itself', async () => {
    let ended = 0;
    let opened = 0;
    const watched = await startStreamServer((call) => {
      opened++;
      let done = false;
      const finished = () => {
        if (!done) ended++;
        done = true;
      };
      call.on('data', (r: ModelInferRequest__Output) => call.write({ infer_response: answer(r) }));
      call.on('end', () => {
        finished();
        call.end();
      });
      call.on('cancelled', finished);
      call.on('error', () => undefined);
    });
    const client = new InferenceClient({ addresses: [watched.address] });
    const proto = loadInferenceProto().inference.GRPCInferenceService;
    const raw = new proto(watched.address, grpc.credentials.createInsecure());
    try {
      expect(await echo(client, 'a')).toBe('<a>');
      client.close();
      client.close();
      await waitFor(() => ended === 1);
      await expect(echo(client, 'b')).rejects.toMatchObject({ code: 'VIGIL_ERR_INFER_CLOSED' });

      // Idle: with a short idle time the stream half-closes after its last answer.
      const stream = new InferStream(() => raw.ModelStreamInfer(), 50);
      const out = await stream.infer(
        {
          model_name: 'echo',
          inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1] }],
          raw_input_contents: [serializeBytes([Buffer.from('c')])],
        },
        Date.now() + 5000,
      );
      expect(out.ok).toBe(true);
      expect(stream.inFlight).toBe(0);
      await waitFor(() => ended === 2);
      expect(opened).toBe(2);
      stream.close();
      stream.close();
      expect(stream.usable).toBe(false);
    } finally {
      raw.close();
      watched.close();
    }
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
