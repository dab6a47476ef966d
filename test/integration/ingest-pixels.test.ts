/**
 * The pixels ingest computes from its one I420 frame, against GStreamer's own conversions of the
 * same frames: the lazily converted RGB model frame against videoconvert (through its 16-bit path,
 * which is exact to about one level; its 8-bit I420→RGB fast path is itself off by up to 4 levels),
 * and the box-filtered gray frame against videoscale + videoconvert to GRAY8.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { lastValueFrom, map, take, toArray } from 'rxjs';
import type { Frame, Image } from '../../src/core/contracts.js';
import {
  convertI420ToRgb,
  convertI420ToRgbScaled,
  DEFAULT_INGEST_OPTIONS,
  nativeI420ToRgb,
  openFrames,
  releaseFrame,
} from '../../src/ingest/frames.js';
import { gst, type GstAppSink } from '../../src/ingest/gst.js';
import { parseSource } from '../../src/ingest/source.js';
import {
  grayFromI420,
  i420Layout,
  rgbFromI420,
  rgbFromI420Scaled,
  rgbTables,
  scaleTables,
  type Colorimetry,
  type I420Layout,
  type RgbTables,
} from '../../src/ingest/yuv.js';
import { requireFile, VTEST } from '../helpers/paths.js';

const FRAMES = 24;

/** The first `FRAMES` buffers of a pipeline's appsink `out`, in order. */
function reference(description: string, location?: string): Promise<Buffer[]> {
  const pipeline = new (gst().Pipeline)(description);
  if (location !== undefined) pipeline.findChild('src')!.location = location;
  const sink = pipeline.findChild('out') as GstAppSink;
  const out: Buffer[] = [];
  pipeline.play();
  return new Promise((resolve, reject) => {
    const next = () =>
      sink.pull((buf) => {
        if (buf) out.push(buf);
        if (buf === null || out.length >= FRAMES) {
          pipeline.release();
          resolve(out);
        } else if (buf === undefined) {
          pipeline.release();
          reject(new Error('reference pipeline delivered nothing for 5 s'));
        } else next();
      }, 5000);
    next();
  });
}

/** Mean absolute difference per channel of an image against tightly packed reference bytes. */
function meanAbsDiff(image: Image, ref: Buffer): number[] {
  const channels = image.format === 'RGB' ? 3 : 1;
  const row = image.width * channels;
  const stride = ref.length / image.height;
  const sums = new Array<number>(channels).fill(0);
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < row; x++)
      sums[x % channels]! += Math.abs(image.data[y * row + x]! - ref[y * stride + x]!);
  }
  return sums.map((s) => s / (image.width * image.height));
}

async function compare(uri: string, head: string, location?: string) {
  const o = DEFAULT_INGEST_OPTIONS;
  const rgb = await reference(
    `${head} ! videoscale ! videoconvert ! video/x-raw,format=ARGB64,width=${o.modelWidth},pixel-aspect-ratio=1/1 ` +
      `! videoconvert ! video/x-raw,format=RGB ! appsink name=out sync=false`,
    location,
  );
  const gray = await reference(
    `${head} ! videoscale ! videoconvert ! video/x-raw,format=GRAY8,width=${o.analysisWidth},pixel-aspect-ratio=1/1 ` +
      `! appsink name=out sync=false`,
    location,
  );
  const frames: Frame[] = await lastValueFrom(
    openFrames(parseSource(uri), { ...o, streamId: 'px', live: false }).pipe(take(FRAMES), toArray()),
  );
  expect(frames).toHaveLength(FRAMES);
  const rgbDiffs = frames.map((f, i) => meanAbsDiff(f.model, rgb[i]!));
  const grayDiffs = frames.map((f, i) => meanAbsDiff(f.analysis, gray[i]!)[0]!);
  return { frames, rgbDiffs, grayDiffs };
}

/** Seeded noise, one byte per call (the same sequence for the same seed). */
function noiseBytes(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) & 0xff;
}

/** The native scaled conversion's bytes, after checking they equal the JS conversion's. */
function expectScaledNativeEqualsJs(
  data: Uint8Array,
  layout: I420Layout,
  c: Colorimetry,
  outWidth: number,
  outHeight: number,
  tables?: RgbTables,
): Uint8Array {
  const native = nativeI420ToRgb(data, layout, c, outWidth, outHeight, tables);
  expect(native).not.toBeNull();
  const js = rgbFromI420Scaled(data, layout, c, outWidth, outHeight, tables).data;
  expect(Buffer.from(native!).equals(Buffer.from(js))).toBe(true);
  return native!;
}

describe('ingest pixels against GStreamer conversions of the same frames', () => {
  it('vtest.avi (SD, BT.601): RGB within 2 levels per channel on average, gray within 6', async () => {
    const path = requireFile(VTEST);
    const { frames, rgbDiffs, grayDiffs } = await compare(
      path,
      'filesrc name=src ! decodebin ! video/x-raw',
      path,
    );
    expect([frames[0]!.model.width, frames[0]!.model.height]).toEqual([640, 480]);
    for (const d of rgbDiffs) for (const c of d) expect(c).toBeLessThan(2);
    // Box filter (ours) against bilinear (videoscale): the same picture, smoother.
    for (const d of grayDiffs) expect(d).toBeLessThan(6);
  });

  it('720p test pattern (HD size, BT.601 as videotestsrc paints it): RGB within 2 levels', async () => {
    const { frames, rgbDiffs, grayDiffs } = await compare(
      'test:smpte?width=1280&height=720&fps=30',
      'videotestsrc pattern=smpte ! video/x-raw,format=I420,width=1280,height=720,framerate=30/1,colorimetry=bt601',
    );
    expect([frames[0]!.sourceWidth, frames[0]!.sourceHeight]).toEqual([1280, 720]);
    expect([frames[0]!.model.width, frames[0]!.model.height]).toEqual([640, 360]);
    expect([frames[0]!.analysis.width, frames[0]!.analysis.height]).toEqual([160, 90]);
    for (const d of rgbDiffs) for (const c of d) expect(c).toBeLessThan(2);
    for (const d of grayDiffs) expect(d).toBeLessThan(6);
  });

  it('the gray frame computed natively equals the JS box filter, pixel for pixel (noise)', async () => {
    // Integer and uneven ratios, an odd height, and a gray frame as large as the model frame.
    const cases = [
      { model: [640, 360], gray: 160 },
      { model: [640, 360], gray: 150 },
      { model: [322, 181], gray: 97 },
      { model: [160, 120], gray: 160 },
      // Decoded sizes (the appsink's frames are not scaled): HD, full HD, portrait, a large bin.
      { model: [1280, 720], gray: 160 },
      { model: [1920, 1080], gray: 160 },
      { model: [1080, 1920], gray: 160 },
      { model: [1920, 1080], gray: 24 },
      { model: [1920, 1080], gray: 8 },
      { model: [328, 185], gray: 41 },
      // Bins of equal width other than 8 (2, 4, 5 columns; 4 with an odd count) and of alternating
      // sizes (vtest: 4.8).
      { model: [320, 240], gray: 160 },
      { model: [324, 182], gray: 81 },
      { model: [800, 450], gray: 160 },
      { model: [768, 576], gray: 160 },
    ];
    for (const { model, gray: grayWidth } of cases) {
      const [width, height] = model as [number, number];
      const pipeline = new (gst().Pipeline)(
        // Noise: every sample differs, so any bin's sum that is off shows.
        `videotestsrc pattern=snow num-buffers=3 ! video/x-raw,format=I420,width=${width},height=${height} ` +
          `! appsink name=out sync=false`,
      );
      const sink = pipeline.findChild('out') as GstAppSink;
      pipeline.play();
      const [buf, caps, gray] = await new Promise<Parameters<Parameters<GstAppSink['pull']>[0]>>((resolve) =>
        sink.pull((...args) => resolve(args), 5000, grayWidth),
      );
      pipeline.release();
      const grayHeight = Math.round((grayWidth * height) / width);
      expect(caps.grayHeight).toBe(grayHeight);
      const js = grayFromI420(new Uint8Array(buf!), i420Layout(width, height), grayWidth, grayHeight);
      expect(gray!.equals(Buffer.from(js.data))).toBe(true);
    }
  });

  it('the native RGB conversion equals the JS one byte for byte (odd sizes, every matrix and range)', () => {
    expect(gst().i420ToRgb).toBeTypeOf('function');
    const random = noiseBytes(7);
    for (const [width, height] of [
      [64, 36],
      [33, 17],
      [1, 1],
    ] as const) {
      const layout = i420Layout(width, height);
      const data = Uint8Array.from({ length: layout.size }, random);
      for (const matrix of ['bt601', 'bt709', 'bt2020', 'smpte240m', 'fcc'] as const) {
        for (const fullRange of [false, true]) {
          const c: Colorimetry = { matrix, fullRange };
          const native = nativeI420ToRgb(data, layout, c);
          expect(native).not.toBeNull();
          const js = rgbFromI420(data, layout, c).data;
          expect(Buffer.from(native!).equals(Buffer.from(js))).toBe(true);
          expect(convertI420ToRgb(data, layout, c).data).toEqual(native);
        }
      }
    }
  });

  it('converts the model frame once, on first read, and keeps it as a plain property', async () => {
    const frames = await lastValueFrom(
      openFrames(parseSource('test:ball?width=320&height=240&fps=30'), {
        ...DEFAULT_INGEST_OPTIONS,
        streamId: 'lazy',
        analysisWidth: 80,
        modelWidth: 160,
      }).pipe(take(3), toArray()),
    );
    const f = frames[2]!;
    const first = f.model;
    expect(f.model).toBe(first);
    expect([first.width, first.height, first.format, first.data.length]).toEqual([
      160,
      120,
      'RGB',
      160 * 120 * 3,
    ]);
    expect(Object.getOwnPropertyDescriptor(f, 'model')).toMatchObject({ value: first, writable: true });
    // Spreading (the runner's keyframe handling) reads it; assigning replaces it.
    expect({ ...frames[1]! }.model.data.length).toBe(160 * 120 * 3);
    const empty: Image = { ...first, data: new Uint8Array(0) };
    frames[0]!.model = empty;
    expect(frames[0]!.model).toBe(empty);
  });

  it('the native scaled RGB conversion equals the JS one byte for byte (odd sizes, aspect ratios, up and down)', () => {
    expect(gst().i420ToRgbScaled).toBeTypeOf('function');
    const random = noiseBytes(11);
    const cases = [
      [1280, 720, 640, 360],
      [1920, 1080, 640, 360],
      [768, 576, 640, 480],
      [1366, 768, 640, 360],
      [1080, 1920, 640, 1138],
      [333, 251, 160, 121],
      [37, 19, 64, 33],
      [3, 5, 7, 11],
      [1, 1, 4, 4],
      [640, 360, 640, 361],
    ] as const;
    for (const [width, height, outWidth, outHeight] of cases) {
      const layout = i420Layout(width, height);
      const data = new Uint8Array(layout.size);
      for (let i = 0; i < data.length; i++) data[i] = random();
      for (const c of [
        { matrix: 'bt709', fullRange: false },
        { matrix: 'bt601', fullRange: true },
      ] as Colorimetry[]) {
        const native = expectScaledNativeEqualsJs(data, layout, c, outWidth, outHeight);
        const chosen = convertI420ToRgbScaled(data, layout, c, outWidth, outHeight).data;
        expect(Buffer.from(chosen).equals(Buffer.from(native))).toBe(true);
      }
    }
    // Tables that do not fit the frame are refused, not read past.
    const layout = i420Layout(64, 36);
    const t = rgbTables({ matrix: 'bt709', fullRange: false });
    const s = scaleTables(i420Layout(32, 18), 16, 9);
    expect(
      gst().i420ToRgbScaled!(
        new Uint8Array(layout.size),
        new Uint8Array(16 * 9 * 3),
        64,
        36,
        layout.yStride,
        layout.uvStride,
        layout.uOffset,
        layout.vOffset,
        32,
        18,
        s.yx,
        s.yy,
        s.cx,
        s.cy,
        t.y,
        t.rv,
        t.gu,
        t.gv,
        t.bu,
      ),
    ).toBe(false);
  });

  it('the native scaled conversion gives the table bytes on both of its paths: linear tables (vector code) and others', () => {
    const random = noiseBytes(5);
    const linear = (step: number, at0: number) => Int32Array.from({ length: 256 }, (_, i) => at0 + i * step);
    // Coefficients as the colorimetries give them, and extreme ones (outputs far outside 0..255: the
    // clamp); then the same tables with one entry off the line, which must take the table path.
    const linearSets: RgbTables[] = [
      ...(['bt601', 'bt709', 'bt2020', 'smpte240m', 'fcc'] as const).flatMap((matrix) =>
        [false, true].map((fullRange) => rgbTables({ matrix, fullRange })),
      ),
      {
        y: linear(200_000, -3_000_000),
        rv: linear(-150_000, 19_000_000),
        gu: linear(90_000, -11_000_000),
        gv: linear(-70_000, 9_000_000),
        bu: linear(160_000, -20_000_000),
      },
    ];
    const bent = (t: RgbTables): RgbTables => {
      const y = Int32Array.from(t.y);
      y[200] = y[200]! + 40_000;
      return { ...t, y };
    };
    const c: Colorimetry = { matrix: 'bt709', fullRange: false };
    // Output widths around the 16-pixel vector step (tails of 0 to 15 pixels).
    for (const [width, height, outWidth, outHeight] of [
      [1280, 720, 640, 360],
      [500, 280, 250, 140],
      [34, 20, 17, 10],
      [30, 18, 15, 9],
      [32, 18, 16, 9],
      [98, 40, 49, 20],
    ] as const) {
      const layout = i420Layout(width, height);
      const data = Uint8Array.from({ length: layout.size }, random);
      for (const t of [...linearSets, ...linearSets.map(bent)]) {
        expectScaledNativeEqualsJs(data, layout, c, outWidth, outHeight, t);
      }
    }
  });

  it('scales only sources larger than the bound in GStreamer; the model frame keeps its width and aspect', async () => {
    for (const [w, h, model] of [
      [2560, 1440, [640, 360]],
      [1280, 720, [640, 360]],
      [320, 240, [640, 480]],
    ] as const) {
      const frames = await lastValueFrom(
        openFrames(parseSource(`test:ball?width=${w}&height=${h}&fps=30`), {
          ...DEFAULT_INGEST_OPTIONS,
          streamId: 'big',
        }).pipe(take(2), toArray()),
      );
      const f = frames[1]!;
      expect([f.sourceWidth, f.sourceHeight]).toEqual([w, h]);
      expect([f.analysis.width, f.analysis.height]).toEqual([160, (160 * h) / w]);
      expect([f.model.width, f.model.height, f.model.data.length]).toEqual([
        ...model,
        model[0] * model[1] * 3,
      ]);
    }
  });

  it('releaseFrame gives the decoded pixels back: a model read before stays, one not read is empty', async () => {
    const frames = await lastValueFrom(
      openFrames(parseSource('test:ball?width=320&height=240&fps=30'), {
        ...DEFAULT_INGEST_OPTIONS,
        streamId: 'release',
        analysisWidth: 80,
        modelWidth: 160,
      }).pipe(take(3), toArray()),
    );
    const [read, unread] = frames as [Frame, Frame];
    const model = read.model;
    releaseFrame(read);
    releaseFrame(unread);
    releaseFrame(unread);
    expect(read.model).toBe(model);
    expect(model.data.length).toBe(160 * 120 * 3);
    expect([unread.model.width, unread.model.height, unread.model.data.length]).toEqual([160, 120, 0]);
    expect(unread.analysis.data.length).toBe(80 * 60);
    // Not from ingest: nothing happens.
    releaseFrame({ ...frames[2]! });
  });

  it("runs the pipeline's threads at the process's nice value + threadNice, the JS thread untouched", async () => {
    const niceOf = (task: string) =>
      Number(readFileSync(`/proc/self/task/${task}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
    const own = niceOf(String(process.pid));
    const frames = await lastValueFrom(
      openFrames(parseSource('test:ball?width=320&height=240&fps=30'), {
        ...DEFAULT_INGEST_OPTIONS,
        streamId: 'nice',
        threadNice: 3,
      }).pipe(
        take(3),
        map(() => readdirSync('/proc/self/task').map((t) => [t, niceOf(t)] as const)),
        toArray(),
      ),
    );
    const tasks = frames.at(-1)!;
    expect(tasks.find(([t]) => t === String(process.pid))![1]).toBe(own);
    expect(tasks.some(([, n]) => n === Math.min(19, own + 3))).toBe(true);
  });
});
