import { describe, expect, it } from 'vitest';
import { ctcDecode, cropRgb, resizeRgb, textRegions } from '../../src/infer/ocr.js';
import { pcmToFloat32, SpeechSegmenter } from '../../src/infer/vad.js';
import { deserializeBytes, serializeBytes } from '../../src/infer/tensor.js';

describe('CTC greedy decoding', () => {
  const dict = ['a', 'b', 'c'];
  /** One-hot-ish rows: the best class per step, with probability p. */
  const rows = (best: number[], classes: number, p = 0.9): Float32Array => {
    const out = new Float32Array(best.length * classes).fill((1 - p) / (classes - 1));
    best.forEach((c, t) => (out[t * classes + c] = p));
    return out;
  };

  it('merges repeats, drops blanks, maps the class after the dictionary to a space', () => {
    // classes: 0 blank, 1 a, 2 b, 3 c, 4 space
    const best = [1, 1, 0, 1, 2, 4, 0, 3, 3, 0];
    expect(ctcDecode(rows(best, 5), best.length, 5, dict)).toEqual({
      text: 'aab c',
      score: expect.closeTo(0.9, 5),
    });
    expect(ctcDecode(rows([0, 0], 5), 2, 5, dict)).toEqual({ text: '', score: 0 });
    // Without a space class (C = dictionary + 1).
    expect(ctcDecode(rows([3, 2, 1], 4), 3, 4, dict).text).toBe('cba');
    expect(() => ctcDecode(rows([1], 9), 1, 9, dict)).toThrow(/9 classes/);
  });
});

describe('text regions from a probability map', () => {
  it('finds separate components, grows them by the unclip distance and drops weak or tiny ones', () => {
    const w = 40;
    const h = 20;
    const prob = new Float32Array(w * h);
    const fill = (x0: number, y0: number, x1: number, y1: number, p: number) => {
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) prob[y * w + x] = p;
    };
    fill(4, 4, 14, 8, 0.9); // a 10x4 line
    fill(20, 10, 36, 16, 0.8); // a 16x6 line
    fill(0, 18, 2, 20, 0.95); // 2x2: too small
    fill(30, 0, 38, 6, 0.4); // above the pixel threshold but weak on average
    const regions = textRegions(prob, w, h, { pixelThreshold: 0.3, boxThreshold: 0.6, unclipRatio: 1.5 });
    expect(regions).toHaveLength(2);
    const d = (10 * 4 * 1.5) / (2 * 14);
    expect(regions[0]!.box).toEqual({ x: 4 - d, y: 4 - d, w: 10 + 2 * d, h: 4 + 2 * d });
    expect(regions[0]!.score).toBeCloseTo(0.9, 5);
    expect(regions[1]!.box.x).toBeLessThan(20);
  });

  it('resizes bilinearly (constant stays constant) and crops within bounds', () => {
    const src = new Uint8Array(4 * 4 * 3).fill(77);
    expect(Array.from(new Set(resizeRgb(src, 4, 4, 9, 3)))).toEqual([77]);
    const img = {
      width: 4,
      height: 4,
      format: 'RGB' as const,
      data: Uint8Array.from({ length: 48 }, (_, i) => i),
    };
    const c = cropRgb(img, { x: 2.5, y: 3, w: 10, h: 10 });
    expect([c.width, c.height]).toEqual([2, 1]);
    expect(Array.from(c.data)).toEqual(Array.from(img.data.subarray(42, 48)));
  });
});

describe('speech segmentation (Silero rules)', () => {
  const opts = { threshold: 0.5, minSpeechMs: 100, minSilenceMs: 64, speechPadMs: 10 };
  const feed = (probs: number[]) => {
    const s = new SpeechSegmenter(opts);
    const ended = probs.map((p, i) => s.push({ startMs: i * 32, probability: p }, 32)).filter((x) => x);
    return { ended, s, endMs: probs.length * 32 };
  };

  it('starts at the threshold, ends after min silence, pads, and keeps short dips inside', () => {
    const { ended } = feed([0.1, 0.9, 0.9, 0.2, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1]);
    expect(ended).toEqual([{ startMs: 22, endMs: 234, probability: expect.any(Number) }]);
  });

  it('drops speech shorter than minSpeechMs; flush closes an open segment', () => {
    expect(feed([0.9, 0.1, 0.1, 0.1]).ended).toEqual([]);
    const { s, endMs } = feed([0.1, 0.9, 0.9, 0.9, 0.9]);
    expect(s.current()).toMatchObject({ startMs: 22, endMs: null });
    expect(s.finish(endMs)).toMatchObject({ startMs: 22, endMs: 170 });
    expect(s.current()).toBeNull();
  });

  it('converts Int16 PCM to floats', () => {
    expect(Array.from(pcmToFloat32(Int16Array.from([-32768, 0, 16384])))).toEqual([-1, 0, 0.5]);
  });
});

describe('BYTES tensors (KServe v2 raw form)', () => {
  it('round-trips elements and refuses truncated data', () => {
    const raw = serializeBytes([Buffer.from('ab'), Buffer.alloc(0), Buffer.from('é')]);
    expect(Array.from(raw.subarray(0, 6))).toEqual([2, 0, 0, 0, 97, 98]);
    expect(deserializeBytes(raw).map((b) => b.toString())).toEqual(['ab', '', 'é']);
    expect(() => deserializeBytes(Uint8Array.from([5, 0, 0, 0, 1]))).toThrow(RangeError);
    expect(() => deserializeBytes(Uint8Array.from([1, 0]))).toThrow(RangeError);
  });
});
