/**
 * One analyzer replica of a cluster: the multi-stream manager (instrumented), driven by the
 * cluster coordinator (streams from the desired-streams KV bucket), publishing on NATS with a
 * `Vigil-Replica` header, analysing through a pool of inference servers (the gRPC client rotates
 * over every address), and serving /metrics, /healthz and /readyz.
 */
import { connectNats, type NatsClientOptions } from '../publish/connection.js';
import { createPublisher } from '../publish/nats-publisher.js';
import { createDetector, InferenceClient } from '../infer/index.js';
import { analyzeWith } from '../analyzer/analyze.js';
import { createManager, parseStreamDefinition } from '../analyzer/manager.js';
import { ConfigError } from '../core/errors.js';
import { createLanguageRouter } from '../analyzer/language.js';
import type { LanguageModelsConfig } from '../config/language-models.js';
import {
  AnalyzerMetrics,
  instrumentManagerDeps,
  observeManager,
  startMetricsServer,
} from '../observability/index.js';
import { ClusterCoordinator, defaultReplicaId } from './coordinator.js';

export interface ReplicaOptions {
  nats: NatsClientOptions;
  /** host:port of each inference server (KServe v2 gRPC); calls rotate over them. */
  inferAddresses: string[];
  model?: string;
  replicaId?: string;
  leaseMs?: number;
  desiredBucket?: string;
  clusterBucket?: string;
  /** Most streams this replica runs at once (default 16), whatever its fair share. */
  maxStreams?: number;
  metricsHost?: string;
  /** 0 picks a free port (default 9464). */
  metricsPort?: number;
  log?: (line: string) => void;
  /** The replica's language models (captioner, summarizer, asr); a KV entry's `inference` goes over them. */
  language?: LanguageModelsConfig;
}

export interface Replica {
  readonly replicaId: string;
  readonly metricsPort: number;
  readonly coordinator: ClusterCoordinator;
  readonly metrics: AnalyzerMetrics;
  /** Hands the streams back to the cluster, then stops everything; idempotent. */
  close(): Promise<void>;
}

export async function startReplica(o: ReplicaOptions): Promise<Replica> {
  if (!Array.isArray(o.inferAddresses) || o.inferAddresses.length === 0)
    throw new ConfigError('replica: inferAddresses must list at least one host:port');
  const replicaId = o.replicaId ?? defaultReplicaId();
  const model = o.model ?? 'yolov8n';
  const log = o.log ?? ((line: string) => console.error(line));
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await Promise.resolve(fn()).catch(() => undefined);
  };
  try {
    const metrics = new AnalyzerMetrics({ maxStreams: Math.max(256, o.maxStreams ?? 16) });
    const client = new InferenceClient({ addresses: o.inferAddresses });
    cleanups.push(() => client.close());
    const detector = createDetector({ client, model });
    const publisher = await createPublisher({
      ...o.nats,
      name: `vigil-analyzer-${replicaId}`,
      headers: { 'Vigil-Replica': replicaId },
    });
    cleanups.push(() => publisher.close());
    metrics.observePublisher(publisher);
    // Streams from the KV bucket may name their own language models (`inference`), as attach bodies may.
    const language = createLanguageRouter(o.language ?? {}, { observer: metrics.languageModels });
    cleanups.push(() => language.close());
    const manager = createManager(
      instrumentManagerDeps(
        {
          analyze: analyzeWith(detector, model, { health: client }),
          sink: publisher,
          language,
          maxStreams: o.maxStreams ?? 16,
        },
        metrics,
      ),
    );
    cleanups.push(() => manager.close());
    observeManager(manager, metrics);
    const nc = await connectNats({ ...o.nats, name: `vigil-cluster-${replicaId}` });
    cleanups.push(() => nc.close());
    let started = false;
    const server = await startMetricsServer({
      source: metrics,
      host: o.metricsHost ?? '0.0.0.0',
      port: o.metricsPort ?? 9464,
      ready: () => started && !nc.isClosed(),
    });
    cleanups.push(() => server.close());
    const coordinator = await ClusterCoordinator.start({
      nc,
      // Definitions from the KV bucket are validated like any attach (unknown keys are errors).
      host: {
        attach: (def) => manager.attach(parseStreamDefinition(def)),
        detach: (id) => manager.detach(id),
        list: () => manager.list(),
      },
      replicaId,
      ...(o.leaseMs !== undefined ? { leaseMs: o.leaseMs } : {}),
      ...(o.desiredBucket !== undefined ? { desiredBucket: o.desiredBucket } : {}),
      ...(o.clusterBucket !== undefined ? { clusterBucket: o.clusterBucket } : {}),
      registry: metrics.registry,
      log,
    });
    started = true;
    const c = coordinator;
    cleanups.push(() => c.close());
    let closing: Promise<void> | undefined;
    return {
      replicaId,
      metricsPort: server.port,
      coordinator: c,
      metrics,
      close: () => (closing ??= cleanup()),
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
