import { describe, expect, it } from 'vitest';
import type { Image } from '../../src/core/contracts.js';
import { VigilError } from '../../src/core/errors.js';
import {
  cellMotion,
  frameFeatures,
  histogram,
  histogramDistance,
  layoutDistance,
  meanAbsDiff,
  motionScore,
  thumbnail,
} from '../../src/stream/index.js';

const W = 32;
const H = 24;

function gray(fill: number | ((x: number, y: number) => number), w = W, h = H): Image {
  const data = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) data[y * w + x] = typeof fill === 'number' ? fill : fill(x, y);
  }
  return { width: w, height: h, format: 'GRAY8', data };
}

/** A mid-gray background with an 8x8 white block at (bx, by). */
function block(bx: number, by: number): Image {
  return gray((x, y) => (x >= bx && x < bx + 8 && y >= by && y < by + 8 ? 255 : 100));
}

/** Deterministic pseudo-random noise of amplitude ±amp around `base`. */
function noisy(base: number, amp: number, seed: number): Image {
  let s = seed;
  return gray(() => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return base + ((s % (2 * amp + 1)) - amp);
  });
}

describe('motionScore', () => {
  it('is 0 for identical frames', () => {
    expect(motionScore(block(4, 4), block(4, 4))).toBe(0);
    expect(meanAbsDiff(block(4, 4), block(4, 4))).toBe(0);
  });

  it('is the fraction of changed pixels for a moved block', () => {
    // Moving an 8x8 block by 8 px changes its old and new positions: 128 of 768 pixels.
    const s = motionScore(block(4, 4), block(12, 4));
    expect(s).toBeCloseTo(128 / (W * H), 10);
    expect(s).toBeGreaterThan(0.02);
    expect(meanAbsDiff(block(4, 4), block(12, 4))).toBeGreaterThan(0);
  });

  it('ignores sensor noise below the threshold', () => {
    const a = noisy(120, 10, 1);
    const b = noisy(120, 10, 2);
    expect(meanAbsDiff(a, b)).toBeGreaterThan(0); // the frames do differ...
    expect(motionScore(a, b)).toBe(0); // ...but only by noise
    expect(motionScore(a, b, 5)).toBeGreaterThan(0); // a lower threshold sees it
  });

  it('scores a size change as 1 and rejects non-GRAY8 input', () => {
    expect(motionScore(gray(0, 32, 24), gray(0, 16, 12))).toBe(1);
    const rgb: Image = { width: 2, height: 2, format: 'RGB', data: new Uint8Array(12) };
    expect(() => motionScore(rgb, rgb)).toThrow(VigilError);
    const short: Image = { width: 4, height: 4, format: 'GRAY8', data: new Uint8Array(3) };
    expect(() => motionScore(short, short)).toThrow(/needs 16 bytes/);
  });
});

describe('histogram / histogramDistance', () => {
  it('normalises to 1', () => {
    const h = histogram(block(0, 0));
    expect(h).toHaveLength(32);
    expect(h.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('is 0 for the same image and ~1 for black vs white', () => {
    const img = block(3, 5);
    expect(histogramDistance(histogram(img), histogram(img))).toBe(0);
    expect(histogramDistance(histogram(gray(0)), histogram(gray(255)))).toBeCloseTo(1, 12);
  });

  it('is small for a moved object and for noise, large for a different scene', () => {
    expect(histogramDistance(histogram(block(0, 0)), histogram(block(20, 10)))).toBe(0);
    expect(histogramDistance(histogram(noisy(120, 10, 1)), histogram(noisy(120, 10, 2)))).toBeLessThan(0.1);
    const dark = histogram(gray((x) => x * 2));
    const bright = histogram(gray((x) => 180 + x * 2));
    expect(histogramDistance(dark, bright)).toBeGreaterThan(0.9);
  });

  it('rejects mismatched bins and bad bin counts', () => {
    expect(() => histogramDistance(new Float64Array(32), new Float64Array(16))).toThrow(/bin counts differ/);
    expect(() => histogram(gray(0), 0)).toThrow(/bins/);
    expect(() => histogram(gray(0), 1.5)).toThrow(/bins/);
  });
});

describe('cellMotion / thumbnail / layoutDistance', () => {
  it('puts the changed pixels in the cells where they are, and returns the motion score', () => {
    // 4x3 grid of 8x8 cells; the block moves from cell (0,0) to cell (1,0) by 8 px.
    const cells = new Float64Array(12);
    const m = cellMotion(block(0, 0), block(8, 0), cells, 4, 3);
    expect(m).toBeCloseTo(motionScore(block(0, 0), block(8, 0)), 12);
    expect(cells[0]).toBe(1);
    expect(cells[1]).toBe(1);
    expect([...cells.slice(2)].every((c) => c === 0)).toBe(true);
    expect(cellMotion(noisy(120, 10, 1), noisy(120, 10, 2), cells, 4, 3)).toBe(0);
    expect(cellMotion(gray(0, 32, 24), gray(0, 16, 12), cells, 4, 3)).toBe(1);
    expect([...cells].every((c) => c === 1)).toBe(true);
    expect(() => cellMotion(block(0, 0), block(0, 0), new Float64Array(5), 4, 3)).toThrow(/12 entries/);
    expect(() => cellMotion(gray(0, 2, 2), gray(0, 2, 2), cells, 4, 3)).toThrow(/smaller than the 4x3 grid/);
  });

  it('thumbnails are cell means; the layout distance sees where brightness is, not only how much', () => {
    const t = thumbnail(block(0, 0), 4, 3);
    expect(t[0]).toBe(255);
    expect(t[1]).toBe(100);
    // Same histogram (a block moved far), different layout.
    const a = thumbnail(block(0, 0), 4, 3);
    const b = thumbnail(block(24, 16), 4, 3);
    expect(histogramDistance(histogram(block(0, 0)), histogram(block(24, 16)))).toBe(0);
    expect(layoutDistance(a, b)).toBeCloseTo((2 * 155) / (12 * 255), 12);
    expect(layoutDistance(a, a)).toBe(0);
    expect(layoutDistance(thumbnail(gray(0)), thumbnail(gray(255)))).toBe(1);
    // Noise barely moves cell means.
    expect(layoutDistance(thumbnail(noisy(120, 10, 1)), thumbnail(noisy(120, 10, 2)))).toBeLessThan(0.02);
    expect(() => layoutDistance(new Float64Array(4), new Float64Array(5))).toThrow(/differ in size/);
  });
});

describe('frameFeatures', () => {
  /** Pseudo-random gray image (deterministic), any size. */
  function random(w: number, h: number, seed: number): Image {
    let s = seed;
    const data = new Uint8Array(w * h);
    for (let i = 0; i < data.length; i++) {
      s = (s * 1103515245 + 12345) & 0x7fffffff;
      data[i] = s >>> 23;
    }
    return { width: w, height: h, format: 'GRAY8', data };
  }

  it('matches the per-pixel definitions on odd sizes, grids, bins and thresholds (unrolled loop, tails)', () => {
    for (const [w, h, cols, rows, bins, t] of [
      [160, 90, 16, 12, 32, 25],
      [37, 23, 5, 4, 17, 0],
      [13, 7, 13, 7, 256, 254],
      [29, 11, 3, 2, 32, -1],
    ] as const) {
      const prev = random(w, h, w);
      const cur = random(w, h, h);
      const f = frameFeatures(prev, cur, cols, rows, bins, t);
      expect(f.motion).toBeCloseTo(t < 0 ? 1 : motionScore(prev, cur, t), 12);
      const hist = histogram(cur, bins);
      for (let i = 0; i < bins; i++) expect(f.hist[i]).toBeCloseTo(hist[i] as number, 12);
      // Cell c spans [floor(c * w / cols), floor((c + 1) * w / cols)), likewise rows.
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          let sum = 0;
          let changed = 0;
          let n = 0;
          for (let y = Math.floor((r * h) / rows); y < Math.floor(((r + 1) * h) / rows); y++) {
            for (let x = Math.floor((c * w) / cols); x < Math.floor(((c + 1) * w) / cols); x++) {
              const v = cur.data[y * w + x] as number;
              sum += v;
              if (Math.abs((prev.data[y * w + x] as number) - v) > t) changed++;
              n++;
            }
          }
          expect(f.thumb[r * cols + c]).toBeCloseTo(sum / n, 9);
          expect(f.cells[r * cols + c]).toBeCloseTo(changed / n, 12);
        }
      }
    }
  });

  /** The same pixels at a byte offset of 1: frameFeatures then reads them byte by byte. */
  function unaligned(img: Image): Image {
    const data = new Uint8Array(img.data.length + 1).subarray(1);
    data.set(img.data);
    return { ...img, data };
  }

  it('reads aligned planes four pixels at a time with exactly the byte-by-byte results', () => {
    // Every pair of gray levels (prev = column, cur = row), at thresholds where the word test's
    // lanes are at their limits.
    const levels = (f: (x: number, y: number) => number): Image => {
      const data = new Uint8Array(256 * 256);
      for (let y = 0; y < 256; y++) for (let x = 0; x < 256; x++) data[y * 256 + x] = f(x, y);
      return { width: 256, height: 256, format: 'GRAY8', data };
    };
    const pairs = [levels((x) => x), levels((_, y) => y)] as const;
    const cases: [Image, Image, number, number, number][] = [];
    for (const t of [0, 1, 25, 127, 128, 253, 254]) cases.push([...pairs, 16, 16, t], [...pairs, 7, 5, t]);
    // Widths that are not a multiple of 4 and cells that split words.
    for (const [w, h, cols, rows, t] of [
      [160, 90, 16, 12, 25],
      [161, 91, 16, 12, 25],
      [37, 23, 5, 4, 0],
      [6, 5, 3, 2, 3],
    ] as const) {
      cases.push([random(w, h, 3 * w), random(w, h, 5 * h), cols, rows, t]);
    }
    for (const [prev, cur, cols, rows, t] of cases) {
      const words = frameFeatures(prev, cur, cols, rows, 32, t);
      const bytes = frameFeatures(unaligned(prev), unaligned(cur), cols, rows, 32, t);
      expect(words).toEqual(bytes);
      expect(words.motion).toBe(motionScore(prev, cur, t));
    }
  });
});
