import jpeg from 'jpeg-js';
import { describe, expect, it } from 'vitest';
import { encodeJpeg, JpegCache } from '../../src/publish/evidence.js';
import { sampleKeyframe } from '../helpers/messages.js';

describe('evidence JPEGs', () => {
  it('encodes the model frame, downscaled, and it decodes back to the same picture', () => {
    const kf = sampleKeyframe('cam', 1, 128, 72);
    const out = encodeJpeg(kf.frame.model, { maxWidth: 64, quality: 90 });
    expect([out.width, out.height]).toEqual([64, 36]);
    const back = jpeg.decode(out.data, { useTArray: true });
    expect([back.width, back.height]).toEqual([64, 36]);
    // The bright square (x 11-29, y 6-24 at full size) is bright after the round trip; the rest is not.
    const at = (x: number, y: number) => back.data[(y * 64 + x) * 4]!;
    expect(at(10, 7)).toBeGreaterThan(200);
    expect(at(40, 30)).toBeLessThan(200);
  });

  it('rejects images with too few bytes', () => {
    expect(() => encodeJpeg({ width: 10, height: 10, format: 'RGB', data: new Uint8Array(10) })).toThrow(
      RangeError,
    );
  });

  it('the cache is a bounded LRU and falls back to the gray frame without model pixels', () => {
    const cache = new JpegCache(2);
    const a = sampleKeyframe('cam', 1);
    const b = sampleKeyframe('cam', 2);
    const c = sampleKeyframe('cam', 3);
    expect(cache.put(a)).toBeDefined();
    cache.put(b);
    cache.get(a.id); // a is now the most recent
    cache.put(c);
    expect(cache.size).toBe(2);
    expect(cache.get(b.id)).toBeUndefined();
    expect(cache.get(a.id)).toBeDefined();
    const light = {
      ...c,
      id: 'cam:9',
      frame: { ...c.frame, model: { ...c.frame.model, data: new Uint8Array(0) } },
    };
    expect(cache.put(light)?.width).toBe(16);
  });
});
