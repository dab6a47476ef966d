import { describe, expect, it } from 'vitest';
import { UpstreamLoss } from '../../src/ingest/counters.js';
import {
  grayFromI420,
  i420Layout,
  parseColorimetry,
  resampleTable,
  rgbFromI420,
  rgbFromI420Scaled,
  type Colorimetry,
} from '../../src/ingest/yuv.js';

/** An I420 frame of one colour. */
function solid(width: number, height: number, y: number, u: number, v: number) {
  const layout = i420Layout(width, height);
  const data = new Uint8Array(layout.size);
  data.fill(y, 0, layout.uOffset);
  data.fill(u, layout.uOffset, layout.vOffset);
  data.fill(v, layout.vOffset);
  return { layout, data };
}

function rgbOf(y: number, u: number, v: number, c: Colorimetry): number[] {
  const { layout, data } = solid(4, 2, y, u, v);
  return [...rgbFromI420(data, layout, c).data.subarray(0, 3)];
}

/** Deterministic pseudo-random bytes. */
function noise(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

describe('I420 layout', () => {
  it("follows GStreamer's default strides and offsets, odd sizes included", () => {
    expect(i420Layout(640, 480)).toEqual({
      width: 640,
      height: 480,
      yStride: 640,
      uvStride: 320,
      uOffset: 640 * 480,
      vOffset: 640 * 480 + 320 * 240,
      size: (640 * 480 * 3) / 2,
    });
    // 7x5: Y rows padded to 8, chroma 4x3 with rows padded to 4, planes sized for even heights.
    expect(i420Layout(7, 5)).toMatchObject({ yStride: 8, uvStride: 4, uOffset: 48, vOffset: 60, size: 72 });
  });
});

describe('RGB from I420', () => {
  const bt601: Colorimetry = { matrix: 'bt601', fullRange: false };
  const bt709: Colorimetry = { matrix: 'bt709', fullRange: false };
  it('maps limited-range black, white and the primaries of BT.601 and BT.709', () => {
    expect(rgbOf(16, 128, 128, bt601)).toEqual([0, 0, 0]);
    expect(rgbOf(235, 128, 128, bt601)).toEqual([255, 255, 255]);
    const near = (got: number[], want: number[]) =>
      got.forEach((g, i) => expect(Math.abs(g - want[i]!)).toBeLessThanOrEqual(2));
    near(rgbOf(81, 90, 240, bt601), [255, 0, 0]);
    near(rgbOf(145, 54, 34, bt601), [0, 255, 0]);
    near(rgbOf(41, 240, 110, bt601), [0, 0, 255]);
    near(rgbOf(63, 102, 240, bt709), [255, 0, 0]);
    near(rgbOf(173, 42, 26, bt709), [0, 255, 0]);
    near(rgbOf(32, 240, 118, bt709), [0, 0, 255]);
  });
  it('clamps out-of-range codes and honours full range (JPEG, webcams)', () => {
    expect(rgbOf(0, 128, 128, bt601)).toEqual([0, 0, 0]);
    expect(rgbOf(255, 128, 128, bt601)).toEqual([255, 255, 255]);
    const jpeg = parseColorimetry('1:4:0:0', 480);
    expect(jpeg).toEqual({ matrix: 'bt601', fullRange: true });
    expect(rgbOf(128, 128, 128, jpeg)).toEqual([128, 128, 128]);
    expect(rgbOf(235, 128, 128, jpeg)).toEqual([235, 235, 235]);
  });
  it('shares each chroma sample between a 2x2 block, odd sizes included', () => {
    const layout = i420Layout(3, 3);
    const data = new Uint8Array(layout.size).fill(128);
    data.fill(235, 0, layout.uOffset);
    data[layout.vOffset + 1] = 240; // chroma column 1, row 0: pixels x=2, y=0..1 turn red-ish
    const rgb = rgbFromI420(data, layout, bt601);
    expect(rgb.data.length).toBe(27);
    const px = (x: number, y: number) => [...rgb.data.subarray((y * 3 + x) * 3, (y * 3 + x) * 3 + 3)];
    expect(px(0, 0)).toEqual([255, 255, 255]);
    expect(px(2, 0)[1]).toBeLessThan(200);
    expect(px(2, 1)).toEqual(px(2, 0));
    expect(px(2, 2)).toEqual([255, 255, 255]);
  });
});

describe('colorimetry', () => {
  it('reads names and numeric forms; defaults by size like GStreamer (BT.709 from 720 lines)', () => {
    expect(parseColorimetry('bt709', 480)).toEqual({ matrix: 'bt709', fullRange: false });
    expect(parseColorimetry('bt601', 1080)).toEqual({ matrix: 'bt601', fullRange: false });
    expect(parseColorimetry('2:3:5:1', 480)).toEqual({ matrix: 'bt709', fullRange: false });
    expect(parseColorimetry('bt2020', 2160)).toEqual({ matrix: 'bt2020', fullRange: false });
    expect(parseColorimetry(undefined, 576)).toEqual({ matrix: 'bt601', fullRange: false });
    expect(parseColorimetry(undefined, 720)).toEqual({ matrix: 'bt709', fullRange: false });
    expect(parseColorimetry('nonsense', 1080)).toEqual({ matrix: 'bt709', fullRange: false });
  });
});

describe('gray from I420', () => {
  /** Straightforward area mean, the reference for both code paths. */
  function naive(data: Uint8Array, w: number, h: number, stride: number, ow: number, oh: number): number[] {
    const edge = (o: number, n: number, on: number) => [
      Math.floor((o * n) / on),
      Math.max(Math.floor((o * n) / on) + 1, Math.floor(((o + 1) * n) / on)),
    ];
    const out: number[] = [];
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const [y0, y1] = edge(oy, h, oh);
        const [x0, x1] = edge(ox, w, ow);
        let sum = 0;
        for (let y = y0!; y < y1!; y++) for (let x = x0!; x < x1!; x++) sum += data[y * stride + x]!;
        const n = (y1! - y0!) * (x1! - x0!);
        out.push(Math.floor((sum + (n >> 1)) / n));
      }
    }
    return out;
  }
  it('is the mean of the Y samples each output pixel covers (word path, misaligned and odd sizes)', () => {
    for (const [w, h, ow, oh, offset] of [
      [640, 360, 160, 90, 0],
      [640, 480, 160, 120, 1],
      [642, 362, 160, 90, 0],
      [100, 75, 30, 23, 0],
    ] as const) {
      const layout = i420Layout(w, h);
      const backing = noise(layout.size + offset);
      const data = backing.subarray(offset);
      const gray = grayFromI420(data, layout, ow, oh);
      expect([gray.width, gray.height, gray.format]).toEqual([ow, oh, 'GRAY8']);
      expect([...gray.data]).toEqual(naive(data, w, h, layout.yStride, ow, oh));
    }
  });
  it('keeps a flat Y plane flat (no range change: GStreamer GRAY8 from I420 is Y)', () => {
    const { layout, data } = solid(64, 48, 200, 10, 250);
    expect(new Set(grayFromI420(data, layout, 16, 12).data)).toEqual(new Set([200]));
  });
});

describe('upstream loss from PTS', () => {
  const F = 1e9 / 30;
  /** Feeds PTS (in frames) with one arrival each; returns the total counted lost. */
  function feed(ptsFrames: number[], loss = new UpstreamLoss()): number {
    let lost = 0;
    ptsFrames.forEach((p, i) => (lost += loss.observe(Math.round(p * F), i + 1, F)));
    return lost;
  }
  const steady = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
  it('ignores arrival jitter of a frame or two (RTP timestamps under load)', () => {
    // PTS deltas as measured on a loaded machine: 10, 40, 21, 28, 0, 26, 14, 68 ms, then steady.
    const ms = [0, 10, 50, 71, 99, 99.5, 125, 139, 207];
    const jittery = ms.map((m) => m / (F / 1e6));
    const last = jittery[jittery.length - 1]!;
    expect(feed([...jittery, ...steady(Math.ceil(last) + 1, 100)])).toBe(0);
    const wobble = steady(0, 300).map((p, i) => p + (i % 3 === 0 ? 1.2 : i % 3 === 1 ? -0.4 : 0.3));
    expect(feed(wobble)).toBe(0);
  });
  it('counts a lasting gap exactly, once', () => {
    expect(feed([...steady(0, 50), ...steady(53, 50)])).toBe(3);
    expect(feed([...steady(0, 50), ...steady(51, 50), ...steady(103, 50)])).toBe(3);
  });
  it('follows slow drift (29.97 fps announced as 30) and restarts when PTS goes back', () => {
    expect(feed(steady(0, 3000).map((p) => p * (30 / 29.97)))).toBe(0);
    expect(feed([...steady(100, 50), ...steady(0, 50)])).toBe(0);
  });
  it('leaves frames the appsink dropped to the appsink counter, and needs a frame rate', () => {
    const loss = new UpstreamLoss();
    let lost = 0;
    for (let i = 0; i < 100; i++) lost += loss.observe(i * F, i + 1 + (i >= 50 ? 4 : 0), F);
    expect(lost).toBe(0);
    expect(new UpstreamLoss().observe(5, 1, 0)).toBe(0);
  });
});

describe('scaled RGB from I420 (the model frame from the decoded frame)', () => {
  const bt601: Colorimetry = { matrix: 'bt601', fullRange: false };
  /** The weights of output sample o of a table, as input index → weight. */
  function taps(table: Int32Array, o: number): Map<number, number> {
    const n = table[0]!;
    const at = 1 + o * (1 + n);
    const m = new Map<number, number>();
    for (let k = 0; k < n; k++) if (table[at + 1 + k]! !== 0) m.set(table[at]! + k, table[at + 1 + k]!);
    return m;
  }
  it('weighs each output sample to exactly one, inside the input, for shrinking, equal and enlarging sizes', () => {
    for (const [input, output] of [
      [1280, 640],
      [1920, 640],
      [768, 640],
      [641, 640],
      [7, 3],
      [640, 640],
      [320, 640],
      [1, 5],
      [3, 7],
    ] as const) {
      const t = resampleTable(input, output);
      for (let o = 0; o < output; o++) {
        const m = taps(t, o);
        expect([...m.values()].reduce((a, b) => a + b, 0)).toBe(1 << 14);
        for (const i of m.keys()) expect(i >= 0 && i < input).toBe(true);
      }
    }
    // Halving averages pairs; equal sizes copy; doubling interpolates between neighbours.
    expect([...taps(resampleTable(1280, 640), 5)]).toEqual([
      [10, 8192],
      [11, 8192],
    ]);
    expect([...taps(resampleTable(640, 640), 9)]).toEqual([[9, 16384]]);
    expect([...taps(resampleTable(320, 640), 9)]).toEqual([
      [4, 12288],
      [5, 4096],
    ]);
    // A third of the way: the partial sample counts for the part the output covers.
    expect([...taps(resampleTable(4, 3), 1)]).toEqual([
      [1, 8192],
      [2, 8192],
    ]);
  });
  it('keeps flat colours flat and equals the unscaled conversion at the same size', () => {
    const { layout, data } = solid(1280, 720, 120, 90, 200);
    const scaled = rgbFromI420Scaled(data, layout, bt601, 640, 360);
    expect([scaled.width, scaled.height, scaled.data.length]).toEqual([640, 360, 640 * 360 * 3]);
    const one = rgbFromI420(solid(2, 2, 120, 90, 200).data, i420Layout(2, 2), bt601).data;
    const pixels = new Set<string>();
    for (let i = 0; i < scaled.data.length; i += 3) pixels.add(scaled.data.subarray(i, i + 3).join());
    expect([...pixels]).toEqual([one.subarray(0, 3).join()]);
  });
  it('averages the area each output pixel covers (no nearest-neighbour aliasing)', () => {
    // Alternate black and white columns: halving gives mid gray everywhere, not one of the two.
    const layout = i420Layout(64, 16);
    const data = new Uint8Array(layout.size).fill(128);
    for (let y = 0; y < 16; y++) for (let x = 0; x < 64; x++) data[y * layout.yStride + x] = x % 2 ? 235 : 16;
    const half = rgbFromI420Scaled(data, layout, bt601, 32, 8);
    const mid = Math.round(((125.5 - 16) * 255) / 219);
    for (const v of half.data) expect(Math.abs(v - mid)).toBeLessThanOrEqual(1);
    // Against the full-size conversion averaged over each 2x2 block, within a level.
    // Noise that stays inside the colour range (no clamping), so both orders agree.
    const noisy = i420Layout(40, 30);
    const bytes = noise(noisy.size, 3).map((b, i) => (i < noisy.uOffset ? 50 + (b % 130) : 118 + (b % 20)));
    const full = rgbFromI420(bytes, noisy, bt601).data;
    const small = rgbFromI420Scaled(bytes, noisy, bt601, 20, 15).data;
    let worst = 0;
    for (let y = 0; y < 15; y++) {
      for (let x = 0; x < 20; x++) {
        for (let c = 0; c < 3; c++) {
          let sum = 0;
          for (const [dx, dy] of [
            [0, 0],
            [1, 0],
            [0, 1],
            [1, 1],
          ] as const)
            sum += full[((2 * y + dy) * 40 + 2 * x + dx) * 3 + c]!;
          worst = Math.max(worst, Math.abs(small[(y * 20 + x) * 3 + c]! - sum / 4));
        }
      }
    }
    expect(worst).toBeLessThanOrEqual(1.5);
  });
});
