/**
 * Detection cadence between keyframes: picks the frames to detect on so a stream with motion is
 * detected at `fps` (keyframes count as detections), and a static scene costs nothing beyond its
 * keyframes. Motion is the share of changed pixels of the small gray frame against the frame last
 * looked at (one cadence interval earlier), so slow walkers count too. While the tracker waits
 * for an exit (a track unmatched), frames keep being picked so the exit is decided on time.
 * State: one copy of a small gray frame; released by reset().
 */
import type { Frame, Image } from '../core/contracts.js';
import { motionScore } from './motion.js';
import type { ResolvedDetectCadence } from './track-options.js';

export class CadenceGate {
  private readonly intervalNs: number;
  private lastDetectNs: number | null = null;
  private lastLookNs: number | null = null;
  private ref: Image | null = null;
  /** Frames picked and frames looked at (motion computed), for stats. */
  picked = 0;
  looked = 0;

  constructor(private readonly o: Pick<ResolvedDetectCadence, 'fps' | 'motionThreshold'>) {
    // A little slack so a 25 fps source detected at 5 fps takes every fifth frame, not every sixth.
    this.intervalNs = (1e9 / o.fps) * 0.95;
  }

  /** A keyframe (detected anyway): it restarts the interval and becomes the motion reference. */
  keyframe(frame: Frame): void {
    this.lastDetectNs = frame.ptsNs;
    this.lastLookNs = frame.ptsNs;
    this.keep(frame.analysis);
  }

  /** Should this (non-key) frame be detected? `pendingLoss`: the tracker waits for an exit. */
  pick(frame: Frame, pendingLoss: boolean): boolean {
    const pts = frame.ptsNs;
    if (this.lastDetectNs !== null && pts < this.lastDetectNs) this.lastDetectNs = this.lastLookNs = null; // new timeline
    if (this.lastDetectNs !== null && pts - this.lastDetectNs < this.intervalNs) return false;
    if (this.lastLookNs !== null && pts - this.lastLookNs < this.intervalNs) return false;
    this.looked++;
    this.lastLookNs = pts;
    const img = frame.analysis;
    const moving =
      this.ref === null ||
      this.ref.width !== img.width ||
      this.ref.height !== img.height ||
      motionScore(this.ref, img) >= this.o.motionThreshold;
    this.keep(img);
    if (!moving && !pendingLoss) return false;
    this.lastDetectNs = pts;
    this.picked++;
    return true;
  }

  reset(): void {
    this.ref = null;
    this.lastDetectNs = null;
    this.lastLookNs = null;
  }

  private keep(img: Image): void {
    if (this.ref === null || this.ref.data.length !== img.data.length) {
      this.ref = { ...img, data: new Uint8Array(img.data) };
    } else {
      this.ref.data.set(img.data);
      this.ref.width = img.width;
      this.ref.height = img.height;
    }
  }
}
