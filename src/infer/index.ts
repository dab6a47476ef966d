/** Public surface of the inference stage. Everything else in src/infer is internal. */
export { startInferenceServer, DEFAULT_MAX_MESSAGE_BYTES } from './server.js';
export type { InferenceServer, InferenceServerOptions } from './server.js';
export { InferenceClient, asFloat32 } from './client.js';
export type {
  InferenceClientOptions,
  InferRequest,
  InferResult,
  ModelMetadata,
  ServerMetadata,
  Tensor,
  TensorMetadata,
} from './client.js';
export { createDetector } from './detector.js';
export type { Detector, DetectorOptions, DetectResult } from './detector.js';
export { COCO_LABELS, letterbox, postprocess } from './yolo.js';
export type { Datatype } from './tensor.js';
export type { ExecutionProvider, Logger } from './repository.js';
