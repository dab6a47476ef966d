/**
 * Constant-velocity Kalman filter for one tracked box, the state being the box centre, aspect ratio
 * (w / h) and height with their rates: [cx, cy, a, h, vcx, vcy, va, vh] (rates per second). Noise
 * scales with the box height, so near and far objects are treated alike. Time steps are in
 * seconds of stream time and need not be regular (detections come at whatever cadence the stream
 * gets). Plain arrays, no allocation beyond the 8×8 state; O(1) per step.
 */
import type { Box } from '../core/contracts.js';

const N = 8;
const M = 4;

/** Noise weights: position (fraction of height) and velocity (fraction of height per second). */
const STD_POS = 1 / 20;
const STD_VEL = 1 / 8;
/** Measurement noise, fraction of height (aspect has its own small absolute noise). */
const STD_MEAS = 1 / 20;
const STD_ASPECT = 1e-2;
const STD_ASPECT_VEL = 1e-3;

function zeros(rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, () => new Array<number>(cols).fill(0));
}

/** Inverse of a small symmetric positive-definite matrix (Gauss-Jordan with partial pivoting). */
function invert(a: number[][]): number[][] {
  const n = a.length;
  const m = a.map((row, i) => [...row, ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    const piv = m[c]![c]!;
    if (Math.abs(piv) < 1e-12) throw new Error('kalman: singular innovation covariance');
    const row = m[c]!;
    for (let j = 0; j < 2 * n; j++) row[j] = row[j]! / piv;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r]![c]!;
      if (f === 0) continue;
      const target = m[r]!;
      for (let j = 0; j < 2 * n; j++) target[j] = target[j]! - f * row[j]!;
    }
  }
  return m.map((row) => row.slice(n));
}

export class BoxKalman {
  /** State mean. */
  readonly x: number[];
  /** State covariance. */
  private p: number[][];

  constructor(box: Box) {
    const h = Math.max(box.h, 1);
    this.x = [box.x + box.w / 2, box.y + box.h / 2, box.w / h, h, 0, 0, 0, 0];
    const std = [
      2 * STD_POS * h,
      2 * STD_POS * h,
      STD_ASPECT,
      2 * STD_POS * h,
      10 * STD_VEL * h,
      10 * STD_VEL * h,
      STD_ASPECT_VEL,
      10 * STD_VEL * h,
    ];
    this.p = zeros(N, N);
    for (let i = 0; i < N; i++) this.p[i]![i] = std[i]! ** 2;
  }

  /** The box the state stands for (source pixels). */
  box(): Box {
    return toBox(this.x);
  }

  /** The box `dtS` seconds ahead, without changing the state. */
  peek(dtS: number): Box {
    const x = this.x.slice();
    for (let i = 0; i < M; i++) x[i] = x[i]! + x[i + M]! * dtS;
    return toBox(x);
  }

  /** Moves the state `dtS` seconds on (dtS <= 0 leaves it). */
  predict(dtS: number): void {
    if (!(dtS > 0)) return;
    for (let i = 0; i < M; i++) this.x[i] = this.x[i]! + this.x[i + M]! * dtS;
    if (this.x[3]! < 1) this.x[3] = 1;
    // P = F P F^T + Q with F = [[I, dt I], [0, I]].
    const p = this.p;
    const fp = zeros(N, N);
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < N; j++) fp[i]![j] = p[i]![j]! + (i < M ? dtS * p[i + M]![j]! : 0);
    }
    const next = zeros(N, N);
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < N; j++) next[i]![j] = fp[i]![j]! + (j < M ? dtS * fp[i]![j + M]! : 0);
    }
    const h = this.x[3]!;
    const q = [
      STD_POS * h,
      STD_POS * h,
      STD_ASPECT,
      STD_POS * h,
      STD_VEL * h,
      STD_VEL * h,
      STD_ASPECT_VEL,
      STD_VEL * h,
    ];
    // Random walk: variance grows with the time step (per second of gap).
    for (let i = 0; i < N; i++) next[i]![i] = next[i]![i]! + q[i]! ** 2 * dtS;
    this.p = next;
  }

  /** Folds in a measured box. */
  update(box: Box): void {
    const h = Math.max(box.h, 1);
    const z = [box.x + box.w / 2, box.y + box.h / 2, box.w / h, h];
    const r = [STD_MEAS * h, STD_MEAS * h, STD_ASPECT * 10, STD_MEAS * h];
    // S = H P H^T + R (H picks the first four components).
    const s = zeros(M, M);
    for (let i = 0; i < M; i++)
      for (let j = 0; j < M; j++) s[i]![j] = this.p[i]![j]! + (i === j ? r[i]! ** 2 : 0);
    const si = invert(s);
    // K = P H^T S^-1 (N × M).
    const k = zeros(N, M);
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < M; j++) {
        let v = 0;
        for (let l = 0; l < M; l++) v += this.p[i]![l]! * si[l]![j]!;
        k[i]![j] = v;
      }
    }
    const y = z.map((zi, i) => zi - this.x[i]!);
    for (let i = 0; i < N; i++) {
      let v = 0;
      for (let j = 0; j < M; j++) v += k[i]![j]! * y[j]!;
      this.x[i] = this.x[i]! + v;
    }
    // P = (I - K H) P.
    const next = zeros(N, N);
    for (let i = 0; i < N; i++) {
      for (let j = 0; j < N; j++) {
        let v = this.p[i]![j]!;
        for (let l = 0; l < M; l++) v -= k[i]![l]! * this.p[l]![j]!;
        next[i]![j] = v;
      }
    }
    this.p = next;
  }

  /** Velocity of the centre, px per second. */
  velocity(): { vx: number; vy: number } {
    return { vx: this.x[4]!, vy: this.x[5]! };
  }
}

function toBox(x: readonly number[]): Box {
  const h = Math.max(x[3]!, 1);
  const w = Math.max(x[2]! * h, 1);
  return { x: x[0]! - w / 2, y: x[1]! - h / 2, w, h };
}
