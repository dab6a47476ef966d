/**
 * ModelInfer calls over one long-lived ModelStreamInfer stream per server (KServe v2 / Triton's
 * bidirectional stream, answered per request with the request's id).
 *
 * Why: every unary gRPC call opens an HTTP/2 stream and sends headers and metadata both ways, about
 * 0.5 ms more per round trip on loopback than a message on a stream that is already open. For a
 * frame in shared memory that is most of what the call costs beyond the model itself.
 *
 * The stream is a fast path only. An `error_message` carries no status field; Vigil's server leads
 * it with the status name (`NOT_FOUND: ...`), and a final one (a wrong request, a full queue, see
 * FINAL_CODES) reports `status` with that code, as the unary call would have. Anything else — an
 * error message without a known lead (Triton's own), UNAVAILABLE, the stream breaking, a server
 * without streams — reports `fallback`, and the client makes the same request as a unary call,
 * which gives the exact status, retries and circuit breaker accounting. A deadline that passes
 * while waiting reports `deadline`; the request carries Triton's `timeout` parameter
 * (microseconds) so that the server can drop it from its queue too.
 * An idle stream is half-closed after `idleMs`, so that a forgotten client does not keep the
 * process alive.
 */
import * as grpc from '@grpc/grpc-js';
import type { ModelInferRequest } from './generated/inference/ModelInferRequest.js';
import type { ModelInferResponse__Output } from './generated/inference/ModelInferResponse.js';
import type { ModelStreamInferResponse__Output } from './generated/inference/ModelStreamInferResponse.js';

export type InferDuplex = grpc.ClientDuplexStream<ModelInferRequest, ModelStreamInferResponse__Output>;

export type StreamOutcome =
  | { ok: true; response: ModelInferResponse__Output }
  | { ok: false; reason: 'fallback' | 'deadline' }
  | { ok: false; reason: 'status'; code: grpc.status; details: string };

/**
 * Codes a repeated unary call would only confirm. UNAVAILABLE (retried on the next address) and
 * codes a request cannot cause alone are left to the unary call.
 */
const FINAL_CODES: ReadonlySet<grpc.status> = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.RESOURCE_EXHAUSTED,
  grpc.status.DEADLINE_EXCEEDED,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.OUT_OF_RANGE,
  grpc.status.ALREADY_EXISTS,
  grpc.status.INTERNAL,
]);

/** The outcome of a stream's `error_message`: a final status when it leads with one (see above). */
export function streamErrorOutcome(message: string): StreamOutcome {
  const m = /^([A-Z_]+): /.exec(message);
  const code = m ? (grpc.status as unknown as Record<string, grpc.status | undefined>)[m[1]!] : undefined;
  if (code === undefined || !FINAL_CODES.has(code)) return { ok: false, reason: 'fallback' };
  return { ok: false, reason: 'status', code, details: message.slice(m![0].length) };
}

interface Pending {
  resolve: (o: StreamOutcome) => void;
  timer: NodeJS.Timeout;
  /** The caller's request id, given back in the response in place of the stream's own. */
  callerId: string;
}

export const DEFAULT_STREAM_IDLE_MS = 2000;

export class InferStream {
  private call: InferDuplex | undefined;
  private readonly pending = new Map<string, Pending>();
  private seq = 0;
  private unsupported = false;
  private closed = false;
  private idle: NodeJS.Timeout | undefined;
  private readonly prefix = `vigil-${process.pid.toString(36)}-${Math.random().toString(36).slice(2, 8)}-`;

  constructor(
    private readonly open: () => InferDuplex,
    private readonly idleMs = DEFAULT_STREAM_IDLE_MS,
  ) {}

  /** False once the server answered that it has no stream RPC, or after close(). */
  get usable(): boolean {
    return !this.unsupported && !this.closed;
  }

  /** Requests waiting for their response. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Sends `request` and waits for its response until `deadline` (epoch ms). Never rejects. */
  infer(request: ModelInferRequest, deadline: number): Promise<StreamOutcome> {
    if (!this.usable) return Promise.resolve({ ok: false, reason: 'fallback' });
    const left = deadline - Date.now();
    if (left <= 0) return Promise.resolve({ ok: false, reason: 'deadline' });
    const call = this.call ?? this.start();
    const id = `${this.prefix}${(this.seq++).toString(36)}`;
    if (this.idle) {
      clearTimeout(this.idle);
      this.idle = undefined;
    }
    return new Promise<StreamOutcome>((resolve) => {
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) resolve({ ok: false, reason: 'deadline' });
        this.settled();
      }, left);
      this.pending.set(id, { resolve, timer, callerId: request.id ?? '' });
      try {
        call.write({
          ...request,
          id,
          parameters: { ...request.parameters, timeout: { int64_param: Math.ceil(left * 1000) } },
        });
      } catch {
        // The stream is already gone (written after it ended): this and its other calls go unary.
        this.broken(call);
      }
    });
  }

  private start(): InferDuplex {
    const call = this.open();
    this.call = call;
    call.on('data', (msg: ModelStreamInferResponse__Output) => {
      const id = msg.infer_response?.id ?? '';
      const p = this.pending.get(id);
      if (!p) return; // its deadline passed
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.resolve(
        msg.error_message
          ? streamErrorOutcome(msg.error_message)
          : !msg.infer_response
            ? { ok: false, reason: 'fallback' }
            : { ok: true, response: { ...msg.infer_response, id: p.callerId } },
      );
      this.settled();
    });
    call.on('error', (e: grpc.ServiceError) => {
      if (e.code === grpc.status.UNIMPLEMENTED) this.unsupported = true;
      this.broken(call);
    });
    call.on('end', () => this.broken(call));
    return call;
  }

  /** The stream ended or failed: whatever waits on it goes the unary way. */
  private broken(call: InferDuplex): void {
    if (this.call !== call) return;
    this.call = undefined;
    if (this.idle) {
      clearTimeout(this.idle);
      this.idle = undefined;
    }
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.resolve({ ok: false, reason: 'fallback' });
    }
    this.pending.clear();
  }

  /** After an answer: half-close the stream once nothing has waited on it for idleMs. */
  private settled(): void {
    if (this.pending.size > 0 || !this.call || this.idle) return;
    const call = this.call;
    this.idle = setTimeout(() => {
      this.idle = undefined;
      if (this.call !== call || this.pending.size > 0) return;
      this.call = undefined;
      call.end();
    }, this.idleMs);
    this.idle.unref();
  }

  /** Ends the stream; waiting requests report `fallback` (the client is closing). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const call = this.call;
    if (call) {
      this.broken(call);
      call.cancel();
    }
  }
}
