/**
 * Cumulative per-version statistics in the shape of Triton's statistics extension
 * (ModelStatistics): request outcomes, queue and compute time, executions per batch size. Bounded:
 * one entry per loaded version and, inside it, one per batch size up to the model's maximum.
 */
import type { BatchInfo } from './batcher.js';
import type { ModelStatistics } from './generated/inference/ModelStatistics.js';

interface Duration {
  count: number;
  ns: number;
}

interface VersionStats {
  lastInferenceMs: number;
  inferenceCount: number;
  executionCount: number;
  success: Duration;
  fail: Duration;
  queue: Duration;
  computeInfer: Duration;
  /** Per batch size (rows): executions and their compute time. */
  batches: Map<number, Duration>;
}

const NS_PER_MS = 1e6;

function fresh(): VersionStats {
  return {
    lastInferenceMs: 0,
    inferenceCount: 0,
    executionCount: 0,
    success: { count: 0, ns: 0 },
    fail: { count: 0, ns: 0 },
    queue: { count: 0, ns: 0 },
    computeInfer: { count: 0, ns: 0 },
    batches: new Map(),
  };
}

function add(d: Duration, ms: number, count = 1): void {
  d.count += count;
  d.ns += Math.round(Math.max(0, ms) * NS_PER_MS) * count;
}

/** uint64 fields travel as decimal strings (the proto loader's `longs: String`). */
const wire = (d: Duration) => ({ count: String(d.count), ns: String(d.ns) });

export class ModelStatisticsBook {
  private readonly stats = new Map<string, Map<string, VersionStats>>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Registers a loaded version so that it is listed (with zeros) before its first request. */
  track(model: string, version: string): void {
    this.entry(model, version);
  }

  /** One request's outcome and its time in the server, ms. */
  request(model: string, version: string, ok: boolean, ms: number): void {
    const s = this.entry(model, version);
    add(ok ? s.success : s.fail, ms);
  }

  /**
   * One execution. As in Triton, every request of the batch is charged the batch's compute time;
   * the input conversion and output reduction run in the same worker call and are part of it.
   */
  batch(model: string, version: string, info: BatchInfo): void {
    const s = this.entry(model, version);
    for (const q of info.queueMs) add(s.queue, q);
    if (!info.ok) return;
    add(s.computeInfer, info.computeMs, info.requests);
    s.inferenceCount += info.size;
    s.executionCount++;
    s.lastInferenceMs = this.now();
    let b = s.batches.get(info.size);
    if (!b) s.batches.set(info.size, (b = { count: 0, ns: 0 }));
    add(b, info.computeMs);
  }

  /** Statistics of `model` (every model when empty) and `version` (every version when empty). */
  snapshot(model: string, version: string): ModelStatistics[] {
    const out: ModelStatistics[] = [];
    for (const [name, versions] of this.stats) {
      if (model && name !== model) continue;
      for (const [v, s] of versions) {
        if (version && v !== version) continue;
        const none = { count: '0', ns: '0' };
        // Input and output handling are inside compute_infer (see batch()): their counts follow
        // it so that per-request averages stay defined, with no time of their own.
        const sideStep = { count: String(s.computeInfer.count), ns: '0' };
        out.push({
          name,
          version: v,
          last_inference: String(s.lastInferenceMs),
          inference_count: String(s.inferenceCount),
          execution_count: String(s.executionCount),
          inference_stats: {
            success: wire(s.success),
            fail: wire(s.fail),
            queue: wire(s.queue),
            compute_input: sideStep,
            compute_infer: wire(s.computeInfer),
            compute_output: sideStep,
            cache_hit: none,
            cache_miss: none,
          },
          batch_stats: [...s.batches.entries()]
            .sort(([a], [b]) => a - b)
            .map(([size, d]) => ({
              batch_size: String(size),
              compute_input: { count: String(d.count), ns: '0' },
              compute_infer: wire(d),
              compute_output: { count: String(d.count), ns: '0' },
            })),
        });
      }
    }
    return out;
  }

  private entry(model: string, version: string): VersionStats {
    let versions = this.stats.get(model);
    if (!versions) this.stats.set(model, (versions = new Map()));
    let s = versions.get(version);
    if (!s) versions.set(version, (s = fresh()));
    return s;
  }
}
