import { describe, expect, it } from 'vitest';
import type { Image } from '../../src/core/contracts.js';
import { VigilError } from '../../src/core/errors.js';
import { histogram, histogramDistance, meanAbsDiff, motionScore } from '../../src/stream/index.js';

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
