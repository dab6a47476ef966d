/** The gRPC handlers of the KServe v2 service over an InferService. */
import * as grpc from '@grpc/grpc-js';
import type { GRPCInferenceServiceHandlers } from './generated/inference/GRPCInferenceService.js';
import type { ModelInferRequest__Output } from './generated/inference/ModelInferRequest.js';
import type { ModelStreamInferResponse } from './generated/inference/ModelStreamInferResponse.js';
import type { InferService } from './infer-service.js';
import { modelConfigMessage } from './model-config-message.js';
import { resolveVersion, shmStatus, StatusError, streamErrorMessage, toStatus } from './server-status.js';
import { SHM_EXTENSION, type SharedMemoryRegistry } from './shm.js';

export const SERVER_NAME = 'vigil';
export const SERVER_VERSION = '0.1.0';

/** Answers a unary call with what `fn` returns, or with the status of what it throws. */
function answer<T>(cb: (err: ReturnType<typeof toStatus> | null, value?: T) => void, fn: () => T): void {
  let value: T;
  try {
    value = fn();
  } catch (e) {
    cb(toStatus(e));
    return;
  }
  cb(null, value);
}

/** `fn` on the shared-memory registry: UNIMPLEMENTED when it is off, its errors as statuses. */
function onRegistry<T>(shm: SharedMemoryRegistry | undefined, fn: (reg: SharedMemoryRegistry) => T): T {
  if (!shm) throw new StatusError(grpc.status.UNIMPLEMENTED, 'shared memory is not enabled on this server');
  try {
    return fn(shm);
  } catch (e) {
    throw e instanceof StatusError ? e : shmStatus(e);
  }
}

export function serviceHandlers(svc: InferService): GRPCInferenceServiceHandlers {
  const { models, shm, statistics } = svc;
  return {
    ServerLive: (_call, cb) => cb(null, { live: true }),
    ServerReady: (_call, cb) => cb(null, { ready: !svc.closing }),
    ModelReady: (call, cb) => {
      const model = models.get(call.request.name);
      const ready = !svc.closing && !!model && model.versions.has(call.request.version || model.latest);
      cb(null, { ready });
    },
    ServerMetadata: (_call, cb) =>
      cb(null, {
        name: SERVER_NAME,
        version: SERVER_VERSION,
        extensions: [
          'model_stream_infer',
          'model_configuration',
          'statistics',
          'model_repository',
          ...(shm ? [SHM_EXTENSION] : []),
        ],
      }),
    ModelConfig: (call, cb) =>
      answer(cb, () => {
        const [model] = resolveVersion(models, call.request.name, call.request.version);
        return { config: modelConfigMessage(model, svc.providers) };
      }),
    ModelStatistics: (call, cb) =>
      answer(cb, () => {
        const { name, version } = call.request;
        // A named model (and version) must exist, as with every other per-model call.
        if (name) resolveVersion(models, name, version);
        else if (version) throw new StatusError(grpc.status.INVALID_ARGUMENT, 'a version needs a model name');
        return { model_stats: statistics.snapshot(name, version) };
      }),
    RepositoryIndex: (call, cb) => {
      // One repository, every model loaded at start: each loaded version is READY until shutdown.
      const state = svc.closing ? 'UNAVAILABLE' : 'READY';
      const reason = svc.closing ? 'server is shutting down' : '';
      const ready = call.request.ready;
      cb(null, {
        models:
          ready && svc.closing
            ? []
            : [...models.values()].flatMap((m) =>
                [...m.versions.keys()].map((version) => ({ name: m.name, version, state, reason })),
              ),
      });
    },
    SystemSharedMemoryStatus: (call, cb) =>
      answer(cb, () => {
        const regions: Record<string, { name: string; key: string; offset: number; byte_size: number }> = {};
        for (const r of onRegistry(shm, (reg) => reg.status(call.request.name)))
          regions[r.name] = { name: r.name, key: r.key, offset: r.offset, byte_size: r.byteSize };
        return { regions };
      }),
    SystemSharedMemoryRegister: (call, cb) =>
      answer(cb, () => {
        const { name, key, offset, byte_size } = call.request;
        onRegistry(shm, (reg) => {
          if (svc.closing) throw new StatusError(grpc.status.UNAVAILABLE, 'server is shutting down');
          reg.register(name, key, Number(offset), Number(byte_size));
        });
        return {};
      }),
    SystemSharedMemoryUnregister: (call, cb) =>
      answer(cb, () => {
        onRegistry(shm, (reg) => reg.unregister(call.request.name));
        return {};
      }),
    ModelMetadata: (call, cb) => answer(cb, () => svc.metadata(call.request.name, call.request.version)),
    ModelInfer: (call, cb) => {
      svc.infer(call.request, call).then(
        (res) => cb(null, res),
        (e: unknown) => cb(toStatus(e)),
      );
    },
    ModelStreamInfer: (call) => streamInfer(svc, call),
  };
}

/** ModelStreamInfer: each request answered on the stream, in any order; an error as Triton writes it. */
function streamInfer(
  svc: InferService,
  call: Parameters<GRPCInferenceServiceHandlers['ModelStreamInfer']>[0],
): void {
  let pending = 0;
  let ended = false;
  const maybeEnd = (): void => {
    if (ended && pending === 0) call.end();
  };
  call.on('data', (req: ModelInferRequest__Output) => {
    pending++;
    svc
      .infer(req, call)
      .then(
        (res): ModelStreamInferResponse => ({ infer_response: res }),
        (e: unknown): ModelStreamInferResponse => ({
          error_message: streamErrorMessage(toStatus(e)),
          infer_response: { id: req.id, model_name: req.model_name, model_version: req.model_version },
        }),
      )
      .then((msg) => {
        if (!call.cancelled && call.writable) call.write(msg);
      })
      .finally(() => {
        pending--;
        maybeEnd();
      });
  });
  call.on('end', () => {
    ended = true;
    maybeEnd();
  });
  call.on('error', () => undefined);
}
