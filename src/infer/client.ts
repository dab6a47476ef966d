/**
 * KServe v2 gRPC client (works against Vigil's server and a real Triton): round-robin over one or
 * more addresses, a deadline per call, bounded retries with exponential backoff on UNAVAILABLE
 * (each retry goes to the next address), a circuit breaker per address (calls fail at once while
 * every address is open, so callers degrade without queueing), TLS/mTLS, a max message size,
 * typed errors (InferenceError), idempotent close().
 */
import * as grpc from '@grpc/grpc-js';
import { ConfigError, InferenceError, type InferenceErrorCode } from '../core/errors.js';
import { CircuitBreaker, type BreakerState, type CircuitBreakerOptions } from './breaker.js';
import type { GRPCInferenceServiceClient } from './generated/inference/GRPCInferenceService.js';
import type { ModelInferRequest } from './generated/inference/ModelInferRequest.js';
import type { ModelInferResponse__Output } from './generated/inference/ModelInferResponse.js';
import { InferStream } from './infer-stream.js';
import { loadInferenceProto } from './proto.js';
import { isLoopbackHost } from './shm.js';
import { SharedMemoryPool } from './shm-pool.js';
import {
  contentsField,
  deserializeBytes,
  elementCount,
  elementSize,
  isDatatype,
  serializeBytes,
  typedToBytes,
  type Datatype,
} from './tensor.js';

export const DEFAULT_CLIENT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** Requests with fewer input bytes than this go in the message even when shared memory is on. */
export const SHM_MIN_BYTES = 64 * 1024;
/** Requests with more bytes in the message than this take a unary call even when streaming is on. */
export const STREAM_MAX_BYTES = 64 * 1024;

type ShmAddressState = 'registering' | 'ready' | 'unsupported';

export interface InferenceClientOptions {
  /** `host:port` of each server; calls rotate over them. */
  addresses: string[];
  /** Deadline of one call, retries included, ms. Default 5000. */
  deadlineMs?: number;
  /** Retries after UNAVAILABLE (0 = none). Default 2. */
  retries?: number;
  /** First backoff before a retry, ms; doubles each time, capped at 1000. Default 50. */
  retryBackoffMs?: number;
  /** Largest message sent and received, bytes. Default 16 MiB. */
  maxMessageBytes?: number;
  /** Circuit breaker per address. Default { failureThreshold: 3, resetTimeoutMs: 1000 }. */
  breaker?: CircuitBreakerOptions;
  /** Longest pause between reconnection attempts to a dead server, ms (bounds recovery time). Default 1000. */
  reconnectBackoffMaxMs?: number;
  /** TLS (PEM buffers). `rootCerts` verifies the server; `certChain` + `privateKey` present a client certificate (mTLS). */
  tls?: ClientTlsOptions;
  /**
   * Input tensors through Triton's system shared memory instead of the message, for servers on
   * this host that offer it ('system_shared_memory' in ServerMetadata). 'auto' (default): for
   * loopback addresses without TLS; 'on': for every address (containers sharing /dev/shm);
   * 'off': never. Any shared-memory failure falls back to bytes in the message.
   */
  sharedMemory?: 'auto' | 'on' | 'off';
  /** Requests in flight through shared memory at most (more go as bytes). Default 16. */
  sharedMemorySlots?: number;
  /**
   * ModelInfer calls with small messages (inputs in shared memory, or at most 64 KiB in the
   * message) go over one long-lived ModelStreamInfer stream per address, which saves a round of
   * HTTP/2 stream setup per call. A final status on the stream (see infer-stream.ts) is the answer;
   * any other error there repeats the call as a unary one (exact status codes, retries). Default
   * true.
   */
  streamInfer?: boolean;
}

export interface ClientTlsOptions {
  /** CA bundle for the server certificate; default: the system's roots. */
  rootCerts?: Buffer;
  certChain?: Buffer;
  privateKey?: Buffer;
  /** Expected name in the server certificate when it differs from the address's host. */
  serverName?: string;
}

const OPTION_KEYS: readonly (keyof InferenceClientOptions)[] = [
  'addresses',
  'deadlineMs',
  'retries',
  'retryBackoffMs',
  'maxMessageBytes',
  'breaker',
  'reconnectBackoffMaxMs',
  'tls',
  'sharedMemory',
  'sharedMemorySlots',
  'streamInfer',
];

/** What the client knows about its servers' health. */
export interface ClientHealth {
  /** closed: some address is healthy; half-open: none healthy but one may be probed; open: all open (calls fail at once). */
  state: BreakerState;
  addresses: { address: string; state: BreakerState; consecutiveFailures: number }[];
}

export interface TensorMetadata {
  name: string;
  datatype: Datatype | string;
  /** -1 for variable dimensions. */
  shape: number[];
}

export interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

export interface ServerMetadata {
  name: string;
  version: string;
  extensions: string[];
}

export interface Tensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  /** Row-major little-endian data: raw bytes, or a typed array of the datatype's element type. */
  data: ArrayBufferView;
}

export interface InferRequest {
  model: string;
  /** Empty or absent: the server's choice (latest). */
  version?: string;
  id?: string;
  inputs: Tensor[];
  /** Output names to return; absent = all. */
  outputs?: string[];
  /** Overrides the client's deadlineMs for this call. */
  deadlineMs?: number;
}

export interface InferResult {
  model: string;
  version: string;
  id: string;
  outputs: Tensor[];
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

function checkOptions(opts: InferenceClientOptions): void {
  for (const key of Object.keys(opts)) {
    if (!OPTION_KEYS.includes(key as keyof InferenceClientOptions)) {
      throw new ConfigError(`inference client: unknown option '${key}' (known: ${OPTION_KEYS.join(', ')})`);
    }
  }
  if (!Array.isArray(opts.addresses) || opts.addresses.length === 0) {
    throw new ConfigError('inference client: addresses must list at least one host:port');
  }
  for (const a of opts.addresses) {
    if (typeof a !== 'string' || !/^(\[[0-9a-fA-F:.]+\]|[^\s:/]+):\d{1,5}$/.test(a)) {
      throw new ConfigError(`inference client: address '${String(a)}' is not host:port`);
    }
  }
  const int = (v: unknown, key: string, min: number): void => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min)) {
      throw new ConfigError(`inference client: '${key}' must be an integer >= ${min}, got ${String(v)}`);
    }
  };
  int(opts.deadlineMs, 'deadlineMs', 1);
  int(opts.retries, 'retries', 0);
  int(opts.retryBackoffMs, 'retryBackoffMs', 0);
  int(opts.maxMessageBytes, 'maxMessageBytes', 1);
  int(opts.reconnectBackoffMaxMs, 'reconnectBackoffMaxMs', 1);
  int(opts.sharedMemorySlots, 'sharedMemorySlots', 1);
  if (opts.sharedMemory !== undefined && !['auto', 'on', 'off'].includes(opts.sharedMemory))
    throw new ConfigError(
      `inference client: sharedMemory must be 'auto', 'on' or 'off', got ${String(opts.sharedMemory)}`,
    );
  if (opts.breaker !== undefined) {
    for (const k of Object.keys(opts.breaker)) {
      if (k !== 'failureThreshold' && k !== 'resetTimeoutMs')
        throw new ConfigError(
          `inference client: unknown breaker option '${k}' (failureThreshold, resetTimeoutMs)`,
        );
    }
    int(opts.breaker.failureThreshold, 'breaker.failureThreshold', 1);
    int(opts.breaker.resetTimeoutMs, 'breaker.resetTimeoutMs', 0);
  }
  if (opts.tls !== undefined) {
    const t = opts.tls;
    for (const k of Object.keys(t)) {
      if (!['rootCerts', 'certChain', 'privateKey', 'serverName'].includes(k))
        throw new ConfigError(
          `inference client: unknown tls option '${k}' (rootCerts, certChain, privateKey, serverName)`,
        );
    }
    for (const k of ['rootCerts', 'certChain', 'privateKey'] as const) {
      if (t[k] !== undefined && !Buffer.isBuffer(t[k]))
        throw new ConfigError(`inference client: tls.${k} must be a PEM Buffer`);
    }
    if (!t.certChain !== !t.privateKey)
      throw new ConfigError('inference client: tls.certChain and tls.privateKey go together (mTLS)');
  }
}

type Unary<Req, Res> = (
  req: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: Res) => void,
) => grpc.ClientUnaryCall;

/** Errors that say the server (not the request) is in trouble: they count against the breaker. */
function isServerFailure(code: grpc.status | undefined): boolean {
  return code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED;
}

/** A server's answer with status `code` as the breaker counts it: failure, neither, or success. */
function recordAnswer(breaker: CircuitBreaker, code: grpc.status | undefined): void {
  if (isServerFailure(code)) breaker.failure();
  else if (code === grpc.status.CANCELLED) breaker.release();
  else breaker.success(); // the server answered: it is up, the request was wrong
}

/** The typed error for a call that ended with status `code`, naming the call and the address. */
function statusError(
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

export class InferenceClient {
  readonly maxMessageBytes: number;
  private readonly clients: GRPCInferenceServiceClient[];
  private readonly breakers: CircuitBreaker[];
  private next = 0;
  private closed = false;
  private readonly deadlineMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  /** Slots for inputs in shared memory; undefined when no address may use it. */
  private readonly shm: SharedMemoryPool | undefined;
  /** Per address: whether its server holds this pool's regions (undefined: not asked, or must ask again). */
  private readonly shmState: (ShmAddressState | undefined)[];
  private shmCalls = 0;
  /** Per address: the stream infer calls share; undefined when streaming is off. */
  private readonly streams: InferStream[] | undefined;
  private streamCalls = 0;

  constructor(private readonly options: InferenceClientOptions) {
    checkOptions(options);
    this.deadlineMs = options.deadlineMs ?? 5000;
    this.retries = options.retries ?? 2;
    this.backoffMs = options.retryBackoffMs ?? 50;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_CLIENT_MAX_MESSAGE_BYTES;
    const Ctor = loadInferenceProto().inference.GRPCInferenceService;
    const tls = options.tls;
    const credentials = tls
      ? grpc.credentials.createSsl(tls.rootCerts ?? null, tls.privateKey ?? null, tls.certChain ?? null)
      : grpc.credentials.createInsecure();
    const maxBackoff = options.reconnectBackoffMaxMs ?? 1000;
    this.clients = options.addresses.map(
      (a) =>
        new Ctor(a, credentials, {
          'grpc.max_send_message_length': this.maxMessageBytes,
          'grpc.max_receive_message_length': this.maxMessageBytes,
          'grpc.initial_reconnect_backoff_ms': Math.min(100, maxBackoff),
          'grpc.max_reconnect_backoff_ms': maxBackoff,
          ...(tls?.serverName
            ? { 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName }
            : {}),
        }),
    );
    this.breakers = options.addresses.map(() => new CircuitBreaker(options.breaker));
    const mode = options.sharedMemory ?? 'auto';
    const eligible = options.addresses.map(
      (a) => mode === 'on' || (mode === 'auto' && !tls && isLoopbackHost(a.slice(0, a.lastIndexOf(':')))),
    );
    this.shmState = eligible.map((ok) => (ok ? undefined : 'unsupported'));
    this.shm = eligible.some(Boolean)
      ? new SharedMemoryPool({ slots: options.sharedMemorySlots ?? 16, slotBytes: this.maxMessageBytes })
      : undefined;
    this.streams =
      options.streamInfer === false
        ? undefined
        : this.clients.map((c) => new InferStream(() => c.ModelStreamInfer()));
  }

  /** Inference calls answered over a ModelStreamInfer stream so far. */
  get streamedCalls(): number {
    return this.streamCalls;
  }

  /** Inference calls whose inputs went through shared memory so far. */
  get sharedMemoryCalls(): number {
    return this.shmCalls;
  }

  /**
   * One infer over the stream of the next address. Undefined: make the unary call instead (streaming
   * off, `build` declined the message, or the stream answered with neither a response nor a final
   * status).
   */
  private async viaStream(
    what: string,
    build: (index: number) => ModelInferRequest | undefined,
    deadlineMs: number,
  ): Promise<ModelInferResponse__Output | undefined> {
    if (!this.streams || this.closed) return undefined;
    const index = this.acquire();
    if (index < 0) return undefined; // the unary call reports the open circuit
    const breaker = this.breakers[index]!;
    const stream = this.streams[index]!;
    const message = stream.usable ? build(index) : undefined;
    if (!message) {
      breaker.release();
      return undefined;
    }
    const out = await stream.infer(message, Date.now() + deadlineMs);
    if (out.ok) {
      breaker.success();
      this.streamCalls++;
      return out.response;
    }
    if (out.reason === 'deadline') {
      breaker.failure();
      throw new InferenceError(
        'VIGIL_ERR_INFER_DEADLINE',
        `${what} on ${this.options.addresses[index]!}: no answer within ${deadlineMs} ms`,
        { grpcCode: grpc.status.DEADLINE_EXCEEDED },
      );
    }
    if (out.reason === 'status') {
      // A final answer on the stream: the breaker accounting and the error of the unary call.
      recordAnswer(breaker, out.code);
      throw statusError(what, this.options.addresses[index]!, out.code, out.details);
    }
    breaker.release();
    return undefined;
  }

  /**
   * Whether address `index` holds the pool's regions now. When not yet known, registers them in
   * the background (this call then goes as bytes) so that no request waits on it.
   */
  private shmReady(index: number): boolean {
    const state = this.shmState[index];
    if (state === 'ready') return true;
    if (state !== undefined || !this.shm || this.closed) return false;
    this.shmState[index] = 'registering';
    void this.registerRegions(index).then((next) => {
      if (this.shmState[index] === 'registering') this.shmState[index] = next;
    });
    return false;
  }

  private async registerRegions(index: number): Promise<ShmAddressState | undefined> {
    const client = this.clients[index]!;
    const unary = <Req, Res>(fn: Unary<Req, Res>, req: Req): Promise<Res> =>
      new Promise<Res>((resolve, reject) => {
        fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + 2000 }, (err, res) =>
          err ? reject(err) : resolve(res as Res),
        );
      });
    try {
      const meta = await unary(client.ServerMetadata as Unary<object, ServerMetadata>, {});
      if (!meta.extensions.includes('system_shared_memory')) return 'unsupported';
      // Every slot the pool may make, made now so that one registration covers them all.
      const regions = this.shm!.makeAll();
      if (regions.length === 0) return 'unsupported';
      for (const r of regions) {
        try {
          await unary(client.SystemSharedMemoryRegister as Unary<object, object>, {
            name: r.name,
            key: r.key,
            offset: 0,
            byte_size: r.byteSize,
          });
        } catch (e) {
          if ((e as grpc.ServiceError).code !== grpc.status.ALREADY_EXISTS) throw e;
        }
      }
      return 'ready';
    } catch (e) {
      // Unreachable now: ask again on a later call. Refused (another host, extension off): bytes.
      return (e as grpc.ServiceError).code === grpc.status.UNAVAILABLE ||
        (e as grpc.ServiceError).code === grpc.status.DEADLINE_EXCEEDED
        ? undefined
        : 'unsupported';
    }
  }

  get addresses(): readonly string[] {
    return this.options.addresses;
  }

  /** Breaker state over all addresses, and per address. */
  health(): ClientHealth {
    const addresses = this.options.addresses.map((address, i) => ({
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
  private acquire(): number {
    const n = this.clients.length;
    for (let k = 0; k < n; k++) {
      const index = this.next++ % n;
      if (this.breakers[index]!.tryAcquire()) return index;
    }
    return -1;
  }

  private async call<Req, Res>(
    what: string,
    pick: (c: GRPCInferenceServiceClient) => Unary<Req, Res>,
    req: Req | ((addressIndex: number) => Req),
    deadlineMs = this.deadlineMs,
  ): Promise<Res> {
    if (this.closed) throw new InferenceError('VIGIL_ERR_INFER_CLOSED', `${what}: client is closed`);
    const deadline = Date.now() + deadlineMs;
    let backoff = this.backoffMs;
    for (let attempt = 0; ; attempt++) {
      const index = this.acquire();
      if (index < 0) {
        throw new InferenceError(
          'VIGIL_ERR_INFER_UNAVAILABLE',
          `${what}: circuit open for ${this.options.addresses.join(', ')} (inference unavailable; probing again after ${this.breakers[0]!.resetTimeoutMs} ms)`,
          { grpcCode: grpc.status.UNAVAILABLE },
        );
      }
      const client = this.clients[index]!;
      const breaker = this.breakers[index]!;
      const address = this.options.addresses[index]!;
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
        // A server that went away may come back without this client's regions.
        if (err.code === grpc.status.UNAVAILABLE && this.shmState[index] === 'ready')
          this.shmState[index] = undefined;
        recordAnswer(breaker, err.code);
        const retryable =
          err.code === grpc.status.UNAVAILABLE && attempt < this.retries && !this.closed && this.available;
        if (retryable && Date.now() + backoff < deadline) {
          await new Promise((r) => setTimeout(r, backoff).unref());
          backoff = Math.min(backoff * 2, 1000);
          continue;
        }
        throw statusError(what, address, err.code, err.details || err.message, e);
      }
    }
  }

  async serverLive(): Promise<boolean> {
    return (await this.call('ServerLive', (c) => c.ServerLive as Unary<object, { live: boolean }>, {})).live;
  }

  async serverReady(): Promise<boolean> {
    return (await this.call('ServerReady', (c) => c.ServerReady as Unary<object, { ready: boolean }>, {}))
      .ready;
  }

  async serverMetadata(): Promise<ServerMetadata> {
    const r = await this.call('ServerMetadata', (c) => c.ServerMetadata as Unary<object, ServerMetadata>, {});
    return { name: r.name, version: r.version, extensions: [...r.extensions] };
  }

  async modelReady(name: string, version = ''): Promise<boolean> {
    const r = await this.call(
      `ModelReady(${name})`,
      (c) => c.ModelReady as Unary<{ name: string; version: string }, { ready: boolean }>,
      { name, version },
    );
    return r.ready;
  }

  async modelMetadata(name: string, version = ''): Promise<ModelMetadata> {
    type Raw = {
      name: string;
      versions: string[];
      platform: string;
      inputs: { name: string; datatype: string; shape: string[] }[];
      outputs: { name: string; datatype: string; shape: string[] }[];
    };
    const r = await this.call(
      `ModelMetadata(${name})`,
      (c) => c.ModelMetadata as Unary<{ name: string; version: string }, Raw>,
      { name, version },
    );
    const tensor = (t: Raw['inputs'][number]): TensorMetadata => ({
      name: t.name,
      datatype: t.datatype,
      shape: t.shape.map(Number),
    });
    return {
      name: r.name,
      versions: [...r.versions],
      platform: r.platform,
      inputs: r.inputs.map(tensor),
      outputs: r.outputs.map(tensor),
    };
  }

  /** One ModelInfer call; inputs travel as raw_input_contents, outputs come back as raw bytes. */
  async infer(request: InferRequest): Promise<InferResult> {
    let bytes = 0;
    for (const t of request.inputs) {
      const want = elementCount(t.shape) * elementSize(t.datatype);
      if (t.datatype === 'BYTES') {
        let n = -1;
        try {
          n = deserializeBytes(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)).length;
        } catch {
          // reported below
        }
        if (n !== elementCount(t.shape)) {
          throw new InferenceError(
            'VIGIL_ERR_INFER_INVALID_ARGUMENT',
            `input '${t.name}': BYTES data must hold ${elementCount(t.shape)} length-prefixed elements (use bytesTensor())`,
          );
        }
      } else if (t.data.byteLength !== want) {
        throw new InferenceError(
          'VIGIL_ERR_INFER_INVALID_ARGUMENT',
          `input '${t.name}': ${t.data.byteLength} bytes, shape [${t.shape}] ${t.datatype} needs ${want}`,
        );
      }
      bytes += t.data.byteLength;
    }
    if (bytes > this.maxMessageBytes) {
      throw new InferenceError(
        'VIGIL_ERR_INFER_INVALID_ARGUMENT',
        `request of ${bytes} bytes exceeds maxMessageBytes ${this.maxMessageBytes}; raise the client's and the server's limit`,
      );
    }
    const base = {
      model_name: request.model,
      model_version: request.version ?? '',
      id: request.id ?? '',
      outputs: (request.outputs ?? []).map((name) => ({ name })),
    };
    const inMessage: ModelInferRequest = {
      ...base,
      inputs: request.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
      raw_input_contents: request.inputs.map((t) => typedToBytes(t.data)),
    };
    const what = `ModelInfer(${request.model})`;
    const pick = (c: GRPCInferenceServiceClient) =>
      c.ModelInfer as Unary<ModelInferRequest, ModelInferResponse__Output>;
    // Shared memory only pays for large tensors; small ones go in the message.
    const slot =
      bytes >= SHM_MIN_BYTES && this.shmState.some((s) => s !== 'unsupported')
        ? this.shm?.acquire(bytes)
        : undefined;
    // One deadline for the whole call: a stream attempt or a shared-memory attempt that is repeated
    // another way gets only the time that is left.
    const deadlineMs = request.deadlineMs ?? this.deadlineMs;
    const deadlineAt = Date.now() + deadlineMs;
    const left = (): number => {
      const ms = deadlineAt - Date.now();
      if (ms <= 0) {
        throw new InferenceError('VIGIL_ERR_INFER_DEADLINE', `${what}: deadline of ${deadlineMs} ms passed`, {
          grpcCode: grpc.status.DEADLINE_EXCEEDED,
        });
      }
      return ms;
    };
    if (!slot) {
      const streamed = await this.viaStream(
        what,
        () => (bytes <= STREAM_MAX_BYTES ? inMessage : undefined),
        deadlineMs,
      );
      return decodeResponse(streamed ?? (await this.call(what, pick, inMessage, left())));
    }
    try {
      let offsets: number[] | undefined;
      try {
        offsets = this.shm!.write(
          slot,
          request.inputs.map((t) => t.data),
        );
      } catch {
        // e.g. /dev/shm full: this call goes as bytes
      }
      const viaShm: ModelInferRequest | undefined = offsets && {
        ...base,
        inputs: request.inputs.map((t, k) => ({
          name: t.name,
          datatype: t.datatype,
          shape: t.shape,
          parameters: {
            shared_memory_region: { string_param: slot.name },
            shared_memory_offset: { int64_param: offsets![k]! },
            shared_memory_byte_size: { int64_param: t.data.byteLength },
          },
        })),
      };
      const used = new Set<number>();
      const build = (index: number): ModelInferRequest => {
        if (!viaShm || !this.shmReady(index)) return inMessage;
        used.add(index);
        return viaShm;
      };
      try {
        const res =
          (await this.viaStream(
            what,
            (index) => {
              const m = build(index);
              return m !== inMessage || bytes <= STREAM_MAX_BYTES ? m : undefined;
            },
            deadlineMs,
          )) ?? (await this.call(what, pick, build, left()));
        if (used.size > 0) this.shmCalls++;
        return decodeResponse(res);
      } catch (e) {
        // The server lost or refused our region (restarted, object gone): register again later,
        // and send this call's bytes in the message.
        if (!(e instanceof InferenceError) || used.size === 0 || !/shared memory/.test(e.message)) throw e;
        for (const i of used) if (this.shmState[i] === 'ready') this.shmState[i] = undefined;
        return decodeResponse(await this.call(what, pick, inMessage, left()));
      }
    } finally {
      this.shm!.release(slot);
    }
  }

  /** Closes every channel; later calls fail with VIGIL_ERR_INFER_CLOSED. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams ?? []) s.close();
    for (const c of this.clients) c.close();
    // Removing the objects is enough: servers drop regions whose object is gone.
    this.shm?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** Response → tensors with raw bytes (from raw_output_contents, or from typed contents when a server sends those). */
export function decodeResponse(res: ModelInferResponse__Output): InferResult {
  const raw = res.raw_output_contents;
  const outputs = res.outputs.map((o, i): Tensor => {
    if (!isDatatype(o.datatype)) {
      throw new InferenceError(
        'VIGIL_ERR_INFER_BAD_RESPONSE',
        `output '${o.name}' has unknown datatype ${o.datatype}`,
      );
    }
    const shape = o.shape.map(Number);
    let data: ArrayBufferView;
    if (raw.length > 0) {
      const r = raw[i];
      if (!r)
        throw new InferenceError(
          'VIGIL_ERR_INFER_BAD_RESPONSE',
          `output '${o.name}' has no raw_output_contents`,
        );
      data = r;
    } else if (o.datatype === 'BYTES') {
      data = serializeBytes(o.contents?.bytes_contents ?? []);
    } else {
      data = typedFromContents(o.datatype, o.contents);
    }
    const want = elementCount(shape) * elementSize(o.datatype);
    if (o.datatype !== 'BYTES' && data.byteLength !== want) {
      throw new InferenceError(
        'VIGIL_ERR_INFER_BAD_RESPONSE',
        `output '${o.name}': ${data.byteLength} bytes for shape [${shape}] ${o.datatype} (want ${want})`,
      );
    }
    return { name: o.name, datatype: o.datatype, shape, data };
  });
  return { model: res.model_name, version: res.model_version, id: res.id, outputs };
}

function typedFromContents(
  dt: Datatype,
  contents: ModelInferResponse__Output['outputs'][number]['contents'],
): ArrayBufferView {
  if (!contents) throw new InferenceError('VIGIL_ERR_INFER_BAD_RESPONSE', 'output without data');
  const field = contentsField(dt);
  const values = contents[field] as unknown[];
  switch (dt) {
    case 'FP32':
      return Float32Array.from(values as number[]);
    case 'FP64':
      return Float64Array.from(values as number[]);
    case 'INT8':
      return Int8Array.from(values as number[]);
    case 'INT16':
      return Int16Array.from(values as number[]);
    case 'INT32':
      return Int32Array.from(values as number[]);
    case 'UINT8':
      return Uint8Array.from(values as number[]);
    case 'UINT16':
      return Uint16Array.from(values as number[]);
    case 'UINT32':
      return Uint32Array.from(values as number[]);
    case 'INT64':
      return BigInt64Array.from(values as string[], (v) => BigInt(v));
    case 'UINT64':
      return BigUint64Array.from(values as string[], (v) => BigInt(v));
    case 'BOOL':
      return Uint8Array.from(values as boolean[], (v) => (v ? 1 : 0));
    default:
      throw new InferenceError(
        'VIGIL_ERR_INFER_BAD_RESPONSE',
        `${dt} output must come as raw_output_contents`,
      );
  }
}

/** A Float32Array view of an FP32 tensor's bytes (copied when unaligned). */
export function asFloat32(t: Tensor): Float32Array {
  if (t.datatype !== 'FP32')
    throw new InferenceError('VIGIL_ERR_INFER_BAD_RESPONSE', `output '${t.name}' is ${t.datatype}, not FP32`);
  const d = t.data;
  if (d instanceof Float32Array) return d;
  if (d.byteOffset % 4 === 0) return new Float32Array(d.buffer, d.byteOffset, d.byteLength / 4);
  const copy = new Uint8Array(d.byteLength);
  copy.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  return new Float32Array(copy.buffer);
}

/** A BYTES tensor (KServe v2 raw form: 4-byte little-endian length + bytes per element) from strings or byte arrays. */
export function bytesTensor(
  name: string,
  elements: readonly (string | Uint8Array)[],
  shape?: number[],
): Tensor {
  const data = serializeBytes(elements.map((e) => (typeof e === 'string' ? Buffer.from(e, 'utf8') : e)));
  return { name, datatype: 'BYTES', shape: shape ?? [elements.length], data };
}

/** The elements of a BYTES tensor as UTF-8 strings. */
export function asStrings(t: Tensor): string[] {
  if (t.datatype !== 'BYTES')
    throw new InferenceError(
      'VIGIL_ERR_INFER_BAD_RESPONSE',
      `output '${t.name}' is ${t.datatype}, not BYTES`,
    );
  try {
    return deserializeBytes(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)).map((b) =>
      b.toString('utf8'),
    );
  } catch (e) {
    throw new InferenceError('VIGIL_ERR_INFER_BAD_RESPONSE', `output '${t.name}': ${(e as Error).message}`, {
      cause: e,
    });
  }
}
