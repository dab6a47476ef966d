/** Every Vigil error carries a stable `code`; messages name the source and never carry secrets. */
export class VigilError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class ConfigError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('VIGIL_ERR_CONFIG', message, options);
  }
}

export class SourceError extends VigilError {
  constructor(
    code:
      | 'VIGIL_ERR_SOURCE_SCHEME'
      | 'VIGIL_ERR_SOURCE_URL'
      | 'VIGIL_ERR_SOURCE_NOT_FOUND'
      | 'VIGIL_ERR_SOURCE_DECODE'
      | 'VIGIL_ERR_SOURCE_UNREACHABLE'
      | 'VIGIL_ERR_SOURCE_AUTH'
      | 'VIGIL_ERR_SOURCE_PIPELINE'
      | 'VIGIL_ERR_SOURCE_NO_FRAMES',
    readonly source: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export type InferenceErrorCode =
  | 'VIGIL_ERR_INFER_UNAVAILABLE'
  | 'VIGIL_ERR_INFER_MODEL'
  | 'VIGIL_ERR_INFER_BAD_RESPONSE'
  /** Unknown model or version (gRPC NOT_FOUND). */
  | 'VIGIL_ERR_INFER_NOT_FOUND'
  /** Bad tensor name, datatype, shape or byte size (gRPC INVALID_ARGUMENT). */
  | 'VIGIL_ERR_INFER_INVALID_ARGUMENT'
  /** The server's queue is full (gRPC RESOURCE_EXHAUSTED); retry later or drop. */
  | 'VIGIL_ERR_INFER_RESOURCE_EXHAUSTED'
  /** The call's deadline passed (gRPC DEADLINE_EXCEEDED). */
  | 'VIGIL_ERR_INFER_DEADLINE'
  /** The client or server was closed. */
  | 'VIGIL_ERR_INFER_CLOSED'
  /** A model in the repository could not be loaded (bad config or ONNX file). */
  | 'VIGIL_ERR_INFER_REPOSITORY'
  /** The server refused a request whose inputs were in shared memory (the client resends the bytes). */
  | 'VIGIL_ERR_INFER_SHM_REFUSED';

export class InferenceError extends VigilError {
  /** The gRPC status code behind this error, when it came from (or maps to) a gRPC call. */
  readonly grpcCode: number | undefined;
  constructor(code: InferenceErrorCode, message: string, options?: { cause?: unknown; grpcCode?: number }) {
    super(code, message, options);
    this.grpcCode = options?.grpcCode;
  }
}

export class PublishError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('VIGIL_ERR_PUBLISH', message, options);
  }
}
