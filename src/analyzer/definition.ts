/**
 * What a user asks for when attaching a stream (HTTP body, NATS request, config file entry, the
 * CLI's one-shot `analyze`), its shape check, and the manager's typed errors.
 */
import { VigilError } from '../core/errors.js';
import { parseStreamDefinition as parseSpec, type StreamDefinition } from '../config/stream-spec.js';

export type ManagerErrorCode =
  | 'VIGIL_ERR_STREAM_EXISTS'
  | 'VIGIL_ERR_STREAM_NOT_FOUND'
  | 'VIGIL_ERR_STREAM_LIMIT'
  | 'VIGIL_ERR_INVALID_ARGUMENT'
  | 'VIGIL_ERR_CLOSED';

export class ManagerError extends VigilError {
  constructor(code: ManagerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

// The stream definition is declared once, in src/config/stream-spec.ts.
export type { StreamDefinition };

/**
 * Checks a definition against the stream spec (unknown keys and bad values are errors naming the
 * key) and returns it typed; a bad one is the caller's fault: VIGIL_ERR_INVALID_ARGUMENT.
 */
export function parseStreamDefinition(input: unknown): StreamDefinition {
  try {
    return parseSpec(input);
  } catch (cause) {
    throw new ManagerError('VIGIL_ERR_INVALID_ARGUMENT', (cause as Error).message, { cause });
  }
}
