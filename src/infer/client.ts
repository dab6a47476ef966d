/**
 * KServe v2 gRPC client (works against Vigil's server and a real Triton): round-robin over one or
 * more addresses, a deadline per call, bounded retries with exponential backoff on UNAVAILABLE
 * (each retry goes to the next address), a circuit breaker per address (calls fail at once while
 * every address is open, so callers degrade without queueing), TLS/mTLS, a max message size,
 * typed errors (InferenceError), idempotent close().
 */
import * as grpc from '@grpc/grpc-js';
import { ConfigError, InferenceError } from '../core/errors.js';
import type { CircuitBreakerOptions } from './breaker.js';
import { Channels, type ClientHealth, type ClientTlsOptions, type Unary } from './channels.js';
import type { GRPCInferenceServiceClient } from './generated/inference/GRPCInferenceService.js';
import type { ModelInferResponse__Output } from './generated/inference/ModelInferResponse.js';
import { isLoopbackHost } from './shm.js';
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
import type { InferCall, InferTransport } from './transport.js';
import { registerRegions, SharedMemoryTransport } from './transport-shm.js';
import { StreamTransport } from './transport-stream.js';
import { UnaryTransport } from './transport-unary.js';

export const DEFAULT_CLIENT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
export { SHM_MIN_BYTES } from './transport-shm.js';
export { STREAM_MAX_BYTES } from './transport-stream.js';
export type { ClientHealth, ClientTlsOptions } from './channels.js';

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

export class InferenceClient {
  readonly maxMessageBytes: number;
  private readonly deadlineMs: number;
  private readonly channels: Channels;
  /** Over one stream per address; undefined when streaming is off. */
  private readonly stream: StreamTransport | undefined;
  /** Inputs in shared memory; undefined when no address may use it. */
  private readonly shm: SharedMemoryTransport | undefined;
  /** What infer() sends through: the outermost of the transports above and the unary one. */
  private readonly transport: InferTransport;

  constructor(private readonly options: InferenceClientOptions) {
    checkOptions(options);
    this.deadlineMs = options.deadlineMs ?? 5000;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_CLIENT_MAX_MESSAGE_BYTES;
    const tls = options.tls;
    const channels = new Channels({
      addresses: options.addresses,
      maxMessageBytes: this.maxMessageBytes,
      reconnectBackoffMaxMs: options.reconnectBackoffMaxMs ?? 1000,
      retries: options.retries ?? 2,
      retryBackoffMs: options.retryBackoffMs ?? 50,
      breaker: options.breaker,
      tls,
    });
    this.channels = channels;
    const unary = new UnaryTransport(channels);
    this.stream = options.streamInfer === false ? undefined : new StreamTransport(channels, unary);
    const messages = this.stream ?? unary;
    const mode = options.sharedMemory ?? 'auto';
    const eligible = options.addresses.map(
      (a) => mode === 'on' || (mode === 'auto' && !tls && isLoopbackHost(a.slice(0, a.lastIndexOf(':')))),
    );
    const shm = eligible.some(Boolean)
      ? new SharedMemoryTransport({
          pool: { slots: options.sharedMemorySlots ?? 16, slotBytes: this.maxMessageBytes },
          eligible,
          register: (index, pool) => registerRegions(channels.client(index), pool),
          inner: messages,
          bytes: unary,
          closed: () => channels.closed,
        })
      : undefined;
    // A server that went away may come back without this client's regions.
    if (shm) channels.onUnavailable((index) => shm.forget(index));
    this.shm = shm;
    this.transport = shm ?? messages;
  }

  /** Inference calls answered over a ModelStreamInfer stream so far. */
  get streamedCalls(): number {
    return this.stream?.calls ?? 0;
  }

  /** Inference calls whose inputs went through shared memory so far. */
  get sharedMemoryCalls(): number {
    return this.shm?.calls ?? 0;
  }

  get addresses(): readonly string[] {
    return this.options.addresses;
  }

  /** Breaker state over all addresses, and per address. */
  health(): ClientHealth {
    return this.channels.health();
  }

  /** False while every address's breaker is open: calls would fail at once. */
  get available(): boolean {
    return this.channels.available;
  }

  private call<Req, Res>(
    what: string,
    pick: (c: GRPCInferenceServiceClient) => Unary<Req, Res>,
    req: Req,
  ): Promise<Res> {
    return this.channels.call(what, pick, req, this.deadlineMs);
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
    const deadlineMs = request.deadlineMs ?? this.deadlineMs;
    return decodeResponse(await this.transport.send(inferCall(request, bytes, deadlineMs)));
  }

  /** Closes every channel; later calls fail with VIGIL_ERR_INFER_CLOSED. Idempotent. */
  close(): void {
    if (this.channels.closed) return;
    this.stream?.close();
    this.channels.close();
    // Removing the objects is enough: servers drop regions whose object is gone.
    this.shm?.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * The call infer() hands its transport. One deadline for the whole call: a stream attempt or a
 * shared-memory attempt that is repeated another way gets only the time that is left.
 */
function inferCall(request: InferRequest, bytes: number, deadlineMs: number): InferCall {
  const what = `ModelInfer(${request.model})`;
  const deadlineAt = Date.now() + deadlineMs;
  return {
    what,
    data: request.inputs.map((t) => t.data),
    bytes,
    inMessage: {
      model_name: request.model,
      model_version: request.version ?? '',
      id: request.id ?? '',
      outputs: (request.outputs ?? []).map((name) => ({ name })),
      inputs: request.inputs.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape })),
      raw_input_contents: request.inputs.map((t) => typedToBytes(t.data)),
    },
    deadlineMs,
    left: () => {
      const ms = deadlineAt - Date.now();
      if (ms <= 0) {
        throw new InferenceError('VIGIL_ERR_INFER_DEADLINE', `${what}: deadline of ${deadlineMs} ms passed`, {
          grpcCode: grpc.status.DEADLINE_EXCEEDED,
        });
      }
      return ms;
    },
  };
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
