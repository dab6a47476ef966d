import { describe, expect, it } from 'vitest';
import { BytePool } from '../../src/infer/byte-pool.js';
import type { ModelInferRequest__Output } from '../../src/infer/generated/inference/ModelInferRequest.js';
import { requestTimeout } from '../../src/infer/server.js';

describe('BytePool', () => {
  it('hands back a given buffer for the same size, whole (movable to a worker)', () => {
    const pool = new BytePool(2, 1024);
    const a = pool.take(4096);
    expect(a.byteLength).toBe(4096);
    expect(a.byteOffset).toBe(0);
    expect(a.buffer.byteLength).toBe(4096);
    pool.give(a.buffer as ArrayBuffer);
    expect(pool.size).toBe(1);
    const b = pool.take(4096);
    expect(b.buffer).toBe(a.buffer);
    expect(pool.size).toBe(0);
    // Another size gets a fresh buffer.
    expect(pool.take(2048).buffer).not.toBe(a.buffer);
  });

  it('keeps at most maxBuffers and nothing under minBytes', () => {
    const pool = new BytePool(2, 1024);
    pool.give(new ArrayBuffer(512));
    expect(pool.size).toBe(0);
    for (let i = 0; i < 5; i++) pool.give(new ArrayBuffer(4096));
    expect(pool.size).toBe(2);
    expect(pool.take(100).byteLength).toBe(100);
  });
});

describe("requestTimeout (Triton's `timeout` request parameter, microseconds)", () => {
  const req = (parameters: ModelInferRequest__Output['parameters']) =>
    ({ parameters }) as unknown as ModelInferRequest__Output;
  it('turns int64 and uint64 microseconds into a deadline from receipt', () => {
    expect(
      requestTimeout(
        req({ timeout: { parameter_choice: 'int64_param', int64_param: '250000' } as never }),
        1000,
      ),
    ).toBe(1250);
    expect(
      requestTimeout(
        req({ timeout: { parameter_choice: 'uint64_param', uint64_param: '1000' } as never }),
        0,
      ),
    ).toBe(1);
  });
  it('ignores a missing, zero, negative or non-integer timeout', () => {
    expect(requestTimeout(req({}), 5)).toBeUndefined();
    expect(
      requestTimeout(req({ timeout: { parameter_choice: 'int64_param', int64_param: '0' } as never }), 5),
    ).toBeUndefined();
    expect(
      requestTimeout(req({ timeout: { parameter_choice: 'int64_param', int64_param: '-3' } as never }), 5),
    ).toBeUndefined();
    expect(
      requestTimeout(req({ timeout: { parameter_choice: 'string_param', string_param: '9' } as never }), 5),
    ).toBeUndefined();
  });
});
