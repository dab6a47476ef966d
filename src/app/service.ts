/**
 * The composition root: the one place that knows every stage. From a validated config it builds,
 * in order, the local dependencies (a nats-server and an inference server when none are
 * configured), the publisher, the metrics, the inference client and its stages, the stream
 * manager with the configured streams, and (when serving) the HTTP control API with the web view
 * and /metrics, and the control API over NATS. Everything lands on one CleanupStack and closes in
 * reverse order. `vigil run` serves; `vigil analyze` / `demo` use the same analyzer without the
 * control surfaces and attach their one stream to the same manager (src/app/cli-session.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VigilError } from '../core/errors.js';
import type { VigilConfig } from '../config/index.js';
import { startControlServer } from '../control/http.js';
import { serveControlOverNats } from '../control/nats.js';
import { createDetector, createOcr, InferenceClient, loadOcrDictionary } from '../infer/index.js';
import {
  AnalyzerMetrics,
  instrumentManagerDeps,
  metricsMount,
  observeManager,
} from '../observability/index.js';
import type { NatsClientOptions } from '../publish/connection.js';
import { JpegCache } from '../publish/evidence.js';
import { createPublisher, type Publisher } from '../publish/nats-publisher.js';
import { createWebView } from '../web/server.js';
import { analyzeWith, type OcrLike } from '../analyzer/analyze.js';
import { createManager, type Manager } from '../analyzer/manager.js';
import { createLanguageRouter } from '../analyzer/language.js';
import type { LanguageModelsConfig } from '../config/language-models.js';
import { vadProvider } from '../analyzer/speech.js';
import { CleanupStack } from './cleanup.js';
import { startLocalDeps } from './local-deps.js';

/** Where the OCR dictionary lives in a model repository made by scripts/prepare-model-repo.mjs. */
export function defaultOcrDictionary(modelRepository: string): string {
  return join(modelRepository, 'ppocr_rec', '1', 'ppocr_keys_v1.txt');
}

/** The OCR stage over the inference client, or a clear VIGIL_ERR_CONFIG when its dictionary is missing. */
export function ocrStage(client: InferenceClient, dictionaryFile: string): OcrLike {
  if (!existsSync(dictionaryFile)) {
    throw new VigilError(
      'VIGIL_ERR_CONFIG',
      `OCR dictionary ${dictionaryFile} not found: run 'bash scripts/setup.sh' (it writes models/repo/ppocr_rec/1/ppocr_keys_v1.txt) or set inference.ocrDictionary`,
    );
  }
  return createOcr({ client, dictionary: loadOcrDictionary(dictionaryFile) });
}

/** Reads the TLS files of `inference.tls` for the gRPC client (mTLS when a cert and key are given). */
function inferenceTls(t: VigilConfig['inference']['tls']) {
  if (!t) return {};
  return {
    tls: {
      ...(t.caFile ? { rootCerts: readFileSync(t.caFile) } : {}),
      ...(t.certFile && t.keyFile
        ? { certChain: readFileSync(t.certFile), privateKey: readFileSync(t.keyFile) }
        : {}),
      ...(t.serverName ? { serverName: t.serverName } : {}),
    },
  };
}

/** NATS settings as the config holds them (servers, credentials, TLS). */
export type NatsSettings = Pick<
  VigilConfig['nats'],
  'servers' | 'user' | 'password' | 'token' | 'nkeySeed' | 'nkeySeedFile' | 'tls'
>;

/** The NATS client options of `nats` (credentials included) for these servers. */
export function natsClientOptions(nats: Partial<NatsSettings>, servers: string[]): NatsClientOptions {
  const o: NatsClientOptions = { servers };
  if (nats.user !== undefined) o.user = nats.user;
  if (nats.password !== undefined) o.pass = nats.password;
  if (nats.token !== undefined) o.token = nats.token;
  if (nats.nkeySeed !== undefined) o.nkeySeed = nats.nkeySeed;
  if (nats.nkeySeedFile !== undefined) o.nkeySeedFile = nats.nkeySeedFile;
  if (nats.tls !== undefined) o.tls = nats.tls;
  return o;
}

/** A running analyzer: manager + publisher, and (when serving) the control API and web view. */
export interface Service {
  manager: Manager;
  publisher: Publisher;
  /** The process's metrics (also served on /metrics when serving). */
  metrics: AnalyzerMetrics;
  /** Base URL of the HTTP control API and the web view ('' when not serving). */
  controlUrl: string;
  natsUrl: string;
  inferAddress: string;
  /** Stops everything in reverse order; idempotent. */
  close(): Promise<void>;
}

export interface ServiceOptions {
  /**
   * Serve the control API, the web view, /metrics and (config.control.nats) the control API over
   * NATS. Default true (`vigil run`); the CLI's one-stream sessions pass false.
   */
  serve?: boolean;
  /** Names the setting that points at an inference server, for the "model repository not found" hint. */
  inferHint?: string;
  /**
   * Language stages (captions, model summaries, speech to text) for every stream; absent or empty:
   * none. Built here and closed with the service.
   */
  language?: LanguageModelsConfig;
}

/**
 * Starts the analyzer from a validated config (see the file's header). On failure everything
 * started so far is stopped before the error is thrown.
 */
export async function startService(
  config: VigilConfig,
  log: (line: string) => void = (l) => console.error(l),
  options: ServiceOptions = {},
): Promise<Service> {
  const serve = options.serve ?? true;
  const stack = new CleanupStack();
  try {
    const local = await startLocalDeps(
      {
        natsServers: config.nats.servers,
        inferAddress: config.inference.address,
        modelRepository: config.inference.modelRepository,
        inferHint: options.inferHint ?? 'set inference.address',
        log,
      },
      stack,
    );
    const jpegCache = new JpegCache(256);
    const publisher = await createPublisher({
      ...natsClientOptions(config.nats, local.natsServers),
      jetstreamName: config.nats.jetstream.stream,
      maxAgeMs: config.nats.jetstream.maxAgeMs,
      maxBytes: config.nats.jetstream.maxBytes,
      maxPending: config.nats.retry.maxPending,
      ackTimeoutMs: config.nats.retry.ackTimeoutMs,
      evidence: config.nats.evidence,
      jpegCache,
    });
    stack.push('publisher', () => publisher.close());
    // One process-wide registry: per stream, per stage, publishing, process; served on /metrics.
    const metrics = new AnalyzerMetrics();
    metrics.observePublisher(publisher);
    // The gRPC client rotates over every configured inference server (or the local one).
    const addresses =
      config.inference.addresses.length > 0 ? config.inference.addresses : [local.inferAddress];
    const client = new InferenceClient({
      addresses,
      sharedMemory: config.inference.sharedMemory,
      streamInfer: config.inference.streamInfer,
      ...inferenceTls(config.inference.tls),
    });
    stack.push('inference client', () => client.close());
    const model = config.inference.model;
    const ocr = config.inference.ocr
      ? ocrStage(
          client,
          config.inference.ocrDictionary ?? defaultOcrDictionary(config.inference.modelRepository),
        )
      : undefined;
    // Speech events for streams with audio; asked once whether the VAD model is served (lazily, per stream).
    const vad = config.inference.vad ? vadProvider(client) : undefined;
    // Language stages: the service's models, and streams' own over them (their `inference` key).
    // Nothing configured anywhere: no stage, every stream as before.
    const language = createLanguageRouter(options.language ?? config.inference.language ?? {}, {
      observer: metrics.languageModels,
    });
    stack.push('language stages', () => language.close());
    for (const line of language.describe()) log(`vigil: ${line}`);
    const manager = createManager(
      instrumentManagerDeps(
        {
          analyze: analyzeWith(createDetector({ client, model }), model, {
            health: client,
            ...(ocr ? { ocr } : {}),
          }),
          ...(vad ? { vad } : {}),
          language,
          sink: publisher,
          maxStreams: config.analyzer.maxStreams,
          windowMs: config.analyzer.windowMs,
          ...(config.analyzer.maxKeyframeAgeMs !== undefined
            ? { maxKeyframeAgeMs: config.analyzer.maxKeyframeAgeMs }
            : {}),
          ...(config.analyzer.maxInferInFlight !== undefined
            ? { maxInferInFlight: config.analyzer.maxInferInFlight }
            : {}),
          ...(config.analyzer.detectBudgetPerS !== undefined
            ? { detectBudgetPerS: config.analyzer.detectBudgetPerS }
            : {}),
        },
        metrics,
      ),
    );
    observeManager(manager, metrics);
    stack.push('stream manager', () => manager.close());
    let controlUrl = '';
    if (serve) {
      const ready = async () => {
        const natsUp = !publisher.connection.isClosed() && publisher.connection.info !== undefined;
        const inferUp = await client.serverReady().catch(() => false);
        return { ready: natsUp && inferUp, checks: { nats: natsUp, inference: inferUp } };
      };
      const token = config.control.token;
      const mounts = [
        metricsMount(metrics),
        ...(config.web.enabled ? [createWebView({ manager, jpegCache, ...(token ? { token } : {}) })] : []),
      ];
      const control = await startControlServer({
        manager,
        ready,
        host: config.control.host,
        port: config.control.port,
        ...(token ? { token } : {}),
        mounts,
        ...(config.control.allowedHosts ? { allowedHosts: config.control.allowedHosts } : {}),
        ...(config.control.allowedOrigins ? { allowedOrigins: config.control.allowedOrigins } : {}),
      });
      stack.push('control server', () => control.close());
      controlUrl = control.url;
      log(
        `vigil: control API${config.web.enabled ? ' and live view' : ''} at ${control.url} (metrics: ${control.url}/metrics)`,
      );
      if (config.control.nats) {
        const ctl = serveControlOverNats({
          manager,
          ready,
          connection: publisher.connection,
          ...(token ? { token } : {}),
        });
        stack.push('control over NATS', () => ctl.close());
      }
    }
    for (const def of config.streams) {
      const info = await manager.attach(def);
      log(`vigil: attached ${info.id} (${info.source})`);
    }
    return {
      manager,
      publisher,
      metrics,
      controlUrl,
      natsUrl: local.natsServers[0]!,
      inferAddress: local.inferAddress,
      close: async () => {
        await stack.close();
      },
    };
  } catch (err) {
    await stack.close();
    throw err;
  }
}
