/**
 * One onnxruntime session in its own worker thread. onnxruntime-node runs a model synchronously
 * on the calling thread; on the server's main thread that would stall gRPC I/O (no requests
 * received, no responses sent, no deadlines noticed) for the whole run. Each model instance is a
 * worker: the main thread keeps receiving and batching while the instance computes.
 *
 * The worker's code is a constant string (no file to resolve from src/ or dist/); it loads
 * onnxruntime-node from the path the main thread resolved.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { inputBuffers } from './byte-pool.js';
import { CANDIDATE_FIELDS, yoloCandidates } from './yolo.js';

export type TensorType =
  | 'float32'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'float16'
  | 'string';

export interface PlainTensor {
  type: string;
  dims: readonly number[];
  data: ArrayBufferView;
  /**
   * `data` is UINT8 [N,H,W,C] and the worker makes the FP32 [N,C,H,W] tensor `dims` describes,
   * (x/255 - mean[c]) / std[c], in a buffer it reuses: the conversion stays off the server's main
   * thread and allocates nothing per request.
   */
  fromUint8Nhwc?: { mean: readonly number[]; std: readonly number[] };
}

export interface ValueMetadata {
  name: string;
  isTensor: boolean;
  type: string;
  shape: readonly (number | string)[];
}

/** YOLO's `candidates` reduction (see yoloCandidates), done in the worker on the model's output. */
export interface CandidatesSpec {
  /** The ONNX output it reads, float32 [N, 4 + classes, anchors]. */
  source: string;
  threshold: number;
  max: number;
}

export interface RunOptions {
  /** Outputs to hand back (default: all). */
  outputs?: readonly string[];
  /** Also reduce this output to candidate rows, one array per batch row. */
  candidates?: CandidatesSpec;
}

export interface RunResult {
  outputs: Record<string, PlainTensor>;
  /** Per batch row: rows of CANDIDATE_FIELDS floats, best first (when asked for). */
  candidates?: Float32Array[];
}

export interface WorkerSession {
  readonly inputMetadata: readonly ValueMetadata[];
  readonly outputMetadata: readonly ValueMetadata[];
  /** Runs the model; input buffers are transferred to the worker (do not reuse them). */
  run(feeds: Record<string, PlainTensor>, options?: RunOptions): Promise<RunResult>;
  /** Releases the session and ends the worker. Idempotent. */
  release(): Promise<void>;
}

export interface WorkerSessionOptions {
  executionProviders: string[];
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  intraOpNumThreads?: number;
  /** onnxruntime's CPU memory arena (default on). */
  enableCpuMemArena?: boolean;
  extra?: Record<string, unknown>;
}

// The candidates reduction runs where the model's output is: in the worker, on memory the model has
// just written, so that only a few KB cross to the main thread instead of the whole output. The
// function is yolo.ts's own, inlined (it uses nothing but CANDIDATE_FIELDS).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const CANDIDATE_FIELDS = ${CANDIDATE_FIELDS};
const yoloCandidates = ${yoloCandidates.toString()};
const ort = require(workerData.ortPath);
let session;
// Per input name: the FP32 buffer conversions write into (reused while the size stays the same).
const scratch = new Map();
const luts = new Map();
function channelLuts(mean, std) {
  const key = mean.join(',') + '/' + std.join(',');
  let l = luts.get(key);
  if (!l) {
    l = mean.map((m, k) => {
      const t = new Float32Array(256);
      for (let v = 0; v < 256; v++) t[v] = (v / 255 - m) / std[k];
      return t;
    });
    luts.set(key, l);
  }
  return l;
}
function toFloatNchw(name, src, dims, tf) {
  const [n, c, h, w] = dims;
  const size = n * c * h * w;
  let out = scratch.get(name);
  if (!out || out.length !== size) {
    out = new Float32Array(size);
    scratch.set(name, out);
  }
  const plane = h * w;
  if (c === 3 && tf.mean.every((m) => m === 0) && tf.std.every((s) => s === 1)) {
    // The common case (x/255, e.g. YOLO): one division per value is faster than three table
    // look-ups here, and gives the same floats.
    for (let b = 0; b < n; b++) {
      const base = b * plane * c;
      const o1 = base + plane, o2 = base + 2 * plane;
      for (let p = 0, i = base; p < plane; p++, i += 3) {
        out[base + p] = src[i] / 255;
        out[o1 + p] = src[i + 1] / 255;
        out[o2 + p] = src[i + 2] / 255;
      }
    }
    return out;
  }
  const l = channelLuts(tf.mean, tf.std);
  for (let b = 0; b < n; b++) {
    const base = b * plane * c;
    if (c === 3) {
      // One pass over the pixels: the common RGB case, about twice as fast as plane by plane.
      const l0 = l[0], l1 = l[1], l2 = l[2];
      for (let p = 0, i = base; p < plane; p++, i += 3) {
        out[base + p] = l0[src[i]];
        out[base + plane + p] = l1[src[i + 1]];
        out[base + 2 * plane + p] = l2[src[i + 2]];
      }
    } else {
      for (let k = 0; k < c; k++) {
        const lk = l[k];
        for (let p = 0, i = base + k; p < plane; p++, i += c) out[base + k * plane + p] = lk[src[i]];
      }
    }
  }
  return out;
}
const meta = (list) => list.map((m) => ({ name: m.name, isTensor: m.isTensor, type: m.type, shape: m.shape ? Array.from(m.shape) : [] }));
parentPort.on('message', async (msg) => {
  try {
    if (msg.kind === 'load') {
      session = await ort.InferenceSession.create(msg.file, msg.options);
      parentPort.postMessage({ id: msg.id, ok: true, inputMetadata: meta(session.inputMetadata), outputMetadata: meta(session.outputMetadata) });
    } else if (msg.kind === 'run') {
      const feeds = {};
      for (const [k, t] of Object.entries(msg.feeds)) {
        const data = t.fromUint8Nhwc ? toFloatNchw(k, t.data, t.dims, t.fromUint8Nhwc) : t.data;
        feeds[k] = new ort.Tensor(t.type, data, t.dims);
      }
      const results = await session.run(feeds);
      const out = {};
      const transfer = [];
      let candidates;
      if (msg.candidates) {
        const t = results[msg.candidates.source];
        if (!t) throw new Error('candidates: the model has no output ' + msg.candidates.source);
        const [n, ch, anchors] = t.dims;
        const rowLen = ch * anchors;
        candidates = [];
        for (let r = 0; r < n; r++) {
          const c = yoloCandidates(t.data.subarray(r * rowLen, (r + 1) * rowLen), anchors, ch - 4, msg.candidates.threshold, msg.candidates.max);
          candidates.push(c);
          transfer.push(c.buffer);
        }
      }
      // The input buffers are free now: they go back for the next request's input (see BytePool).
      const returned = [];
      for (const t of Object.values(msg.feeds)) {
        const b = t.data.buffer;
        if (b instanceof ArrayBuffer && b.byteLength >= 65536 && !returned.includes(b)) returned.push(b);
      }
      for (const [k, t] of Object.entries(results)) {
        if (msg.outputs && !msg.outputs.includes(k)) continue;
        out[k] = { type: t.type, dims: Array.from(t.dims), data: t.data };
        // Outputs are megabytes: hand whole buffers over instead of copying them.
        const b = t.data.buffer;
        if (b instanceof ArrayBuffer && t.data.byteOffset === 0 && t.data.byteLength === b.byteLength && !transfer.includes(b)) transfer.push(b);
      }
      parentPort.postMessage({ id: msg.id, ok: true, outputs: out, candidates, returned }, [...transfer, ...returned.filter((b) => !transfer.includes(b))]);
    } else if (msg.kind === 'release') {
      if (session) await session.release();
      session = undefined;
      parentPort.postMessage({ id: msg.id, ok: true });
    }
  } catch (e) {
    parentPort.postMessage({ id: msg.id, ok: false, error: e && e.message ? e.message : String(e) });
  }
});
`;

let ortPath: string | undefined;

interface Reply {
  id: number;
  ok: boolean;
  error?: string;
  inputMetadata?: ValueMetadata[];
  outputMetadata?: ValueMetadata[];
  outputs?: Record<string, PlainTensor>;
  candidates?: Float32Array[];
  /** Input buffers the worker is done with (moved back). */
  returned?: ArrayBuffer[];
}

/** Starts a worker and loads `file` into an onnxruntime session there. Rejects (and ends the worker) when loading fails. */
export async function createWorkerSession(
  file: string,
  options: WorkerSessionOptions,
): Promise<WorkerSession> {
  if (ortPath === undefined) {
    const requireCjs = createRequire(import.meta.url);
    ortPath = requireCjs.resolve('onnxruntime-node');
    // Keep the native binding loaded in this thread: when the last worker holding it exits (a failed
    // CUDA attempt), Node unloads it, and loading it again in the next worker fails with "Module did
    // not self-register".
    requireCjs('onnxruntime-node');
  }
  // execArgv: [] — the worker source is plain CommonJS; inheriting e.g. --input-type=module (or a
  // loader) from the parent would turn it into ESM, where require is undefined.
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ortPath }, execArgv: [] });
  let nextId = 0;
  const pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  let dead: Error | undefined;
  const failAll = (e: Error): void => {
    dead = e;
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  worker.on('message', (r: Reply) => {
    for (const b of r.returned ?? []) inputBuffers.give(b);
    const p = pending.get(r.id);
    if (!p) return;
    pending.delete(r.id);
    if (r.ok) p.resolve(r);
    else p.reject(new Error(r.error ?? 'onnxruntime worker error'));
  });
  worker.on('error', (e) => failAll(e));
  worker.on('exit', (code) => failAll(new Error(`onnxruntime worker exited (${code})`)));
  const call = (msg: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> => {
    if (dead) return Promise.reject(dead);
    const id = nextId++;
    return new Promise<Reply>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...msg, id }, transfer);
    });
  };
  let loaded: Reply;
  try {
    loaded = await call({ kind: 'load', file, options });
  } catch (e) {
    await worker.terminate();
    throw e;
  }
  let released: Promise<void> | undefined;
  return {
    inputMetadata: loaded.inputMetadata!,
    outputMetadata: loaded.outputMetadata!,
    async run(feeds, options = {}) {
      const transfer: ArrayBuffer[] = [];
      const plain: Record<string, PlainTensor> = {};
      for (const [k, t] of Object.entries(feeds)) {
        plain[k] = {
          type: t.type,
          dims: [...t.dims],
          data: t.data,
          ...(t.fromUint8Nhwc ? { fromUint8Nhwc: t.fromUint8Nhwc } : {}),
        };
        // Only whole, unshared buffers move; a view into a larger buffer is copied instead.
        const buf = t.data.buffer;
        const whole = t.data.byteOffset === 0 && t.data.byteLength === buf.byteLength;
        if (buf instanceof ArrayBuffer && whole && !transfer.includes(buf)) transfer.push(buf);
      }
      const r = await call(
        {
          kind: 'run',
          feeds: plain,
          ...(options.outputs ? { outputs: options.outputs } : {}),
          ...(options.candidates ? { candidates: options.candidates } : {}),
        },
        transfer,
      );
      return { outputs: r.outputs!, ...(r.candidates ? { candidates: r.candidates } : {}) };
    },
    release() {
      released ??= (async () => {
        if (!dead) await call({ kind: 'release' }).catch(() => undefined);
        await worker.terminate();
      })();
      return released;
    },
  };
}
