/**
 * Issue 8, finding 3: `cache` per stream (false, or cache options) and `maxKeyframeAgeMs` in the
 * stream definition: the control API body and the YAML config streams accept them, bad values
 * fail up front with the option named.
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Analysis, Frame, Keyframe } from '../../src/core/contracts.js';
import { createManager, parseStreamDefinition } from '../../src/analyzer/manager.js';
import { parseConfig } from '../../src/config/index.js';

describe('stream definition: cache and maxKeyframeAgeMs', () => {
  it('accepts false or an object for cache, an integer of ms for the deadline', () => {
    expect(parseStreamDefinition({ id: 'a', url: 'test:ball', cache: false }).cache).toBe(false);
    expect(parseStreamDefinition({ id: 'a', url: 'test:ball', cache: { maxEntries: 8 } }).cache).toEqual({
      maxEntries: 8,
    });
    expect(parseStreamDefinition({ id: 'a', url: 'test:ball', maxKeyframeAgeMs: 0 }).maxKeyframeAgeMs).toBe(
      0,
    );
    expect(() => parseStreamDefinition({ id: 'a', url: 'test:ball', cache: true })).toThrow(
      /cache: expected false/,
    );
    expect(() => parseStreamDefinition({ id: 'a', url: 'test:ball', maxKeyframeAgeMs: -1 })).toThrow(
      /maxKeyframeAgeMs/,
    );
  });

  it('YAML streams take cache and maxKeyframeAgeMs; bad cache options name the stream', () => {
    const c = parseConfig(
      'streams:\n  - { id: a, url: "test:ball", cache: false, maxKeyframeAgeMs: 1500 }\n  - { id: b, url: "test:ball", cache: { maxEntries: 16 } }\n',
    );
    expect(c.streams[0]).toMatchObject({ cache: false, maxKeyframeAgeMs: 1500 });
    expect(c.streams[1]).toMatchObject({ cache: { maxEntries: 16 } });
    expect(() => parseConfig('streams:\n  - { id: a, url: "test:ball", cache: { bogus: 1 } }\n')).toThrow(
      /streams\[0\]\.cache/,
    );
    expect(() => parseConfig('streams:\n  - { id: a, url: "test:ball", cache: yes }\n')).toThrow(/cache/);
  });

  it('cache: false sends every keyframe of a static scene to the model; the default reuses analyses', async () => {
    const calls = { cached: 0, uncached: 0 };
    const run = async (id: string, cache: false | undefined) => {
      const frames = new Subject<Frame>();
      const manager = createManager({
        analyze: async (kf: Keyframe): Promise<Analysis> => {
          calls[id as keyof typeof calls]++;
          return {
            keyframeId: kf.id,
            streamId: id,
            ptsNs: kf.frame.ptsNs,
            captureTimeMs: kf.frame.captureTimeMs,
            available: true,
            detections: [],
            text: [],
            model: { name: 'fake', version: '1' },
            inferenceMs: 1,
          };
        },
        sink: { summary: async () => undefined, event: async () => undefined },
        frameSource: () => ({ frames }),
      });
      await manager.attach({
        id,
        url: 'test:ball',
        live: false,
        keyframes: { minIntervalMs: 0, maxIntervalMs: 100, sceneCutMinIntervalMs: 50 },
        ...(cache === false ? { cache } : {}),
      });
      for (let i = 0; i < 10; i++) {
        frames.next({
          streamId: id,
          seq: i,
          ptsNs: i * 100e6,
          captureTimeMs: Date.now(),
          sourceWidth: 8,
          sourceHeight: 8,
          analysis: { width: 8, height: 8, format: 'GRAY8', data: new Uint8Array(64).fill(90) },
          model: { width: 1, height: 1, format: 'RGB', data: new Uint8Array(3) },
        });
        await new Promise((r) => setImmediate(r));
      }
      frames.complete();
      for (let i = 0; i < 50 && manager.status(id).state !== 'completed'; i++)
        await new Promise((r) => setTimeout(r, 10));
      const info = manager.status(id);
      await manager.close();
      return info;
    };
    const cached = await run('cached', undefined);
    const uncached = await run('uncached', false);
    expect(cached.counters.keyframes).toBe(10);
    expect(uncached.counters.keyframes).toBe(10);
    expect(uncached.counters.cacheHits).toBe(0);
    expect(calls.uncached).toBe(10);
    expect(cached.counters.cacheHits).toBeGreaterThan(0);
    expect(calls.cached).toBe(10 - cached.counters.cacheHits);
  });
});
