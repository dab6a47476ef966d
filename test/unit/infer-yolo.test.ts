import { describe, expect, it } from 'vitest';
import {
  COCO_LABELS,
  decodeYolo,
  iou,
  letterbox,
  nms,
  postprocess,
  toSourceBox,
  yoloCandidates,
  type Candidate,
} from '../../src/infer/yolo.js';

function solid(w: number, h: number, rgb: [number, number, number]): Uint8Array {
  const d = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) d.set(rgb, i * 3);
  return d;
}

const px = (lb: { data: Uint8Array; size: number }, x: number, y: number): number[] =>
  Array.from(lb.data.subarray((y * lb.size + x) * 3, (y * lb.size + x) * 3 + 3));

describe('letterbox', () => {
  it('fits a wide image: scale by width, pad top and bottom with 114', () => {
    const lb = letterbox(solid(1280, 720, [10, 20, 30]), 1280, 720);
    expect(lb.scale).toBe(0.5);
    expect([lb.width, lb.height, lb.padX, lb.padY]).toEqual([640, 360, 0, 140]);
    expect(lb.data.length).toBe(640 * 640 * 3);
    expect(px(lb, 0, 0)).toEqual([114, 114, 114]);
    expect(px(lb, 639, 139)).toEqual([114, 114, 114]);
    expect(px(lb, 0, 140)).toEqual([10, 20, 30]);
    expect(px(lb, 639, 499)).toEqual([10, 20, 30]);
    expect(px(lb, 320, 500)).toEqual([114, 114, 114]);
  });

  it('fits a tall image: scale by height, pad left and right', () => {
    const lb = letterbox(solid(300, 600, [1, 2, 3]), 300, 600);
    expect(lb.scale).toBeCloseTo(640 / 600);
    expect([lb.width, lb.height, lb.padX, lb.padY]).toEqual([320, 640, 160, 0]);
    expect(px(lb, 159, 10)).toEqual([114, 114, 114]);
    expect(px(lb, 160, 10)).toEqual([1, 2, 3]);
    expect(px(lb, 479, 639)).toEqual([1, 2, 3]);
    expect(px(lb, 480, 639)).toEqual([114, 114, 114]);
  });

  it('copies a 640x640 image unchanged and upsamples small ones', () => {
    const src = new Uint8Array(640 * 640 * 3).map((_, i) => i % 251);
    const same = letterbox(src, 640, 640);
    expect(same.scale).toBe(1);
    expect(Buffer.from(same.data).equals(Buffer.from(src))).toBe(true);
    const up = letterbox(solid(64, 32, [200, 100, 50]), 64, 32);
    expect([up.scale, up.width, up.height, up.padY]).toEqual([10, 640, 320, 160]);
    expect(px(up, 300, 300)).toEqual([200, 100, 50]);
  });

  it('interpolates a horizontal gradient monotonically', () => {
    const w = 1280;
    const src = new Uint8Array(w * 2 * 3);
    for (let y = 0; y < 2; y++)
      for (let x = 0; x < w; x++)
        src.fill(Math.floor((x * 255) / (w - 1)), (y * w + x) * 3, (y * w + x) * 3 + 3);
    const lb = letterbox(src, w, 2);
    const row = lb.padY;
    let prev = -1;
    for (let x = 0; x < 640; x++) {
      const v = px(lb, x, row)[0]!;
      expect(v).toBeGreaterThanOrEqual(prev);
      prev = v;
    }
    expect(px(lb, 0, row)[0]).toBeLessThanOrEqual(1);
    expect(px(lb, 639, row)[0]).toBeGreaterThanOrEqual(254);
  });

  it('rejects a buffer that is not w*h*3', () => {
    expect(() => letterbox(new Uint8Array(10), 2, 2)).toThrow(RangeError);
  });
});

/** Builds a fake output0 [4 + C, A] from anchors {cx, cy, w, h, class, score}. */
function fakeOutput(
  anchors: { cx: number; cy: number; w: number; h: number; cls: number; score: number }[],
  numAnchors: number,
  numClasses = 80,
) {
  const out = new Float32Array((4 + numClasses) * numAnchors);
  anchors.forEach((a, i) => {
    out[i] = a.cx;
    out[numAnchors + i] = a.cy;
    out[2 * numAnchors + i] = a.w;
    out[3 * numAnchors + i] = a.h;
    out[(4 + a.cls) * numAnchors + i] = a.score;
    // A weaker second class on the same anchor must not win.
    out[(4 + ((a.cls + 1) % numClasses)) * numAnchors + i] = a.score / 2;
  });
  return out;
}

describe('decodeYolo', () => {
  it('reads channel-major cx,cy,w,h + class scores and applies the threshold', () => {
    const out = fakeOutput(
      [
        { cx: 100, cy: 200, w: 50, h: 80, cls: 16, score: 0.9 },
        { cx: 300, cy: 300, w: 10, h: 10, cls: 0, score: 0.2 },
      ],
      10,
    );
    const c = decodeYolo(out, 10, 80, 0.25);
    expect(c).toHaveLength(1);
    expect(c[0]).toMatchObject({ x1: 75, y1: 160, x2: 125, y2: 240, classId: 16 });
    expect(c[0]!.score).toBeCloseTo(0.9);
    expect(decodeYolo(out, 10, 80, 0.1)).toHaveLength(2);
    expect(() => decodeYolo(out, 11, 80, 0.1)).toThrow(RangeError);
  });
});

describe('yoloCandidates', () => {
  it('gives exactly the rows decodeYolo implies: best first, ties in anchor order, first top class, capped', () => {
    const anchors = 500;
    const classes = 7;
    const out = new Float32Array((4 + classes) * anchors);
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < out.length; i++) out[i] = i < 4 * anchors ? rnd() * 640 : Math.round(rnd() * 20) / 20;
    for (const [threshold, max] of [
      [0.5, 1000],
      [0.9, 1000],
      [0.3, 25],
    ] as const) {
      const expected = decodeYolo(out, anchors, classes, threshold)
        .sort((a, b) => b.score - a.score)
        .slice(0, max)
        .flatMap((c) => [(c.x1 + c.x2) / 2, (c.y1 + c.y2) / 2, c.x2 - c.x1, c.y2 - c.y1, c.score, c.classId]);
      const got = yoloCandidates(out, anchors, classes, threshold, max);
      expect(Array.from(got)).toEqual(Array.from(Float32Array.from(expected)));
    }
    expect(() => yoloCandidates(out, anchors + 1, classes, 0.1, 10)).toThrow(RangeError);
  });
});

describe('nms', () => {
  const box = (x1: number, y1: number, x2: number, y2: number, score: number, classId = 0): Candidate => ({
    x1,
    y1,
    x2,
    y2,
    score,
    classId,
  });

  it('computes IoU', () => {
    expect(iou(box(0, 0, 10, 10, 1), box(0, 0, 10, 10, 1))).toBe(1);
    expect(iou(box(0, 0, 10, 10, 1), box(5, 0, 15, 10, 1))).toBeCloseTo(50 / 150);
    expect(iou(box(0, 0, 10, 10, 1), box(10, 10, 20, 20, 1))).toBe(0);
  });

  it('keeps the best of overlapping same-class boxes, keeps other classes and distant boxes', () => {
    const kept = nms(
      [
        box(0, 0, 100, 100, 0.6),
        box(2, 2, 102, 102, 0.9),
        box(1, 1, 101, 101, 0.8, 1), // same place, other class: kept
        box(200, 200, 300, 300, 0.5), // far away: kept
        box(0, 0, 100, 60, 0.7), // IoU 0.6 with the best: dropped at 0.45, kept at 0.7
      ],
      0.45,
    );
    expect(kept.map((k) => k.score)).toEqual([0.9, 0.8, 0.5]);
    expect(nms([box(2, 2, 102, 102, 0.9), box(0, 0, 100, 60, 0.7)], 0.7).map((k) => k.score)).toEqual([
      0.9, 0.7,
    ]);
  });

  it('caps the number of detections', () => {
    const many = Array.from({ length: 50 }, (_, i) => box(i * 20, 0, i * 20 + 10, 10, i / 100));
    expect(nms(many, 0.5, 5)).toHaveLength(5);
    expect(nms(many, 0.5, 5)[0]!.score).toBe(0.49);
  });
});

describe('box mapping', () => {
  it('undoes the letterbox and scales a model-size image back to the source', () => {
    // Source 1920x1080, model image 640x360 (aspect kept), letterbox 640x640: scale 1, padY 140.
    const lb = { scale: 1, padX: 0, padY: 140 };
    const b = toSourceBox({ x1: 64, y1: 140 + 36, x2: 128, y2: 140 + 72 }, lb, 640, 360, 1920, 1080);
    expect(b).toEqual({ x: 192, y: 108, w: 192, h: 108 });
  });

  it('handles a scaled letterbox with horizontal padding and clips to the source', () => {
    const lb = letterbox(new Uint8Array(300 * 600 * 3), 300, 600); // scale 640/600, padX 160
    const b = toSourceBox({ x1: 160, y1: 0, x2: 480, y2: 640 }, lb, 300, 600, 300, 600);
    expect(b.x).toBeCloseTo(0);
    expect(b.y).toBeCloseTo(0);
    expect(b.w).toBeCloseTo(300);
    expect(b.h).toBeCloseTo(600);
    const clipped = toSourceBox({ x1: 100, y1: -50, x2: 600, y2: 700 }, lb, 300, 600, 300, 600);
    expect(clipped).toMatchObject({ x: 0, y: 0 });
    expect(clipped.w).toBeCloseTo(300);
    expect(clipped.h).toBeCloseTo(600);
  });

  it('postprocess yields labelled detections in source pixels, best first', () => {
    const out = fakeOutput(
      [
        { cx: 320, cy: 320, w: 64, h: 64, cls: 16, score: 0.8 },
        { cx: 322, cy: 321, w: 64, h: 64, cls: 16, score: 0.7 }, // duplicate: suppressed
        { cx: 100, cy: 320, w: 20, h: 40, cls: 0, score: 0.95 },
        { cx: 320, cy: 50, w: 64, h: 64, cls: 2, score: 0.9 }, // entirely in the padding: dropped
      ],
      8400,
    );
    const lb = { scale: 0.5, padX: 0, padY: 140 }; // 1280x720 image letterboxed
    const dets = postprocess(out, lb, 1280, 720, 2560, 1440, {
      numAnchors: 8400,
      numClasses: 80,
      scoreThreshold: 0.25,
      iouThreshold: 0.45,
    });
    expect(dets.map((d) => d.label)).toEqual(['person', 'dog']);
    expect(dets[1]!.box).toEqual({ x: 288 * 2 * 2, y: (288 - 140) * 2 * 2, w: 64 * 4, h: 64 * 4 });
    expect(COCO_LABELS).toHaveLength(80);
    expect([COCO_LABELS[0], COCO_LABELS[16], COCO_LABELS[17], COCO_LABELS[79]]).toEqual([
      'person',
      'dog',
      'horse',
      'toothbrush',
    ]);
  });
});
