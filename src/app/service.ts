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
import { controlTokenHint, loadOrCreateControlToken } from '../control/token-file.js';
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
import { createEvidenceMount, objectStoreEvidence } from '../control/evidence.js';
import { openHistoryIndex, startHistoryConsumer, type HistoryIndex } from '../history/index.js';
import { openAskModel } from './ask-model.js';
import type { AskModel } from '../history/index.js';
import { CleanupStack } from './cleanup.js';
import { startLocalDeps } from './local-deps.js';
import { gst } from '../ingest/gst.js';
import { logStreamTrouble } from './stream-log.js';

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

/**
 * The control API's token: the configured one (control.token / VIGIL_CONTROL_TOKEN); else, unless
 * `control.requireToken` is false, the one kept in `control.tokenFile`, generated there at first
 * start. The API is never open by default.
 */
export function controlAuth(control: VigilConfig['control']): {
  token?: string;
  /** Set when the token came from (or was written to) the token file. */
  file?: string;
  created?: boolean;
} {
  if (control.token !== undefined) return { token: control.token };
  if (!control.requireToken) return {};
  const { token, created } = loadOrCreateControlToken(control.tokenFile);
  return { token, file: control.tokenFile, created };
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
  /** The history index fed by the JetStream consumer (`history.enabled`, when serving); else null. */
  history: HistoryIndex | null;
  /** Resolves once the history consumer has stored everything JetStream held when called. */
  historyCaughtUp(timeoutMs?: number): Promise<void>;
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
    // GStreamer loads first: that fixes glibc's mmap threshold (src/ingest/mmap-threshold.ts) before
    // the models and the rest allocate, so their large blocks are mapped, not kept in arenas.
    gst();
    const local = await startLocalDeps(
      {
        natsServers: config.nats.servers,
        inferAddress: config.inference.address,
        modelRepository: config.inference.modelRepository,
        warmup: config.inference.warmup,
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
    // The local inference server (no inference.address configured) has no port of its own to
    // scrape: its vigil_infer_* metrics are served on the same /metrics.
    if (local.inferMetrics) metrics.include(local.inferMetrics);
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
    let history: HistoryIndex | null = null;
    let askModel: AskModel | undefined;
    let historyCaughtUp = (_timeoutMs?: number): Promise<void> => Promise.resolve();
    if (serve && config.history.enabled) {
      // The history consumer: JetStream → the search index, on the publisher's connection.
      const index = await openHistoryIndex(config.history);
      stack.push('history index', () => index.close());
      const consumer = await startHistoryConsumer({
        connection: publisher.connection,
        index,
        stream: config.nats.jetstream.stream,
        durable: config.history.durable,
        keyframeStream: config.history.keyframeStream,
        batchSize: config.history.batchSize,
        onError: (err) => log(`vigil: history: ${err instanceof Error ? err.message : String(err)}`),
      });
      stack.push('history consumer', () => consumer.close());
      history = index;
      const sum = (options.language ?? config.inference.language)?.summarizer;
      if (sum) {
        // Ask with the summarizer's model: its own connection, closed with the service.
        const model = openAskModel(sum, process.env);
        stack.push('ask model', () => model.close());
        askModel = model;
      }
      historyCaughtUp = (timeoutMs?: number) => consumer.caughtUp(timeoutMs);
      log(
        `vigil: history index ${index.backend === 'sqlite' ? config.history.path : 'in PostgreSQL'} (search: /v1/search, /v1/ask)`,
      );
    }
    if (serve) {
      // A stream that fails, goes down or recovers says so on the log (the CLI sessions show it themselves).
      stack.push('stream log', logStreamTrouble(manager, log));
      const ready = async () => {
        const natsUp = !publisher.connection.isClosed() && publisher.connection.info !== undefined;
        const inferUp = await client.serverReady().catch(() => false);
        return { ready: natsUp && inferUp, checks: { nats: natsUp, inference: inferUp } };
      };
      const auth = controlAuth(config.control);
      const token = auth.token;
      const mounts = [
        metricsMount(metrics),
        ...(config.nats.evidence
          ? [
              createEvidenceMount({
                reader: objectStoreEvidence(publisher.connection, config.nats.evidence.bucket),
                ...(token ? { token } : {}),
              }),
            ]
          : []),
        ...(config.web.enabled ? [createWebView({ manager, jpegCache, ...(token ? { token } : {}) })] : []),
      ];
      const control = await startControlServer({
        manager,
        ready,
        host: config.control.host,
        port: config.control.port,
        ...(token ? { token } : {}),
        mounts,
        ...(history ? { history } : {}),
        ...(askModel ? { askModel } : {}),
        ...(config.control.allowedHosts ? { allowedHosts: config.control.allowedHosts } : {}),
        ...(config.control.allowedOrigins ? { allowedOrigins: config.control.allowedOrigins } : {}),
      });
      stack.push('control server', () => control.close());
      controlUrl = control.url;
      log(
        `vigil: control API${config.web.enabled ? ' and live view' : ''} at ${control.url} (metrics: ${control.url}/metrics)`,
      );
      // How to use the token; never the token itself (secrets never reach a log).
      if (auth.file !== undefined) {
        if (auth.created) log(`vigil: generated a control token at first start`);
        log(controlTokenHint(auth.file, control.url));
      } else if (token === undefined) {
        log(
          'vigil: WARNING: the control API takes no token (control.requireToken: false): any local process can drive it',
        );
      }
      if (config.control.nats) {
        const ctl = serveControlOverNats({
          manager,
          ready,
          connection: publisher.connection,
          ...(history ? { history } : {}),
          ...(askModel ? { askModel } : {}),
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
      history,
      historyCaughtUp: (timeoutMs?: number) => historyCaughtUp(timeoutMs),
      close: async () => {
        await stack.close();
      },
    };
  } catch (err) {
    await stack.close();
    throw err;
  }
}
