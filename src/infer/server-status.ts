/** How the inference server's failures become gRPC statuses. */
import * as grpc from '@grpc/grpc-js';
import { BatcherClosedError, BatcherExpiredError, BatcherFullError } from './batcher.js';
import type { LoadedModel, ModelVersion } from './repository.js';
import { ShmError } from './shm.js';

/** A failure with the gRPC status it answers with. */
export class StatusError extends Error {
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }
}

/** The model and version a request names, or NOT_FOUND. */
export function resolveVersion(
  models: ReadonlyMap<string, LoadedModel>,
  name: string,
  version: string,
): [LoadedModel, ModelVersion] {
  const model = models.get(name);
  if (!model) throw new StatusError(grpc.status.NOT_FOUND, `unknown model '${name}'`);
  const v = model.versions.get(version || model.latest);
  if (!v) throw new StatusError(grpc.status.NOT_FOUND, `unknown version '${version}' of model '${name}'`);
  return [model, v];
}

/** gRPC status for a shared-memory registry error. */
export function shmStatus(e: unknown): StatusError {
  if (!(e instanceof ShmError)) return new StatusError(grpc.status.INTERNAL, (e as Error).message);
  const code = {
    invalid: grpc.status.INVALID_ARGUMENT,
    'not-found': grpc.status.NOT_FOUND,
    exists: grpc.status.ALREADY_EXISTS,
    exhausted: grpc.status.RESOURCE_EXHAUSTED,
  }[e.kind];
  return new StatusError(code, e.message);
}

export function toStatus(e: unknown): grpc.ServiceError | { code: grpc.status; details: string } {
  if (e instanceof StatusError) return { code: e.code, details: e.message };
  if (e instanceof BatcherFullError) return { code: grpc.status.RESOURCE_EXHAUSTED, details: e.message };
  if (e instanceof BatcherExpiredError) return { code: grpc.status.DEADLINE_EXCEEDED, details: e.message };
  if (e instanceof BatcherClosedError)
    return { code: grpc.status.UNAVAILABLE, details: 'server is shutting down' };
  return { code: grpc.status.INTERNAL, details: `inference failed: ${(e as Error)?.message ?? String(e)}` };
}

/**
 * A stream error as Triton writes it (a message, no status field), led by the gRPC status name so
 * that a client can tell a final answer (a wrong request, a full queue) from one worth repeating as
 * a unary call: `RESOURCE_EXHAUSTED: queue of 'yolov8n' is full`.
 */
export function streamErrorMessage(s: { code: grpc.status; details?: string }): string {
  return `${grpc.status[s.code]}: ${s.details ?? ''}`;
}
