/**
 * Triton's system shared-memory extension for real: the inference server on 127.0.0.1 (port 0)
 * with YOLOv8n on onnxruntime, objects in /dev/shm, the three registration RPCs through a raw gRPC
 * client, tensors in and out of shared memory, and Vigil's client using it by itself (and falling
 * back to bytes when the server restarts or does not offer it).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferenceClient } from '../../src/infer/client.js';
import type { GRPCInferenceServiceClient } from '../../src/infer/generated/inference/GRPCInferenceService.js';
import type { ModelInferRequest } from '../../src/infer/generated/inference/ModelInferRequest.js';
import type { ModelInferResponse__Output } from '../../src/infer/generated/inference/ModelInferResponse.js';
import type { SystemSharedMemoryStatusResponse__Output } from '../../src/infer/generated/inference/SystemSharedMemoryStatusResponse.js';
import { loadInferenceProto } from '../../src/infer/proto.js';
import { startInferenceServer, type InferenceServer } from '../../src/infer/server.js';
import { SHM_DIR } from '../../src/infer/shm.js';
import { syntheticLetterboxed } from '../helpers/synthetic-frame.js';
import { prepareModelRepo } from '../helpers/model-repo.js';

const root = resolve(import.meta.dirname, '../..');
const rawModel = join(root, 'models/raw/yolov8n.onnx');
const silent = { info: () => undefined, warn: () => undefined };
const FRAME_BYTES = 640 * 640 * 3;

function rawClient(port: number): GRPCInferenceServiceClient {
  const Ctor = loadInferenceProto().inference.GRPCInferenceService;
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 16 * 1024 * 1024,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
  });
}

type Cb<T> = (err: grpc.ServiceError | null, res?: T) => void;
/** Calls one unary RPC by name with a 30 s deadline. */
function unary<T>(c: GRPCInferenceServiceClient, method: string, req: object): Promise<T> {
  const fn = (c as unknown as Record<string, (r: object, o: grpc.CallOptions, cb: Cb<T>) => void>)[method]!;
  return new Promise((res, rej) =>
    fn.call(c, req, { deadline: Date.now() + 30_000 }, (err, r) => (err ? rej(err) : res(r!))),
  );
}

async function code(p: Promise<unknown>): Promise<[grpc.status | undefined, string]> {
  try {
    await p;
    return [undefined, ''];
  } catch (e) {
    return [(e as grpc.ServiceError).code, (e as grpc.ServiceError).details];
  }
}

/** A letterboxed synthetic frame with structure (gradients and blocks). */
const frame = (k: number): Uint8Array => syntheticLetterboxed(k, 800, 450);

/** A temp dir with a model repository serving yolov8n (as set-up prepares it). */
async function yoloRepository(prefix: string): Promise<{ dir: string; repo: string }> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const repo = join(dir, 'repo');
  await prepareModelRepo(repo, 'yolov8n');
  return { dir, repo };
}

/** Vigil's own objects in /dev/shm made by this process. */
function ownObjects(): string[] {
  return readdirSync(SHM_DIR).filter((f) => f.startsWith(`vigil-shm-${process.pid}-`));
}

const p = (v: string | number) => (typeof v === 'string' ? { string_param: v } : { int64_param: v });

describe.skipIf(!existsSync(rawModel) || !existsSync(SHM_DIR))('system shared memory (real server)', () => {
  let dir: string;
  let repo: string;
  let server: InferenceServer;
  let raw: GRPCInferenceServiceClient;
  const key = `vigil-test-${process.pid}-${Date.now()}`;
  const object = join(SHM_DIR, key);

  beforeAll(async () => {
    ({ dir, repo } = await yoloRepository('vigil-shm-'));
    server = await startInferenceServer({
      modelRepository: repo,
      port: 0,
      logger: silent,
      intraOpNumThreads: 2,
    });
    raw = rawClient(server.port);
    // One object with room for an input frame at offset 64 and a raw output after it.
    writeFileSync(object, Buffer.alloc(8 * 1024 * 1024));
  });

  afterAll(async () => {
    raw?.close();
    await server?.close();
    rmSync(object, { force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('offers the extension and answers Register, Status and Unregister as Triton does', async () => {
    const meta = await unary<{ extensions: string[] }>(raw, 'ServerMetadata', {});
    expect(meta.extensions).toContain('system_shared_memory');
    await unary(raw, 'SystemSharedMemoryRegister', {
      name: 'in',
      key: `/${key}`,
      offset: 0,
      byte_size: 4 * 1024 * 1024,
    });
    await unary(raw, 'SystemSharedMemoryRegister', {
      name: 'out',
      key: `/${key}`,
      offset: 4 * 1024 * 1024,
      byte_size: 4 * 1024 * 1024,
    });
    const all = await unary<SystemSharedMemoryStatusResponse__Output>(raw, 'SystemSharedMemoryStatus', {});
    expect(all.regions['in']).toEqual({
      name: 'in',
      key: `/${key}`,
      offset: '0',
      byte_size: String(4 * 1024 * 1024),
    });
    expect(Object.keys(all.regions).sort()).toEqual(expect.arrayContaining(['in', 'out']));
    const one = await unary<SystemSharedMemoryStatusResponse__Output>(raw, 'SystemSharedMemoryStatus', {
      name: 'out',
    });
    expect(Object.keys(one.regions)).toEqual(['out']);
    expect((await code(unary(raw, 'SystemSharedMemoryStatus', { name: 'nope' })))[0]).toBe(
      grpc.status.NOT_FOUND,
    );
    const reg = (r: object) => code(unary(raw, 'SystemSharedMemoryRegister', r));
    expect((await reg({ name: 'in', key: `/${key}`, offset: 0, byte_size: 8 }))[0]).toBe(
      grpc.status.ALREADY_EXISTS,
    );
    for (const bad of [
      { name: 'x', key: '/../../etc/passwd', offset: 0, byte_size: 8 },
      { name: 'x', key: '/no-such-object-here', offset: 0, byte_size: 8 },
      { name: 'x', key: `/${key}`, offset: 8 * 1024 * 1024 - 4, byte_size: 8 },
      { name: 'x/y', key: `/${key}`, offset: 0, byte_size: 8 },
      { name: 'x', key: `/${key}`, offset: 0, byte_size: 0 },
    ]) {
      const [c, details] = await reg(bad);
      expect(c, JSON.stringify(bad)).toBe(grpc.status.INVALID_ARGUMENT);
      expect(details).toMatch(/shared memory/);
    }
    await unary(raw, 'SystemSharedMemoryUnregister', { name: 'not-registered' }); // not an error
  });

  it('reads inputs from and writes outputs to shared memory, identical to bytes in the message', async () => {
    const img = frame(3);
    writeFileSync(object, img, { flag: 'r+' }); // at offset 0 of the object = region 'in'
    const viaBytes = await unary<ModelInferResponse__Output>(raw, 'ModelInfer', {
      model_name: 'yolov8n',
      inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 640, 640, 3] }],
      outputs: [{ name: 'output0' }, { name: 'candidates' }],
      raw_input_contents: [Buffer.from(img)],
    } satisfies ModelInferRequest);
    const viaShm = await unary<ModelInferResponse__Output>(raw, 'ModelInfer', {
      model_name: 'yolov8n',
      inputs: [
        {
          name: 'images',
          datatype: 'UINT8',
          shape: [1, 640, 640, 3],
          parameters: { shared_memory_region: p('in'), shared_memory_byte_size: p(FRAME_BYTES) },
        },
      ],
      outputs: [
        {
          name: 'output0',
          parameters: {
            shared_memory_region: p('out'),
            shared_memory_offset: p(16),
            shared_memory_byte_size: p(84 * 8400 * 4),
          },
        },
        { name: 'candidates' },
      ],
    } satisfies ModelInferRequest);
    expect(viaShm.outputs.map((o) => [o.name, o.shape])).toEqual(
      viaBytes.outputs.map((o) => [o.name, o.shape]),
    );
    // output0 went to shared memory: its entry in the message is empty, its bytes are in the region.
    expect(viaShm.raw_output_contents[0]!.byteLength).toBe(0);
    const region = readFileSync(object).subarray(4 * 1024 * 1024 + 16, 4 * 1024 * 1024 + 16 + 84 * 8400 * 4);
    expect(Buffer.compare(region, viaBytes.raw_output_contents[0]!)).toBe(0);
    expect(Buffer.compare(viaShm.raw_output_contents[1]!, viaBytes.raw_output_contents[1]!)).toBe(0);
  });

  it('INVALID_ARGUMENT naming the tensor for unknown regions, wrong sizes, bad bounds and half-given parameters', async () => {
    const input = (params: Record<string, ReturnType<typeof p>>) =>
      code(
        unary(raw, 'ModelInfer', {
          model_name: 'yolov8n',
          inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 640, 640, 3], parameters: params }],
          outputs: [{ name: 'candidates' }],
        }),
      );
    const cases: [Record<string, ReturnType<typeof p>>, RegExp][] = [
      [
        { shared_memory_region: p('nope'), shared_memory_byte_size: p(FRAME_BYTES) },
        /input 'images'.*not registered/,
      ],
      [
        { shared_memory_region: p('in'), shared_memory_byte_size: p(FRAME_BYTES - 1) },
        /input 'images'.*needs 1228800/,
      ],
      [
        {
          shared_memory_region: p('in'),
          shared_memory_byte_size: p(FRAME_BYTES),
          shared_memory_offset: p(4 * 1024 * 1024 - 8),
        },
        /input 'images'.*do not fit/,
      ],
      [{ shared_memory_region: p('in') }, /input 'images'.*shared_memory_byte_size/],
      [{ shared_memory_byte_size: p(FRAME_BYTES) }, /input 'images'.*without shared_memory_region/],
    ];
    for (const [params, msg] of cases) {
      const [c, details] = await input(params);
      expect(c, JSON.stringify(params)).toBe(grpc.status.INVALID_ARGUMENT);
      expect(details).toMatch(msg);
    }
    // An output region too small for the output.
    const [c, details] = await code(
      unary(raw, 'ModelInfer', {
        model_name: 'yolov8n',
        inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 640, 640, 3] }],
        outputs: [
          {
            name: 'output0',
            parameters: { shared_memory_region: p('out'), shared_memory_byte_size: p(1024) },
          },
        ],
        raw_input_contents: [Buffer.from(frame(1))],
      }),
    );
    expect(c).toBe(grpc.status.INVALID_ARGUMENT);
    expect(details).toMatch(/output 'output0'.*do not fit/);
  });

  it("Vigil's client sends frames through shared memory on loopback by itself, with the same results, and removes its objects on close", async () => {
    const bytes = new InferenceClient({
      addresses: [`127.0.0.1:${server.port}`],
      deadlineMs: 30_000,
      sharedMemory: 'off',
    });
    const shm = new InferenceClient({
      addresses: [`127.0.0.1:${server.port}`],
      deadlineMs: 30_000,
      sharedMemorySlots: 2,
    });
    try {
      expect(ownObjects()).toEqual([]); // nothing made before it is needed
      const ask = (c: InferenceClient, k: number) =>
        c.infer({
          model: 'yolov8n',
          inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 640, 640, 3], data: frame(k) }],
          outputs: ['candidates'],
        });
      await ask(shm, 0); // goes as bytes while the regions register in the background
      for (let i = 0; i < 50 && shm.sharedMemoryCalls === 0; i++) {
        await ask(shm, 0);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(shm.sharedMemoryCalls).toBeGreaterThan(0);
      const objects = ownObjects();
      expect(objects).toHaveLength(2);
      const status = await unary<SystemSharedMemoryStatusResponse__Output>(
        raw,
        'SystemSharedMemoryStatus',
        {},
      );
      for (const o of objects) expect(status.regions[o]?.key).toBe(`/${o}`);
      // Concurrency above the slots: the rest go as bytes, all answers arrive and agree.
      const [a, b] = await Promise.all([
        Promise.all([1, 2, 3, 4, 5].map((k) => ask(shm, k))),
        Promise.all([1, 2, 3, 4, 5].map((k) => ask(bytes, k))),
      ]);
      for (let k = 0; k < 5; k++)
        expect(
          Buffer.compare(
            Buffer.from(
              a[k]!.outputs[0]!.data.buffer,
              a[k]!.outputs[0]!.data.byteOffset,
              a[k]!.outputs[0]!.data.byteLength,
            ),
            Buffer.from(
              b[k]!.outputs[0]!.data.buffer,
              b[k]!.outputs[0]!.data.byteOffset,
              b[k]!.outputs[0]!.data.byteLength,
            ),
          ),
        ).toBe(0);
      expect(bytes.sharedMemoryCalls).toBe(0);
    } finally {
      shm.close();
      shm.close();
      bytes.close();
    }
    expect(ownObjects()).toEqual([]);
  });
});

describe.skipIf(!existsSync(rawModel) || !existsSync(SHM_DIR))(
  'shared memory across server restarts and servers without it',
  () => {
    let dir: string;
    let repo: string;

    beforeAll(async () => {
      ({ dir, repo } = await yoloRepository('vigil-shm-restart-'));
    });
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const ask = (c: InferenceClient, k: number) =>
      c.infer({
        model: 'yolov8n',
        inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 640, 640, 3], data: frame(k) }],
        outputs: ['candidates'],
      });

    async function untilShm(c: InferenceClient, above: number): Promise<void> {
      for (let i = 0; i < 60 && c.sharedMemoryCalls <= above; i++) {
        await ask(c, i);
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    it('a restarted server (regions lost) costs no call: bytes at once, shared memory again after re-registering', async () => {
      let server = await startInferenceServer({
        modelRepository: repo,
        port: 0,
        logger: silent,
        intraOpNumThreads: 2,
      });
      const port = server.port;
      const client = new InferenceClient({
        addresses: [`127.0.0.1:${port}`],
        deadlineMs: 30_000,
        retries: 5,
        retryBackoffMs: 100,
      });
      try {
        await untilShm(client, 0);
        const before = client.sharedMemoryCalls;
        expect(before).toBeGreaterThan(0);
        await server.close();
        server = await startInferenceServer({
          modelRepository: repo,
          port,
          logger: silent,
          intraOpNumThreads: 2,
        });
        // Every call succeeds: the first ones find no region and are resent as bytes.
        for (let k = 0; k < 3; k++) expect((await ask(client, k)).outputs[0]!.name).toBe('candidates');
        await untilShm(client, before);
        expect(client.sharedMemoryCalls).toBeGreaterThan(before);
      } finally {
        client.close();
        await server.close();
      }
      expect(ownObjects()).toEqual([]);
    });

    it('a server with sharedMemory off does not offer it; the client sends bytes and every call succeeds', async () => {
      const server = await startInferenceServer({
        modelRepository: repo,
        port: 0,
        logger: silent,
        intraOpNumThreads: 2,
        sharedMemory: false,
      });
      const raw = rawClient(server.port);
      const client = new InferenceClient({ addresses: [`127.0.0.1:${server.port}`], deadlineMs: 30_000 });
      try {
        const meta = await unary<{ extensions: string[] }>(raw, 'ServerMetadata', {});
        expect(meta.extensions).not.toContain('system_shared_memory');
        const [c] = await code(
          unary(raw, 'SystemSharedMemoryRegister', { name: 'a', key: '/x', offset: 0, byte_size: 8 }),
        );
        expect(c).toBe(grpc.status.UNIMPLEMENTED);
        for (let k = 0; k < 4; k++) {
          await ask(client, k);
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(client.sharedMemoryCalls).toBe(0);
      } finally {
        raw.close();
        client.close();
        await server.close();
      }
      expect(ownObjects()).toEqual([]);
    });
  },
);
