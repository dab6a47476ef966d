/**
 * Voice activity detection with Silero VAD v5 served by the inference server (`silero_vad`):
 * 16 kHz mono PCM (Int16 or Float32) in, one speech probability per 32 ms window (512 samples) and
 * speech segments out. The model is recurrent: each stream keeps its own state (and 64 samples of
 * context) here on the client and sends it with every window, so the server stays stateless and any
 * server of a pool (or Triton serving the same ONNX) can answer. Windows of one stream run in order.
 */
import { ConfigError, InferenceError } from '../core/errors.js';
import { asFloat32, type InferenceClient } from './client.js';

export const VAD_SAMPLE_RATE = 16000;
const WINDOW = 512;
const CONTEXT = 64;
const STATE_SIZE = 2 * 1 * 128;

export interface VadOptions {
  client: InferenceClient;
  /** Default 'silero_vad'. */
  model?: string;
  /** Probability at which speech starts. Default 0.5. */
  threshold?: number;
  /** Probability under which speech may end. Default threshold - 0.15. */
  negThreshold?: number;
  /** Shorter speech is dropped, ms. Default 250. */
  minSpeechMs?: number;
  /** Silence that ends speech, ms. Default 100. */
  minSilenceMs?: number;
  /** Padding added on both sides of each segment, ms. Default 30. */
  speechPadMs?: number;
  /** Per-window call deadline, ms. Default: the client's. */
  deadlineMs?: number;
}

export interface VadWindow {
  /** Start of the 32 ms window, ms since the stream's first sample. */
  startMs: number;
  probability: number;
}

export interface VadSegment {
  startMs: number;
  /** null while the speech is still going on. */
  endMs: number | null;
  /** Mean probability of the windows in the segment. */
  probability: number;
}

export interface VadUpdate {
  windows: VadWindow[];
  /** Segments that ended during this call. */
  ended: VadSegment[];
  /** The segment in progress after this call, if any. */
  active: VadSegment | null;
}

export interface Vad {
  /** Feeds PCM at 16 kHz (any length); runs every complete 512-sample window. Calls must not overlap. */
  process(pcm: Int16Array | Float32Array): Promise<VadUpdate>;
  /** Ends the stream: closes a segment in progress (if long enough). */
  flush(): VadSegment[];
  /** Forgets state, context, pending samples and time (a new stream). */
  reset(): void;
}

/** Int16 PCM → Float32 in [-1, 1). */
export function pcmToFloat32(pcm: Int16Array | Float32Array): Float32Array {
  if (pcm instanceof Float32Array) return pcm;
  const out = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = pcm[i]! / 32768;
  return out;
}

/**
 * Turns window probabilities into segments with Silero's rules: start at `threshold`, end after
 * `minSilenceMs` under `negThreshold`, drop segments shorter than `minSpeechMs`, pad each side.
 */
export class SpeechSegmenter {
  private active: { startMs: number; sum: number; n: number } | null = null;
  private silenceSinceMs: number | null = null;
  private readonly negThreshold: number;

  constructor(
    private readonly o: {
      threshold: number;
      negThreshold?: number;
      minSpeechMs: number;
      minSilenceMs: number;
      speechPadMs: number;
    },
  ) {
    this.negThreshold = o.negThreshold ?? Math.max(0.01, o.threshold - 0.15);
  }

  push(w: VadWindow, windowMs: number): VadSegment | undefined {
    const p = w.probability;
    if (!this.active) {
      if (p >= this.o.threshold) {
        this.active = { startMs: w.startMs, sum: p, n: 1 };
        this.silenceSinceMs = null;
      }
      return undefined;
    }
    this.active.sum += p;
    this.active.n++;
    if (p >= this.o.threshold) this.silenceSinceMs = null;
    else if (p < this.negThreshold) {
      this.silenceSinceMs ??= w.startMs;
      if (w.startMs + windowMs - this.silenceSinceMs >= this.o.minSilenceMs)
        return this.close(this.silenceSinceMs);
    }
    return undefined;
  }

  current(): VadSegment | null {
    return this.active
      ? {
          startMs: Math.max(0, this.active.startMs - this.o.speechPadMs),
          endMs: null,
          probability: this.active.sum / this.active.n,
        }
      : null;
  }

  /** End of input at `nowMs`: ends the segment in progress (where its trailing silence began, if any). */
  finish(nowMs: number): VadSegment | undefined {
    return this.close(this.silenceSinceMs ?? nowMs);
  }

  /** Ends the segment in progress at `endMs`; returns it when long enough. */
  close(endMs: number): VadSegment | undefined {
    const a = this.active;
    this.active = null;
    this.silenceSinceMs = null;
    if (!a || endMs - a.startMs < this.o.minSpeechMs) return undefined;
    return {
      startMs: Math.max(0, a.startMs - this.o.speechPadMs),
      endMs: endMs + this.o.speechPadMs,
      probability: a.sum / a.n,
    };
  }
}

export function createVad(options: VadOptions): Vad {
  const known = [
    'client',
    'model',
    'threshold',
    'negThreshold',
    'minSpeechMs',
    'minSilenceMs',
    'speechPadMs',
    'deadlineMs',
  ];
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) throw new ConfigError(`vad: unknown option '${k}' (known: ${known.join(', ')})`);
  }
  const threshold = options.threshold ?? 0.5;
  if (!(threshold > 0 && threshold < 1)) throw new ConfigError('vad: threshold must be within (0, 1)');
  const { client } = options;
  const model = options.model ?? 'silero_vad';
  const segOpts = {
    threshold,
    ...(options.negThreshold !== undefined ? { negThreshold: options.negThreshold } : {}),
    minSpeechMs: options.minSpeechMs ?? 250,
    minSilenceMs: options.minSilenceMs ?? 100,
    speechPadMs: options.speechPadMs ?? 30,
  };
  const windowMs = (WINDOW / VAD_SAMPLE_RATE) * 1000;
  const sr = BigInt64Array.from([BigInt(VAD_SAMPLE_RATE)]);

  let state = new Float32Array(STATE_SIZE);
  let context = new Float32Array(CONTEXT);
  let pending = new Float32Array(0);
  let samplesDone = 0;
  let segmenter = new SpeechSegmenter(segOpts);
  let busy = false;

  const runWindow = async (window: Float32Array): Promise<number> => {
    const input = new Float32Array(CONTEXT + WINDOW);
    input.set(context, 0);
    input.set(window, CONTEXT);
    const res = await client.infer({
      model,
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [1, CONTEXT + WINDOW], data: input },
        { name: 'state', datatype: 'FP32', shape: [2, 1, 128], data: state },
        { name: 'sr', datatype: 'INT64', shape: [1], data: sr },
      ],
      outputs: ['output', 'stateN'],
      ...(options.deadlineMs ? { deadlineMs: options.deadlineMs } : {}),
    });
    const prob = res.outputs.find((o) => o.name === 'output');
    const next = res.outputs.find((o) => o.name === 'stateN');
    if (!prob || !next || next.data.byteLength !== STATE_SIZE * 4) {
      throw new InferenceError(
        'VIGIL_ERR_INFER_BAD_RESPONSE',
        `${model}: expected 'output' and 'stateN' [2, 1, 128]`,
      );
    }
    state = Float32Array.from(asFloat32(next));
    context = input.slice(input.length - CONTEXT);
    return asFloat32(prob)[0]!;
  };

  return {
    async process(pcm) {
      if (busy)
        throw new InferenceError(
          'VIGIL_ERR_INFER_INVALID_ARGUMENT',
          'vad: process() calls must not overlap (one stream, in order)',
        );
      busy = true;
      try {
        const samples = pcmToFloat32(pcm);
        const all = new Float32Array(pending.length + samples.length);
        all.set(pending, 0);
        all.set(samples, pending.length);
        const windows: VadWindow[] = [];
        const ended: VadSegment[] = [];
        let off = 0;
        for (; off + WINDOW <= all.length; off += WINDOW) {
          const probability = await runWindow(all.subarray(off, off + WINDOW));
          const w = { startMs: (samplesDone / VAD_SAMPLE_RATE) * 1000, probability };
          samplesDone += WINDOW;
          windows.push(w);
          const seg = segmenter.push(w, windowMs);
          if (seg) ended.push(seg);
        }
        pending = all.slice(off);
        return { windows, ended, active: segmenter.current() };
      } finally {
        busy = false;
      }
    },
    flush() {
      const seg = segmenter.finish((samplesDone / VAD_SAMPLE_RATE) * 1000);
      return seg ? [seg] : [];
    },
    reset() {
      state = new Float32Array(STATE_SIZE);
      context = new Float32Array(CONTEXT);
      pending = new Float32Array(0);
      samplesDone = 0;
      segmenter = new SpeechSegmenter(segOpts);
    },
  };
}
