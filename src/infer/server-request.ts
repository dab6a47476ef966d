/**
 * A ModelInfer request as the server reads it: validated against the model config, its tensors
 * decoded from the message or from shared memory (Triton's `shared_memory_*` parameters), and the
 * deadline its own `timeout` parameter sets.
 */
import * as grpc from '@grpc/grpc-js';
import type { ModelInferRequest__Output } from './generated/inference/ModelInferRequest.js';
import { fullShape, type InferItem, type InputTensor, type LoadedModel } from './repository.js';
import { StatusError } from './server-status.js';
import type { SharedMemoryRegistry } from './shm.js';
import {
  contentsLength,
  contentsToTyped,
  deserializeBytes,
  elementCount,
  elementSize,
  rawToTyped,
} from './tensor.js';

/** Where a tensor lives in shared memory (Triton's `shared_memory_*` tensor parameters). */
export interface ShmRef {
  region: string;
  offset: number;
  byteSize: number;
}

type TensorParameters = ModelInferRequest__Output['inputs'][number]['parameters'];

/** The tensor's shared-memory reference, undefined when it has none; throws `bad` on a half-given one. */
function shmRef(
  params: TensorParameters | undefined,
  what: string,
  bad: (m: string) => never,
): ShmRef | undefined {
  const value = (key: string): string | number | undefined => {
    const p = params?.[key];
    if (!p) return undefined;
    if (p.parameter_choice === 'string_param') return p.string_param;
    if (p.parameter_choice === 'int64_param') return Number(p.int64_param);
    if (p.parameter_choice === 'uint64_param') return Number(p.uint64_param);
    return undefined;
  };
  const region = value('shared_memory_region');
  const size = value('shared_memory_byte_size');
  const offset = value('shared_memory_offset') ?? 0;
  if (region === undefined && size === undefined) return undefined;
  if (typeof region !== 'string' || region === '')
    bad(`${what}: shared_memory_byte_size given without shared_memory_region`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
    bad(`${what}: shared_memory_region needs an integer shared_memory_byte_size`);
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0)
    bad(`${what}: shared_memory_offset must be an integer >= 0`);
  return { region: region as string, offset: offset as number, byteSize: size as number };
}

/**
 * The deadline a request's own `timeout` parameter sets (Triton's: microseconds from receipt), on
 * the performance.now() clock; what a client on a stream, which has no per-message gRPC deadline,
 * sends instead.
 */
export function requestTimeout(req: ModelInferRequest__Output, receivedAt: number): number | undefined {
  const p = req.parameters?.['timeout'];
  if (!p) return undefined;
  const us =
    p.parameter_choice === 'int64_param'
      ? Number(p.int64_param)
      : p.parameter_choice === 'uint64_param'
        ? Number(p.uint64_param)
        : NaN;
  if (!Number.isFinite(us) || us <= 0) return undefined;
  return receivedAt + us / 1000;
}

/** Validates a request against the model config and decodes its tensors (inputs in shared memory are read from `shm`). */
export function decodeRequest(
  model: LoadedModel,
  req: ModelInferRequest__Output,
  shm?: SharedMemoryRegistry,
): InferItem & { shmOutputs: Map<string, ShmRef> } {
  const { config } = model;
  const bad = (m: string): never => {
    throw new StatusError(grpc.status.INVALID_ARGUMENT, `model '${model.name}': ${m}`);
  };
  const fromShm = req.inputs.map((t) => {
    const ref = shmRef(t.parameters, `input '${t.name}'`, bad);
    if (ref && !shm) bad(`input '${t.name}': shared memory is not enabled on this server`);
    return ref;
  });
  // As in Triton: raw_input_contents holds one entry per input NOT in shared memory, in order.
  const inMessage = fromShm.filter((r) => !r).length;
  const raw = req.raw_input_contents;
  if (raw.length > 0 && raw.length !== inMessage) {
    bad(`raw_input_contents has ${raw.length} entries for ${inMessage} inputs not in shared memory`);
  }
  let rawIndex = 0;
  const inputs = new Map<string, InputTensor>();
  let batch: number | undefined;
  req.inputs.forEach((t, i) => {
    const ref = fromShm[i];
    const ci = config.inputs.find((c) => c.name === t.name);
    if (!ci) bad(`unknown input '${t.name}' (expected: ${config.inputs.map((c) => c.name).join(', ')})`);
    if (inputs.has(t.name)) bad(`input '${t.name}' given twice`);
    if (t.datatype !== ci!.datatype)
      bad(`input '${t.name}': datatype ${t.datatype || '(none)'}, model expects ${ci!.datatype}`);
    const shape = t.shape.map(Number);
    const expected = fullShape(config, ci!);
    const fits =
      shape.length === expected.length &&
      shape.every((d, k) => Number.isInteger(d) && d >= 1 && (expected[k] === -1 || expected[k] === d));
    if (!fits) bad(`input '${t.name}': shape [${shape}] does not match [${expected}]`);
    if (config.maxBatchSize > 0) {
      const n = shape[0]!;
      if (n > config.maxBatchSize)
        bad(`input '${t.name}': batch ${n} exceeds max_batch_size ${config.maxBatchSize}`);
      if (batch !== undefined && batch !== n)
        bad(`input '${t.name}': batch ${n} differs from other inputs' ${batch}`);
      batch = n;
    }
    const dt = ci!.datatype;
    const count = elementCount(shape);
    let bytes: Buffer | undefined;
    if (ref) {
      if (t.contents && contentsLength(dt, t.contents) > 0)
        bad(`input '${t.name}': both contents and shared_memory_region`);
      try {
        bytes = shm!.read(ref.region, ref.offset, ref.byteSize, `input '${t.name}'`);
      } catch (e) {
        bad((e as Error).message);
      }
    } else if (raw.length > 0) {
      bytes = raw[rawIndex++]!;
    }
    if (dt === 'BYTES') {
      let elements: Buffer[];
      if (bytes) {
        try {
          elements = deserializeBytes(bytes);
        } catch (e) {
          bad(`input '${t.name}': malformed BYTES raw_input_contents (${(e as Error).message})`);
        }
      } else {
        elements = (t.contents?.bytes_contents ?? []).map((b) => Buffer.from(b));
      }
      if (elements!.length !== count)
        bad(`input '${t.name}': ${elements!.length} BYTES elements, shape [${shape}] needs ${count}`);
      inputs.set(t.name, { datatype: dt, shape, data: elements! });
      return;
    }
    let data;
    if (bytes) {
      if (!ref && t.contents && contentsLength(dt, t.contents) > 0)
        bad(`input '${t.name}': both contents and raw_input_contents`);
      const want = count * elementSize(dt);
      if (bytes.byteLength !== want) {
        bad(
          `input '${t.name}': ${ref ? 'shared_memory_byte_size' : 'raw_input_contents'} has ${bytes.byteLength} bytes, shape [${shape}] ${dt} needs ${want}`,
        );
      }
      data = rawToTyped(dt, bytes, ref !== undefined);
    } else {
      if (!t.contents) bad(`input '${t.name}': no data (neither contents nor raw_input_contents)`);
      data = contentsToTyped(dt, t.contents!);
      if (!data) bad(`input '${t.name}': ${dt} must be sent in raw_input_contents`);
      if (data!.length !== count)
        bad(`input '${t.name}': contents has ${data!.length} elements, shape [${shape}] needs ${count}`);
    }
    inputs.set(t.name, { datatype: dt, shape, data: data! });
  });
  for (const ci of config.inputs) if (!inputs.has(ci.name)) bad(`missing input '${ci.name}'`);
  const shmOutputs = new Map<string, ShmRef>();
  const outputs =
    req.outputs.length > 0
      ? req.outputs.map((o) => {
          if (!config.outputs.some((c) => c.name === o.name)) {
            bad(
              `unknown output '${o.name}' (model outputs: ${config.outputs.map((c) => c.name).join(', ')})`,
            );
          }
          const ref = shmRef(o.parameters, `output '${o.name}'`, bad);
          if (ref) {
            if (!shm) bad(`output '${o.name}': shared memory is not enabled on this server`);
            try {
              shm!.status(ref.region);
            } catch {
              bad(`output '${o.name}': shared memory region '${ref.region}' is not registered`);
            }
            shmOutputs.set(o.name, ref);
          }
          return o.name;
        })
      : config.outputs.map((o) => o.name);
  return { inputs, outputs, shmOutputs };
}
