import { describe, expect, it } from 'vitest';
import { UpstreamLoss } from '../../src/ingest/counters.js';
import {
  grayFromI420,
  i420Layout,
  parseColorimetry,
  rgbFromI420,
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
