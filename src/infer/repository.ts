/**
 * A model repository in Triton's layout: `<repo>/<model>/config.pbtxt` (optional: without it the
 * config is completed from the ONNX file, like Triton's auto-complete) and
 * `<repo>/<model>/<version>/model.onnx`. Every model loads at start; a broken one fails the load
 * with an error naming it. Each version owns `instanceCount` onnxruntime sessions and one dynamic
 * batcher in front of them.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InferenceError } from '../core/errors.js';
import { DynamicBatcher, type BatchInfo } from './batcher.js';
import {
  createWorkerSession,
  type PlainTensor,
  type RunOptions,
  type RunResult,
  type ValueMetadata,
  type WorkerSession,
  type WorkerSessionOptions,
} from './ort-worker.js';
import { CANDIDATE_FIELDS } from './yolo.js';
import { parseModelConfig, type ModelConfig, type TensorConfig, type VersionPolicy } from './pbtxt.js';
import { switchedOff } from '../core/env-switch.js';
import {
  datatypeFromOrt,
  datatypeToOrt,
  elementCount,
  elementSize,
  rawToTyped,
  serializeBytes,
  type Datatype,
  type NumericArray,
} from './tensor.js';
export { deserializeBytes, serializeBytes } from './tensor.js';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
}

/** Declared in config.pbtxt as `parameters { key: "vigil_input_transform" value: { string_value: ... } }`. */
export const INPUT_TRANSFORM_PARAMETER = 'vigil_input_transform';
/** UINT8 [N,H,W,C] on the wire → FP32 [N,C,H,W] / 255 into the ONNX graph. */
export const UINT8_NHWC_TO_FLOAT_NCHW_DIV255 = 'uint8_nhwc_to_float_nchw_div255';
/** UINT8 [N,H,W,C] → FP32 [N,C,H,W] (x/255 - mean[c]) / std[c], with `vigil_input_mean` / `vigil_input_std` ("a,b,c"). */
export const UINT8_NHWC_TO_FLOAT_NCHW = 'uint8_nhwc_to_float_nchw';
export const INPUT_MEAN_PARAMETER = 'vigil_input_mean';
export const INPUT_STD_PARAMETER = 'vigil_input_std';
/**
 * A built-in deterministic text backend for tests and demos (no model file): each element of the
 * BYTES input `text_input` becomes `vigil_text_template` with `{text_input}` replaced by it, as the
 * BYTES output `text_output`. It speaks the same tensors as Triton's vLLM backend so the
 * KServe text-generation adapter can be tested against a real server; it is not a language model.
 */
export const TEXT_TEMPLATE_PLATFORM = 'vigil_text_template';
/**
 * Server-side output reduction for YOLOv8-style outputs: `vigil_output_transform: yolo_candidates`
 * adds the declared output `candidates` FP32 [K, 6] (cx, cy, w, h, score, class) computed from the
 * ONNX output named by `vigil_candidates_source` (default output0), keeping anchors whose best class
 * score ≥ `vigil_candidates_threshold` (default 0.1), at most `vigil_candidates_max` (default 1000).
 */
export const OUTPUT_TRANSFORM_PARAMETER = 'vigil_output_transform';
export const YOLO_CANDIDATES = 'yolo_candidates';
export const CANDIDATES_OUTPUT = 'candidates';
export const TEXT_TEMPLATE_PARAMETER = 'vigil_text_template';

/** The input transform a model declares (see README). */
export interface InputTransform {
  mean: number[];
  std: number[];
}

export interface RepositoryOptions {
  executionProviders: ExecutionProvider[];
  intraOpNumThreads?: number;
  /** false: onnxruntime's intra-op threads sleep between runs instead of spinning (kinder to CPUs shared with other processes). */
  intraOpSpinning?: boolean;
  maxQueueSize: number;
  logger: Logger;
  /**
   * Run each model once at load, on zeros at its largest batch (default true): onnxruntime's
   * memory then reaches its size for the largest batch before any request, instead of in a step
   * the first time requests are batched (see `warmUp`).
   */
  warmup?: boolean;
  /** Called after every batch (metrics). */
  onBatch?: (model: string, version: string, info: BatchInfo) => void;
}

/** One decoded input tensor of one request. BYTES tensors hold one Buffer per element. */
export interface InputTensor {
  datatype: Datatype;
  shape: number[];
  data: NumericArray | Buffer[];
}

export interface InferItem {
  inputs: Map<string, InputTensor>;
  /** Output names to return (validated). */
  outputs: string[];
  /** The caller's deadline on the performance.now() clock, if any. */
  deadline?: number;
  /** True once the caller went away. */
  cancelled?: () => boolean;
}

export interface OutputTensor {
  name: string;
  datatype: Datatype;
  shape: number[];
  /** Raw little-endian bytes. */
  data: Buffer;
}

interface OnnxTensorInfo {
  name: string;
  type: string;
  /** Fixed dims as numbers, symbolic ones as -1. */
  shape: number[];
}

export interface ModelVersion {
  version: string;
  batcher: DynamicBatcher<InferItem, OutputTensor[]>;
  sessions: WorkerSession[];
}

export interface CandidatesTransform {
  source: string;
  threshold: number;
  max: number;
}

export interface LoadedModel {
  name: string;
  config: ModelConfig;
  /** The declared `candidates` output, when the model has the yolo_candidates output transform. */
  candidates?: CandidatesTransform;
  /** `onnxruntime_onnx` or the built-in `vigil_text_template`. */
  platform: string;
  /** Input transform applied before the graph (see README), or undefined. */
  inputTransform: InputTransform | undefined;
  /** Loaded versions (as chosen by version_policy), ascending. */
  versions: Map<string, ModelVersion>;
  /** Highest loaded version. */
  latest: string;
}

function fail(model: string, message: string, cause?: unknown): never {
  throw new InferenceError('VIGIL_ERR_INFER_REPOSITORY', `model '${model}': ${message}`, { cause });
}

function onnxInfo(meta: readonly ValueMetadata[], model: string): OnnxTensorInfo[] {
  return meta.map((m) => {
    if (!m.isTensor) fail(model, `ONNX value '${m.name}' is not a tensor`);
    return {
      name: m.name,
      type: m.type,
      shape: m.shape.map((d) => (typeof d === 'number' && d > 0 ? d : -1)),
    };
  });
}

/** Triton-style auto-complete for a model without config.pbtxt: every tensor as the ONNX declares it. */
function autoConfig(name: string, inputs: OnnxTensorInfo[], outputs: OnnxTensorInfo[]): ModelConfig {
  const tensor = (t: OnnxTensorInfo): TensorConfig => {
    const datatype = datatypeFromOrt(t.type);
    if (!datatype) fail(name, `ONNX tensor '${t.name}' has unsupported type ${t.type}`);
    return { name: t.name, datatype, dims: t.shape, format: 'FORMAT_NONE' };
  };
  return {
    name,
    platform: 'onnxruntime_onnx',
    maxBatchSize: 0,
    inputs: inputs.map(tensor),
    outputs: outputs.map(tensor),
    instanceCount: 1,
    parameters: {},
    versionPolicy: { kind: 'latest', numVersions: 1 },
  };
}

/** The full shape (batch dim included, -1 for it) of a config tensor. */
export function fullShape(config: ModelConfig, t: TensorConfig): number[] {
  return config.maxBatchSize > 0 ? [-1, ...t.dims] : [...t.dims];
}

function dimsCompatible(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === -1 || b[i] === -1 || d === b[i]);
}

/** Checks the config against the ONNX graph; returns whether dim 0 is fixed to 1 (runs split per item). */
function checkAgainstOnnx(
  name: string,
  config: ModelConfig,
  transform: InputTransform | undefined,
  inputs: OnnxTensorInfo[],
  outputs: OnnxTensorInfo[],
  candidates?: CandidatesTransform,
): boolean {
  let fixedBatchOne = false;
  const checkBatchDim = (t: OnnxTensorInfo): void => {
    if (config.maxBatchSize === 0) return;
    const d0 = t.shape[0];
    if (d0 === 1) fixedBatchOne = true;
    else if (d0 !== -1) fail(name, `max_batch_size > 0 but ONNX tensor '${t.name}' has fixed dim 0 = ${d0}`);
  };
  for (const ci of config.inputs) {
    const oi = inputs.find((t) => t.name === ci.name);
    if (!oi)
      fail(
        name,
        `config input '${ci.name}' is not an input of the ONNX graph (${inputs.map((t) => t.name).join(', ')})`,
      );
    checkBatchDim(oi);
    if (transform) {
      const [h, w, c] = ci.dims;
      if (ci.datatype !== 'UINT8' || ci.dims.length !== 3 || c! < 1) {
        fail(
          name,
          `${INPUT_TRANSFORM_PARAMETER} needs input '${ci.name}' TYPE_UINT8 with dims [H, W, C] (C fixed)`,
        );
      }
      if (transform.mean.length !== c) {
        fail(name, `${INPUT_MEAN_PARAMETER}/${INPUT_STD_PARAMETER} need ${c} values (one per channel)`);
      }
      const expected = [config.maxBatchSize > 0 ? -1 : 1, c!, h!, w!];
      if (
        oi.type !== 'float32' ||
        !dimsCompatible(expected, config.maxBatchSize > 0 ? [-1, ...oi.shape.slice(1)] : oi.shape)
      ) {
        fail(
          name,
          `input transform: ONNX input '${oi.name}' is ${oi.type} [${oi.shape}], expected float32 [N,${c},${h},${w}]`,
        );
      }
      continue;
    }
    if (datatypeToOrt(ci.datatype) !== oi.type) {
      fail(name, `input '${ci.name}': config data_type ${ci.datatype} but the ONNX graph wants ${oi.type}`);
    }
    const onnxShape = config.maxBatchSize > 0 ? [-1, ...oi.shape.slice(1)] : oi.shape;
    const seen = ci.reshape
      ? config.maxBatchSize > 0
        ? [-1, ...ci.reshape]
        : ci.reshape
      : fullShape(config, ci);
    if (!dimsCompatible(seen, onnxShape)) {
      fail(
        name,
        `input '${ci.name}': config ${ci.reshape ? 'reshape' : 'dims'} [${ci.reshape ?? ci.dims}] do not fit the ONNX shape [${oi.shape}]`,
      );
    }
    if (ci.reshape && elementCount(ci.reshape.map(Math.abs)) !== elementCount(ci.dims.map(Math.abs))) {
      if (!ci.reshape.includes(-1) && !ci.dims.includes(-1))
        fail(
          name,
          `input '${ci.name}': reshape [${ci.reshape}] has another element count than dims [${ci.dims}]`,
        );
    }
  }
  for (const oi of inputs) {
    if (!config.inputs.some((c) => c.name === oi.name))
      fail(name, `ONNX input '${oi.name}' is missing from config.pbtxt`);
  }
  for (const co of config.outputs) {
    if (candidates && co.name === CANDIDATES_OUTPUT) {
      const src = outputs.find((t) => t.name === candidates.source);
      if (!src || src.type !== 'float32' || src.shape.length !== 3) {
        fail(
          name,
          `${YOLO_CANDIDATES}: ONNX output '${candidates.source}' must be float32 [N, 4 + classes, anchors]`,
        );
      }
      if (
        co.datatype !== 'FP32' ||
        JSON.stringify(co.dims) !== JSON.stringify(config.maxBatchSize > 0 ? [-1, 6] : [1, -1, 6])
      ) {
        fail(name, `${YOLO_CANDIDATES}: output 'candidates' must be TYPE_FP32 with dims [ -1, 6 ]`);
      }
      continue;
    }
    const oo = outputs.find((t) => t.name === co.name);
    if (!oo) fail(name, `config output '${co.name}' is not an output of the ONNX graph`);
    if (datatypeToOrt(co.datatype) !== oo.type) {
      fail(name, `output '${co.name}': config data_type ${co.datatype} but the ONNX graph gives ${oo.type}`);
    }
  }
  return fixedBatchOne;
}

/**
 * Whether onnxruntime keeps its CPU memory arena (VIGIL_ORT_CPU_MEM_ARENA, default on). The arena
 * keeps the memory of the largest batch it has run, for the session's life; off, each run
 * allocates and frees its own.
 */
export function cpuMemArena(env: Readonly<Record<string, string | undefined>>): boolean {
  return !switchedOff(env.VIGIL_ORT_CPU_MEM_ARENA);
}

async function createSession(file: string, opts: RepositoryOptions, model: string): Promise<WorkerSession> {
  const sessionOptions: WorkerSessionOptions = {
    executionProviders: opts.executionProviders,
    graphOptimizationLevel: 'all',
    ...(opts.intraOpNumThreads ? { intraOpNumThreads: opts.intraOpNumThreads } : {}),
    ...(opts.intraOpSpinning === false ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
    ...(cpuMemArena(process.env) ? {} : { enableCpuMemArena: false }),
  };
  try {
    return await createWorkerSession(file, sessionOptions);
  } catch (e) {
    if (opts.executionProviders.includes('cuda')) {
      opts.logger.warn(
        `model '${model}': CUDA execution provider unavailable (${(e as Error).message}); using CPU`,
      );
      try {
        return await createWorkerSession(file, { ...sessionOptions, executionProviders: ['cpu'] });
      } catch (e2) {
        fail(model, `cannot load ${file}: ${(e2 as Error).message}`, e2);
      }
    }
    fail(model, `cannot load ${file}: ${(e as Error).message}`, e);
  }
}

/** Concatenates same-typed arrays (one per request) along dim 0. */
function concat(parts: NumericArray[]): NumericArray {
  if (parts.length === 1) return parts[0]!;
  const total = parts.reduce((n, p) => n + p.length, 0);
  const Ctor = parts[0]!.constructor as new (n: number) => NumericArray;
  const out = new Ctor(total);
  let off = 0;
  for (const p of parts) {
    (out as Uint8Array).set(p as Uint8Array, off);
    off += p.length;
  }
  return out;
}

/**
 * Runs a model once per instance on zeros at its largest batch (max_batch_size, or the fixed shape
 * of a model that does not batch), so that onnxruntime sizes its memory for the largest batch at
 * load (#22 item 6: under attach/detach churn, RSS stepped up by 100-250 MiB the first time four
 * keyframes were batched, whenever that happened). Skipped for inputs with variable dimensions or
 * BYTES; a failure is logged and the model is served anyway.
 */
async function warmUp(
  model: LoadedModel,
  backend: Backend,
  instances: number,
  opts: RepositoryOptions,
): Promise<void> {
  const { config } = model;
  const batch = Math.max(1, config.maxBatchSize);
  const inputs = new Map<string, InputTensor>();
  for (const ci of config.inputs) {
    const size = elementSize(ci.datatype);
    // BYTES has no fixed size; FP16 is left out too (no zero-filled half-float input is built).
    if (size === 0 || ci.datatype === 'FP16' || ci.dims.some((d) => d < 0)) return;
    const shape = config.maxBatchSize > 0 ? [batch, ...ci.dims] : [...ci.dims];
    const zeros = new Uint8Array(elementCount(shape) * size);
    inputs.set(ci.name, { datatype: ci.datatype, shape, data: rawToTyped(ci.datatype, zeros, true) });
  }
  const outputs = model.candidates ? [CANDIDATES_OUTPUT] : config.outputs.slice(0, 1).map((o) => o.name);
  const t0 = performance.now();
  try {
    // One run per instance, at once, so that every session takes one.
    await Promise.all(Array.from({ length: instances }, () => backend.run([{ inputs, outputs }])));
    opts.logger.info(
      `model '${model.name}': warmed up at batch ${batch} in ${Math.round(performance.now() - t0)} ms`,
    );
  } catch (e) {
    opts.logger.warn(`model '${model.name}': warm-up failed (${(e as Error).message}); serving it anyway`);
  }
}

/** Runs one batch of requests; resolves with each request's outputs. */
interface Backend {
  run(items: InferItem[]): Promise<OutputTensor[][]>;
}

/** Batch-dimension size of a request (1 when the model does not batch). */
function itemSize(config: ModelConfig, it: InferItem): number {
  return config.maxBatchSize > 0 ? it.inputs.get(config.inputs[0]!.name)!.shape[0]! : 1;
}

class OnnxBackend implements Backend {
  private readonly free: WorkerSession[];

  constructor(
    private readonly model: LoadedModel,
    sessions: WorkerSession[],
    private readonly fixedBatchOne: boolean,
  ) {
    this.free = [...sessions];
  }

  async run(items: InferItem[]): Promise<OutputTensor[][]> {
    const { config } = this.model;
    const sizes = items.map((it) => itemSize(config, it));
    const total = sizes.reduce((a, b) => a + b, 0);
    const feeds: Record<string, PlainTensor> = {};
    for (const ci of config.inputs) {
      const parts = items.map((it) => it.inputs.get(ci.name)!);
      const first = parts[0]!;
      const data = concat(parts.map((p) => p.data as NumericArray));
      const wire = config.maxBatchSize > 0 ? [total, ...first.shape.slice(1)] : first.shape;
      const transform = this.model.inputTransform;
      if (transform) {
        const [n, h, w, c] = config.maxBatchSize > 0 ? wire : [1, ...wire];
        // The worker converts (UINT8 NHWC → FP32 NCHW), off this thread.
        feeds[ci.name] = {
          type: 'float32',
          data,
          dims: [n!, c!, h!, w!],
          fromUint8Nhwc: {
            mean: Array.from({ length: c! }, (_, k) => transform.mean[k] ?? 0),
            std: Array.from({ length: c! }, (_, k) => transform.std[k] ?? 1),
          },
        };
        continue;
      }
      let shape = wire;
      if (ci.reshape) {
        // Triton's reshape: -1 in the target takes what the wire shape leaves.
        const target = config.maxBatchSize > 0 ? [total, ...ci.reshape] : [...ci.reshape];
        const known = target.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
        shape = target.map((d) => (d === -1 ? data.length / known : d));
      }
      feeds[ci.name] = { type: datatypeToOrt(ci.datatype), data, dims: shape };
    }
    const cand = this.model.candidates;
    // Only what some request asked for comes back from the worker; `candidates` is made there, on
    // the model's output, so that its megabytes stay in the worker.
    const wanted = new Set(items.flatMap((it) => it.outputs));
    const wantCandidates = cand !== undefined && wanted.delete(CANDIDATES_OUTPUT);
    const runOptions: RunOptions = {
      outputs: [...wanted],
      ...(wantCandidates
        ? { candidates: { source: cand.source, threshold: cand.threshold, max: cand.max } }
        : {}),
    };
    const session = this.free.pop();
    if (!session) throw new Error('no free model instance (batcher concurrency exceeded)');
    let results: RunResult[];
    try {
      if (this.fixedBatchOne && total > 1) {
        // The graph has a static batch of 1: run the batch row by row on this instance.
        results = [];
        for (let r = 0; r < total; r++) {
          const rowFeeds: Record<string, PlainTensor> = {};
          for (const [k, t] of Object.entries(feeds)) {
            const all = t.data as Float32Array | Uint8Array;
            const rowLen = all.length / total;
            rowFeeds[k] = {
              type: t.type,
              data: all.slice(r * rowLen, (r + 1) * rowLen),
              dims: [1, ...t.dims.slice(1)],
              ...(t.fromUint8Nhwc ? { fromUint8Nhwc: t.fromUint8Nhwc } : {}),
            };
          }
          results.push(await session.run(rowFeeds, runOptions));
        }
      } else {
        results = [await session.run(feeds, runOptions)];
      }
    } finally {
      this.free.push(session);
    }
    const candidateRows = results.flatMap((r) => r.candidates ?? []);
    // Per output: one contiguous byte buffer with `total` rows (or the whole tensor when not batching).
    const merged = new Map<string, { datatype: Datatype; shape: number[]; bytes: Buffer }>();
    for (const name of wanted) {
      const tensors = results.map((r) => r.outputs[name]!);
      const t0 = tensors[0]!;
      const datatype = datatypeFromOrt(t0.type);
      if (!datatype || datatype === 'BYTES')
        throw new Error(`output '${name}' has unsupported type ${t0.type}`);
      const bufs = tensors.map((t) => {
        const d = t.data as Float32Array;
        return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
      });
      const shape = [...t0.dims];
      if (tensors.length > 1) shape[0] = total;
      merged.set(name, { datatype, shape, bytes: bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs) });
    }
    let row = 0;
    return items.map((it, i) => {
      const n = sizes[i]!;
      const out = it.outputs.map((name) => {
        if (cand && name === CANDIDATES_OUTPUT) return candidatesOutput(candidateRows.slice(row, row + n));
        const m = merged.get(name)!;
        if (config.maxBatchSize === 0) return { name, datatype: m.datatype, shape: m.shape, data: m.bytes };
        const rowBytes = m.bytes.byteLength / m.shape[0]!;
        return {
          name,
          datatype: m.datatype,
          shape: [n, ...m.shape.slice(1)],
          data: m.bytes.subarray(row * rowBytes, (row + n) * rowBytes),
        };
      });
      row += n;
      return out;
    });
  }
}

/** The `candidates` output of one request from its rows' candidates: [n, K, 6], zero-padded to the longest. */
function candidatesOutput(perRow: Float32Array[]): OutputTensor {
  const n = perRow.length;
  const k = Math.max(0, ...perRow.map((c) => c.length / CANDIDATE_FIELDS));
  const out = new Float32Array(n * k * CANDIDATE_FIELDS);
  perRow.forEach((c, r) => out.set(c, r * k * CANDIDATE_FIELDS));
  return {
    name: CANDIDATES_OUTPUT,
    datatype: 'FP32',
    shape: [n, k, CANDIDATE_FIELDS],
    data: Buffer.from(out.buffer, out.byteOffset, out.byteLength),
  };
}

/** The built-in test text backend (see TEXT_TEMPLATE_PLATFORM). */
class TextTemplateBackend implements Backend {
  constructor(
    private readonly config: ModelConfig,
    private readonly template: string,
  ) {}

  run(items: InferItem[]): Promise<OutputTensor[][]> {
    return Promise.resolve(
      items.map((it) => {
        const input = it.inputs.get('text_input')!;
        const texts = (input.data as Buffer[]).map((b) =>
          Buffer.from(this.template.split('{text_input}').join(b.toString('utf8')), 'utf8'),
        );
        return it.outputs.map((name) => ({
          name,
          datatype: 'BYTES' as const,
          shape: [...input.shape],
          data: serializeBytes(texts),
        }));
      }),
    );
  }

  get maxBatchSize(): number {
    return this.config.maxBatchSize;
  }
}

function readVersions(dir: string, model: string, needsFile: boolean): string[] {
  const versions = readdirSync(dir)
    .filter((v) => /^\d+$/.test(v) && statSync(join(dir, v)).isDirectory())
    .sort((a, b) => Number(a) - Number(b));
  if (versions.length === 0) fail(model, `no version directory (<repo>/${model}/<n>/model.onnx) in ${dir}`);
  if (needsFile) {
    for (const v of versions) {
      if (!existsSync(join(dir, v, 'model.onnx'))) fail(model, `version ${v} has no model.onnx`);
    }
  }
  return versions;
}

/** Applies Triton's version_policy to the version directories found (ascending). */
export function selectVersions(found: string[], policy: VersionPolicy, model: string): string[] {
  switch (policy.kind) {
    case 'all':
      return found;
    case 'latest':
      return found.slice(-policy.numVersions);
    case 'specific': {
      const missing = policy.versions.filter((v) => !found.includes(String(v)));
      if (missing.length > 0) {
        fail(
          model,
          `version_policy names version(s) ${missing.join(', ')} but only ${found.join(', ')} exist`,
        );
      }
      return found.filter((v) => policy.versions.includes(Number(v)));
    }
  }
}

/** Input datatype/shape key: requests with different non-batch shapes or outputs never share a batch. */
function batchKey(config: ModelConfig, item: InferItem): string {
  const parts = config.inputs.map((ci) =>
    item.inputs
      .get(ci.name)!
      .shape.slice(config.maxBatchSize > 0 ? 1 : 0)
      .join('x'),
  );
  return parts.join('|') + '>' + item.outputs.join(',');
}

function parseFloats(text: string | undefined, model: string, key: string): number[] | undefined {
  if (text === undefined) return undefined;
  const values = text.split(',').map((v) => Number(v.trim()));
  if (values.length === 0 || values.some((v) => !Number.isFinite(v))) {
    fail(model, `${key} must be comma-separated numbers, got '${text}'`);
  }
  return values;
}

function inputTransform(config: ModelConfig | undefined, name: string): InputTransform | undefined {
  const kind = config?.parameters[INPUT_TRANSFORM_PARAMETER];
  if (kind === undefined) return undefined;
  if (kind !== UINT8_NHWC_TO_FLOAT_NCHW_DIV255 && kind !== UINT8_NHWC_TO_FLOAT_NCHW) {
    fail(
      name,
      `unknown ${INPUT_TRANSFORM_PARAMETER} '${kind}' (known: ${UINT8_NHWC_TO_FLOAT_NCHW_DIV255}, ${UINT8_NHWC_TO_FLOAT_NCHW})`,
    );
  }
  if (config!.inputs.length !== 1) fail(name, `${INPUT_TRANSFORM_PARAMETER} needs exactly one input`);
  const channels = config!.inputs[0]!.dims[2] ?? 0;
  const mean = parseFloats(config!.parameters[INPUT_MEAN_PARAMETER], name, INPUT_MEAN_PARAMETER);
  const std = parseFloats(config!.parameters[INPUT_STD_PARAMETER], name, INPUT_STD_PARAMETER);
  if (kind === UINT8_NHWC_TO_FLOAT_NCHW_DIV255 && (mean || std)) {
    fail(name, `${kind} takes no mean/std (use ${UINT8_NHWC_TO_FLOAT_NCHW})`);
  }
  if (std?.some((v) => v === 0)) fail(name, `${INPUT_STD_PARAMETER} must not contain 0`);
  const c = Math.max(1, channels);
  return { mean: mean ?? new Array<number>(c).fill(0), std: std ?? new Array<number>(c).fill(1) };
}

function candidatesTransform(config: ModelConfig | undefined, name: string): CandidatesTransform | undefined {
  const kind = config?.parameters[OUTPUT_TRANSFORM_PARAMETER];
  if (kind === undefined) return undefined;
  if (kind !== YOLO_CANDIDATES)
    fail(name, `unknown ${OUTPUT_TRANSFORM_PARAMETER} '${kind}' (known: ${YOLO_CANDIDATES})`);
  if (!config!.outputs.some((o) => o.name === CANDIDATES_OUTPUT)) {
    fail(
      name,
      `${YOLO_CANDIDATES} needs a declared output '${CANDIDATES_OUTPUT}' (TYPE_FP32, dims [ -1, 6 ])`,
    );
  }
  if (config!.maxBatchSize === 0) fail(name, `${YOLO_CANDIDATES} needs max_batch_size > 0`);
  const threshold = Number(config!.parameters['vigil_candidates_threshold'] ?? '0.1');
  const max = Number(config!.parameters['vigil_candidates_max'] ?? '1000');
  if (!(threshold >= 0 && threshold <= 1)) fail(name, 'vigil_candidates_threshold must be within 0..1');
  if (!(Number.isInteger(max) && max >= 1)) fail(name, 'vigil_candidates_max must be an integer >= 1');
  return { source: config!.parameters['vigil_candidates_source'] ?? 'output0', threshold, max };
}

function checkTextTemplate(name: string, config: ModelConfig): void {
  const inputs = config.inputs.map((t) => t.name).join(',');
  const outputs = config.outputs.map((t) => t.name).join(',');
  if (
    inputs !== 'text_input' ||
    outputs !== 'text_output' ||
    config.inputs[0]!.datatype !== 'BYTES' ||
    config.outputs[0]!.datatype !== 'BYTES'
  ) {
    fail(
      name,
      `${TEXT_TEMPLATE_PLATFORM} needs one TYPE_STRING input 'text_input' and one TYPE_STRING output 'text_output'`,
    );
  }
  if (JSON.stringify(config.inputs[0]!.dims) !== JSON.stringify(config.outputs[0]!.dims)) {
    fail(name, `${TEXT_TEMPLATE_PLATFORM}: text_input and text_output need the same dims`);
  }
}

function makeBatcher(
  model: LoadedModel,
  backend: Backend,
  instances: number,
  opts: RepositoryOptions,
  version: string,
): DynamicBatcher<InferItem, OutputTensor[]> {
  const cfg = model.config;
  const dynamic = cfg.dynamicBatching;
  let unique = 0;
  return new DynamicBatcher<InferItem, OutputTensor[]>({
    maxBatchSize: Math.max(1, cfg.maxBatchSize),
    maxQueueDelayMs: dynamic ? dynamic.maxQueueDelayMicroseconds / 1000 : 0,
    preferredBatchSizes: (dynamic?.preferredBatchSize ?? []).filter(
      (n) => n <= Math.max(1, cfg.maxBatchSize),
    ),
    maxQueueSize: opts.maxQueueSize,
    maxConcurrentBatches: instances,
    sizeOf: (it) => itemSize(cfg, it),
    // Without dynamic_batching every request is its own batch, as in Triton.
    keyOf: dynamic && cfg.maxBatchSize > 0 ? (it) => batchKey(cfg, it) : () => String(unique++),
    isExpired: (it, now) => (it.deadline !== undefined && now >= it.deadline) || (it.cancelled?.() ?? false),
    onBatch: (info) => opts.onBatch?.(model.name, version, info),
    execute: (items) => backend.run(items),
  });
}

export async function loadModel(repo: string, name: string, opts: RepositoryOptions): Promise<LoadedModel> {
  const dir = join(repo, name);
  const configPath = join(dir, 'config.pbtxt');
  let config: ModelConfig | undefined;
  if (existsSync(configPath)) {
    try {
      config = parseModelConfig(readFileSync(configPath, 'utf8'), configPath);
    } catch (e) {
      fail(name, (e as Error).message, e);
    }
    if (config.name && config.name !== name) fail(name, `config.pbtxt names the model '${config.name}'`);
    config.name = name;
    if (
      config.platform &&
      !['onnxruntime_onnx', 'onnxruntime', TEXT_TEMPLATE_PLATFORM].includes(config.platform)
    ) {
      fail(
        name,
        `platform/backend '${config.platform}' is not served (onnxruntime_onnx, ${TEXT_TEMPLATE_PLATFORM})`,
      );
    }
  }
  const isText = config?.platform === TEXT_TEMPLATE_PLATFORM;
  const found = readVersions(dir, name, !isText);
  const versions = selectVersions(found, config?.versionPolicy ?? { kind: 'latest', numVersions: 1 }, name);
  const transform = inputTransform(config, name);
  if (!isText) {
    for (const c of [...(config?.inputs ?? []), ...(config?.outputs ?? [])]) {
      if (c.datatype === 'BYTES')
        fail(name, `tensor '${c.name}': TYPE_STRING is not served by onnxruntime_onnx here`);
    }
  }

  const candidates = candidatesTransform(config, name);
  const model: LoadedModel = {
    name,
    config: config!,
    ...(candidates ? { candidates } : {}),
    platform: isText ? TEXT_TEMPLATE_PLATFORM : 'onnxruntime_onnx',
    inputTransform: transform,
    versions: new Map(),
    latest: versions[versions.length - 1]!,
  };
  if (isText) {
    checkTextTemplate(name, config!);
    const template = config!.parameters[TEXT_TEMPLATE_PARAMETER] ?? '{text_input}';
    const backend = new TextTemplateBackend(config!, template);
    const instances = config!.instanceCount;
    for (const version of versions) {
      model.versions.set(version, {
        version,
        batcher: makeBatcher(model, backend, instances, opts, version),
        sessions: [],
      });
    }
    opts.logger.info(
      `loaded model '${name}' version(s) ${versions.join(', ')} (${TEXT_TEMPLATE_PLATFORM}: a deterministic test backend, not a language model)`,
    );
    return model;
  }
  for (const version of versions) {
    const file = join(dir, version, 'model.onnx');
    const count = config?.instanceCount ?? 1;
    const sessions: WorkerSession[] = [];
    try {
      for (let i = 0; i < count; i++) sessions.push(await createSession(file, opts, name));
      const added = addVersion(model, version, config, transform, sessions, opts);
      config = added.config;
      if (added.warm) await added.warm();
    } catch (e) {
      await Promise.all(sessions.map((s) => s.release().catch(() => undefined)));
      await unloadRepository(new Map([[name, model]]));
      throw e;
    }
  }
  if (found.length !== versions.length) {
    opts.logger.info(
      `model '${name}': version_policy serves ${versions.join(', ')} of ${found.join(', ')} found`,
    );
  }
  return model;
}

function addVersion(
  model: LoadedModel,
  version: string,
  configIn: ModelConfig | undefined,
  transform: InputTransform | undefined,
  sessions: WorkerSession[],
  opts: RepositoryOptions,
): { config: ModelConfig; warm: (() => Promise<void>) | null } {
  const name = model.name;
  let config = configIn;
  const first = sessions[0]!;
  const inputs = onnxInfo(first.inputMetadata, name);
  const outputs = onnxInfo(first.outputMetadata, name);
  if (!config) {
    config = autoConfig(name, inputs, outputs);
    model.config = config;
  }
  if (config.outputs.length === 0) config.outputs = autoConfig(name, inputs, outputs).outputs;
  if (config.inputs.length === 0) fail(name, 'config.pbtxt declares no input');
  const fixedBatchOne = checkAgainstOnnx(name, config, transform, inputs, outputs, model.candidates);
  const backend = new OnnxBackend(model, sessions, fixedBatchOne);
  const batcher = makeBatcher(model, backend, sessions.length, opts, version);
  model.versions.set(version, { version, batcher, sessions });
  const warm = opts.warmup !== false ? () => warmUp(model, backend, sessions.length, opts) : null;
  const dynamic = config.dynamicBatching;
  opts.logger.info(
    `loaded model '${name}' version ${version} (${sessions.length} instance(s), max_batch_size ${config.maxBatchSize}` +
      `${dynamic ? `, dynamic batching ${dynamic.maxQueueDelayMicroseconds} us` : ''}` +
      `${fixedBatchOne && config.maxBatchSize > 1 ? ', static batch 1 in the graph: batches run row by row' : ''}` +
      `${transform ? `, uint8 input transform` : ''}, providers ${opts.executionProviders.join(',')})`,
  );
  return { config, warm };
}

/** Loads every model directory in `repo`. */
export async function loadRepository(
  repo: string,
  opts: RepositoryOptions,
): Promise<Map<string, LoadedModel>> {
  if (!existsSync(repo) || !statSync(repo).isDirectory()) {
    throw new InferenceError('VIGIL_ERR_INFER_REPOSITORY', `model repository ${repo} is not a directory`);
  }
  const models = new Map<string, LoadedModel>();
  const names = readdirSync(repo)
    .filter((n) => !n.startsWith('.') && statSync(join(repo, n)).isDirectory())
    .sort();
  try {
    for (const name of names) models.set(name, await loadModel(repo, name, opts));
  } catch (e) {
    await unloadRepository(models);
    throw e;
  }
  if (models.size === 0)
    throw new InferenceError('VIGIL_ERR_INFER_REPOSITORY', `model repository ${repo} holds no model`);
  return models;
}

/** Drains every batcher, then releases the sessions. */
export async function unloadRepository(models: Map<string, LoadedModel>): Promise<void> {
  const versions = [...models.values()].flatMap((m) => [...m.versions.values()]);
  await Promise.all(versions.map((v) => v.batcher.close()));
  await Promise.all(versions.flatMap((v) => v.sessions.map((s) => s.release().catch(() => undefined))));
}
