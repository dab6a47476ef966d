/**
 * Stand-in for a KServe v2 (Open Inference Protocol) gRPC server hosting a text / vision-language /
 * speech model the way Triton's vLLM backend exposes one, for tests only: no model runs here. It
 * serves the project's proto (proto/grpc_service.proto, via grpc-js) and checks each ModelInfer
 * request against the protocol: the model name, BYTES tensors in `raw_input_contents` (4-byte
 * little-endian length + bytes per element) whose sizes match their shapes, `text_input` [1]
 * required, `image` [1] (base64 JPEG, as the vLLM backend takes it) and `audio` [1] (WAV bytes)
 * optional, `sampling_parameters` [1] a JSON object, `exclude_input_in_output` BOOL [1], and the
 * requested outputs limited to `text_output`. A broken request is answered INVALID_ARGUMENT and
 * recorded in `violations`. Answers: `text_output` BYTES [1]. Behaviours: slow, fail
 * (UNAVAILABLE), empty, refusal.
 */
import * as grpc from '@grpc/grpc-js';
import { loadInferenceProto } from '../../../src/infer/proto.js';
import type { ModelInferRequest__Output } from '../../../src/infer/generated/inference/ModelInferRequest.js';

export interface KServeCall {
  model: string;
  prompt: string;
  /** Decoded image bytes (from the base64 `image` element), when sent. */
  image?: Uint8Array;
  audio?: Uint8Array;
  sampling?: Record<string, unknown>;
}

export interface KServeTextStandIn {
  readonly address: string;
  readonly calls: KServeCall[];
  readonly violations: string[];
  mode: 'ok' | 'fail' | 'empty' | 'refusal';
  delayMs: number;
  reply: (call: KServeCall) => string;
  close(): Promise<void>;
}

const INPUTS: Record<string, string> = {
  text_input: 'BYTES',
  image: 'BYTES',
  audio: 'BYTES',
  sampling_parameters: 'BYTES',
  exclude_input_in_output: 'BOOL',
  stream: 'BOOL',
};

class Violation extends Error {}

function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Violation(message);
}

function splitBytes(buf: Buffer, count: number, name: string): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.length) {
    check(off + 4 <= buf.length, `${name}: truncated BYTES length prefix`);
    const n = buf.readUInt32LE(off);
    check(off + 4 + n <= buf.length, `${name}: BYTES element runs past the tensor`);
    out.push(buf.subarray(off + 4, off + 4 + n));
    off += 4 + n;
  }
  check(out.length === count, `${name}: ${out.length} BYTES elements for a shape of ${count}`);
  return out;
}

function parse(req: ModelInferRequest__Output, models: string[]): KServeCall {
  check(models.includes(req.model_name), `model '${req.model_name}' is not served`);
  check(req.raw_input_contents.length === req.inputs.length, 'raw_input_contents must match inputs');
  const call: Partial<KServeCall> = { model: req.model_name };
  req.inputs.forEach((t, i) => {
    const want = INPUTS[t.name];
    check(want !== undefined, `unknown input '${t.name}'`);
    check(t.datatype === want, `input '${t.name}' must be ${want}, got ${t.datatype}`);
    const shape = t.shape.map(Number);
    check(shape.length >= 1 && shape.every((d) => d >= 1), `input '${t.name}' shape [${shape.join(',')}]`);
    const count = shape.reduce((a, b) => a * b, 1);
    check(count === 1, `input '${t.name}' must hold one element (shape [1])`);
    const raw = req.raw_input_contents[i]!;
    if (want === 'BOOL') {
      check(raw.length === 1 && raw[0]! <= 1, `input '${t.name}': one BOOL byte`);
      return;
    }
    const [el] = splitBytes(raw, count, t.name);
    if (t.name === 'text_input') call.prompt = el!.toString('utf8');
    else if (t.name === 'image') {
      const s = el!.toString('latin1');
      check(/^[A-Za-z0-9+/]+={0,2}$/.test(s), `input 'image' must be base64`);
      const bytes = Buffer.from(s, 'base64');
      check(bytes[0] === 0xff && bytes[1] === 0xd8, `input 'image' is not a JPEG`);
      call.image = new Uint8Array(bytes);
    } else if (t.name === 'audio') {
      check(el!.toString('latin1', 0, 4) === 'RIFF', `input 'audio' is not a WAV file`);
      call.audio = new Uint8Array(el!);
    } else if (t.name === 'sampling_parameters') {
      let p: unknown;
      try {
        p = JSON.parse(el!.toString('utf8'));
      } catch {
        throw new Violation('sampling_parameters is not JSON');
      }
      check(typeof p === 'object' && p !== null && !Array.isArray(p), 'sampling_parameters: a JSON object');
      call.sampling = p as Record<string, unknown>;
    }
  });
  check(typeof call.prompt === 'string', `input 'text_input' is required`);
  for (const o of req.outputs) check(o.name === 'text_output', `unknown output '${o.name}'`);
  return call as KServeCall;
}

function bytesOut(text: string): Buffer {
  const b = Buffer.from(text, 'utf8');
  const head = Buffer.alloc(4);
  head.writeUInt32LE(b.length);
  return Buffer.concat([head, b]);
}

export async function startKServeTextStandIn(
  options: { models?: string[] } = {},
): Promise<KServeTextStandIn> {
  const models = options.models ?? ['standin_vlm'];
  const state: Omit<KServeTextStandIn, 'address' | 'close'> = {
    calls: [],
    violations: [],
    mode: 'ok',
    delayMs: 0,
    reply: () => 'A person walks across a paved square.',
  };
  const infer = async (req: ModelInferRequest__Output) => {
    const call = parse(req, models);
    state.calls.push(call);
    if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));
    if (state.mode === 'fail') throw Object.assign(new Error('the stand-in is told to fail'), { code: 14 });
    const text =
      state.mode === 'empty'
        ? ''
        : state.mode === 'refusal'
          ? 'I cannot determine what is in this image.'
          : state.reply(call);
    return {
      model_name: req.model_name,
      model_version: '1',
      id: req.id,
      outputs: [{ name: 'text_output', datatype: 'BYTES', shape: [1] }],
      raw_output_contents: [bytesOut(text)],
    };
  };
  const status = (e: unknown): grpc.ServiceError => {
    if (e instanceof Violation) {
      state.violations.push(e.message);
      return Object.assign(new Error(e.message), {
        code: grpc.status.INVALID_ARGUMENT,
        details: e.message,
        metadata: new grpc.Metadata(),
      });
    }
    const code = (e as { code?: number }).code ?? grpc.status.INTERNAL;
    return Object.assign(new Error((e as Error).message), {
      code,
      details: (e as Error).message,
      metadata: new grpc.Metadata(),
    });
  };
  type Cb = (err: grpc.ServiceError | null, res?: unknown) => void;
  type Call = { request: Record<string, unknown> };
  const handlers: grpc.UntypedServiceImplementation = {
    ServerLive: (_c: Call, cb: Cb) => cb(null, { live: true }),
    ServerReady: (_c: Call, cb: Cb) => cb(null, { ready: true }),
    ModelReady: (c: Call, cb: Cb) => cb(null, { ready: models.includes(String(c.request['name'])) }),
    ServerMetadata: (_c: Call, cb: Cb) => cb(null, { name: 'standin', version: '0', extensions: [] }),
    ModelMetadata: (c: Call, cb: Cb) => {
      const name = String(c.request['name']);
      if (!models.includes(name))
        return cb(status(Object.assign(new Error(`unknown model ${name}`), { code: grpc.status.NOT_FOUND })));
      cb(null, {
        name,
        versions: ['1'],
        platform: 'vllm',
        inputs: [
          { name: 'text_input', datatype: 'BYTES', shape: ['1'] },
          { name: 'image', datatype: 'BYTES', shape: ['1'] },
        ],
        outputs: [{ name: 'text_output', datatype: 'BYTES', shape: ['1'] }],
      });
    },
    ModelInfer: (c: Call, cb: Cb) => {
      infer(c.request as unknown as ModelInferRequest__Output).then(
        (r) => cb(null, r),
        (e: unknown) => cb(status(e)),
      );
    },
  };
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  server.addService(loadInferenceProto().inference.GRPCInferenceService.service, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  let closing: Promise<void> | undefined;
  return Object.assign(state, {
    address: `127.0.0.1:${port}`,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.tryShutdown(() => resolve());
        setTimeout(() => server.forceShutdown(), 500).unref();
      })),
  });
}
