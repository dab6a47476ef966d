/** Ingest counters: frames in, frames dropped by reason, and a bounded latency sample. */

/**
 * Why a frame was lost. `appsink`: a bounded appsink dropped it because JS did not pull in time
 * (exact: from the arrival index the patch stamps on every buffer). `upstream`: it never reached the
 * appsink (a lasting step of PTS against the negotiated frame rate, see UpstreamLoss: network loss,
 * a late packet the jitter buffer dropped). `malformed`: a buffer whose size did not match its caps.
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

/**
 * Frames lost before the appsink, from PTS against the frame rate. A live source's PTS jitter
 * (RTP arrival-based timestamps bunch up and spread out by a frame or two under load), so a gap
 * alone proves nothing. A gap over 1.5 frame durations opens a check: the residual (stream time
 * in frames minus frames that arrived) over the `window` frames from the gap on must stay above
 * its level over the `window` frames before it; the lasting rise, rounded, is the loss. Before is
 * taken at its highest and after at its lowest, so jitter within the windows never counts (heavy
 * jitter can hide a single lost frame; it never invents one). Gives the frames newly known lost.
 */
export class UpstreamLoss {
  private pts0 = -1;
  private seen0 = 0;
  private lastPts = -1;
  private readonly before: number[] = [];
  private after: number[] | null = null;
  private beforeMax = 0;

  constructor(private readonly window = 8) {}

  /**
   * `ptsNs` of a frame that reached the appsink; `seen`: frames that reached it so far, this one
   * included (those the appsink dropped too: they are counted as appsink drops, not here).
   */
  observe(ptsNs: number, seen: number, frameNs: number): number {
    if (!(frameNs > 0)) return 0;
    if (this.pts0 < 0 || ptsNs <= this.lastPts) {
      // First frame, or PTS went back (a new segment): start over.
      this.pts0 = ptsNs;
      this.seen0 = seen;
      this.before.length = 0;
      this.after = null;
    }
    const gap = this.lastPts >= 0 && ptsNs - this.lastPts > 1.5 * frameNs;
    this.lastPts = ptsNs;
    const residual = (ptsNs - this.pts0) / frameNs - (seen - this.seen0);
    if (gap && this.after === null && this.before.length > 0) {
      this.beforeMax = Math.max(...this.before);
      this.after = [];
    }
    let lost = 0;
    if (this.after !== null) {
      this.after.push(residual);
      if (this.after.length >= this.window) {
        lost = Math.max(0, Math.round(Math.min(...this.after) - this.beforeMax));
        this.before.length = 0;
        this.before.push(...this.after);
        this.after = null;
        // The loss is accounted for: shift the baseline so it is not counted again.
        this.pts0 += lost * frameNs;
        for (let i = 0; i < this.before.length; i++) this.before[i]! -= lost;
      }
      return lost;
    }
    this.before.push(residual);
    if (this.before.length > this.window) this.before.shift();
    return 0;
  }
}
