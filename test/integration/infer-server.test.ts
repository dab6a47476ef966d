/**
 * The inference server and client for real: gRPC on 127.0.0.1 (port 0), onnxruntime with
 * models/raw/yolov8n.onnx, a model repository prepared by scripts/prepare-model-repo.mjs in a temp
 * dir, and real photos decoded by GStreamer.
 */
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Image } from '../../src/core/contracts.js';
import type { InferenceError } from '../../src/core/errors.js';
import { InferenceClient } from '../../src/infer/client.js';
import { createDetector } from '../../src/infer/detector.js';
import type { GRPCInferenceServiceClient } from '../../src/infer/generated/inference/GRPCInferenceService.js';
import type { ModelConfigResponse__Output } from '../../src/infer/generated/inference/ModelConfigResponse.js';
import type { ModelInferResponse__Output } from '../../src/infer/generated/inference/ModelInferResponse.js';
import type { ModelStatisticsResponse__Output } from '../../src/infer/generated/inference/ModelStatisticsResponse.js';
import type { RepositoryIndexResponse__Output } from '../../src/infer/generated/inference/RepositoryIndexResponse.js';
import type { ModelStreamInferResponse__Output } from '../../src/infer/generated/inference/ModelStreamInferResponse.js';
import { loadInferenceProto } from '../../src/infer/proto.js';
import { startInferenceServer, type InferenceServer } from '../../src/infer/server.js';
import { letterbox } from '../../src/infer/yolo.js';
import { prepareModelRepo } from '../helpers/model-repo.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const rawModel = join(root, 'models/raw/yolov8n.onnx');
const silent = { info: () => undefined, warn: () => undefined };

/** Decodes a JPEG to packed RGB with GStreamer; width/height from the negotiated caps. */
async function decodeJpeg(file: string, dir: string): Promise<Image> {
  const out = join(dir, `${file.replace(/\W/g, '_')}.rgb`);
  const { stdout } = await run('gst-launch-1.0', [
    '-v',
    'filesrc',
    `location=${join(root, 'samples', file)}`,
    '!',
    'jpegdec',
    '!',
    'videoconvert',
    '!',
    'video/x-raw,format=RGB',
    '!',
    'filesink',
    `location=${out}`,
  ]);
  const caps = stdout.split('\n').find((l) => l.includes('GstFileSink') && l.includes('format=(string)RGB'));
  const w = /width=\(int\)(\d+)/.exec(caps ?? '');
  const h = /height=\(int\)(\d+)/.exec(caps ?? '');
  if (!w || !h) throw new Error(`no RGB caps in gst-launch output for ${file}`);
  const width = Number(w[1]);
  const height = Number(h[1]);
  const data = new Uint8Array(readFileSync(out));
  // GStreamer pads RGB rows to 4 bytes; strip the padding if any.
  const stride = Math.ceil((width * 3) / 4) * 4;
  if (data.length === stride * height && stride !== width * 3) {
    const packed = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++)
      packed.set(data.subarray(y * stride, y * stride + width * 3), y * width * 3);
    return { width, height, format: 'RGB', data: packed };
  }
  expect(data.length).toBe(width * height * 3);
  return { width, height, format: 'RGB', data };
}

/** Nearest-neighbour downscale (a stand-in for ingest's model-size frame). */
function downscale(img: Image, width: number, height: number): Image {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(img.height - 1, Math.floor(((y + 0.5) * img.height) / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(img.width - 1, Math.floor(((x + 0.5) * img.width) / width));
      data.set(
        img.data.subarray((sy * img.width + sx) * 3, (sy * img.width + sx) * 3 + 3),
        (y * width + x) * 3,
      );
    }
  }
  return { width, height, format: 'RGB', data };
}

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

function rawClient(port: number): GRPCInferenceServiceClient {
  const Ctor = loadInferenceProto().inference.GRPCInferenceService;
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 16 * 1024 * 1024,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  });
}

function rawInfer(
  c: GRPCInferenceServiceClient,
  req: Parameters<GRPCInferenceServiceClient['ModelInfer']>[0],
): Promise<ModelInferResponse__Output> {
  return new Promise((res, rej) =>
    c.ModelInfer(req, { deadline: Date.now() + 30_000 }, (err, r) => (err ? rej(err) : res(r!))),
  );
}

const ECHO_CONFIG = `
name: "echo"
platform: "vigil_text_template"
max_batch_size: 0
input [ { name: "text_input" data_type: TYPE_STRING dims: [ -1 ] } ]
output [ { name: "text_output" data_type: TYPE_STRING dims: [ -1 ] } ]
version_policy: { latest: { num_versions: 2 } }
parameters { key: "vigil_text_template" value: { string_value: "echo: {text_input}" } }
`;

describe.skipIf(!existsSync(rawModel))('inference server (real gRPC + onnxruntime + yolov8n)', () => {
  let dir: string;
  let server: InferenceServer;
  let client: InferenceClient;
  let raw: GRPCInferenceServiceClient;
  const images: Record<string, Image> = {};

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-infer-'));
    const repo = join(dir, 'repo');
    await prepareModelRepo(repo, 'yolov8n', '--queue-delay-us', '50000');
    // The same ONNX served plain, as a real Triton would: FP32 NCHW, config auto-completed.
    mkdirSync(join(repo, 'yolov8n_fp32', '1'), { recursive: true });
    symlinkSync(rawModel, join(repo, 'yolov8n_fp32', '1', 'model.onnx'));
    // The built-in text test backend, versions 1..3, version_policy latest 2 (serves 2 and 3).
    for (const v of ['1', '2', '3']) mkdirSync(join(repo, 'echo', v), { recursive: true });
    writeFileSync(join(repo, 'echo', 'config.pbtxt'), ECHO_CONFIG);
    server = await startInferenceServer({
      modelRepository: repo,
      port: 0,
      logger: silent,
      intraOpNumThreads: 2,
      metricsPort: 0,
    });
    client = new InferenceClient({ addresses: [`127.0.0.1:${server.port}`], deadlineMs: 30_000 });
    raw = rawClient(server.port);
    for (const f of ['person.jpg', 'dog.jpg', 'horses.jpg']) images[f] = await decodeJpeg(f, dir);
  });

  afterAll(async () => {
    client?.close();
    raw?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('answers ServerLive, ServerReady, ServerMetadata, ModelReady and ModelMetadata', async () => {
    expect(server.port).toBeGreaterThan(0);
    expect(await client.serverLive()).toBe(true);
    expect(await client.serverReady()).toBe(true);
    expect((await client.serverMetadata()).name).toBe('vigil');
    expect(await client.modelReady('yolov8n')).toBe(true);
    expect(await client.modelReady('yolov8n', '1')).toBe(true);
    expect(await client.modelReady('yolov8n', '2')).toBe(false);
    expect(await client.modelReady('nope')).toBe(false);
    const meta = await client.modelMetadata('yolov8n');
    expect(meta).toEqual({
      name: 'yolov8n',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'images', datatype: 'UINT8', shape: [-1, 640, 640, 3] }],
      outputs: [
        { name: 'output0', datatype: 'FP32', shape: [-1, 84, 8400] },
        { name: 'candidates', datatype: 'FP32', shape: [-1, -1, 6] },
      ],
    });
    const plain = await client.modelMetadata('yolov8n_fp32');
    expect(plain.inputs).toEqual([{ name: 'images', datatype: 'FP32', shape: [1, 3, 640, 640] }]);
    expect(plain.outputs).toEqual([{ name: 'output0', datatype: 'FP32', shape: [1, 84, 8400] }]);
  });

  it('NOT_FOUND for an unknown model or version', async () => {
    const input = {
      name: 'images',
      datatype: 'UINT8' as const,
      shape: [1, 640, 640, 3],
      data: new Uint8Array(640 * 640 * 3),
    };
    await expect(client.modelMetadata('nope')).rejects.toMatchObject({
      code: 'VIGIL_ERR_INFER_NOT_FOUND',
      grpcCode: grpc.status.NOT_FOUND,
    });
    await expect(client.infer({ model: 'nope', inputs: [input] })).rejects.toMatchObject({
      code: 'VIGIL_ERR_INFER_NOT_FOUND',
    });
    await expect(client.infer({ model: 'yolov8n', version: '7', inputs: [input] })).rejects.toThrow(
      /version '7'/,
    );
  });

  it('INVALID_ARGUMENT naming the tensor for a wrong datatype, shape or byte size', async () => {
    const expectInvalid = async (p: Promise<unknown>, pattern: RegExp): Promise<void> => {
      const e = await p.then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeDefined();
      expect((e as grpc.ServiceError).code).toBe(grpc.status.INVALID_ARGUMENT);
      expect((e as Error).message).toMatch(pattern);
    };
    const bytes = Buffer.alloc(640 * 640 * 3);
    const base = { model_name: 'yolov8n' };
    await expectInvalid(
      rawInfer(raw, {
        ...base,
        inputs: [{ name: 'images', datatype: 'FP32', shape: [1, 640, 640, 3] }],
        raw_input_contents: [Buffer.alloc(640 * 640 * 12)],
      }),
      /'images'.*datatype FP32.*UINT8/,
    );
    await expectInvalid(
      rawInfer(raw, {
        ...base,
        inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 3, 640, 640] }],
        raw_input_contents: [bytes],
      }),
      /'images'.*shape \[1,3,640,640\]/,
    );
    await expectInvalid(
      rawInfer(raw, {
        ...base,
        inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 640, 640, 3] }],
        raw_input_contents: [bytes.subarray(1)],
      }),
      /'images'.*1228799 bytes/,
    );
    await expectInvalid(
      rawInfer(raw, {
        ...base,
        inputs: [{ name: 'images', datatype: 'UINT8', shape: [5, 640, 640, 3] }],
        raw_input_contents: [Buffer.alloc(5 * 640 * 640 * 3)],
      }),
      /'images'.*max_batch_size 4/,
    );
    await expectInvalid(
      rawInfer(raw, {
        ...base,
        inputs: [{ name: 'pixels', datatype: 'UINT8', shape: [1, 640, 640, 3] }],
        raw_input_contents: [bytes],
      }),
      /unknown input 'pixels'/,
    );
    await expectInvalid(
      rawInfer(raw, {
        ...base,
        inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 640, 640, 3] }],
        outputs: [{ name: 'boxes' }],
        raw_input_contents: [bytes],
      }),
      /unknown output 'boxes'/,
    );
    // Through the typed client: mapped to the typed error.
    await expect(
      client.infer({
        model: 'yolov8n_fp32',
        inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 640, 640, 3], data: bytes }],
      }),
    ).rejects.toMatchObject({
      code: 'VIGIL_ERR_INFER_INVALID_ARGUMENT',
      message: expect.stringMatching(/'images'/),
    });
  });

  it('finds a person, a dog and horses in real photos (UINT8 model and plain FP32 model)', async () => {
    const expected: Record<string, string> = {
      'person.jpg': 'person',
      'dog.jpg': 'dog',
      'horses.jpg': 'horse',
    };
    for (const model of ['yolov8n', 'yolov8n_fp32']) {
      const detector = createDetector({ client, model, scoreThreshold: 0.4 });
      for (const [file, label] of Object.entries(expected)) {
        const img = images[file]!;
        const res = await detector.detect(img, img.width, img.height);
        expect(res.model).toEqual({ name: model, version: '1' });
        expect(res.inferenceMs).toBeGreaterThan(0);
        const hits = res.detections.filter((d) => d.label === label);
        expect(
          hits.length,
          `${model}: ${file} → ${res.detections.map((d) => d.label).join(',')}`,
        ).toBeGreaterThan(0);
        for (const d of res.detections) {
          expect(d.box.x).toBeGreaterThanOrEqual(0);
          expect(d.box.y).toBeGreaterThanOrEqual(0);
          expect(d.box.x + d.box.w).toBeLessThanOrEqual(img.width + 1e-6);
          expect(d.box.y + d.box.h).toBeLessThanOrEqual(img.height + 1e-6);
        }
      }
    }
  });

  it("the server's reduced 'candidates' output gives exactly the detections of the full output0", async () => {
    const { inputLayout } = await import('../../src/infer/detector.js');
    const { postprocess, postprocessCandidates } = await import('../../src/infer/yolo.js');
    const { asFloat32 } = await import('../../src/infer/client.js');
    expect(inputLayout(await client.modelMetadata('yolov8n')).candidates).toBe('candidates');
    const opts = { scoreThreshold: 0.25, iouThreshold: 0.45, maxDetections: 100 };
    for (const f of ['person.jpg', 'horses.jpg']) {
      const img = images[f]!;
      const lb = letterbox(img.data, img.width, img.height);
      // Both outputs of one request, batched with another image to cover row splitting.
      const other = letterbox(images['dog.jpg']!.data, images['dog.jpg']!.width, images['dog.jpg']!.height);
      const r = await client.infer({
        model: 'yolov8n',
        inputs: [
          {
            name: 'images',
            datatype: 'UINT8',
            shape: [2, 640, 640, 3],
            data: Buffer.concat([lb.data, other.data]),
          },
        ],
        outputs: ['output0', 'candidates'],
      });
      const [full, cands] = r.outputs;
      expect(cands!.shape[0]).toBe(2);
      expect(cands!.shape[2]).toBe(6);
      const k = cands!.shape[1]!;
      expect(k).toBeGreaterThan(0);
      expect(cands!.data.byteLength).toBeLessThan(full!.data.byteLength / 50);
      const fullRow = asFloat32(full!).subarray(0, 84 * 8400);
      const candRow = asFloat32(cands!).subarray(0, k * 6);
      const a = postprocess(fullRow, lb, img.width, img.height, img.width, img.height, {
        ...opts,
        numAnchors: 8400,
        numClasses: 80,
      });
      const b = postprocessCandidates(candRow, lb, img.width, img.height, img.width, img.height, opts);
      expect(b).toEqual(a);
      expect(a.length).toBeGreaterThan(0);
      // Row 1 (the dog) of the same batch: its candidates start at row 1 of output0.
      const dog = images['dog.jpg']!;
      const a1 = postprocess(
        asFloat32(full!).subarray(84 * 8400, 2 * 84 * 8400),
        other,
        dog.width,
        dog.height,
        dog.width,
        dog.height,
        {
          ...opts,
          numAnchors: 8400,
          numClasses: 80,
        },
      );
      const b1 = postprocessCandidates(
        asFloat32(cands!).subarray(k * 6, 2 * k * 6),
        other,
        dog.width,
        dog.height,
        dog.width,
        dog.height,
        opts,
      );
      expect(b1).toEqual(a1);
      expect(a1.some((d) => d.label === 'dog')).toBe(true);
    }
  });

  it('maps boxes from a model-size image back to source pixels', async () => {
    const detector = createDetector({ client, scoreThreshold: 0.4 });
    const img = images['dog.jpg']!;
    const full = await detector.detect(img, img.width, img.height);
    const small = downscale(img, Math.round(img.width / 2), Math.round(img.height / 2));
    const fromSmall = await detector.detect(small, img.width, img.height);
    const bigDog = (ds: typeof full.detections) =>
      ds.filter((d) => d.label === 'dog').sort((a, b) => b.score - a.score)[0]!;
    const a = bigDog(full.detections).box;
    const b = bigDog(fromSmall.detections).box;
    const iw = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
    const ih = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
    const iou = (iw * ih) / (a.w * a.h + b.w * b.h - iw * ih);
    expect(iou).toBeGreaterThan(0.8);
  });

  it('batched results are identical to unbatched ones (one batched request and concurrent requests)', async () => {
    const lbs = ['person.jpg', 'dog.jpg', 'horses.jpg'].map((f) =>
      letterbox(images[f]!.data, images[f]!.width, images[f]!.height),
    );
    const single: Buffer[] = [];
    for (const lb of lbs) {
      const r = await client.infer({
        model: 'yolov8n',
        inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 640, 640, 3], data: lb.data }],
      });
      single.push(Buffer.from(r.outputs[0]!.data as Uint8Array));
    }
    const stacked = Buffer.concat(lbs.map((l) => l.data));
    const batched = await client.infer({
      model: 'yolov8n',
      inputs: [{ name: 'images', datatype: 'UINT8', shape: [3, 640, 640, 3], data: stacked }],
    });
    expect(batched.outputs[0]!.shape).toEqual([3, 84, 8400]);
    const bytes = Buffer.from(batched.outputs[0]!.data as Uint8Array);
    const row = bytes.byteLength / 3;
    for (let i = 0; i < 3; i++) expect(bytes.subarray(i * row, (i + 1) * row).equals(single[i]!)).toBe(true);
    // Concurrent requests go through the dynamic batcher (50 ms queue delay) together.
    const metricsText = async (): Promise<string> =>
      (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text();
    const metric = (text: string, name: string): number =>
      Number(new RegExp(`^${name}\\{model="yolov8n",version="1"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    const m0 = await metricsText();
    const s0 = server.stats()['yolov8n:1']!;
    const concurrent = await Promise.all(
      lbs.map((lb) =>
        client.infer({
          model: 'yolov8n',
          inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 640, 640, 3], data: lb.data }],
        }),
      ),
    );
    concurrent.forEach((r, i) => {
      expect(r.outputs[0]!.shape).toEqual([1, 84, 8400]);
      expect(Buffer.from(r.outputs[0]!.data as Uint8Array).equals(single[i]!)).toBe(true);
    });
    // The server merged them: fewer batches than requests, and a batch of more than one image
    // (the graph's batch dim was made dynamic at repository preparation, so it ran as one call).
    const s1 = server.stats()['yolov8n:1']!;
    // The repository's yolov8n.onnx got a dynamic batch dimension (verified at preparation time).
    const ort = await import('onnxruntime-node');
    const edited = await ort.InferenceSession.create(join(dir, 'repo', 'yolov8n', '1', 'model.onnx'));
    expect(edited.inputMetadata[0]).toMatchObject({ name: 'images', shape: ['batch', 3, 640, 640] });
    await edited.release();
    expect(s1.requests - s0.requests).toBe(3);
    expect(s1.batches - s0.batches).toBeLessThan(3);
    expect(s1.largestBatch).toBeGreaterThanOrEqual(2);
    // ... and the metrics say so too (per model and version).
    const m1 = await metricsText();
    const delta = (name: string): number => metric(m1, name) - metric(m0, name);
    expect(delta('vigil_infer_requests_total')).toBe(3);
    expect(delta('vigil_infer_batches_total')).toBe(s1.batches - s0.batches);
    expect(delta('vigil_infer_batch_size_count')).toBe(s1.batches - s0.batches);
    expect(delta('vigil_infer_batch_size_sum')).toBe(3);
    expect(delta('vigil_infer_compute_duration_seconds_count')).toBe(s1.batches - s0.batches);
    expect(delta('vigil_infer_queue_duration_seconds_count')).toBe(3);
    expect(delta('vigil_infer_request_duration_seconds_count')).toBe(3);
    expect(delta('vigil_infer_request_failures_total')).toBe(0);
    expect(m1).toMatch(/^vigil_infer_queue_depth\{model="yolov8n",version="1"\} 0$/m);
    // The plain FP32 model agrees with the UINT8 one: the server-side transform is exact.
    const { hwcToChwFloat } = await import('../../src/infer/detector.js');
    const fp32 = await client.infer({
      model: 'yolov8n_fp32',
      inputs: [
        { name: 'images', datatype: 'FP32', shape: [1, 3, 640, 640], data: hwcToChwFloat(lbs[0]!.data, 640) },
      ],
    });
    expect(Buffer.from(fp32.outputs[0]!.data as Uint8Array).equals(single[0]!)).toBe(true);
  });

  it("Triton's read-only extensions: ModelConfig, ModelStatistics, RepositoryIndex", async () => {
    const call = <R>(f: (cb: (e: grpc.ServiceError | null, r?: R) => void) => unknown): Promise<R> =>
      new Promise((res, rej) => f((e, r) => (e ? rej(e) : res(r!))));
    const modelConfig = (name: string, version = '') =>
      call<ModelConfigResponse__Output>((cb) => raw.ModelConfig({ name, version }, cb));
    const modelStatistics = (name = '', version = '') =>
      call<ModelStatisticsResponse__Output>((cb) => raw.ModelStatistics({ name, version }, cb));
    const meta = await client.serverMetadata();
    expect(meta.extensions).toEqual(
      expect.arrayContaining(['model_configuration', 'statistics', 'model_repository']),
    );
    // ModelConfig: what the server runs (wire tensors after the declared transforms).
    const { config } = await modelConfig('yolov8n');
    expect(config).toMatchObject({
      name: 'yolov8n',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      max_batch_size: 4,
      version_policy: { latest: { num_versions: 1 } },
      input: [{ name: 'images', data_type: 'TYPE_UINT8', dims: ['640', '640', '3'] }],
      dynamic_batching: { max_queue_delay_microseconds: '50000' },
      instance_group: [{ count: 1, kind: 'KIND_CPU' }],
    });
    expect(config!.output.map((o) => [o.name, o.data_type])).toEqual([
      ['output0', 'TYPE_FP32'],
      ['candidates', 'TYPE_FP32'],
    ]);
    const echo = await modelConfig('echo', '2');
    expect(echo.config).toMatchObject({
      max_batch_size: 0,
      input: [{ name: 'text_input', data_type: 'TYPE_STRING', dims: ['-1'] }],
      version_policy: { latest: { num_versions: 2 } },
      parameters: { vigil_text_template: { string_value: 'echo: {text_input}' } },
    });
    await expect(modelConfig('nope')).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
    await expect(modelConfig('echo', '1')).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
    // The field numbers on the wire are the published ones (model_config.proto), read from the
    // raw bytes with a hand-encoded request: a Triton client decodes what it expects.
    const wire = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    const name = Buffer.from('yolov8n');
    const bytes = await new Promise<Buffer>((res, rej) =>
      wire.makeUnaryRequest(
        '/inference.GRPCInferenceService/ModelConfig',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.concat([Buffer.from([0x0a, name.length]), name]),
        (e, r) => (e ? rej(e) : res(r!)),
      ),
    );
    wire.close();
    /** Protobuf wire fields by number (varint and length-delimited only: all this message uses). */
    const fields = (buf: Buffer): Map<number, Buffer[]> => {
      const out = new Map<number, Buffer[]>();
      let i = 0;
      const varint = (): number => {
        let v = 0;
        for (let shift = 0; ; shift += 7) {
          const b = buf[i++]!;
          v += (b & 0x7f) * 2 ** shift;
          if (b < 0x80) return v;
        }
      };
      while (i < buf.length) {
        const key = varint();
        const at = i;
        let body: Buffer;
        if ((key & 7) === 0) {
          varint();
          body = buf.subarray(at, i);
        } else if ((key & 7) === 2) {
          const len = varint();
          body = buf.subarray(i, i + len);
          i += len;
        } else throw new Error(`unexpected wire type ${key & 7}`);
        out.set(key >>> 3, [...(out.get(key >>> 3) ?? []), body]);
      }
      return out;
    };
    const cfg = fields(fields(bytes).get(1)![0]!); // ModelConfigResponse.config = 1
    expect(cfg.get(1)![0]!.toString()).toBe('yolov8n'); // name
    expect(cfg.get(2)![0]!.toString()).toBe('onnxruntime_onnx'); // platform
    expect(cfg.get(17)![0]!.toString()).toBe('onnxruntime'); // backend
    expect(cfg.get(4)![0]![0]).toBe(4); // max_batch_size (varint)
    expect(fields(cfg.get(5)![0]!).get(1)![0]!.toString()).toBe('images'); // input[0].name
    expect(cfg.get(6)).toHaveLength(2); // output
    expect(cfg.get(7)).toHaveLength(1); // instance_group
    expect(fields(cfg.get(11)![0]!).has(2)).toBe(true); // dynamic_batching.max_queue_delay_microseconds

    // ModelStatistics: deltas over three concurrent requests and one refused one.
    type Stats = Awaited<ReturnType<typeof statsOf>>;
    const statsOf = async () => {
      const r = await modelStatistics('yolov8n', '1');
      expect(r.model_stats).toHaveLength(1);
      return r.model_stats[0]!;
    };
    const n = (s: Stats, pick: (s: Stats) => string | undefined): number => Number(pick(s) ?? 0);
    const before = await statsOf();
    const t0 = Date.now();
    const lb = letterbox(images['dog.jpg']!.data, images['dog.jpg']!.width, images['dog.jpg']!.height);
    await Promise.all(
      [0, 1, 2].map(() =>
        client.infer({
          model: 'yolov8n',
          inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 640, 640, 3], data: lb.data }],
        }),
      ),
    );
    // Sent once, unary (the client repeats a call refused on its stream as a unary call).
    await expect(
      rawInfer(raw, {
        model_name: 'yolov8n',
        inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 640, 640, 2] }],
        raw_input_contents: [Buffer.alloc(640 * 640 * 2)],
      }),
    ).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    const after = await statsOf();
    const d = (pick: (s: Stats) => string | undefined): number => n(after, pick) - n(before, pick);
    expect(d((s) => s.inference_count)).toBe(3);
    expect(d((s) => s.inference_stats?.success?.count)).toBe(3);
    expect(d((s) => s.inference_stats?.fail?.count)).toBe(1);
    expect(d((s) => s.inference_stats?.queue?.count)).toBe(3);
    expect(d((s) => s.inference_stats?.compute_infer?.count)).toBe(3);
    expect(d((s) => s.inference_stats?.compute_infer?.ns)).toBeGreaterThan(0);
    expect(d((s) => s.inference_stats?.success?.ns)).toBeGreaterThanOrEqual(
      d((s) => s.inference_stats?.compute_infer?.ns) / 3,
    );
    const executions = d((s) => s.execution_count);
    expect(executions).toBeGreaterThanOrEqual(1);
    expect(executions).toBeLessThanOrEqual(3);
    const perSize = (s: Stats) => s.batch_stats.reduce((k, b) => k + Number(b.compute_infer?.count ?? 0), 0);
    const rows = (s: Stats) =>
      s.batch_stats.reduce((k, b) => k + Number(b.batch_size) * Number(b.compute_infer?.count ?? 0), 0);
    expect(perSize(after) - perSize(before)).toBe(executions);
    expect(rows(after) - rows(before)).toBe(3);
    expect(Number(after.last_inference)).toBeGreaterThanOrEqual(t0);
    // Every model and version when no name is given; NOT_FOUND for an unknown one.
    const all = await modelStatistics();
    expect(all.model_stats.map((s) => `${s.name}:${s.version}`).sort()).toEqual(
      ['echo:2', 'echo:3', 'yolov8n:1', 'yolov8n_fp32:1'].sort(),
    );
    await expect(modelStatistics('nope')).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
    // RepositoryIndex: every served version, ready.
    const index = await call<RepositoryIndexResponse__Output>((cb) =>
      raw.RepositoryIndex({ ready: true }, cb),
    );
    expect(index.models.map((m) => `${m.name}:${m.version}:${m.state}`).sort()).toEqual(
      ['echo:2:READY', 'echo:3:READY', 'yolov8n:1:READY', 'yolov8n_fp32:1:READY'].sort(),
    );
  });

  it('accepts typed contents (uint_contents) as well as raw_input_contents', async () => {
    const lb = letterbox(images['dog.jpg']!.data, images['dog.jpg']!.width, images['dog.jpg']!.height);
    const viaRaw = await rawInfer(raw, {
      model_name: 'yolov8n',
      inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 640, 640, 3] }],
      raw_input_contents: [Buffer.from(lb.data)],
    });
    const viaTyped = await rawInfer(raw, {
      model_name: 'yolov8n',
      id: 'typed-1',
      inputs: [
        {
          name: 'images',
          datatype: 'UINT8',
          shape: [1, 640, 640, 3],
          contents: { uint_contents: Array.from(lb.data) },
        },
      ],
    });
    expect(viaTyped.id).toBe('typed-1');
    expect(viaTyped.model_version).toBe('1');
    expect(viaTyped.raw_output_contents[0]!.equals(viaRaw.raw_output_contents[0]!)).toBe(true);
  });

  it('ModelStreamInfer answers each request, errors as error_message on an open stream', async () => {
    const call = raw.ModelStreamInfer();
    const got: ModelStreamInferResponse__Output[] = [];
    const done = new Promise<void>((res, rej) => {
      call.on('data', (m: ModelStreamInferResponse__Output) => got.push(m));
      call.on('end', () => res());
      call.on('error', rej);
    });
    call.write({
      model_name: 'yolov8n',
      id: 'a',
      inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 640, 640, 3] }],
      raw_input_contents: [Buffer.alloc(640 * 640 * 3, 114)],
    });
    call.write({ model_name: 'missing', id: 'b' });
    call.end();
    await done;
    expect(got).toHaveLength(2);
    const ok = got.find((m) => m.infer_response?.id === 'a')!;
    expect(ok.error_message).toBe('');
    expect(ok.infer_response!.outputs[0]!.shape).toEqual(['1', '84', '8400']);
    const bad = got.find((m) => m.infer_response?.id === 'b')!;
    expect(bad.error_message).toMatch(/unknown model 'missing'/);
  });

  it('BYTES tensors (raw and bytes_contents, unary and streaming) through the text test backend; version_policy', async () => {
    const { bytesTensor, asStrings } = await import('../../src/infer/client.js');
    const r = await client.infer({ model: 'echo', inputs: [bytesTensor('text_input', ['héllo', ''])] });
    expect(r.version).toBe('3');
    expect(r.outputs[0]!.shape).toEqual([2]);
    expect(asStrings(r.outputs[0]!)).toEqual(['echo: héllo', 'echo: ']);
    const typed = await rawInfer(raw, {
      model_name: 'echo',
      model_version: '2',
      inputs: [
        {
          name: 'text_input',
          datatype: 'BYTES',
          shape: [1],
          contents: { bytes_contents: [Buffer.from('x')] },
        },
      ],
    });
    expect(typed.model_version).toBe('2');
    expect(
      asStrings({ name: 'o', datatype: 'BYTES', shape: [1], data: typed.raw_output_contents[0]! }),
    ).toEqual(['echo: x']);
    // version_policy latest 2: version 1 exists on disk but is not served.
    expect((await client.modelMetadata('echo')).versions).toEqual(['2', '3']);
    expect(await client.modelReady('echo', '1')).toBe(false);
    await expect(
      client.infer({ model: 'echo', version: '1', inputs: [bytesTensor('text_input', ['a'])] }),
    ).rejects.toMatchObject({ code: 'VIGIL_ERR_INFER_NOT_FOUND' });
    // Malformed BYTES (length prefix past the end) and a wrong element count are INVALID_ARGUMENT naming the tensor.
    await expect(
      rawInfer(raw, {
        model_name: 'echo',
        inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1] }],
        raw_input_contents: [Buffer.from([9, 0, 0, 0, 65])],
      }),
    ).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringMatching(/'text_input'/),
    });
    await expect(
      rawInfer(raw, {
        model_name: 'echo',
        inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [2] }],
        raw_input_contents: [bytesTensor('t', ['one']).data as Buffer],
      }),
    ).rejects.toMatchObject({
      code: grpc.status.INVALID_ARGUMENT,
      details: expect.stringMatching(/1 BYTES elements/),
    });
    // Streaming with BYTES.
    const call = raw.ModelStreamInfer();
    const got: ModelStreamInferResponse__Output[] = [];
    const done = new Promise<void>((res, rej) => {
      call.on('data', (m: ModelStreamInferResponse__Output) => got.push(m));
      call.on('end', () => res());
      call.on('error', rej);
    });
    for (const id of ['s1', 's2']) {
      call.write({
        model_name: 'echo',
        id,
        inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1] }],
        raw_input_contents: [bytesTensor('t', [id]).data as Buffer],
      });
    }
    call.end();
    await done;
    expect(got.map((m) => m.infer_response!.id).sort()).toEqual(['s1', 's2']);
    for (const m of got) {
      const out = m.infer_response!;
      expect(
        asStrings({ name: 'o', datatype: 'BYTES', shape: [1], data: out.raw_output_contents[0]! }),
      ).toEqual([`echo: ${out.id}`]);
    }
  });

  it('refuses oversized messages cleanly (client check and server limit) and keeps serving', async () => {
    const { bytesTensor } = await import('../../src/infer/client.js');
    const small = new InferenceClient({ addresses: [`127.0.0.1:${server.port}`], maxMessageBytes: 1024 });
    await expect(
      small.infer({ model: 'echo', inputs: [bytesTensor('text_input', ['x'.repeat(4096)])] }),
    ).rejects.toMatchObject({
      code: 'VIGIL_ERR_INFER_INVALID_ARGUMENT',
      message: expect.stringMatching(/exceeds maxMessageBytes/),
    });
    small.close();
    // A raw client that allows 32 MiB sends 17 MiB: the server (16 MiB limit) refuses it.
    const Ctor = loadInferenceProto().inference.GRPCInferenceService;
    const big = new Ctor(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': 32 * 1024 * 1024,
    });
    try {
      await expect(
        rawInfer(big, {
          model_name: 'echo',
          inputs: [{ name: 'text_input', datatype: 'BYTES', shape: [1] }],
          raw_input_contents: [bytesTensor('t', ['y'.repeat(17 * 1024 * 1024)]).data as Buffer],
        }),
      ).rejects.toMatchObject({ code: grpc.status.RESOURCE_EXHAUSTED });
    } finally {
      big.close();
    }
    expect(await client.serverLive()).toBe(true);
  });

  it('the client retries UNAVAILABLE on the next address (round-robin)', async () => {
    const dead = await freePort();
    const c = new InferenceClient({
      addresses: [`127.0.0.1:${dead}`, `127.0.0.1:${server.port}`],
      retries: 2,
      retryBackoffMs: 10,
      deadlineMs: 10_000,
    });
    try {
      for (let i = 0; i < 4; i++) expect(await c.serverLive()).toBe(true);
      const only = new InferenceClient({ addresses: [`127.0.0.1:${dead}`], retries: 1, retryBackoffMs: 10 });
      await expect(only.serverLive()).rejects.toMatchObject({ code: 'VIGIL_ERR_INFER_UNAVAILABLE' });
      only.close();
      only.close();
      await expect(only.serverLive()).rejects.toMatchObject({ code: 'VIGIL_ERR_INFER_CLOSED' });
    } finally {
      c.close();
    }
  });
});

describe.skipIf(!existsSync(rawModel))('inference server: queue bound, broken models, close', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-infer2-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('RESOURCE_EXHAUSTED when the queue is full; close() drains in-flight calls and is idempotent', async () => {
    const repo = join(dir, 'q');
    await run(process.execPath, [
      join(root, 'scripts/prepare-model-repo.mjs'),
      '--out',
      repo,
      '--max-batch-size',
      '1',
      '--queue-delay-us',
      '0',
      '--models',
      'yolov8n',
    ]);
    const server = await startInferenceServer({
      modelRepository: repo,
      port: 0,
      logger: silent,
      maxQueueSize: 1,
      intraOpNumThreads: 1,
    });
    const client = new InferenceClient({ addresses: [`127.0.0.1:${server.port}`], deadlineMs: 30_000 });
    try {
      const input = {
        name: 'images',
        datatype: 'UINT8' as const,
        shape: [1, 640, 640, 3],
        data: new Uint8Array(640 * 640 * 3),
      };
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, () => client.infer({ model: 'yolov8n', inputs: [input] })),
      );
      const rejected = results
        .filter((r) => r.status === 'rejected')
        .map((r) => (r as PromiseRejectedResult).reason as InferenceError);
      expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(1);
      expect(rejected.length).toBeGreaterThanOrEqual(1);
      for (const e of rejected) expect(e.code).toBe('VIGIL_ERR_INFER_RESOURCE_EXHAUSTED');
      expect(server.stats()['yolov8n:1']!.rejected).toBe(rejected.length);

      // A request whose deadline passes while it waits behind a running batch is dropped, not run
      // (models run in worker threads, so the server notices deadlines while one computes). Its
      // deadline is a fraction of one call's time on this machine, so that it passes while the
      // first still runs however fast the model is (a fixed 60 ms did not on a quiet machine).
      const t0 = performance.now();
      await client.infer({ model: 'yolov8n', inputs: [input] });
      const callMs = performance.now() - t0;
      const before = server.stats()['yolov8n:1']!;
      const first = client.infer({ model: 'yolov8n', inputs: [input] });
      await new Promise((r) => setTimeout(r, 10));
      const deadlineMs = Math.max(15, Math.round(callMs * 0.4));
      await expect(client.infer({ model: 'yolov8n', inputs: [input], deadlineMs })).rejects.toMatchObject({
        code: 'VIGIL_ERR_INFER_DEADLINE',
      });
      await first;
      const after = server.stats()['yolov8n:1']!;
      // Never run: only the first request was dispatched. It was dropped from the queue (expired)
      // unless, on a loaded machine, its 1.2 MB took longer than its deadline to arrive at all.
      expect(after.requests - before.requests).toBe(1);
      expect(after.expired - before.expired).toBeLessThanOrEqual(1);

      // Close while one call is in flight: it completes, later calls fail, close() twice is fine.
      const inflight = client.infer({ model: 'yolov8n', inputs: [input] });
      await new Promise((r) => setTimeout(r, 30));
      const c1 = server.close();
      const c2 = server.close();
      expect(c1).toBe(c2);
      await expect(inflight).resolves.toMatchObject({ model: 'yolov8n' });
      await c1;
      await expect(client.serverLive()).rejects.toMatchObject({ code: 'VIGIL_ERR_INFER_UNAVAILABLE' });
    } finally {
      client.close();
      await server.close();
    }
  });

  it("executionProviders ['cuda', 'cpu'] loads on CPU with a logged warning where CUDA is missing", async () => {
    const repo = join(dir, 'cuda');
    mkdirSync(join(repo, 'plain', '1'), { recursive: true });
    symlinkSync(rawModel, join(repo, 'plain', '1', 'model.onnx'));
    const logs: string[] = [];
    const logger = {
      info: (m: string) => logs.push(`info ${m}`),
      warn: (m: string) => logs.push(`warn ${m}`),
    };
    const server = await startInferenceServer({
      modelRepository: repo,
      port: 0,
      logger,
      executionProviders: ['cuda', 'cpu'],
    });
    try {
      const client = new InferenceClient({ addresses: [`127.0.0.1:${server.port}`] });
      expect(await client.modelReady('plain')).toBe(true);
      client.close();
      expect(logs.some((l) => /loaded model 'plain' version 1/.test(l))).toBe(true);
      // The npm package ships the CUDA provider library only when its install script fetched it.
      const cudaShipped = existsSync(
        join(root, 'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so'),
      );
      const warned = logs.some((l) => /^warn model 'plain': CUDA execution provider unavailable/.test(l));
      expect(warned).toBe(!cudaShipped);
    } finally {
      await server.close();
    }
  });

  it('issue 22 item 6: warms each model up at load at its largest batch, unless told not to', async () => {
    const repo = join(dir, 'warm');
    await prepareModelRepo(repo, 'yolov8n');
    mkdirSync(join(repo, 'yolov8n_fp32', '1'), { recursive: true });
    symlinkSync(rawModel, join(repo, 'yolov8n_fp32', '1', 'model.onnx'));
    for (const v of ['1']) mkdirSync(join(repo, 'echo', v), { recursive: true });
    writeFileSync(join(repo, 'echo', 'config.pbtxt'), ECHO_CONFIG);
    for (const warmup of [undefined, false]) {
      const logs: string[] = [];
      const logger = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(`warn ${m}`) };
      const server = await startInferenceServer({
        modelRepository: repo,
        port: 0,
        logger,
        ...(warmup === undefined ? {} : { warmup }),
      });
      try {
        const warmed = logs.filter((l) => /warmed up/.test(l));
        if (warmup === false) expect(warmed).toEqual([]);
        else {
          // yolov8n batches up to 4 (UINT8 NHWC through the input transform), yolov8n_fp32 does
          // not batch (fixed shape); echo's BYTES input is skipped.
          expect(warmed.some((l) => /^model 'yolov8n': warmed up at batch 4 in \d+ ms$/.test(l))).toBe(true);
          expect(warmed.some((l) => /^model 'yolov8n_fp32': warmed up at batch 1/.test(l))).toBe(true);
          expect(warmed.some((l) => /'echo'/.test(l))).toBe(false);
          expect(logs.filter((l) => l.startsWith('warn'))).toEqual([]);
        }
        // Not counted as requests.
        const r = rawClient(server.port);
        const stats = await new Promise<ModelStatisticsResponse__Output>((res, rej) =>
          r.ModelStatistics({ name: 'yolov8n', version: '1' }, (e, x) => (e ? rej(e) : res(x!))),
        );
        r.close();
        expect(Number(stats.model_stats[0]!.inference_count ?? 0)).toBe(0);
      } finally {
        await server.close();
      }
    }
  });

  it('a broken model fails the start with an error naming it', async () => {
    const repo = join(dir, 'broken');
    mkdirSync(join(repo, 'garbage', '1'), { recursive: true });
    writeFileSync(join(repo, 'garbage', '1', 'model.onnx'), 'not an onnx file');
    await expect(
      startInferenceServer({ modelRepository: repo, port: 0, logger: silent }),
    ).rejects.toMatchObject({
      code: 'VIGIL_ERR_INFER_REPOSITORY',
      message: expect.stringMatching(/model 'garbage'/),
    });
    const repo2 = join(dir, 'badconfig');
    mkdirSync(join(repo2, 'yolo', '1'), { recursive: true });
    symlinkSync(rawModel, join(repo2, 'yolo', '1', 'model.onnx'));
    writeFileSync(
      join(repo2, 'yolo', 'config.pbtxt'),
      'name: "yolo"\nmax_batch_size: 0\ninput [{ name: "pixels" data_type: TYPE_FP32 dims: [1,3,640,640] }]\n',
    );
    await expect(startInferenceServer({ modelRepository: repo2, port: 0, logger: silent })).rejects.toThrow(
      /model 'yolo': config input 'pixels' is not an input/,
    );
    await expect(
      startInferenceServer({ modelRepository: repo2, port: 0, bogus: 1 } as never),
    ).rejects.toThrow(/unknown option 'bogus'/);
  });
});
