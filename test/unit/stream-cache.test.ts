import { describe, expect, it } from 'vitest';
import type { Analysis, Frame, Image, Keyframe, KeyframeReason } from '../../src/core/contracts.js';
import { ConfigError } from '../../src/core/errors.js';
import {
  AnalysisCache,
  cachedAnalyze,
  dHash,
  hammingDistance,
  type CacheOptions,
} from '../../src/stream/index.js';

const W = 64;
const H = 48;
function gray(fill: (x: number, y: number) => number): Image {
  const data = new Uint8Array(W * H);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) data[y * W + x] = fill(x, y);
  return { width: W, height: H, format: 'GRAY8', data };
}
/** Horizontal gradient plus a bright block at bx: different bx = different picture. */
const scene = (bx: number, noise = 0): Image =>
  gray((x, y) =>
    Math.min(
      255,
      (x * 3 + ((x * 7 + y * 13) % 5) * noise + (x >= bx && x < bx + 16 && y > 10 && y < 30 ? 120 : 0)) % 256,
    ),
  );

function keyframe(
  seq: number,
  ptsMs: number,
  img: Image,
  reason: KeyframeReason = 'max-interval',
  stream = 'cam',
): Keyframe {
  const frame: Frame = {
    streamId: stream,
    seq,
    ptsNs: ptsMs * 1e6,
    captureTimeMs: 1_700_000_000_000 + ptsMs,
    sourceWidth: 640,
    sourceHeight: 480,
    analysis: img,
    model: { width: 1, height: 1, format: 'RGB', data: new Uint8Array(3) },
  };
  return {
    id: `${stream}:${seq}`,
    frame,
    reason,
    motionScore: 0,
    sceneScore: 0,
    sincePreviousMs: 5000,
    phash: dHash(img),
  };
}

function analysis(kf: Keyframe, n = 1, text: string[] = []): Analysis {
  return {
    keyframeId: kf.id,
    streamId: kf.frame.streamId,
    ptsNs: kf.frame.ptsNs,
    captureTimeMs: kf.frame.captureTimeMs,
    available: true,
    detections: Array.from({ length: n }, (_, i) => ({
      label: 'person',
      classId: 0,
      score: 0.9,
      box: { x: i, y: 0, w: 5, h: 5 },
    })),
    text,
    model: { name: 'yolo', version: '1' },
    inferenceMs: 40,
  };
}

describe('perceptual hash', () => {
  it('is stable under noise and differs for a different picture', () => {
    const a = dHash(scene(5));
    expect(a).toMatch(/^[0-9a-f]{16}$/);
    expect(hammingDistance(a, dHash(scene(5, 1)))).toBeLessThanOrEqual(4);
    expect(hammingDistance(a, dHash(scene(40)))).toBeGreaterThan(8);
    expect(hammingDistance(a, a)).toBe(0);
    expect(hammingDistance('0000000000000000', 'ffffffffffffffff')).toBe(64);
  });
});

describe('AnalysisCache', () => {
  it('reuses a near-duplicate analysis, re-addressed to the new keyframe, and reports the hit rate', async () => {
    const cache = new AnalysisCache();
    let calls = 0;
    const analyze = cachedAnalyze(cache, (kf) => {
      calls++;
      return Promise.resolve(analysis(kf, 2, ['EXIT']));
    });
    const first = await analyze(keyframe(0, 0, scene(5)));
    const again = await analyze(keyframe(1, 5000, scene(5, 1)));
    const other = await analyze(keyframe(2, 10_000, scene(40)));
    expect(calls).toBe(2);
    expect(first.cachedFrom).toBeUndefined();
    expect(again).toMatchObject({
      keyframeId: 'cam:1',
      ptsNs: 5000e6,
      inferenceMs: 0,
      cachedFrom: 'cam:0',
      text: ['EXIT'],
    });
    expect(again.detections).toEqual(first.detections);
    expect(again.detections).not.toBe(first.detections); // a copy: consumers may mutate
    expect(other.cachedFrom).toBeUndefined();
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 2, entries: 2, hitRate: 1 / 3 });
  });

  it('never reuses for motion or scene-cut keyframes (something changed), other streams, or stale entries', () => {
    const cache = new AnalysisCache({ maxAgeMs: 10_000 });
    const k0 = keyframe(0, 0, scene(5));
    cache.store(k0, analysis(k0));
    expect(cache.lookup(keyframe(1, 100, scene(5), 'motion'))).toBeNull();
    expect(cache.lookup(keyframe(2, 100, scene(5), 'scene-cut'))).toBeNull();
    expect(cache.lookup(keyframe(3, 100, scene(5), 'max-interval', 'other'))).toBeNull();
    expect(cache.lookup(keyframe(4, 20_000, scene(5)))).toBeNull(); // older than maxAgeMs
    expect(cache.lookup(keyframe(5, 9_000, scene(5)))).not.toBeNull();
    expect(cache.stats()).toMatchObject({ skipped: 2, misses: 2, hits: 1 });
  });

  it('does not store unavailable analyses', () => {
    const cache = new AnalysisCache();
    const k = keyframe(0, 0, scene(5));
    cache.store(k, { ...analysis(k), available: false, detections: [] });
    expect(cache.stats()).toMatchObject({ entries: 0, notStored: 1 });
  });

  it('is an LRU bounded in entries and in bytes', () => {
    const byEntries = new AnalysisCache({ maxEntries: 3 });
    for (let i = 0; i < 10; i++) {
      const k = keyframe(i, i, scene(i * 3));
      byEntries.store(k, analysis(k));
    }
    expect(byEntries.stats()).toMatchObject({ entries: 3, evictions: 7 });
    // The most recent three survive.
    expect(byEntries.lookup(keyframe(99, 20, scene(27)))?.cachedFrom).toBe('cam:9');

    const byBytes = new AnalysisCache({ maxBytes: 4000 });
    for (let i = 0; i < 10; i++) {
      const k = keyframe(i, i, scene(i * 3));
      byBytes.store(k, analysis(k, 10));
    }
    const st = byBytes.stats();
    expect(st.bytes).toBeLessThanOrEqual(4000);
    expect(st.entries).toBeGreaterThan(0);
    expect(st.entries + st.evictions).toBe(10);
  });

  it('a hit refreshes recency', () => {
    const cache = new AnalysisCache({ maxEntries: 2 });
    const [a, b, c] = [keyframe(0, 0, scene(0)), keyframe(1, 1, scene(24)), keyframe(2, 2, scene(48))];
    cache.store(a, analysis(a));
    cache.store(b, analysis(b));
    expect(cache.lookup(keyframe(3, 3, scene(0)))).not.toBeNull(); // touches a
    cache.store(c, analysis(c)); // evicts b, not a
    expect(cache.lookup(keyframe(4, 4, scene(0)))?.cachedFrom).toBe('cam:0');
    expect(cache.lookup(keyframe(5, 5, scene(24)))).toBeNull();
  });

  it('validates options', () => {
    const bad: [CacheOptions, RegExp][] = [
      [{ maxHammingDistance: 65 }, /maxHammingDistance/],
      [{ maxEntries: 0 }, /maxEntries/],
      [{ maxBytes: 0.5 }, /maxBytes/],
      [{ reuseReasons: ['sometimes' as KeyframeReason] }, /reuseReasons/],
      [{ size: 3 } as unknown as CacheOptions, /unknown option 'size'/],
    ];
    for (const [o, msg] of bad) {
      expect(() => new AnalysisCache(o)).toThrow(ConfigError);
      expect(() => new AnalysisCache(o)).toThrow(msg);
    }
  });
});
