/**
 * The frame rate a source means to deliver, read from its frames' timestamps: the PTS step between
 * consecutive frames of one pipeline run. Frames the ingest drops make some steps longer, so the
 * estimate takes a low percentile of the recent steps rather than their mean: a source delivering
 * half its frames still reports its nominal rate, which is what `vigil_stream_target_fps` compares
 * the delivered rate against.
 */

/** Steps remembered (per stream); the estimate needs at least MIN_STEPS of them. */
const KEPT = 64;
const MIN_STEPS = 8;
/** Steps shorter than 1 ms (over 1000 fps) or longer than 10 s are not frame steps. */
const MIN_STEP_NS = 1e6;
const MAX_STEP_NS = 1e10;

export class NominalFps {
  private readonly steps: number[] = [];
  private last: { ptsNs: number; runId: number | undefined } | null = null;
  private estimate: number | undefined;

  /** Feeds one frame; returns the estimate when it changed by over 1% (undefined otherwise). */
  observe(ptsNs: number, runId?: number): number | undefined {
    const prev = this.last;
    this.last = { ptsNs, runId };
    if (!prev || prev.runId !== runId) return undefined;
    const step = ptsNs - prev.ptsNs;
    if (!(step >= MIN_STEP_NS && step <= MAX_STEP_NS)) return undefined;
    this.steps.push(step);
    if (this.steps.length > KEPT) this.steps.shift();
    if (this.steps.length < MIN_STEPS) return undefined;
    const sorted = [...this.steps].sort((a, b) => a - b);
    const low = sorted[Math.floor(sorted.length * 0.1)]!;
    const fps = Math.round(1e11 / low) / 100;
    if (this.estimate !== undefined && Math.abs(fps - this.estimate) <= 0.01 * this.estimate)
      return undefined;
    this.estimate = fps;
    return fps;
  }

  /** The current estimate (undefined until enough frames came). */
  get fps(): number | undefined {
    return this.estimate;
  }
}
