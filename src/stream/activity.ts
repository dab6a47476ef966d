/**
 * New-activity detection on a coarse grid of cells: which motion is NEW (worth a keyframe) and which
 * is the continued motion of something already seen (not worth another one).
 *
 * A cell is active in a frame when at least `cellThreshold` of its pixels changed. An active cell
 * starts a NEW region when it and its 8 neighbours were quiet before this frame: the cell for
 * `quietMs`, the neighbours for `neighbourQuietMs` (a mover walking from one cell into the next keeps
 * its neighbour active, so it is not new; someone coming in from outside the frame or out of a still
 * background is). A new region is CONFIRMED `confirmMs` after its onset when it was active again
 * after the onset frame (the cell or a neighbour): the object came in rather than flickered, and it
 * is further in view by then, which is when a model call sees it. One-frame flickers are dropped.
 *
 * A cell on the frame's EDGE has a neighbour the grid cannot see: outside the view, where movers
 * come in from. There, the neighbours one step further INTO the view only count while in contact:
 * active within `edgeNeighbourQuietMs` (shorter). A mover in view that walks out to the edge keeps
 * its inward neighbour active frame after frame; the trail of a mover walking away from the edge,
 * into the view, soon falls out of contact, and then activity in the edge cell came in from outside.
 * So a second person who comes in through a door at the edge, or round the frame's side, where a
 * first one came in just before and is still walking away next to it, is new. Neighbours along the
 * edge keep `neighbourQuietMs`: a car driving along the bottom edge, foliage along the border or a
 * person walking along the side is the continued motion of what is already there. Inside the frame
 * activity can only reach a cell through a neighbour (or start out of a still background), so a
 * neighbour active recently most likely is the same mover, moving intermittently. Whatever the
 * window, a neighbour active in the previous frame always counts: at a low frame rate a mover
 * crossing cells between two frames far apart is not new.
 *
 * Busy regions (foliage, a crowd, traffic) stay active, so they never start new regions: the
 * selector's keyframe rate adapts to activity by construction, while motion in a quiet part of the
 * same scene still counts. State: O(cells), no allocation per frame.
 */
import { ConfigError } from '../core/errors.js';

export interface ActivityGridOptions {
  cols: number;
  rows: number;
  /** Fraction (0..1] of a cell's pixels that must change for the cell to be active. */
  cellThreshold: number;
  /** Quiet time before a cell's activity is new, ms of stream time. */
  quietMs: number;
  /** Quiet time of the neighbours, ms (shorter: it only has to exclude movers crossing cells). */
  neighbourQuietMs: number;
  /** Time from a new region's onset to its confirmation, ms. */
  confirmMs: number;
  /** Quiet time of an edge cell's neighbours further into the view, ms (shorter: contact, see above). */
  edgeNeighbourQuietMs: number;
}

export interface ActivityStep {
  /** Cells active in this frame. */
  active: number;
  /** New regions that started in this frame. */
  started: number;
  /** New regions confirmed in this frame (they started `confirmMs` ago and are still active). */
  confirmed: number;
  /** Cells of the confirmed regions (row-major indices), for evidence. */
  confirmedCells: number[];
}

export class ActivityGrid {
  private readonly n: number;
  /** Last stream time each cell was active, ms (-Infinity: never). */
  private readonly lastActive: Float64Array;
  /** Onset of a pending new region per cell, ms (NaN: none). */
  private readonly onset: Float64Array;
  private readonly neighbours: Int32Array[];
  /** Quiet time per neighbour (parallel to `neighbours`), ms. */
  private readonly neighbourQuiet: Float64Array[];
  /** Stream time of the previous frame, ms (NaN: none yet). */
  private prevT = NaN;

  constructor(private readonly o: ActivityGridOptions) {
    if (!(o.cols >= 1 && o.rows >= 1 && Number.isInteger(o.cols) && Number.isInteger(o.rows))) {
      throw new ConfigError(`ActivityGrid: grid must be integers >= 1, got ${o.cols}x${o.rows}`);
    }
    this.n = o.cols * o.rows;
    this.lastActive = new Float64Array(this.n).fill(-Infinity);
    this.onset = new Float64Array(this.n).fill(NaN);
    this.neighbours = [];
    this.neighbourQuiet = [];
    const onEdge = (r: number, c: number) => r === 0 || c === 0 || r === o.rows - 1 || c === o.cols - 1;
    for (let r = 0; r < o.rows; r++) {
      for (let c = 0; c < o.cols; c++) {
        const list: number[] = [];
        const quiet: number[] = [];
        for (let dr = -1; dr <= 1; dr++) {
          for (let dc = -1; dc <= 1; dc++) {
            const rr = r + dr;
            const cc = c + dc;
            if ((dr !== 0 || dc !== 0) && rr >= 0 && rr < o.rows && cc >= 0 && cc < o.cols) {
              list.push(rr * o.cols + cc);
              quiet.push(onEdge(r, c) && !onEdge(rr, cc) ? o.edgeNeighbourQuietMs : o.neighbourQuietMs);
            }
          }
        }
        this.neighbours.push(Int32Array.from(list));
        this.neighbourQuiet.push(Float64Array.from(quiet));
      }
    }
  }

  get cells(): number {
    return this.n;
  }

  /** Pending (started, not yet confirmed or dropped) new regions. */
  get pending(): number {
    let p = 0;
    for (let i = 0; i < this.n; i++) if (!Number.isNaN(this.onset[i] as number)) p++;
    return p;
  }

  /** Feeds one frame's per-cell motion (fractions of changed pixels) at stream time `tMs`. */
  update(cells: Float64Array, tMs: number): ActivityStep {
    const o = this.o;
    if (cells.length !== this.n) {
      throw new ConfigError(`ActivityGrid: expected ${this.n} cells, got ${cells.length}`);
    }
    let active = 0;
    let started = 0;
    // Onsets are judged against the state BEFORE this frame: two cells of one large new object
    // that light up together are both new.
    for (let i = 0; i < this.n; i++) {
      if ((cells[i] as number) < o.cellThreshold) continue;
      active++;
      if (!Number.isNaN(this.onset[i] as number)) continue;
      if (tMs - (this.lastActive[i] as number) < o.quietMs) continue;
      let quiet = true;
      const nb = this.neighbours[i] as Int32Array;
      const nq = this.neighbourQuiet[i] as Float64Array;
      for (let k = 0; k < nb.length; k++) {
        const last = this.lastActive[nb[k] as number] as number;
        if (tMs - last < (nq[k] as number) || last >= this.prevT) {
          quiet = false;
          break;
        }
      }
      if (quiet) {
        this.onset[i] = tMs;
        started++;
      }
    }
    for (let i = 0; i < this.n; i++) if ((cells[i] as number) >= o.cellThreshold) this.lastActive[i] = tMs;
    this.prevT = tMs;
    const confirmedCells: number[] = [];
    for (let i = 0; i < this.n; i++) {
      const on = this.onset[i] as number;
      if (Number.isNaN(on) || tMs - on < o.confirmMs) continue;
      // Active again after the onset frame, in the cell or next to it (the object may have moved on
      // by a cell): a one-frame flicker is not; a slow entry with intermittent motion is.
      const since = o.confirmMs > 0 ? on + 1e-6 : on;
      let alive = (this.lastActive[i] as number) >= since;
      if (!alive) {
        for (const j of this.neighbours[i] as Int32Array) {
          if ((this.lastActive[j] as number) >= since) {
            alive = true;
            break;
          }
        }
      }
      if (alive) confirmedCells.push(i);
      this.onset[i] = NaN;
    }
    return { active, started, confirmed: confirmedCells.length, confirmedCells };
  }

  /** Drops pending regions (e.g. after a scene cut, where everything changed at once). */
  clearPending(): void {
    this.onset.fill(NaN);
  }

  /** Marks every cell active at `tMs` (a new scene: nothing in it is new yet). */
  markAllActive(tMs: number): void {
    this.lastActive.fill(tMs);
    this.onset.fill(NaN);
  }

  reset(): void {
    this.lastActive.fill(-Infinity);
    this.onset.fill(NaN);
    this.prevT = NaN;
  }
}
