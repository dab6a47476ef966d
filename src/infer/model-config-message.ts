/**
 * A loaded model's configuration as Triton's ModelConfig message (the model configuration
 * extension): what `tritonclient`'s get_model_config and perf_analyzer ask for before they send
 * requests. It describes what this server runs: the wire tensors (after Vigil's declared input and
 * output transforms), the versions the policy loaded, and the instances on the provider in use.
 */
import type { ModelConfig } from './generated/inference/ModelConfig.js';
import type { DataType } from './generated/inference/DataType.js';
import type { ExecutionProvider, LoadedModel } from './repository.js';
import type { Datatype } from './tensor.js';

/** KServe datatype names to model_config.proto's DataType (BYTES is Triton's TYPE_STRING). */
const TYPE_OF: Record<Datatype, DataType> = {
  BOOL: 'TYPE_BOOL',
  UINT8: 'TYPE_UINT8',
  UINT16: 'TYPE_UINT16',
  UINT32: 'TYPE_UINT32',
  UINT64: 'TYPE_UINT64',
  INT8: 'TYPE_INT8',
  INT16: 'TYPE_INT16',
  INT32: 'TYPE_INT32',
  INT64: 'TYPE_INT64',
  FP16: 'TYPE_FP16',
  FP32: 'TYPE_FP32',
  FP64: 'TYPE_FP64',
  BYTES: 'TYPE_STRING',
};

/** Triton's backend name for a platform (the pair Triton itself reports for ONNX models). */
function backendOf(platform: string): string {
  return platform === 'onnxruntime_onnx' ? 'onnxruntime' : platform;
}

export function modelConfigMessage(model: LoadedModel, providers: readonly ExecutionProvider[]): ModelConfig {
  const c = model.config;
  const policy = c.versionPolicy;
  return {
    name: model.name,
    platform: model.platform,
    backend: backendOf(model.platform),
    version_policy:
      policy.kind === 'latest'
        ? { latest: { num_versions: policy.numVersions } }
        : policy.kind === 'all'
          ? { all: {} }
          : { specific: { versions: policy.versions } },
    max_batch_size: c.maxBatchSize,
    input: c.inputs.map((t) => ({
      name: t.name,
      data_type: TYPE_OF[t.datatype],
      format: t.format,
      dims: t.dims,
      ...(t.reshape ? { reshape: { shape: t.reshape } } : {}),
    })),
    output: c.outputs.map((t) => ({
      name: t.name,
      data_type: TYPE_OF[t.datatype],
      dims: t.dims,
      ...(t.reshape ? { reshape: { shape: t.reshape } } : {}),
    })),
    instance_group: [
      {
        name: `${model.name}_0`,
        count: c.instanceCount,
        kind: providers.includes('cuda') ? 'KIND_GPU' : 'KIND_CPU',
      },
    ],
    ...(c.dynamicBatching
      ? {
          dynamic_batching: {
            preferred_batch_size: c.dynamicBatching.preferredBatchSize,
            max_queue_delay_microseconds: c.dynamicBatching.maxQueueDelayMicroseconds,
          },
        }
      : {}),
    parameters: Object.fromEntries(Object.entries(c.parameters).map(([k, v]) => [k, { string_value: v }])),
  };
}
