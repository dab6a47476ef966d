/**
 * Inference server metrics in Triton's spirit (requests, failures, queue time, compute time, batch
 * sizes per model), as prom-client metrics in a registry the server owns. Names are
 * `vigil_infer_*` with the unit in the name; labels are `{model, version}` only.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BatchInfo } from './batcher.js';

const LATENCY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64];

type Labels = 'model' | 'version';

export interface QueueDepthSource {
  model: string;
  version: string;
  queued(): number;
}

export class InferenceMetrics {
  readonly registry: Registry;
  readonly requests: Counter<Labels>;
  readonly failures: Counter<Labels>;
  readonly rejected: Counter<Labels>;
  readonly expired: Counter<Labels>;
  readonly requestDuration: Histogram<Labels>;
  readonly queueDuration: Histogram<Labels>;
  readonly computeDuration: Histogram<Labels>;
  readonly batchSize: Histogram<Labels>;
  readonly batches: Counter<Labels>;
  readonly queueDepth: Gauge<Labels>;

  constructor(queues: () => QueueDepthSource[]) {
    const registry = new Registry();
    this.registry = registry;
    const labelNames: Labels[] = ['model', 'version'];
    this.requests = new Counter({
      name: 'vigil_infer_requests_total',
      help: 'Inference requests received (ModelInfer and each ModelStreamInfer message), by model version',
      labelNames,
      registers: [registry],
    });
    this.failures = new Counter({
      name: 'vigil_infer_request_failures_total',
      help: 'Inference requests that ended in an error (invalid input, queue full, expired, model error)',
      labelNames,
      registers: [registry],
    });
    this.rejected = new Counter({
      name: 'vigil_infer_queue_rejected_total',
      help: 'Requests refused with RESOURCE_EXHAUSTED because the model queue was full (dropped)',
      labelNames,
      registers: [registry],
    });
    this.expired = new Counter({
      name: 'vigil_infer_queue_expired_total',
      help: 'Requests dropped before running because their deadline passed or the caller left while queued',
      labelNames,
      registers: [registry],
    });
    this.requestDuration = new Histogram({
      name: 'vigil_infer_request_duration_seconds',
      help: 'Server-side time of one request from receipt to response (validation, queue, compute)',
      labelNames,
      buckets: LATENCY_BUCKETS_S,
      registers: [registry],
    });
    this.queueDuration = new Histogram({
      name: 'vigil_infer_queue_duration_seconds',
      help: 'Time a request waited in the dynamic batcher queue before its batch ran',
      labelNames,
      buckets: LATENCY_BUCKETS_S,
      registers: [registry],
    });
    this.computeDuration = new Histogram({
      name: 'vigil_infer_compute_duration_seconds',
      help: 'Time one batch spent in the model (input transform, onnxruntime run, output split)',
      labelNames,
      buckets: LATENCY_BUCKETS_S,
      registers: [registry],
    });
    this.batchSize = new Histogram({
      name: 'vigil_infer_batch_size',
      help: 'Batch-dimension size of each executed batch',
      labelNames,
      buckets: BATCH_BUCKETS,
      registers: [registry],
    });
    this.batches = new Counter({
      name: 'vigil_infer_batches_total',
      help: 'Batches executed',
      labelNames,
      registers: [registry],
    });
    this.queueDepth = new Gauge({
      name: 'vigil_infer_queue_depth',
      help: 'Requests waiting in the model version queue',
      labelNames,
      registers: [registry],
      collect() {
        for (const q of queues()) this.set({ model: q.model, version: q.version }, q.queued());
      },
    });
  }

  onBatch(model: string, version: string, info: BatchInfo): void {
    const labels = { model, version };
    this.batches.inc(labels);
    this.batchSize.observe(labels, info.size);
    this.computeDuration.observe(labels, info.computeMs / 1000);
    for (const q of info.queueMs) this.queueDuration.observe(labels, q / 1000);
  }
}
