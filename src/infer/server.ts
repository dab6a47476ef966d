/**
 * KServe v2 / Triton-compatible gRPC inference server over a model repository (see repository.ts).
 * Failures map to gRPC status codes: unknown model/version → NOT_FOUND, bad tensor →
 * INVALID_ARGUMENT naming it, full queue → RESOURCE_EXHAUSTED, closing → UNAVAILABLE.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import { ConfigError, InferenceError } from '../core/errors.js';
import type { BatcherStats } from './batcher.js';
import { InferService } from './infer-service.js';
import { InferenceMetrics } from './metrics.js';
import { ModelStatisticsBook } from './model-statistics.js';
import { loadInferenceProto } from './proto.js';
import {
  loadRepository,
  unloadRepository,
  type ExecutionProvider,
  type LoadedModel,
  type Logger,
} from './repository.js';
import { serviceHandlers } from './server-handlers.js';
import { isLoopbackHost, SharedMemoryRegistry } from './shm.js';

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
  /** Run each model once at load on zeros at its largest batch, so its memory is sized up front. Default true. */
  warmup?: boolean;
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
  'warmup',
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

export { SERVER_NAME, SERVER_VERSION } from './server-handlers.js';
export { decodeRequest, requestTimeout, type ShmRef } from './server-request.js';

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
  if (opts.warmup !== undefined && typeof opts.warmup !== 'boolean')
    throw new ConfigError('inference server: warmup must be a boolean');
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

/** Listens on `host:port` (0: a free port); the bound port. */
function bind(
  server: grpc.Server,
  host: string,
  port: number,
  credentials: grpc.ServerCredentials,
): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const addr = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
    server.bindAsync(`${addr}:${port}`, credentials, (err, p) => (err ? reject(err) : resolve(p)));
  });
}

/** Serves `registry` in the Prometheus text format at http://host:port/metrics; the bound port. */
async function serveMetrics(
  registry: Registry,
  host: string,
  port: number,
): Promise<{ http: HttpServer; port: number }> {
  const http = createHttpServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  const bound = await new Promise<number>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => {
      const a = http.address();
      resolve(typeof a === 'object' && a ? a.port : 0);
    });
  });
  return { http, port: bound };
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
  const statistics = new ModelStatisticsBook();
  let models = new Map<string, LoadedModel>();
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
    ...(options.warmup !== undefined ? { warmup: options.warmup } : {}),
    maxQueueSize: options.maxQueueSize ?? 64,
    logger,
    onBatch: (model, version, info) => {
      metrics.onBatch(model, version, info);
      statistics.batch(model, version, info);
    },
  });
  for (const m of models.values()) for (const v of m.versions.keys()) statistics.track(m.name, v);
  const service = new InferService(models, providers, metrics, statistics, shm);

  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': options.maxSendMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
  });
  server.addService(loadInferenceProto().inference.GRPCInferenceService.service, serviceHandlers(service));

  const tls = options.tls;
  const credentials = tls
    ? grpc.ServerCredentials.createSsl(
        tls.rootCerts ?? null,
        [{ cert_chain: tls.certChain, private_key: tls.privateKey }],
        tls.requireClientCert ?? false,
      )
    : grpc.ServerCredentials.createInsecure();
  let listening: { port: number; metrics?: { http: HttpServer; port: number } };
  let failing = `cannot listen on ${host}:${options.port ?? 8001}`;
  try {
    listening = { port: await bind(server, host, options.port ?? 8001, credentials) };
    if (options.metricsPort !== undefined) {
      failing = `cannot serve metrics on ${host}:${options.metricsPort}`;
      listening.metrics = await serveMetrics(metrics.registry, host, options.metricsPort);
    }
  } catch (e) {
    server.forceShutdown();
    await unloadRepository(models);
    throw new InferenceError('VIGIL_ERR_INFER_UNAVAILABLE', `${failing}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const { port } = listening;
  const metricsPort = listening.metrics?.port;
  logger.info(
    `serving ${[...models.keys()].join(', ')} on ${host}:${port}${tls ? ` (TLS${tls.requireClientCert ? ', client certificates required' : ''})` : ''}` +
      `${metricsPort !== undefined ? `, metrics on http://${host}:${metricsPort}/metrics` : ''}`,
  );
  return new RunningInferenceServer(service, server, listening.metrics?.http, {
    host,
    port,
    metricsPort,
    shutdownGraceMs: options.shutdownGraceMs ?? 5000,
    logger,
  });
}

/** A started server: what it serves, and its idempotent close. */
class RunningInferenceServer implements InferenceServer {
  readonly host: string;
  readonly port: number;
  readonly models: string[];
  readonly metricsRegistry: Registry;
  readonly metricsPort: number | undefined;
  private closed: Promise<void> | undefined;

  constructor(
    private readonly service: InferService,
    private readonly server: grpc.Server,
    private readonly http: HttpServer | undefined,
    private readonly options: {
      host: string;
      port: number;
      metricsPort: number | undefined;
      shutdownGraceMs: number;
      logger: Logger;
    },
  ) {
    this.host = options.host;
    this.port = options.port;
    this.models = [...service.models.keys()];
    this.metricsRegistry = service.metrics.registry;
    this.metricsPort = options.metricsPort;
  }

  // Arrow properties, as the object startInferenceServer returned before: callers pass them on.
  readonly stats = (): Record<string, BatcherStats> => this.service.stats();

  readonly close = (): Promise<void> => {
    if (!this.closed) {
      this.service.closing = true;
      this.closed = this.shutDown();
    }
    return this.closed;
  };

  readonly [Symbol.asyncDispose] = this.close;

  private async shutDown(): Promise<void> {
    const { server } = this;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, this.options.shutdownGraceMs);
      timer.unref();
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    await unloadRepository(this.service.models);
    this.service.shm?.close();
    const h = this.http;
    if (h) {
      await new Promise<void>((resolve) => {
        h.close(() => resolve());
        h.closeAllConnections();
      });
    }
    this.options.logger.info(`closed ${this.host}:${this.port}`);
  }
}
