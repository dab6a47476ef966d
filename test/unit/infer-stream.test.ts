import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { InferStream, streamErrorOutcome, type InferDuplex } from '../../src/infer/infer-stream.js';

/** A stand-in for grpc-js's duplex call whose write throws, as one written after it ended does. */
class DeadDuplex extends EventEmitter {
  writes = 0;
  write(): boolean {
    this.writes++;
    throw new Error('write after end');
  }
  end(): void {}
  cancel(): void {}
}

describe('InferStream (pure logic)', () => {
  it('a write that throws reports fallback at once (never rejects) and the next call opens a new stream', async () => {
    const opened: DeadDuplex[] = [];
    const stream = new InferStream(() => {
      const d = new DeadDuplex();
      opened.push(d);
      return d as unknown as InferDuplex;
    });
    const request = { model_name: 'm', inputs: [], outputs: [] };
    await expect(stream.infer(request, Date.now() + 5000)).resolves.toEqual({
      ok: false,
      reason: 'fallback',
    });
    expect(stream.inFlight).toBe(0);
    await expect(stream.infer(request, Date.now() + 5000)).resolves.toEqual({
      ok: false,
      reason: 'fallback',
    });
    expect(opened).toHaveLength(2);
    stream.close();
  });

  it('a deadline already passed reports deadline without writing', async () => {
    const d = new DeadDuplex();
    const stream = new InferStream(() => d as unknown as InferDuplex);
    await expect(stream.infer({ model_name: 'm' }, Date.now() - 1)).resolves.toEqual({
      ok: false,
      reason: 'deadline',
    });
    expect(d.writes).toBe(0);
    stream.close();
  });
});

describe('streamErrorOutcome', () => {
  it('takes a final status from the lead of the message, and leaves everything else to a unary call', () => {
    expect(streamErrorOutcome('INVALID_ARGUMENT: input "x": wrong shape')).toEqual({
      ok: false,
      reason: 'status',
      code: grpc.status.INVALID_ARGUMENT,
      details: 'input "x": wrong shape',
    });
    expect(streamErrorOutcome('INTERNAL: inference failed: boom')).toMatchObject({
      code: grpc.status.INTERNAL,
    });
    for (const m of [
      'UNAVAILABLE: draining',
      'CANCELLED: gone',
      'OK: ?',
      'FOO: bar',
      'busy',
      'NOT_FOUND no colon',
      '',
    ])
      expect(streamErrorOutcome(m)).toEqual({ ok: false, reason: 'fallback' });
  });
});
