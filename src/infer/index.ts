/** Public surface of the inference stage. Everything else in src/infer is internal. */
export { startInferenceServer, DEFAULT_MAX_MESSAGE_BYTES } from './server.js';
export type { InferenceServer, InferenceServerOptions, ServerTlsOptions } from './server.js';
export { InferenceClient, asFloat32, asStrings, bytesTensor } from './client.js';
export type {
  ClientHealth,
  ClientTlsOptions,
  InferenceClientOptions,
  InferRequest,
  InferResult,
  ModelMetadata,
  ServerMetadata,
  Tensor,
  TensorMetadata,
} from './client.js';
export type { BreakerState, CircuitBreakerOptions } from './breaker.js';
export type { BatcherStats } from './batcher.js';
export { createDetector } from './detector.js';
export type { Detector, DetectorOptions, DetectResult } from './detector.js';
export { createOcr, loadOcrDictionary } from './ocr.js';
export type { Ocr, OcrOptions, OcrResult, TextLine } from './ocr.js';
export { createVad, pcmToFloat32, VAD_SAMPLE_RATE } from './vad.js';
export type { Vad, VadOptions, VadSegment, VadUpdate, VadWindow } from './vad.js';
export { createKServeTextGenerator, createOpenAIChat, encodeJpeg } from './llm.js';
export type { Captioner, KServeTextOptions, OpenAIChat, OpenAIChatOptions, TextGenerator } from './llm.js';
export { COCO_LABELS, letterbox, postprocess } from './yolo.js';
export type { Datatype } from './tensor.js';
export type { ExecutionProvider, Logger } from './repository.js';
