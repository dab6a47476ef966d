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
});
