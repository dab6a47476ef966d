/**
 * The client's gRPC channels: one per server address, each with its circuit breaker, picked round
 * robin; and the unary call over them with a deadline and bounded retries on UNAVAILABLE (each
 * retry goes to the next address). Every transport and every metadata RPC of InferenceClient goes
 * through here.
 */
import * as grpc from '@grpc/grpc-js';
import { InferenceError, type InferenceErrorCode } from '../core/errors.js';
import { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './breaker.js';
import type { GRPCInferenceServiceClient } from './generated/inference/GRPCInferenceService.js';
import { loadInferenceProto } from './proto.js';

/** A unary method of the generated client, as `call()` invokes it. */
export type Unary<Req, Res> = (
  req: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: Res) => void,
) => grpc.ClientUnaryCall;

/** What the client knows about its servers' health. */
export interface ClientHealth {
  /** closed: some address is healthy; half-open: none healthy but one may be probed; open: all open (calls fail at once). */
  state: BreakerState;
  addresses: { address: string; state: BreakerState; consecutiveFailures: number }[];
}

export interface ClientTlsOptions {
  /** CA bundle for the server certificate; default: the system's roots. */
  rootCerts?: Buffer;
  certChain?: Buffer;
  privateKey?: Buffer;
  /** Expected name in the server certificate when it differs from the address's host. */
  serverName?: string;
}

export interface ChannelsOptions {
  addresses: readonly string[];
  maxMessageBytes: number;
  reconnectBackoffMaxMs: number;
  retries: number;
  retryBackoffMs: number;
  breaker: CircuitBreakerOptions | undefined;
  tls: ClientTlsOptions | undefined;
}

function codeFor(status: grpc.status | undefined): InferenceErrorCode {
  switch (status) {
    case grpc.status.UNAVAILABLE:
      return 'VIGIL_ERR_INFER_UNAVAILABLE';
    case grpc.status.NOT_FOUND:
      return 'VIGIL_ERR_INFER_NOT_FOUND';
    case grpc.status.INVALID_ARGUMENT:
      return 'VIGIL_ERR_INFER_INVALID_ARGUMENT';
    case grpc.status.RESOURCE_EXHAUSTED:
      return 'VIGIL_ERR_INFER_RESOURCE_EXHAUSTED';
    case grpc.status.DEADLINE_EXCEEDED:
      return 'VIGIL_ERR_INFER_DEADLINE';
    default:
      return 'VIGIL_ERR_INFER_MODEL';
  }
}

/** Errors that say the server (not the request) is in trouble: they count against the breaker. */
function isServerFailure(code: grpc.status | undefined): boolean {
  return code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED;
}

/** A server's answer with status `code` as the breaker counts it: failure, neither, or success. */
export function recordAnswer(breaker: CircuitBreaker, code: grpc.status | undefined): void {
  if (isServerFailure(code)) breaker.failure();
  else if (code === grpc.status.CANCELLED) breaker.release();
  else breaker.success(); // the server answered: it is up, the request was wrong
}

/** The typed error for a call that ended with status `code`, naming the call and the address. */
export function statusError(
  what: string,
  address: string,
  code: grpc.status | undefined,
  details: string,
  cause?: unknown,
): InferenceError {
  return new InferenceError(codeFor(code), `${what} on ${address}: ${details}`, {
    ...(cause !== undefined ? { cause } : {}),
    grpcCode: code,
  });
}

export class Channels {
  readonly addresses: readonly string[];
  private readonly clients: GRPCInferenceServiceClient[];
  private readonly breakers: CircuitBreaker[];
  private readonly unavailableListeners: ((index: number) => void)[] = [];
  private next = 0;
  private isClosed = false;

  constructor(private readonly options: ChannelsOptions) {
    this.addresses = options.addresses;
    const Ctor = loadInferenceProto().inference.GRPCInferenceService;
    const tls = options.tls;
    const credentials = tls
      ? grpc.credentials.createSsl(tls.rootCerts ?? null, tls.privateKey ?? null, tls.certChain ?? null)
      : grpc.credentials.createInsecure();
    const maxBackoff = options.reconnectBackoffMaxMs;
    this.clients = options.addresses.map(
      (a) =>
        new Ctor(a, credentials, {
          'grpc.max_send_message_length': options.maxMessageBytes,
          'grpc.max_receive_message_length': options.maxMessageBytes,
          'grpc.initial_reconnect_backoff_ms': Math.min(100, maxBackoff),
          'grpc.max_reconnect_backoff_ms': maxBackoff,
          ...(tls?.serverName
            ? { 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName }
            : {}),
        }),
    );
    this.breakers = options.addresses.map(() => new CircuitBreaker(options.breaker));
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** The generated client of address `index`. */
  client(index: number): GRPCInferenceServiceClient {
    return this.clients[index]!;
  }

  /** The circuit breaker of address `index`. */
  breaker(index: number): CircuitBreaker {
    return this.breakers[index]!;
  }

  /** `listener(index)` runs whenever a unary call to address `index` finds it UNAVAILABLE. */
  onUnavailable(listener: (index: number) => void): void {
    this.unavailableListeners.push(listener);
  }

  /** Breaker state over all addresses, and per address. */
  health(): ClientHealth {
    const addresses = this.addresses.map((address, i) => ({
      address,
      state: this.breakers[i]!.state,
      consecutiveFailures: this.breakers[i]!.consecutiveFailures,
    }));
    const states = addresses.map((a) => a.state);
    const state: BreakerState = states.includes('closed')
      ? 'closed'
      : states.includes('half-open')
        ? 'half-open'
        : 'open';
    return { state, addresses };
  }

  /** False while every address's breaker is open: calls would fail at once. */
  get available(): boolean {
    return this.health().state !== 'open';
  }

  /** Next address (round robin) whose breaker lets a call through, or -1. */
  acquire(): number {
    const n = this.clients.length;
    for (let k = 0; k < n; k++) {
      const index = this.next++ % n;
      if (this.breakers[index]!.tryAcquire()) return index;
    }
    return -1;
  }

  /**
   * One unary call of the method `pick` selects, with deadline `deadlineMs` for all its attempts;
   * `req` may depend on the address the attempt goes to.
   */
  async call<Req, Res>(
    what: string,
    pick: (c: GRPCInferenceServiceClient) => Unary<Req, Res>,
    req: Req | ((addressIndex: number) => Req),
    deadlineMs: number,
  ): Promise<Res> {
    if (this.isClosed) throw new InferenceError('VIGIL_ERR_INFER_CLOSED', `${what}: client is closed`);
    const deadline = Date.now() + deadlineMs;
    let backoff = this.options.retryBackoffMs;
    for (let attempt = 0; ; attempt++) {
      const index = this.acquire();
      if (index < 0) {
        throw new InferenceError(
          'VIGIL_ERR_INFER_UNAVAILABLE',
          `${what}: circuit open for ${this.addresses.join(', ')} (inference unavailable; probing again after ${this.breakers[0]!.resetTimeoutMs} ms)`,
          { grpcCode: grpc.status.UNAVAILABLE },
        );
      }
      const client = this.clients[index]!;
      const breaker = this.breakers[index]!;
      try {
        const res = await new Promise<Res>((resolve, reject) => {
          const message = typeof req === 'function' ? (req as (i: number) => Req)(index) : req;
          pick(client).call(client, message, new grpc.Metadata(), { deadline }, (err, res) =>
            err ? reject(err) : resolve(res as Res),
          );
        });
        breaker.success();
        return res;
      } catch (e) {
        const err = e as grpc.ServiceError;
        if (err.code === grpc.status.UNAVAILABLE) for (const l of this.unavailableListeners) l(index);
        recordAnswer(breaker, err.code);
        const retryable =
          err.code === grpc.status.UNAVAILABLE &&
          attempt < this.options.retries &&
          !this.isClosed &&
          this.available;
        if (retryable && Date.now() + backoff < deadline) {
          await new Promise((r) => setTimeout(r, backoff).unref());
          backoff = Math.min(backoff * 2, 1000);
          continue;
        }
        throw statusError(what, this.addresses[index]!, err.code, err.details || err.message, e);
      }
    }
  }

  /** Closes every channel; later calls fail with VIGIL_ERR_INFER_CLOSED. Idempotent. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const c of this.clients) c.close();
  }
}
