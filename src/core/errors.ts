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

export class InferenceError extends VigilError {
  constructor(
    code: 'VIGIL_ERR_INFER_UNAVAILABLE' | 'VIGIL_ERR_INFER_MODEL' | 'VIGIL_ERR_INFER_BAD_RESPONSE',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

export class PublishError extends VigilError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('VIGIL_ERR_PUBLISH', message, options);
  }
}
