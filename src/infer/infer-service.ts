/**
 * What the inference server serves, apart from the wire: the loaded models, their metrics and
 * statistics, the shared-memory registry, and one ModelInfer from request to response.
 */
import * as grpc from '@grpc/grpc-js';
import { BatcherExpiredError, BatcherFullError, type BatcherStats } from './batcher.js';
import type { ModelInferRequest__Output } from './generated/inference/ModelInferRequest.js';
import type { ModelInferResponse } from './generated/inference/ModelInferResponse.js';
import type { ModelMetadataResponse } from './generated/inference/ModelMetadataResponse.js';
import type { InferenceMetrics } from './metrics.js';
import type { ModelStatisticsBook } from './model-statistics.js';
import { fullShape, type ExecutionProvider, type LoadedModel } from './repository.js';
import { decodeRequest, requestTimeout } from './server-request.js';
import { resolveVersion, shmStatus, StatusError } from './server-status.js';
import type { SharedMemoryRegistry } from './shm.js';

/** `deadline` on the performance.now() clock, from a grpc-js call deadline (Date or epoch ms). */
function toPerfDeadline(d: grpc.Deadline | undefined): number | undefined {
  if (d === undefined) return undefined;
  const ms = d instanceof Date ? d.getTime() : d;
  if (!Number.isFinite(ms)) return undefined;
  return performance.now() + (ms - Date.now());
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

export class InferService {
  /** Set by close(): calls answer UNAVAILABLE, readiness turns false. */
  closing = false;

  constructor(
    readonly models: Map<string, LoadedModel>,
    readonly providers: readonly ExecutionProvider[],
    readonly metrics: InferenceMetrics,
    readonly statistics: ModelStatisticsBook,
    /** Undefined when shared memory is off. */
    readonly shm: SharedMemoryRegistry | undefined,
  ) {}

  async infer(
    req: ModelInferRequest__Output,
    call?: { getDeadline(): grpc.Deadline; cancelled: boolean },
  ): Promise<ModelInferResponse> {
    const { metrics, statistics, shm } = this;
    const started = performance.now();
    // Label only known models: request-chosen names must not grow the metric's label set.
    let labels = { model: '', version: '' };
    try {
      if (this.closing) throw new StatusError(grpc.status.UNAVAILABLE, 'server is shutting down');
      const [model, version] = resolveVersion(this.models, req.model_name, req.model_version);
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
  }

  metadata(name: string, version: string): ModelMetadataResponse {
    const [model] = resolveVersion(this.models, name, version);
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
  }

  /** Batcher counters per `model:version`. */
  stats(): Record<string, BatcherStats> {
    const out: Record<string, BatcherStats> = {};
    for (const m of this.models.values()) {
      for (const v of m.versions.values()) out[`${m.name}:${v.version}`] = v.batcher.getStats();
    }
    return out;
  }
}
