/**
 * ModelInfer over one long-lived ModelStreamInfer stream per address (see infer-stream.ts), for
 * small messages: inputs in shared memory, or at most STREAM_MAX_BYTES in the message. A final
 * status on the stream is the answer; anything else repeats the call on the fallback transport.
 */
import * as grpc from '@grpc/grpc-js';
import { InferenceError } from '../core/errors.js';
import { recordAnswer, statusError, type Channels } from './channels.js';
import type { ModelInferRequest } from './generated/inference/ModelInferRequest.js';
import type { ModelInferResponse__Output } from './generated/inference/ModelInferResponse.js';
import { InferStream } from './infer-stream.js';
import type { InferCall, InferTransport, MessageFor } from './transport.js';

/** Requests with more bytes in the message than this take a unary call even when streaming is on. */
export const STREAM_MAX_BYTES = 64 * 1024;

export class StreamTransport implements InferTransport {
  private readonly streams: InferStream[];
  private answered = 0;

  constructor(
    private readonly channels: Channels,
    private readonly fallback: InferTransport,
  ) {
    this.streams = channels.addresses.map((_, i) => {
      const client = channels.client(i);
      return new InferStream(() => client.ModelStreamInfer());
    });
  }

  /** Calls answered over a stream so far. */
  get calls(): number {
    return this.answered;
  }

  async send(call: InferCall, messageFor?: MessageFor): Promise<ModelInferResponse__Output> {
    const streamed = await this.viaStream(call, (index) => {
      const m = messageFor ? messageFor(index) : call.inMessage;
      return m !== call.inMessage || call.bytes <= STREAM_MAX_BYTES ? m : undefined;
    });
    return streamed ?? this.fallback.send(call, messageFor);
  }

  /**
   * One infer over the stream of the next address. Undefined: make the call on the fallback instead
   * (closed, `build` declined the message, or the stream answered with neither a response nor a
   * final status).
   */
  private async viaStream(
    call: InferCall,
    build: (index: number) => ModelInferRequest | undefined,
  ): Promise<ModelInferResponse__Output | undefined> {
    if (this.channels.closed) return undefined;
    const index = this.channels.acquire();
    if (index < 0) return undefined; // the unary call reports the open circuit
    const breaker = this.channels.breaker(index);
    const stream = this.streams[index]!;
    const message = stream.usable ? build(index) : undefined;
    if (!message) {
      breaker.release();
      return undefined;
    }
    const out = await stream.infer(message, Date.now() + call.deadlineMs);
    if (out.ok) {
      breaker.success();
      this.answered++;
      return out.response;
    }
    const address = this.channels.addresses[index]!;
    if (out.reason === 'deadline') {
      breaker.failure();
      throw new InferenceError(
        'VIGIL_ERR_INFER_DEADLINE',
        `${call.what} on ${address}: no answer within ${call.deadlineMs} ms`,
        { grpcCode: grpc.status.DEADLINE_EXCEEDED },
      );
    }
    if (out.reason === 'status') {
      // A final answer on the stream: the breaker accounting and the error of the unary call.
      recordAnswer(breaker, out.code);
      throw statusError(call.what, address, out.code, out.details);
    }
    breaker.release();
    return undefined;
  }

  /** Closes every stream. Idempotent. */
  close(): void {
    for (const s of this.streams) s.close();
  }
}
