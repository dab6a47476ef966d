import { describe, expect, it } from 'vitest';
import {
  annotate,
  annotateJpeg,
  crop,
  cropJpeg,
  decodeJpeg,
  drawText,
  overlaps,
  placeLabels,
  strokeRect,
  trackColor,
  trackLabel,
  type Rect,
  type RgbImage,
} from '../../src/publish/annotate.js';
import { encodeJpeg } from '../../src/publish/evidence.js';
import { glyph, textSize } from '../../src/publish/font.js';

function blank(width: number, height: number, v = 0): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3).fill(v) };
}
const px = (img: RgbImage, x: number, y: number) => {
  const i = (y * img.width + x) * 3;
  return [img.data[i]!, img.data[i + 1]!, img.data[i + 2]!];
};

describe('annotated evidence: drawing', () => {
  it('strokes a box inside its edges and leaves the inside and outside alone', () => {
    const img = blank(40, 30);
    strokeRect(img, { x: 10, y: 5, w: 20, h: 15 }, [255, 0, 0], 2);
    expect(px(img, 10, 5)).toEqual([255, 0, 0]);
    expect(px(img, 11, 12)).toEqual([255, 0, 0]); // left edge, 2 px wide
    expect(px(img, 29, 19)).toEqual([255, 0, 0]); // bottom-right corner (inside the box)
    expect(px(img, 12, 12)).toEqual([0, 0, 0]); // inside
    expect(px(img, 9, 12)).toEqual([0, 0, 0]); // outside
    expect(px(img, 30, 12)).toEqual([0, 0, 0]);
  });

  it('clips boxes that reach past the image', () => {
    const img = blank(20, 20);
    expect(() => strokeRect(img, { x: -10, y: -10, w: 50, h: 50 }, [0, 255, 0], 3)).not.toThrow();
    expect(px(img, 0, 10)).toEqual([0, 0, 0]); // the left edge is outside the image
  });

  it('draws glyphs from the built-in font, pixel for pixel', () => {
    const img = blank(20, 10);
    drawText(img, 1, 1, 'T', [255, 255, 255]);
    // T: the top row is full, then the middle column only.
    for (let x = 1; x <= 5; x++) expect(px(img, x, 1)).toEqual([255, 255, 255]);
    expect(px(img, 3, 5)).toEqual([255, 255, 255]);
    expect(px(img, 1, 5)).toEqual([0, 0, 0]);
    expect(glyph('t')).toEqual(glyph('T'));
    // Characters without a glyph are an empty box, not nothing.
    expect(glyph('é')[0]).toBe(0b11111);
    expect(textSize('ab', 2)).toEqual({ w: 22, h: 14 });
  });

  it('labels a track as "label #id" on a plate of the track colour', () => {
    const img = blank(200, 100);
    const r = annotate(img, [
      { box: { x: 50, y: 40, w: 60, h: 50 }, label: trackLabel('person', 12), color: trackColor(12) },
    ]);
    const plate = r.labels[0]!;
    expect(trackLabel('person', 12)).toBe('person #12');
    // Above the box, left-aligned, inside the image.
    expect(plate.x).toBe(50);
    expect(plate.y + plate.h).toBe(40);
    expect(px(r.image, plate.x, plate.y)).toEqual([...trackColor(12)]);
    // The input image is not touched.
    expect(img.data.every((v) => v === 0)).toBe(true);
  });
});

describe('annotated evidence: labels never overlap', () => {
  const check = (rects: (Rect | null)[], w: number, h: number) => {
    const placed = rects.filter((r): r is Rect => r !== null);
    for (const r of placed) {
      expect(r.x).toBeGreaterThanOrEqual(0);
      expect(r.y).toBeGreaterThanOrEqual(0);
      expect(r.x + r.w).toBeLessThanOrEqual(w);
      expect(r.y + r.h).toBeLessThanOrEqual(h);
    }
    for (let i = 0; i < placed.length; i++)
      for (let j = i + 1; j < placed.length; j++) expect(overlaps(placed[i]!, placed[j]!)).toBe(false);
    return placed.length;
  };

  it('seven people side by side at the same height (the 01:09 crowd) get seven separate labels', () => {
    const boxes = Array.from({ length: 7 }, (_, i) => ({
      box: { x: 20 + i * 12, y: 30, w: 20, h: 60 },
      w: 54,
      h: 9,
    }));
    expect(check(placeLabels(boxes, 320, 180), 320, 180)).toBe(7);
  });

  it('boxes at the image edges keep their labels inside the image', () => {
    const boxes = [
      { box: { x: -5, y: 0, w: 30, h: 30 }, w: 60, h: 9 },
      { box: { x: 300, y: 170, w: 30, h: 30 }, w: 60, h: 9 },
      { box: { x: 0, y: 0, w: 320, h: 180 }, w: 60, h: 9 },
    ];
    expect(check(placeLabels(boxes, 320, 180), 320, 180)).toBe(3);
  });

  it('random crowds: never an overlap, and a label is only left out when the image is full', () => {
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 30; round++) {
      const n = 1 + Math.floor(rnd() * 40);
      const boxes = Array.from({ length: n }, () => ({
        box: { x: rnd() * 300, y: rnd() * 160, w: 5 + rnd() * 60, h: 5 + rnd() * 80 },
        w: 30 + Math.floor(rnd() * 40),
        h: 9,
      }));
      const rects = placeLabels(boxes, 320, 180);
      check(rects, 320, 180);
      if (n <= 10) expect(rects.every((r) => r !== null)).toBe(true);
    }
  });

  it('pixel check: two overlapping boxes, both labels readable (plates do not cover each other)', () => {
    const img = blank(160, 90);
    const a = { box: { x: 40, y: 30, w: 30, h: 40 }, label: 'person #1', color: [255, 56, 56] as const };
    const b = { box: { x: 44, y: 32, w: 30, h: 40 }, label: 'person #2', color: [56, 255, 56] as const };
    const r = annotate(img, [a, b]);
    const [pa, pb] = r.labels as Rect[];
    expect(overlaps(pa!, pb!)).toBe(false);
    // Each plate's corner pixel is its own colour (the other did not paint over it).
    expect(px(r.image, pa!.x, pa!.y)).toEqual([255, 56, 56]);
    expect(px(r.image, pb!.x, pb!.y)).toEqual([56, 255, 56]);
    expect(r.omitted).toBe(0);
  });

  it('a label larger than the image is left out, and counted', () => {
    const r = annotate(blank(20, 8), [
      { box: { x: 0, y: 0, w: 5, h: 5 }, label: 'a long label', color: [255, 0, 0] },
    ]);
    expect(r.labels).toEqual([null]);
    expect(r.omitted).toBe(1);
  });
});

describe('annotated evidence: crops and JPEGs', () => {
  it('crops a box with a margin and scales a small one up to be legible', () => {
    const img = blank(100, 100);
    strokeRect(img, { x: 20, y: 20, w: 10, h: 20 }, [255, 0, 0], 1);
    const c = crop(img, { x: 20, y: 20, w: 10, h: 20 }, { margin: 0, minHeight: 60 });
    expect([c.width, c.height]).toEqual([30, 60]);
    expect(px(c, 0, 0)).toEqual([255, 0, 0]);
    expect(px(c, 15, 30)).toEqual([0, 0, 0]);
  });

  it('annotates a JPEG: the box colour is at the box edge after the round trip', () => {
    const plain = encodeJpeg(
      { width: 320, height: 180, format: 'RGB', data: new Uint8Array(320 * 180 * 3).fill(90) },
      { quality: 90 },
    );
    // Source frame 640x360: the JPEG is half size.
    const out = annotateJpeg(
      plain.data,
      [{ trackId: 0, label: 'person', box: { x: 100, y: 100, w: 200, h: 200 } }],
      { width: 640, height: 360 },
    );
    const back = decodeJpeg(out.data);
    expect([back.width, back.height]).toEqual([320, 180]);
    const [r, g, b] = px(back, 50, 100); // left edge at x=50 (100/2), halfway down
    expect(r).toBeGreaterThan(200);
    expect(g).toBeLessThan(110);
    expect(b).toBeLessThan(110);
    expect(px(back, 100, 100)[0]).toBeLessThan(130); // inside: still the grey
    const c = decodeJpeg(
      cropJpeg(plain.data, { x: 100, y: 100, w: 200, h: 200 }, { width: 640, height: 360 }).data,
    );
    expect(c.height).toBeGreaterThanOrEqual(96);
  });
});
