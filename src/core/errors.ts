/**
 * Every Vigil error carries a stable `code` from the registry below; messages name the source and
 * never carry secrets. The registry is the one place that maps a code to its HTTP status (control
 * API replies, src/control) and to the `vigil` command's exit status (src/cli): add a code here
 * and both follow.
 */

/** Exit statuses of the `vigil` command that scripts can rely on. */
export const EXIT = {
  /** Success. */
  ok: 0,
  /** Runtime failure: a dependency failed, the analyzer is unreachable, an internal error. */
  failure: 1,
  /** Bad usage, bad config file, bad source or a request the analyzer rejected as malformed. */
  usage: 2,
  /** Unknown stream (detach / status of a name that is not attached). */
  notFound: 3,
  /** Conflict: the name is already attached, or the analyzer's stream limit is reached. */
  conflict: 4,
  /** Not authorized (control token, NATS credentials). */
  unauthorized: 5,
  /** Interrupted before a file was fully analysed (Ctrl-C). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export interface ErrorCodeInfo {
  /** HTTP status of a control API reply carrying this code. */
  readonly http: number;
  /** Exit status of a `vigil` command failing with this code. */
  readonly exit: ExitCode;
  /** What the code means, for docs and help. */
  readonly summary: string;
}

const usage = (http: number, summary: string): ErrorCodeInfo => ({ http, exit: EXIT.usage, summary });
const failure = (summary: string, http = 500): ErrorCodeInfo => ({ http, exit: EXIT.failure, summary });

/** The registry of error codes: each code's HTTP status, CLI exit status and meaning. */
export const ERROR_CODES = {
  // Requests, usage and configuration
  VIGIL_ERR_USAGE: usage(400, 'bad command line (unknown flag, bad value, missing argument)'),
  VIGIL_ERR_CONFIG: usage(400, 'bad configuration (file, key, value, stream definition); the key is named'),
  VIGIL_ERR_BAD_REQUEST: usage(400, 'malformed control request (not JSON, empty, missing id)'),
  VIGIL_ERR_INVALID_ARGUMENT: usage(400, 'a control request or stream definition with a bad value'),
  VIGIL_ERR_METHOD: usage(405, 'HTTP method not allowed on this path'),
  VIGIL_ERR_TOO_LARGE: usage(413, 'request body over the size limit'),
  VIGIL_ERR_FORBIDDEN: {
    http: 403,
    exit: EXIT.unauthorized,
    summary: 'a cross-site request (foreign Host or Origin) refused',
  },
  VIGIL_ERR_MEDIA_TYPE: usage(415, 'a write that is not Content-Type: application/json'),
  VIGIL_ERR_UNKNOWN_OP: failure('unknown control operation or path', 404),
  VIGIL_ERR_UNAUTHORIZED: { http: 401, exit: EXIT.unauthorized, summary: 'missing or wrong control token' },
  // Streams (the manager)
  VIGIL_ERR_STREAM_NOT_FOUND: {
    http: 404,
    exit: EXIT.notFound,
    summary: 'no stream of that name is attached',
  },
  VIGIL_ERR_STREAM_EXISTS: {
    http: 409,
    exit: EXIT.conflict,
    summary: 'a stream of that name is already attached',
  },
  VIGIL_ERR_STREAM_LIMIT: {
    http: 429,
    exit: EXIT.conflict,
    summary: "the analyzer's stream limit is reached",
  },
  VIGIL_ERR_CLOSED: failure('the analyzer is shutting down', 503),
  VIGIL_ERR_STREAM: failure('a stream failed with an unexpected error'),
  VIGIL_ERR_STREAM_FRAME: failure('a frame of the wrong format or size reached a stream stage'),
  VIGIL_ERR_STREAM_HASH: failure('a perceptual hash of the wrong length'),
  // Sources (ingest)
  VIGIL_ERR_SOURCE_SCHEME: usage(400, 'unsupported source URL scheme'),
  VIGIL_ERR_SOURCE_URL: usage(400, 'malformed source URL'),
  VIGIL_ERR_SOURCE_NOT_FOUND: usage(400, 'the source file or stream does not exist'),
  VIGIL_ERR_SOURCE_DECODE: usage(400, 'the source cannot be decoded as video'),
  VIGIL_ERR_SOURCE_UNREACHABLE: usage(400, 'the source host cannot be reached'),
  VIGIL_ERR_SOURCE_AUTH: usage(400, 'the source refused the credentials'),
  VIGIL_ERR_SOURCE_PLAYLIST: usage(400, 'an HLS playlist (.m3u8) that is empty or cannot be parsed'),
  VIGIL_ERR_SOURCE_PIPELINE: usage(400, 'the GStreamer pipeline failed'),
  VIGIL_ERR_SOURCE_NO_FRAMES: usage(400, 'the source delivered no frame in time'),
  VIGIL_ERR_SOURCE_STALLED: usage(400, 'a live source stopped delivering frames'),
  // Inference
  VIGIL_ERR_INFER_UNAVAILABLE: failure('the inference server cannot be reached'),
  VIGIL_ERR_INFER_MODEL: failure('the model failed or is not ready'),
  VIGIL_ERR_INFER_BAD_RESPONSE: failure('the inference server answered something unexpected'),
  VIGIL_ERR_INFER_NOT_FOUND: failure('unknown model or version (gRPC NOT_FOUND)'),
  VIGIL_ERR_INFER_INVALID_ARGUMENT: failure(
    'bad tensor name, datatype, shape or size (gRPC INVALID_ARGUMENT)',
  ),
  VIGIL_ERR_INFER_RESOURCE_EXHAUSTED: failure(
    "the inference server's queue is full (gRPC RESOURCE_EXHAUSTED)",
  ),
  VIGIL_ERR_INFER_DEADLINE: failure("the inference call's deadline passed (gRPC DEADLINE_EXCEEDED)"),
  VIGIL_ERR_INFER_CLOSED: failure('the inference client or server was closed'),
  VIGIL_ERR_INFER_REPOSITORY: failure('a model in the repository could not be loaded'),
  VIGIL_ERR_INFER_SHM_REFUSED: failure(
    'the server refused inputs in shared memory (the client resends the bytes)',
  ),
  // History (search and ask)
  VIGIL_ERR_HISTORY_QUERY: usage(400, 'a search or question the history cannot take (bad filter or text)'),
  VIGIL_ERR_HISTORY_RANGE: usage(400, 'a time range that is backwards or out of range'),
  VIGIL_ERR_HISTORY_TIMEOUT: failure('a history query ran past its time bound', 503),
  VIGIL_ERR_HISTORY_DISABLED: failure('this analyzer keeps no history index', 503),
  VIGIL_ERR_HISTORY_BACKEND: failure('the history index (SQLite or PostgreSQL) failed'),
  VIGIL_ERR_EVIDENCE_NOT_FOUND: {
    http: 404,
    exit: EXIT.notFound,
    summary: 'no such evidence image (expired from the object store, or never stored)',
  },
  VIGIL_ERR_EVIDENCE_UNAVAILABLE: failure('the evidence store (object store or report) cannot be read', 503),
  // NATS and publishing
  VIGIL_ERR_NATS_UNREACHABLE: failure('no NATS server could be reached'),
  VIGIL_ERR_NATS_AUTH: { http: 500, exit: EXIT.unauthorized, summary: 'NATS refused the credentials' },
  VIGIL_ERR_NATS_TLS: failure('the TLS handshake with NATS failed'),
  VIGIL_ERR_NATS_SERVER: failure('the local nats-server could not be started'),
  VIGIL_ERR_PUBLISH: failure('a message could not be published'),
  // The CLI's remote calls and anything else
  VIGIL_ERR_UNREACHABLE: failure('the analyzer (vigil run) cannot be reached'),
  VIGIL_ERR_REMOTE: failure('the analyzer answered with an error without a known code'),
  VIGIL_ERR_INTERNAL: failure('an internal error (see the analyzer log)'),
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/** HTTP status for a code (500 for a code not in the registry). */
export function httpStatusOf(code: string): number {
  return isErrorCode(code) ? ERROR_CODES[code].http : 500;
}

/** `vigil` exit status for a code (1 for a code not in the registry). */
export function exitCodeOf(code: string): ExitCode {
  return isErrorCode(code) ? ERROR_CODES[code].exit : EXIT.failure;
}

export class VigilError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
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

/** The source codes (`VIGIL_ERR_SOURCE_…`). */
export type SourceErrorCode = Extract<ErrorCode, `VIGIL_ERR_SOURCE_${string}`>;

export class SourceError extends VigilError {
  constructor(
    code: SourceErrorCode,
    readonly source: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
  }
}

/** The inference codes (`VIGIL_ERR_INFER_…`, see the registry). */
export type InferenceErrorCode = Extract<ErrorCode, `VIGIL_ERR_INFER_${string}`>;

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
