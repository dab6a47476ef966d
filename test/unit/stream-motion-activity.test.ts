import { describe, expect, it } from 'vitest';
import { ActivityGrid, type ActivityGridOptions } from '../../src/stream/index.js';

// A 4x3 grid; cells are indexed row-major: (col, row) → row * 4 + col.
const OPTS: ActivityGridOptions = {
  cols: 4,
  rows: 3,
  cellThreshold: 0.05,
  quietMs: 1000,
  neighbourQuietMs: 500,
  confirmMs: 300,
  edgeNeighbourQuietMs: 200,
};

function cells(active: [number, number][]): Float64Array {
  const c = new Float64Array(12);
  for (const [col, row] of active) c[row * 4 + col] = 0.2;
  return c;
}

/** Feeds [tMs, active cells] frames; returns the times at which regions were confirmed. */
function run(grid: ActivityGrid, frames: [number, [number, number][]][]): number[] {
  return frames.filter(([t, a]) => grid.update(cells(a), t).confirmed > 0).map(([t]) => t);
}

describe('ActivityGrid', () => {
  it('confirms a new region that stays active, confirmMs after its onset', () => {
    const g = new ActivityGrid(OPTS);
    const step = g.update(cells([[0, 1]]), 0);
    expect(step).toMatchObject({ active: 1, started: 1, confirmed: 0 });
    expect(g.pending).toBe(1);
    expect(
      run(g, [
        [100, [[0, 1]]],
        [200, [[0, 1]]],
        [300, [[0, 1]]],
        [400, [[0, 1]]],
      ]),
    ).toEqual([300]);
    expect(g.pending).toBe(0);
  });

  it('drops a one-frame flicker', () => {
    const g = new ActivityGrid(OPTS);
    expect(
      run(g, [
        [0, [[3, 2]]],
        [100, []],
        [200, []],
        [300, []],
        [400, []],
      ]),
    ).toEqual([]);
    expect(g.pending).toBe(0);
  });

  it('does not count a mover crossing into the next cell as new, but counts a second object elsewhere', () => {
    const g = new ActivityGrid(OPTS);
    const confirmed = run(g, [
      [0, [[0, 0]]], // onset
      [100, [[0, 0]]],
      [200, [[1, 0]]], // moved next door: its neighbour was active 100 ms ago
      [300, [[1, 0]]], // onset confirmed (the mover)
      [400, [[2, 0]]],
      [
        500,
        [
          [2, 0],
          [0, 2],
        ],
      ], // a second object far away, in a quiet corner
      [
        600,
        [
          [3, 0],
          [0, 2],
        ],
      ],
      [
        800,
        [
          [3, 0],
          [0, 2],
        ],
      ], // second confirmed
    ]);
    expect(confirmed).toEqual([300, 800]);
  });

  it('needs quietMs of quiet in the cell before its activity is new again', () => {
    const g = new ActivityGrid(OPTS);
    const confirmed = run(g, [
      [0, [[2, 1]]],
      [100, [[2, 1]]],
      [300, [[2, 1]]], // confirmed
      [900, [[2, 1]]], // back after 600 ms: not new
      [1000, [[2, 1]]],
      [1300, [[2, 1]]],
      [2400, [[2, 1]]], // back after 1100 ms of quiet: new
      [2500, [[2, 1]]],
      [2700, [[2, 1]]], // confirmed
    ]);
    expect(confirmed).toEqual([300, 2700]);
  });

  it('markAllActive (a scene cut) and reset clear pending regions', () => {
    const g = new ActivityGrid(OPTS);
    g.update(cells([[1, 1]]), 0);
    g.markAllActive(50);
    expect(g.pending).toBe(0);
    expect(g.update(cells([[3, 2]]), 100).started).toBe(0); // everything was just active
    g.reset();
    expect(g.update(cells([[3, 2]]), 200).started).toBe(1);
    g.clearPending();
    expect(g.pending).toBe(0);
    expect(() => g.update(new Float64Array(5), 300)).toThrow(/expected 12 cells/);
    expect(() => new ActivityGrid({ ...OPTS, cols: 0 })).toThrow(/grid/);
  });

  describe('regression (issue #4): a second person entering next to the first one, still moving', () => {
    // A 6x4 grid, frames every 100 ms. Person A walks in at the right edge (column 5, row 1) and on
    // to the left, one column every 700 ms; person B walks in where A did, 1.8 s later, while A's
    // trail is still 300 ms old in the neighbouring column.
    const G: ActivityGridOptions = { ...OPTS, cols: 6, rows: 4 };
    const at = (col: number, row: number) => row * 6 + col;
    function script(b: [number, number] | null): [number, number[]][] {
      const frames: [number, number[]][] = [];
      for (let t = 0; t <= 2600; t += 100) {
        const a = t < 700 ? 5 : t < 1600 ? 4 : 3; // A's column (walking left)
        const active = [at(a, 1), at(a, 2)];
        if (b !== null && t >= 1800) active.push(at(b[0], b[1]));
        frames.push([t, active]);
      }
      return frames;
    }
    function confirmedAt(grid: ActivityGrid, frames: [number, number[]][]): number[] {
      return frames
        .filter(([t, idx]) => {
          const c = new Float64Array(grid.cells);
          for (const i of idx) c[i] = 0.2;
          return grid.update(c, t).confirmed > 0;
        })
        .map(([t]) => t);
    }

    it("B at the frame edge is new (its neighbours only had A's trail, not A itself)", () => {
      expect(confirmedAt(new ActivityGrid(G), script([5, 1]))).toEqual([300, 2100]);
      // The rule before the fix (the edge judged like the interior) took B for A's continued motion.
      const old = new ActivityGrid({ ...G, edgeNeighbourQuietMs: G.neighbourQuietMs });
      expect(confirmedAt(old, script([5, 1]))).toEqual([300]);
    });

    it('A alone gets one region; A walking out through the edge is not new', () => {
      expect(confirmedAt(new ActivityGrid(G), script(null))).toEqual([300]);
      const g = new ActivityGrid(G);
      const out: [number, number[]][] = [];
      for (let t = 0; t <= 2000; t += 100) out.push([t, [at(Math.min(5, 2 + Math.floor(t / 500)), 1)]]);
      expect(confirmedAt(g, out)).toEqual([300]);
    });

    it('along the edge a neighbour active 300 ms ago still explains the cell (a mover walking along it)', () => {
      // A walks down the right edge (column 5) and pauses 300 ms before stepping into the next row.
      const g = new ActivityGrid(G);
      const along: [number, number[]][] = [
        [0, [at(5, 0)]],
        [100, [at(5, 0)]],
        [200, [at(5, 0)]],
        [300, [at(5, 0)]],
        [400, []],
        [500, []],
        [600, [at(5, 1)]],
        [700, [at(5, 1)]],
        [800, [at(5, 1)]],
        [900, []],
        [1000, []],
        [1100, [at(5, 2)]],
        [1200, [at(5, 2)]],
        [1500, [at(5, 2)]],
      ];
      expect(confirmedAt(g, along)).toEqual([300]);
    });

    it('inside the frame a neighbour active 300 ms ago still explains the cell (no flood of trails)', () => {
      // The same timing one column further in: B's cell (column 4, row 2 of a 6x5 grid) has all
      // 8 neighbours in view, so A's 300 ms old trail next to it is taken for A's continued motion.
      const tall: ActivityGridOptions = { ...OPTS, cols: 6, rows: 5 };
      const idx = (col: number, row: number) => row * 6 + col;
      const frames: [number, number[]][] = [];
      for (let t = 0; t <= 2600; t += 100) {
        const a = t < 700 ? 4 : t < 1600 ? 3 : 2;
        const active = [idx(a, 1), idx(a, 2)];
        if (t >= 1800) active.push(idx(4, 2));
        frames.push([t, active]);
      }
      expect(confirmedAt(new ActivityGrid(tall), frames)).toEqual([300]);
    });

    it('at a low frame rate a mover crossing cells between two frames stays in contact', () => {
      // Frames 1 s apart (longer than every quiet time): the neighbour active in the previous frame
      // still counts, so only the first onset is new.
      const g = new ActivityGrid(G);
      const slow: [number, number[]][] = [0, 1, 2, 3, 4].map((k) => [k * 1000, [at(1 + k, 1)]]);
      expect(confirmedAt(g, slow)).toEqual([1000]);
    });
  });
});
