/** Public surface of observability: the analyzer's metrics, runner instrumentation, /metrics over HTTP. */
export {
  AnalyzerMetrics,
  StreamMetrics,
  normalizeDropReason,
  STAGES,
  DROP_REASONS,
  PUBLISH_KINDS,
  INFERENCE_RESULTS,
  OVERFLOW_STREAM,
  type AnalyzerMetricsOptions,
  type CounterSource,
  type DropReason,
  type InferenceResult,
  type PublishKind,
  type PublisherNumbers,
  type Stage,
} from './metrics.js';
export { instrumentStream } from './instrument.js';
export { instrumentManagerDeps, observeManager } from './manager.js';
export {
  metricsHandler,
  metricsMount,
  startMetricsServer,
  type MetricsServer,
  type MetricsSource,
} from './http.js';
