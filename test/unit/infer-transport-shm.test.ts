/**
 * The shared-memory transport's refusal handling, on a temp directory standing in for /dev/shm and
 * fake inner transports (the real server path is in test/integration/infer-shm.test.ts): a refusal
 * of a request naming our regions is a typed error (SharedMemoryRefusedError, a stable code), the
 * bytes go again, and the regions are registered again only when the bytes were accepted.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InferenceError } from '../../src/core/errors.js';
import type { ModelInferRequest } from '../../src/infer/generated/inference/ModelInferRequest.js';
import type { ModelInferResponse__Output } from '../../src/infer/generated/inference/ModelInferResponse.js';
import type { InferCall, InferTransport, MessageFor } from '../../src/infer/transport.js';
import {
  SHM_MIN_BYTES,
  SharedMemoryRefusedError,
  SharedMemoryTransport,
  sharedMemoryRefusal,
  type ShmAddressState,
} from '../../src/infer/transport-shm.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-shm-transport-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const refused = (code: grpc.status) =>
  new InferenceError('VIGIL_ERR_INFER_INVALID_ARGUMENT', 'ModelInfer(m) on 127.0.0.1:1: no', {
    grpcCode: code,
  });

function call(): InferCall {
  const data = new Uint8Array(SHM_MIN_BYTES + 8).fill(7);
  return {
    what: 'ModelInfer(m)',
    data: [data],
    bytes: data.byteLength,
    inMessage: {
      model_name: 'm',
      inputs: [{ name: 'x', datatype: 'UINT8', shape: [data.byteLength] }],
      raw_input_contents: [data],
    },
    deadlineMs: 1000,
    left: () => 1000,
  };
}

const response = (id: string): ModelInferResponse__Output =>
  ({ id, model_name: 'm', model_version: '1', outputs: [], raw_output_contents: [] }) as never;

/** A transport that records each message it was given for address 0 and answers with `answer`. */
class Recording implements InferTransport {
  readonly sent: ModelInferRequest[] = [];
  constructor(private readonly answer: (m: ModelInferRequest) => ModelInferResponse__Output) {}
  async send(c: InferCall, messageFor?: MessageFor): Promise<ModelInferResponse__Output> {
    const m = messageFor ? messageFor(0) : c.inMessage;
    this.sent.push(m);
    return this.answer(m);
  }
}

const inShm = (m: ModelInferRequest) => m.inputs?.[0]?.parameters?.shared_memory_region !== undefined;

async function readyTransport(inner: InferTransport, bytes: InferTransport) {
  let registrations = 0;
  const t = new SharedMemoryTransport({
    pool: { slots: 2, slotBytes: 1 << 20, dir },
    eligible: [true],
    register: async (): Promise<ShmAddressState> => {
      registrations++;
      return 'ready';
    },
    inner,
    bytes,
    closed: () => false,
  });
  await t.send(call()); // as bytes, while the regions register
  await new Promise((r) => setImmediate(r));
  expect(t.stateOf(0)).toBe('ready');
  return { t, registrations: () => registrations };
}

describe('sharedMemoryRefusal', () => {
  it('types INVALID_ARGUMENT and NOT_FOUND answers to a request with inputs in shared memory', () => {
    for (const code of [grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND]) {
      const cause = refused(code);
      const e = sharedMemoryRefusal(cause, new Set([2, 0]));
      expect(e).toBeInstanceOf(SharedMemoryRefusedError);
      expect(e).toBeInstanceOf(InferenceError);
      expect(e!.code).toBe('VIGIL_ERR_INFER_SHM_REFUSED');
      expect(e!.grpcCode).toBe(code);
      expect(e!.cause).toBe(cause);
      expect(e!.addressIndexes).toEqual([2, 0]);
    }
  });

  it('is no refusal without inputs in shared memory, for server failures, or for other errors', () => {
    expect(sharedMemoryRefusal(refused(grpc.status.INVALID_ARGUMENT), new Set())).toBeUndefined();
    for (const code of [
      grpc.status.UNAVAILABLE,
      grpc.status.RESOURCE_EXHAUSTED,
      grpc.status.DEADLINE_EXCEEDED,
    ])
      expect(sharedMemoryRefusal(refused(code), new Set([0]))).toBeUndefined();
    expect(
      sharedMemoryRefusal(new Error('shared memory region is not registered'), new Set([0])),
    ).toBeUndefined();
  });
});

describe('SharedMemoryTransport', () => {
  it('a refused region: the bytes go again at once, and the regions are registered again', async () => {
    const inner = new Recording((m) => {
      if (inShm(m)) throw refused(grpc.status.INVALID_ARGUMENT);
      return response('inner');
    });
    const bytes = new Recording(() => response('bytes'));
    const { t, registrations } = await readyTransport(inner, bytes);
    try {
      const res = await t.send(call());
      expect(res.id).toBe('bytes');
      expect(inShm(inner.sent.at(-1)!)).toBe(true);
      expect(bytes.sent).toHaveLength(1);
      expect(inShm(bytes.sent[0]!)).toBe(false);
      expect(bytes.sent[0]!.raw_input_contents).toHaveLength(1);
      expect(t.calls).toBe(0);
      expect(t.stateOf(0)).toBeUndefined();
      await t.send(call()); // registers again
      expect(registrations()).toBe(2);
    } finally {
      t.close();
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a request refused as bytes too: the answer to the bytes, and the regions stay registered', async () => {
    const inner = new Recording((m) => {
      if (inShm(m)) throw refused(grpc.status.INVALID_ARGUMENT);
      return response('inner');
    });
    const wrong = refused(grpc.status.INVALID_ARGUMENT);
    const bytes = new Recording(() => {
      throw wrong;
    });
    const { t } = await readyTransport(inner, bytes);
    try {
      await expect(t.send(call())).rejects.toBe(wrong);
      expect(t.stateOf(0)).toBe('ready');
    } finally {
      t.close();
    }
  });

  it('other errors pass through untouched, without a second call', async () => {
    const full = refused(grpc.status.RESOURCE_EXHAUSTED);
    const inner = new Recording((m) => {
      if (inShm(m)) throw full;
      return response('inner');
    });
    const bytes = new Recording(() => response('bytes'));
    const { t } = await readyTransport(inner, bytes);
    try {
      await expect(t.send(call())).rejects.toBe(full);
      expect(bytes.sent).toHaveLength(0);
      expect(t.stateOf(0)).toBe('ready');
      expect(t.calls).toBe(0);
    } finally {
      t.close();
    }
  });

  it('counts calls answered with inputs in shared memory; small requests go in the message', async () => {
    const inner = new Recording(() => response('inner'));
    const bytes = new Recording(() => response('bytes'));
    const { t } = await readyTransport(inner, bytes);
    try {
      await t.send(call());
      expect(inShm(inner.sent.at(-1)!)).toBe(true);
      expect(t.calls).toBe(1);
      const small = { ...call(), bytes: 16 };
      await t.send(small);
      expect(inner.sent.at(-1)).toBe(small.inMessage);
      expect(t.calls).toBe(1);
    } finally {
      t.close();
    }
  });
});
