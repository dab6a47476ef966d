/** Ingest counters: frames in, frames dropped by reason, and a bounded latency sample. */

/**
 * Why a frame was lost. `appsink`: a bounded appsink dropped it because JS did not pull in time
 * (exact: from the arrival index the patch stamps on every buffer). `upstream`: it never reached the
 * appsink (a PTS gap against the negotiated frame rate, e.g. network loss or a late packet the
 * jitter buffer dropped). `malformed`: a buffer whose size did not match its caps.
 */
export type DropReason = 'appsink' | 'upstream' | 'malformed';

export interface IngestCounters {
  /** Frames delivered to JS. */
  framesIn: number;
  /** Frames dropped, by reason (see DropReason). */
  dropped: Record<string, number>;
  /** Audio chunks delivered. */
  audioChunks?: number;
  /** Appsink arrival → JS delivery, µs, for the latest frames (bounded). */
  latency?: LatencySample;
}

export function newIngestCounters(): Required<IngestCounters> {
  return { framesIn: 0, dropped: {}, audioChunks: 0, latency: new LatencySample() };
}

/** A ring of the latest N values with percentiles; constant memory. */
export class LatencySample {
  private readonly values: Float64Array;
  private next = 0;
  private filled = 0;
  constructor(readonly capacity = 4096) {
    this.values = new Float64Array(capacity);
  }
  record(value: number): void {
    if (!Number.isFinite(value)) return;
    this.values[this.next] = value;
    this.next = (this.next + 1) % this.capacity;
    if (this.filled < this.capacity) this.filled++;
  }
  get count(): number {
    return this.filled;
  }
  /** p in [0, 100]; NaN when empty. Nearest-rank on a sorted copy. */
  percentile(p: number): number {
    if (this.filled === 0) return NaN;
    const sorted = Array.from(this.values.subarray(0, this.filled)).sort((a, b) => a - b);
    const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
    return sorted[rank]!;
  }
  reset(): void {
    this.next = 0;
    this.filled = 0;
  }
}
