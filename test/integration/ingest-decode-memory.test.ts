/**
 * Regression, issue 22 item 6 ("RSS grows with churn"): with libav's direct rendering, GStreamer
 * copies every decoded frame into a fresh malloc'd block (libav still holds the frame), and those
 * frame-sized mallocs on short-lived streaming threads fragment glibc's arenas. Vigil's pipelines
 * turn it off in the decoders decodebin plugs (`copyDecodedFrames`, Vigil's patch of the addon),
 * unless VIGIL_POOLED_DECODE=off; and the addon fixes glibc's mmap threshold (mallopt). Real
 * GStreamer on a real clip (vtest.avi: avdec_msmpeg4).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lastValueFrom, take, toArray } from 'rxjs';
import { DEFAULT_INGEST_OPTIONS, openFrames } from '../../src/ingest/frames.js';
import { gst, pooledDecodeEnabled, type GstBusMessage, type GstPipeline } from '../../src/ingest/gst.js';
import { parseSource } from '../../src/ingest/source.js';
import { DEFAULT_MMAP_THRESHOLD, MAX_MMAP_THRESHOLD } from '../../src/ingest/mmap-threshold.js';
import { requireFile, VTEST } from '../helpers/paths.js';

/** Plays `filesrc ! decodebin ! fakesink` until the decoder decodebin plugs posts a message; its direct-rendering. */
async function decoderDirectRendering(copy: boolean): Promise<unknown> {
  const pipeline = new (gst().Pipeline)(
    `filesrc location="${requireFile(VTEST)}" ! decodebin ! fakesink sync=true`,
  );
  try {
    if (copy) expect(pipeline.copyDecodedFrames?.()).toBe(true);
    const decoder = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no decoder in 10 s')), 10_000);
      pipeline.pollBus((msg: GstBusMessage) => {
        const name = msg._src_element_name ?? '';
        // Its first state change: decodebin has added it by then.
        if (msg.type === 'state-changed' && name.startsWith('avdec_')) {
          clearTimeout(timer);
          resolve(name);
        }
      });
    });
    pipeline.play();
    const name = await decoder;
    return pipeline.findChild(name)?.['direct-rendering'];
  } finally {
    pipeline.release();
  }
}

describe('issue 22 item 6: decoded frames and glibc (pooled decode, mmap threshold)', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    delete process.env.VIGIL_POOLED_DECODE;
  });

  it('copyDecodedFrames turns direct rendering off in the decoder decodebin plugs later', async () => {
    expect(await decoderDirectRendering(false)).toBe(true);
    expect(await decoderDirectRendering(true)).toBe(false);
  });

  it('every ingest pipeline asks for it, unless VIGIL_POOLED_DECODE=off', async () => {
    const proto = gst().Pipeline.prototype as GstPipeline;
    const spy = vi.spyOn(proto, 'copyDecodedFrames');
    const run = () =>
      lastValueFrom(
        openFrames(parseSource(requireFile(VTEST)), {
          ...DEFAULT_INGEST_OPTIONS,
          streamId: 'pooled',
          live: false,
        }).pipe(take(3), toArray()),
      );
    expect(await run()).toHaveLength(3);
    expect(spy).toHaveBeenCalledTimes(1);
    process.env.VIGIL_POOLED_DECODE = 'off';
    expect(pooledDecodeEnabled()).toBe(false);
    expect(await run()).toHaveLength(3);
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it("the installed addon's mallocMmapThreshold is glibc's mallopt: in range accepted, out of range refused", () => {
    const addon = gst();
    expect(typeof addon.mallocMmapThreshold).toBe('function');
    expect(addon.mallocMmapThreshold!(DEFAULT_MMAP_THRESHOLD)).toBe(true);
    expect(addon.mallocMmapThreshold!(MAX_MMAP_THRESHOLD + 1)).toBe(false);
    expect(addon.mallocMmapThreshold!(-1)).toBe(false);
    expect(addon.mallocMmapThreshold!(DEFAULT_MMAP_THRESHOLD)).toBe(true);
  });
});
