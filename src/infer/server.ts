/**
 * KServe v2 / Triton-compatible gRPC inference server over a model repository (see repository.ts).
 * Failures map to gRPC status codes: unknown model/version → NOT_FOUND, bad tensor →
 * INVALID_ARGUMENT naming it, full queue → RESOURCE_EXHAUSTED, closing → UNAVAILABLE.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import { ConfigError, InferenceError } from '../core/errors.js';
import { BatcherClosedError, BatcherExpiredError, BatcherFullError, type BatcherStats } from './batcher.js';
import { InferenceMetrics } from './metrics.js';
import { modelConfigMessage } from './model-config-message.js';
import { ModelStatisticsBook } from './model-statistics.js';
import type { ModelInferRequest__Output } from './generated/inference/ModelInferRequest.js';
import type { ModelInferResponse } from './generated/inference/ModelInferResponse.js';
import type { ModelMetadataResponse } from './generated/inference/ModelMetadataResponse.js';
import type { ModelStreamInferResponse } from './generated/inference/ModelStreamInferResponse.js';
import type { GRPCInferenceServiceHandlers } from './generated/inference/GRPCInferenceService.js';
import { loadInferenceProto } from './proto.js';
import { isLoopbackHost, SharedMemoryRegistry, SHM_EXTENSION, ShmError } from './shm.js';
import {
  fullShape,
  loadRepository,
  unloadRepository,
  type ExecutionProvider,
  type InferItem,
  type InputTensor,
  type LoadedModel,
  type Logger,
  type ModelVersion,
} from './repository.js';
import {
  contentsLength,
  contentsToTyped,
  deserializeBytes,
  elementCount,
  elementSize,
  rawToTyped,
} from './tensor.js';

export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export interface InferenceServerOptions {
  /** Directory in Triton's layout: `<repo>/<model>/<version>/model.onnx` (+ `<repo>/<model>/config.pbtxt`). */
  modelRepository: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8001 (Triton's gRPC port); 0 picks a free port (see `port` on the result). */
  port?: number;
  /** Largest gRPC message received, bytes. Default 16 MiB. */
  maxReceiveMessageBytes?: number;
  /** Largest gRPC message sent, bytes. Default 16 MiB. */
  maxSendMessageBytes?: number;
  /** Requests waiting per model version before RESOURCE_EXHAUSTED. Default 64. */
  maxQueueSize?: number;
  /** onnxruntime execution providers in order of preference. Default ['cpu']; 'cuda' falls back to CPU with a warning. */
  executionProviders?: ExecutionProvider[];
  /** onnxruntime intra-op threads per session; default: onnxruntime's choice. */
  intraOpNumThreads?: number;
  /** false makes onnxruntime's threads sleep between runs rather than spin (CPUs shared with other processes). Default true (onnxruntime's default). */
  intraOpSpinning?: boolean;
  /** How long close() lets in-flight calls finish before cancelling them. Default 5000 ms. */
  shutdownGraceMs?: number;
  /** Default: one line per event on stderr, prefixed `[vigil infer]`. */
  logger?: Logger;
  /** TLS (PEM buffers); with `rootCerts` + `requireClientCert` the server asks for client certificates (mTLS). Default: plaintext. */
  tls?: ServerTlsOptions;
  /** Serve the Prometheus text format at http://host:metricsPort/metrics; 0 picks a free port. Default: no HTTP endpoint (use `metricsRegistry`). */
  metricsPort?: number;
  /**
   * Triton's system shared-memory extension: clients on this host register /dev/shm objects and
   * pass tensors through them instead of the message. Default: on when `host` is a loopback
   * address (only local clients can share memory), off otherwise.
   */
  sharedMemory?: boolean;
}

export interface ServerTlsOptions {
  certChain: Buffer;
  privateKey: Buffer;
  /** CA bundle that client certificates must chain to (mTLS). */
  rootCerts?: Buffer;
  /** Refuse clients without a certificate signed by rootCerts. Default false. */
  requireClientCert?: boolean;
}

const OPTION_KEYS: readonly (keyof InferenceServerOptions)[] = [
  'modelRepository',
  'host',
  'port',
  'maxReceiveMessageBytes',
  'maxSendMessageBytes',
  'maxQueueSize',
  'executionProviders',
  'intraOpNumThreads',
  'intraOpSpinning',
  'shutdownGraceMs',
  'logger',
  'tls',
  'metricsPort',
  'sharedMemory',
];

export interface InferenceServer {
  /** The bound port (the real one when 0 was asked). */
  readonly port: number;
  readonly host: string;
  /** Names of the loaded models. */
  readonly models: string[];
  /** The server's own prom-client registry (`vigil_infer_*`): merge it into a process registry or scrape `metricsPort`. */
  readonly metricsRegistry: Registry;
  /** The bound metrics HTTP port, when `metricsPort` was given. */
  readonly metricsPort: number | undefined;
  /** Batcher counters per `model:version` (batches, requests merged, largest batch, drops). */
  stats(): Record<string, BatcherStats>;
  /** Stops accepting calls, lets in-flight ones finish (bounded by shutdownGraceMs), drains batchers, releases sessions. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export const SERVER_NAME = 'vigil';
export const SERVER_VERSION = '0.1.0';

class StatusError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

const defaultLogger: Logger = {
  info: (m) => console.error(`[vigil infer] ${m}`),
  warn: (m) => console.error(`[vigil infer] warning: ${m}`),
};

function positiveInt(v: unknown, key: string, min = 1): void {
  if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min)) {
    throw new ConfigError(`inference server: '${key}' must be an integer >= ${min}, got ${String(v)}`);
  }
}

function validateOptions(opts: InferenceServerOptions): void {
  for (const key of Object.keys(opts)) {
    if (!OPTION_KEYS.includes(key as keyof InferenceServerOptions)) {
      throw new ConfigError(`inference server: unknown option '${key}' (known: ${OPTION_KEYS.join(', ')})`);
    }
  }
  if (typeof opts.modelRepository !== 'string' || opts.modelRepository === '') {
    throw new ConfigError('inference server: modelRepository (a directory) is required');
  }
  positiveInt(opts.port, 'port', 0);
  if (opts.port !== undefined && opts.port > 65535)
    throw new ConfigError('inference server: port must be <= 65535');
  positiveInt(opts.maxReceiveMessageBytes, 'maxReceiveMessageBytes');
  positiveInt(opts.maxSendMessageBytes, 'maxSendMessageBytes');
  positiveInt(opts.maxQueueSize, 'maxQueueSize');
  positiveInt(opts.intraOpNumThreads, 'intraOpNumThreads');
  positiveInt(opts.shutdownGraceMs, 'shutdownGraceMs', 0);
  positiveInt(opts.metricsPort, 'metricsPort', 0);
  if (opts.intraOpSpinning !== undefined && typeof opts.intraOpSpinning !== 'boolean')
    throw new ConfigError('inference server: intraOpSpinning must be a boolean');
  if (opts.sharedMemory !== undefined && typeof opts.sharedMemory !== 'boolean')
    throw new ConfigError('inference server: sharedMemory must be a boolean');
  if (opts.tls !== undefined) {
    const t = opts.tls;
    if (!Buffer.isBuffer(t.certChain) || !Buffer.isBuffer(t.privateKey)) {
      throw new ConfigError('inference server: tls needs certChain and privateKey (PEM Buffers)');
    }
    if (t.rootCerts !== undefined && !Buffer.isBuffer(t.rootCerts))
      throw new ConfigError('inference server: tls.rootCerts must be a PEM Buffer');
    if (t.requireClientCert && !t.rootCerts)
      throw new ConfigError('inference server: tls.requireClientCert needs tls.rootCerts (the client CA)');
  }
  for (const ep of opts.executionProviders ?? []) {
    if (ep !== 'cpu' && ep !== 'cuda') {
      throw new ConfigError(`inference server: unknown execution provider '${String(ep)}' (cpu, cuda)`);
    }
  }
}

function resolveVersion(
  models: Map<string, LoadedModel>,
  name: string,
  version: string,
): [LoadedModel, ModelVersion] {
  const model = models.get(name);
  if (!model) throw new StatusError(grpc.status.NOT_FOUND, `unknown model '${name}'`);
  const v = model.versions.get(version || model.latest);
  if (!v) throw new StatusError(grpc.status.NOT_FOUND, `unknown version '${version}' of model '${name}'`);
  return [model, v];
}

/** Where a tensor lives in shared memory (Triton's `shared_memory_*` tensor parameters). */
export interface ShmRef {
  region: string;
  offset: number;
  byteSize: number;
}

type TensorParameters = ModelInferRequest__Output['inputs'][number]['parameters'];

/** The tensor's shared-memory reference, undefined when it has none; throws `bad` on a half-given one. */
function shmRef(
  params: TensorParameters | undefined,
  what: string,
  bad: (m: string) => never,
): ShmRef | undefined {
  const value = (key: string): string | number | undefined => {
    const p = params?.[key];
    if (!p) return undefined;
    if (p.parameter_choice === 'string_param') return p.string_param;
    if (p.parameter_choice === 'int64_param') return Number(p.int64_param);
    if (p.parameter_choice === 'uint64_param') return Number(p.uint64_param);
    return undefined;
  };
  const region = value('shared_memory_region');
  const size = value('shared_memory_byte_size');
  const offset = value('shared_memory_offset') ?? 0;
  if (region === undefined && size === undefined) return undefined;
  if (typeof region !== 'string' || region === '')
    bad(`${what}: shared_memory_byte_size given without shared_memory_region`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    bad(`${what}: shared_memory_region needs an integer shared_memory_byte_size`);
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0)
    bad(`${what}: shared_memory_offset must be an integer >= 0`);
  return { region: region as string, offset: offset as number, byteSize: size as number };
}

/**
 * The deadline a request's own `timeout` parameter sets (Triton's: microseconds from receipt), on
 * the performance.now() clock; what a client on a stream, which has no per-message gRPC deadline,
 * sends instead.
 */
export function requestTimeout(req: ModelInferRequest__Output, receivedAt: number): number | undefined {
  const p = req.parameters?.['timeout'];
  if (!p) return undefined;
  const us =
    p.parameter_choice === 'int64_param'
      ? Number(p.int64_param)
      : p.parameter_choice === 'uint64_param'
        ? Number(p.uint64_param)
        : NaN;
  if (!Number.isFinite(us) || us <= 0) return undefined;
  return receivedAt + us / 1000;
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

/** Validates a request against the model config and decodes its tensors (inputs in shared memory are read from `shm`). */
export function decodeRequest(
  model: LoadedModel,
  req: ModelInferRequest__Output,
  shm?: SharedMemoryRegistry,
): InferItem & { shmOutputs: Map<string, ShmRef> } {
  const { config } = model;
  const bad = (m: string): never => {
    throw new StatusError(grpc.status.INVALID_ARGUMENT, `model '${model.name}': ${m}`);
  };
  const fromShm = req.inputs.map((t) => {
    const ref = shmRef(t.parameters, `input '${t.name}'`, bad);
    if (ref && !shm) bad(`input '${t.name}': shared memory is not enabled on this server`);
    return ref;
  });
  // As in Triton: raw_input_contents holds one entry per input NOT in shared memory, in order.
  const inMessage = fromShm.filter((r) => !r).length;
  const raw = req.raw_input_contents;
  if (raw.length > 0 && raw.length !== inMessage) {
    bad(`raw_input_contents has ${raw.length} entries for ${inMessage} inputs not in shared memory`);
  }
  let rawIndex = 0;
  const inputs = new Map<string, InputTensor>();
  let batch: number | undefined;
  req.inputs.forEach((t, i) => {
    const ref = fromShm[i];
    const ci = config.inputs.find((c) => c.name === t.name);
    if (!ci) bad(`unknown input '${t.name}' (expected: ${config.inputs.map((c) => c.name).join(', ')})`);
    if (inputs.has(t.name)) bad(`input '${t.name}' given twice`);
    if (t.datatype !== ci!.datatype)
      bad(`input '${t.name}': datatype ${t.datatype || '(none)'}, model expects ${ci!.datatype}`);
    const shape = t.shape.map(Number);
    const expected = fullShape(config, ci!);
    const fits =
      shape.length === expected.length &&
      shape.every((d, k) => Number.isInteger(d) && d >= 1 && (expected[k] === -1 || expected[k] === d));
    if (!fits) bad(`input '${t.name}': shape [${shape}] does not match [${expected}]`);
    if (config.maxBatchSize > 0) {
      const n = shape[0]!;
      if (n > config.maxBatchSize)
        bad(`input '${t.name}': batch ${n} exceeds max_batch_size ${config.maxBatchSize}`);
      if (batch !== undefined && batch !== n)
        bad(`input '${t.name}': batch ${n} differs from other inputs' ${batch}`);
      batch = n;
    }
    const dt = ci!.datatype;
    const count = elementCount(shape);
    let bytes: Buffer | undefined;
    if (ref) {
      if (t.contents && contentsLength(dt, t.contents) > 0)
        bad(`input '${t.name}': both contents and shared_memory_region`);
      try {
        bytes = shm!.read(ref.region, ref.offset, ref.byteSize, `input '${t.name}'`);
      } catch (e) {
        bad((e as Error).message);
      }
    } else if (raw.length > 0) {
      bytes = raw[rawIndex++]!;
    }
    if (dt === 'BYTES') {
      let elements: Buffer[];
      if (bytes) {
        try {
          elements = deserializeBytes(bytes);
        } catch (e) {
          bad(`input '${t.name}': malformed BYTES raw_input_contents (${(e as Error).message})`);
        }
      } else {
        elements = (t.contents?.bytes_contents ?? []).map((b) => Buffer.from(b));
      }
      if (elements!.length !== count)
        bad(`input '${t.name}': ${elements!.length} BYTES elements, shape [${shape}] needs ${count}`);
      inputs.set(t.name, { datatype: dt, shape, data: elements! });
      return;
    }
    let data;
    if (bytes) {
      if (!ref && t.contents && contentsLength(dt, t.contents) > 0)
        bad(`input '${t.name}': both contents and raw_input_contents`);
      const want = count * elementSize(dt);
      if (bytes.byteLength !== want) {
        bad(
          `input '${t.name}': ${ref ? 'shared_memory_byte_size' : 'raw_input_contents'} has ${bytes.byteLength} bytes, shape [${shape}] ${dt} needs ${want}`,
        );
      }
      data = rawToTyped(dt, bytes, ref !== undefined);
    } else {
      if (!t.contents) bad(`input '${t.name}': no data (neither contents nor raw_input_contents)`);
      data = contentsToTyped(dt, t.contents!);
      if (!data) bad(`input '${t.name}': ${dt} must be sent in raw_input_contents`);
      if (data!.length !== count)
        bad(`input '${t.name}': contents has ${data!.length} elements, shape [${shape}] needs ${count}`);
    }
    inputs.set(t.name, { datatype: dt, shape, data: data! });
  });
  for (const ci of config.inputs) if (!inputs.has(ci.name)) bad(`missing input '${ci.name}'`);
  const shmOutputs = new Map<string, ShmRef>();
  const outputs =
    req.outputs.length > 0
      ? req.outputs.map((o) => {
          if (!config.outputs.some((c) => c.name === o.name)) {
            bad(
              `unknown output '${o.name}' (model outputs: ${config.outputs.map((c) => c.name).join(', ')})`,
            );
          }
          const ref = shmRef(o.parameters, `output '${o.name}'`, bad);
          if (ref) {
            if (!shm) bad(`output '${o.name}': shared memory is not enabled on this server`);
            try {
              shm!.status(ref.region);
            } catch {
              bad(`output '${o.name}': shared memory region '${ref.region}' is not registered`);
            }
            shmOutputs.set(o.name, ref);
          }
          return o.name;
        })
      : config.outputs.map((o) => o.name);
  return { inputs, outputs, shmOutputs };
}

/** gRPC status for a shared-memory registry error. */
function shmStatus(e: unknown): StatusError {
  if (!(e instanceof ShmError)) return new StatusError(grpc.status.INTERNAL, (e as Error).message);
  const code = {
    invalid: grpc.status.INVALID_ARGUMENT,
    'not-found': grpc.status.NOT_FOUND,
    exists: grpc.status.ALREADY_EXISTS,
    exhausted: grpc.status.RESOURCE_EXHAUSTED,
  }[e.kind];
  return new StatusError(code, e.message);
}

function toStatus(e: unknown): grpc.ServiceError | { code: grpc.status; details: string } {
  if (e instanceof StatusError) return { code: e.code, details: e.message };
  if (e instanceof BatcherFullError) return { code: grpc.status.RESOURCE_EXHAUSTED, details: e.message };
  if (e instanceof BatcherExpiredError) return { code: grpc.status.DEADLINE_EXCEEDED, details: e.message };
  if (e instanceof BatcherClosedError)
    return { code: grpc.status.UNAVAILABLE, details: 'server is shutting down' };
  return { code: grpc.status.INTERNAL, details: `inference failed: ${(e as Error)?.message ?? String(e)}` };
}

/**
 * A stream error as Triton writes it (a message, no status field), led by the gRPC status name so
 * that a client can tell a final answer (a wrong request, a full queue) from one worth repeating as
 * a unary call: `RESOURCE_EXHAUSTED: queue of 'yolov8n' is full`.
 */
function streamErrorMessage(s: { code: grpc.status; details?: string }): string {
  return `${grpc.status[s.code]}: ${s.details ?? ''}`;
}

export async function startInferenceServer(options: InferenceServerOptions): Promise<InferenceServer> {
  validateOptions(options);
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? defaultLogger;
  const shm =
    (options.sharedMemory ?? isLoopbackHost(host)) && SharedMemoryRegistry.supported()
      ? new SharedMemoryRegistry()
      : undefined;
  const providers = options.executionProviders ?? ['cpu'];
  let models = new Map<string, LoadedModel>();
  const statistics = new ModelStatisticsBook();
  const metrics = new InferenceMetrics(() =>
    [...models.values()].flatMap((m) =>
      [...m.versions.values()].map((v) => ({
        model: m.name,
        version: v.version,
        queued: () => v.batcher.getStats().queued,
      })),
    ),
  );
  models = await loadRepository(options.modelRepository, {
    executionProviders: providers,
    ...(options.intraOpNumThreads ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
    ...(options.intraOpSpinning !== undefined ? { intraOpSpinning: options.intraOpSpinning } : {}),
    maxQueueSize: options.maxQueueSize ?? 64,
    logger,
    onBatch: (model, version, info) => {
      metrics.onBatch(model, version, info);
      statistics.batch(model, version, info);
    },
  });
  for (const m of models.values()) for (const v of m.versions.keys()) statistics.track(m.name, v);
  let closing = false;

  /** `deadline` on the performance.now() clock, from a grpc-js call deadline (Date or epoch ms). */
  const toPerfDeadline = (d: grpc.Deadline | undefined): number | undefined => {
    if (d === undefined) return undefined;
    const ms = d instanceof Date ? d.getTime() : d;
    if (!Number.isFinite(ms)) return undefined;
    return performance.now() + (ms - Date.now());
  };

  const infer = async (
    req: ModelInferRequest__Output,
    call?: { getDeadline(): grpc.Deadline; cancelled: boolean },
  ): Promise<ModelInferResponse> => {
    const started = performance.now();
    // Label only known models: request-chosen names must not grow the metric's label set.
    let labels = { model: '', version: '' };
    try {
      if (closing) throw new StatusError(grpc.status.UNAVAILABLE, 'server is shutting down');
      const [model, version] = resolveVersion(models, req.model_name, req.model_version);
      labels = { model: model.name, version: version.version };
      metrics.requests.inc(labels);
      const item = decodeRequest(model, req, shm);
      const deadline = earliest(toPerfDeadline(call?.getDeadline()), requestTimeout(req, started));
      if (deadline !== undefined) item.deadline = deadline;
      if (call) item.cancelled = () => call.cancelled;
      const outputs = await version.batcher.submit(item);
      // Outputs asked for in shared memory are written there; their message entry stays empty so
      // that raw_output_contents keeps one entry per output.
      const raw = outputs.map((o) => {
        const ref = item.shmOutputs.get(o.name);
        if (!ref) return o.data;
        try {
          shm!.write(ref.region, ref.offset, ref.byteSize, o.data, `output '${o.name}'`);
        } catch (e) {
          throw shmStatus(e);
        }
        return Buffer.alloc(0);
      });
      const tookMs = performance.now() - started;
      metrics.requestDuration.observe(labels, tookMs / 1000);
      statistics.request(labels.model, labels.version, true, tookMs);
      return {
        model_name: model.name,
        model_version: version.version,
        id: req.id,
        outputs: outputs.map((o) => ({ name: o.name, datatype: o.datatype, shape: o.shape })),
        raw_output_contents: raw,
      };
    } catch (e) {
      if (labels.model) {
        metrics.failures.inc(labels);
        statistics.request(labels.model, labels.version, false, performance.now() - started);
        if (e instanceof BatcherFullError) metrics.rejected.inc(labels);
        if (e instanceof BatcherExpiredError) metrics.expired.inc(labels);
      }
      throw e;
    }
  };

  const metadata = (name: string, version: string): ModelMetadataResponse => {
    const [model] = resolveVersion(models, name, version);
    const tensor = (t: LoadedModel['config']['inputs'][number]) => ({
      name: t.name,
      datatype: t.datatype,
      shape: fullShape(model.config, t),
    });
    return {
      name: model.name,
      versions: [...model.versions.keys()],
      platform: model.platform,
      inputs: model.config.inputs.map(tensor),
      outputs: model.config.outputs.map(tensor),
    };
  };

  const handlers: GRPCInferenceServiceHandlers = {
    ServerLive: (_call, cb) => cb(null, { live: true }),
    ServerReady: (_call, cb) => cb(null, { ready: !closing }),
    ModelReady: (call, cb) => {
      const model = models.get(call.request.name);
      const ready = !closing && !!model && model.versions.has(call.request.version || model.latest);
      cb(null, { ready });
    },
    ServerMetadata: (_call, cb) =>
      cb(null, {
        name: SERVER_NAME,
        version: SERVER_VERSION,
        extensions: [
          'model_stream_infer',
          'model_configuration',
          'statistics',
          'model_repository',
          ...(shm ? [SHM_EXTENSION] : []),
        ],
      }),
    ModelConfig: (call, cb) => {
      try {
        const [model] = resolveVersion(models, call.request.name, call.request.version);
        cb(null, { config: modelConfigMessage(model, providers) });
      } catch (e) {
        cb(toStatus(e));
      }
    },
    ModelStatistics: (call, cb) => {
      try {
        const { name, version } = call.request;
        // A named model (and version) must exist, as with every other per-model call.
        if (name) resolveVersion(models, name, version);
        else if (version) throw new StatusError(grpc.status.INVALID_ARGUMENT, 'a version needs a model name');
        cb(null, { model_stats: statistics.snapshot(name, version) });
      } catch (e) {
        cb(toStatus(e));
      }
    },
    RepositoryIndex: (call, cb) => {
      // One repository, every model loaded at start: each loaded version is READY until shutdown.
      const state = closing ? 'UNAVAILABLE' : 'READY';
      const reason = closing ? 'server is shutting down' : '';
      const ready = call.request.ready;
      cb(null, {
        models:
          ready && closing
            ? []
            : [...models.values()].flatMap((m) =>
                [...m.versions.keys()].map((version) => ({ name: m.name, version, state, reason })),
              ),
      });
    },
    SystemSharedMemoryStatus: (call, cb) => {
      try {
        if (!shm)
          throw new StatusError(grpc.status.UNIMPLEMENTED, 'shared memory is not enabled on this server');
        const regions: Record<string, { name: string; key: string; offset: number; byte_size: number }> = {};
        try {
          for (const r of shm.status(call.request.name))
            regions[r.name] = { name: r.name, key: r.key, offset: r.offset, byte_size: r.byteSize };
        } catch (e) {
          throw shmStatus(e);
        }
        cb(null, { regions });
      } catch (e) {
        cb(toStatus(e));
      }
    },
    SystemSharedMemoryRegister: (call, cb) => {
      try {
        if (!shm)
          throw new StatusError(grpc.status.UNIMPLEMENTED, 'shared memory is not enabled on this server');
        if (closing) throw new StatusError(grpc.status.UNAVAILABLE, 'server is shutting down');
        const { name, key, offset, byte_size } = call.request;
        try {
          shm.register(name, key, Number(offset), Number(byte_size));
        } catch (e) {
          throw shmStatus(e);
        }
        cb(null, {});
      } catch (e) {
        cb(toStatus(e));
      }
    },
    SystemSharedMemoryUnregister: (call, cb) => {
      try {
        if (!shm)
          throw new StatusError(grpc.status.UNIMPLEMENTED, 'shared memory is not enabled on this server');
        shm.unregister(call.request.name);
        cb(null, {});
      } catch (e) {
        cb(toStatus(e));
      }
    },
    ModelMetadata: (call, cb) => {
      try {
        cb(null, metadata(call.request.name, call.request.version));
      } catch (e) {
        cb(toStatus(e));
      }
    },
    ModelInfer: (call, cb) => {
      infer(call.request, call).then(
        (res) => cb(null, res),
        (e: unknown) => cb(toStatus(e)),
      );
    },
    ModelStreamInfer: (call) => {
      let pending = 0;
      let ended = false;
      const maybeEnd = (): void => {
        if (ended && pending === 0) call.end();
      };
      call.on('data', (req: ModelInferRequest__Output) => {
        pending++;
        infer(req, call)
          .then(
            (res): ModelStreamInferResponse => ({ infer_response: res }),
            (e: unknown): ModelStreamInferResponse => ({
              error_message: streamErrorMessage(toStatus(e)),
              infer_response: { id: req.id, model_name: req.model_name, model_version: req.model_version },
            }),
          )
          .then((msg) => {
            if (!call.cancelled && call.writable) call.write(msg);
          })
          .finally(() => {
            pending--;
            maybeEnd();
          });
      });
      call.on('end', () => {
        ended = true;
        maybeEnd();
      });
      call.on('error', () => undefined);
    },
  };

  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': options.maxSendMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
  });
  server.addService(loadInferenceProto().inference.GRPCInferenceService.service, handlers);

  const tls = options.tls;
  const credentials = tls
    ? grpc.ServerCredentials.createSsl(
        tls.rootCerts ?? null,
        [{ cert_chain: tls.certChain, private_key: tls.privateKey }],
        tls.requireClientCert ?? false,
      )
    : grpc.ServerCredentials.createInsecure();
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const addr = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
      server.bindAsync(`${addr}:${options.port ?? 8001}`, credentials, (err, p) =>
        err ? reject(err) : resolve(p),
      );
    });
  } catch (e) {
    server.forceShutdown();
    await unloadRepository(models);
    throw new InferenceError(
      'VIGIL_ERR_INFER_UNAVAILABLE',
      `cannot listen on ${host}:${options.port ?? 8001}: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  let http: HttpServer | undefined;
  let metricsPort: number | undefined;
  if (options.metricsPort !== undefined) {
    const h = createHttpServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404).end('not found\n');
        return;
      }
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    });
    http = h;
    try {
      metricsPort = await new Promise<number>((resolve, reject) => {
        h.once('error', reject);
        h.listen(options.metricsPort, host, () => {
          const a = h.address();
          resolve(typeof a === 'object' && a ? a.port : 0);
        });
      });
    } catch (e) {
      server.forceShutdown();
      await unloadRepository(models);
      throw new InferenceError(
        'VIGIL_ERR_INFER_UNAVAILABLE',
        `cannot serve metrics on ${host}:${options.metricsPort}: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
  logger.info(
    `serving ${[...models.keys()].join(', ')} on ${host}:${port}${tls ? ` (TLS${tls.requireClientCert ? ', client certificates required' : ''})` : ''}` +
      `${metricsPort !== undefined ? `, metrics on http://${host}:${metricsPort}/metrics` : ''}`,
  );

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    if (!closed) {
      closing = true;
      closed = (async () => {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, options.shutdownGraceMs ?? 5000);
          timer.unref();
          server.tryShutdown(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        await unloadRepository(models);
        shm?.close();
        if (http) {
          const h = http;
          await new Promise<void>((resolve) => {
            h.close(() => resolve());
            h.closeAllConnections();
          });
        }
        logger.info(`closed ${host}:${port}`);
      })();
    }
    return closed;
  };

  const stats = (): Record<string, BatcherStats> => {
    const out: Record<string, BatcherStats> = {};
    for (const m of models.values()) {
      for (const v of m.versions.values()) out[`${m.name}:${v.version}`] = v.batcher.getStats();
    }
    return out;
  };

  return {
    port,
    host,
    models: [...models.keys()],
    metricsRegistry: metrics.registry,
    metricsPort,
    stats,
    close,
    [Symbol.asyncDispose]: close,
  };
}
