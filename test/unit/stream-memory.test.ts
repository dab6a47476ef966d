/**
 * A 24-hour run in virtual time: synthetic analyses every 2 s of stream time go through the memory
 * cache, sliding windows, the chain-of-summary with segment/stream roll-up, and the event detector
 * with its tracker and rules. Memory is measured through the operators' own stats (retained
 * entries and estimated bytes), hour by hour: it must plateau, not grow with time.
 */
import { Subject, VirtualAction, VirtualTimeScheduler, share } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Analysis, Frame, Keyframe, Summary, VigilEvent } from '../../src/core/contracts.js';
import {
  AnalysisCache,
  chainSummaries,
  createStructuredSummarizer,
  detectEvents,
  slidingWindows,
  type AnalysedKeyframe,
  type CacheStats,
  type ChainStats,
  type EventStats,
  type WindowStats,
} from '../../src/stream/index.js';

const HOURS = 24;
const STEP_MS = 2000;
const N = (HOURS * 3600_000) / STEP_MS;
const T0 = 1_700_000_000_000;

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const img = { width: 1, height: 1, format: 'GRAY8' as const, data: new Uint8Array(1) };

function keyframe(i: number, rand: () => number): Keyframe {
  const frame: Frame = {
    streamId: 'cam',
    seq: i,
    ptsNs: i * STEP_MS * 1e6,
    captureTimeMs: T0 + i * STEP_MS,
    sourceWidth: 1000,
    sourceHeight: 500,
    analysis: img,
    model: img,
  };
  const hex = (): string =>
    Math.floor(rand() * 0xffffffff)
      .toString(16)
      .padStart(8, '0');
  return {
    id: `cam:${i}`,
    frame,
    reason: i % 3 === 0 ? 'max-interval' : 'motion',
    motionScore: rand() * 0.1,
    sceneScore: 0,
    sincePreviousMs: STEP_MS,
    // Scenes repeat now and then (hits), mostly not.
    phash: i % 7 === 0 ? '00000000ffffffff' : hex() + hex(),
  };
}

/** People walk across the frame (20 px per keyframe) and wrap around; labels and texts churn. */
function analyse(kf: Keyframe, rand: () => number): Analysis {
  const i = kf.frame.seq;
  const people = Math.floor(i / 60) % 6;
  const detections = Array.from({ length: people }, (_, j) => ({
    label: 'person',
    classId: 0,
    score: 0.9,
    box: { x: (i * 20 + j * 170) % 960, y: 100 + j * 40, w: 40, h: 80 },
  }));
  if (rand() < 0.2)
    detections.push({ label: `thing${i % 997}`, classId: 1, score: 0.5, box: { x: 10, y: 10, w: 5, h: 5 } });
  return {
    keyframeId: kf.id,
    streamId: 'cam',
    ptsNs: kf.frame.ptsNs,
    captureTimeMs: kf.frame.captureTimeMs,
    available: rand() > 0.05, // the model is down 5% of the time
    detections,
    text: rand() < 0.3 ? [`sign ${i % 5000}`] : [],
    model: { name: 'synthetic', version: '1' },
    inferenceMs: 1,
  };
}

interface Peak {
  window: WindowStats;
  chain: ChainStats;
  events: EventStats;
  cache: CacheStats;
}

describe('24 hours of synthetic analyses in virtual time', () => {
  it('keeps window state, cache, tracker and summary chain bounded', () => {
    const scheduler = new VirtualTimeScheduler(VirtualAction, Infinity);
    const rand = rng(42);
    const cache = new AnalysisCache({ maxEntries: 128, maxBytes: 256 * 1024 });
    const input = new Subject<AnalysedKeyframe>();
    const shared = input.pipe(share());
    const hourly: Peak[] = [];
    let current: Partial<Peak> = {};
    const keepMax = <K extends keyof Peak>(k: K, v: Peak[K]): void => {
      const prev = current[k] as Record<string, number> | undefined;
      const next = v as unknown as Record<string, number>;
      if (prev === undefined) {
        current[k] = v;
        return;
      }
      const merged: Record<string, number> = { ...prev };
      for (const [key, val] of Object.entries(next)) {
        if (typeof val === 'number') merged[key] = Math.max(prev[key] ?? 0, val);
      }
      current[k] = merged as unknown as Peak[K];
    };

    const summaries: Record<string, number> = { window: 0, segment: 0, stream: 0 };
    let lastStream: Summary | null = null;
    shared
      .pipe(
        slidingWindows({
          windowMs: 60_000,
          hopMs: 30_000,
          maxKeyframesPerWindow: 64,
          scheduler,
          onStats: (s) => keepMax('window', s),
        }),
        chainSummaries(createStructuredSummarizer(), {
          rollup: { segmentWindows: 10 },
          onStats: (s) => keepMax('chain', s),
        }),
      )
      .subscribe((s) => {
        summaries[s.level] = (summaries[s.level] ?? 0) + 1;
        if (s.level === 'stream') lastStream = s;
      });
    const counts: Record<string, number> = {};
    shared
      .pipe(
        detectEvents(
          {
            maxLabels: 50,
            maxTexts: 100,
            tracker: { maxTracks: 64 },
            rules: [
              {
                name: 'left-zone',
                labels: ['person'],
                zone: {
                  points: [
                    [0, 0],
                    [0.3, 0],
                    [0.3, 1],
                    [0, 1],
                  ],
                },
                minDwellMs: 4000,
              },
            ],
          },
          { onStats: (s) => keepMax('events', s as unknown as EventStats) },
        ),
      )
      .subscribe((e: VigilEvent) => {
        counts[e.type] = (counts[e.type] ?? 0) + 1;
      });

    let i = 0;
    const tick = (): void => {
      if (i >= N) {
        input.complete();
        return;
      }
      const kf = keyframe(i, rand);
      const hit = cache.lookup(kf);
      const analysis = hit ?? analyse(kf, rand);
      if (hit === null) cache.store(kf, analysis);
      keepMax('cache', cache.stats());
      input.next({ keyframe: kf, analysis });
      i++;
      if (i % (3600_000 / STEP_MS) === 0) {
        hourly.push(current as Peak);
        current = {};
      }
      scheduler.schedule(tick, STEP_MS);
    };
    scheduler.schedule(tick, 0);
    scheduler.flush();

    expect(hourly).toHaveLength(HOURS);
    expect(scheduler.now()).toBeGreaterThanOrEqual(HOURS * 3600_000 - STEP_MS);
    // Everything ran: summaries at all levels, events of every kind.
    expect(summaries['window']).toBeGreaterThan(2800);
    expect(summaries['segment']).toBeGreaterThan(280);
    expect(lastStream).not.toBeNull();
    expect((lastStream as unknown as Summary).endPtsNs).toBeGreaterThanOrEqual((HOURS - 1) * 3600e9);
    for (const t of ['object.entered', 'object.left', 'count.changed', 'text.appeared', 'alert.left-zone']) {
      expect(counts[t], t).toBeGreaterThan(10);
    }
    const cacheFinal = cache.stats();
    expect(cacheFinal.hits).toBeGreaterThan(100);

    // Hard bounds, every hour.
    for (const h of hourly) {
      expect(h.window.openWindows).toBeLessThanOrEqual(3);
      expect(h.window.keyframes).toBeLessThanOrEqual(3 * 64);
      expect(h.chain.summaries).toBeLessThanOrEqual(3);
      expect(h.events.labels).toBeLessThanOrEqual(50);
      expect(h.events.texts).toBeLessThanOrEqual(100);
      expect((h.events.tracker as unknown as { tracks: number }).tracks).toBeLessThanOrEqual(64);
      expect(h.cache.entries).toBeLessThanOrEqual(128);
      expect(h.cache.bytes).toBeLessThanOrEqual(256 * 1024);
    }
    // Plateau: the last hour holds no more than the second one (plus slack for content variation).
    const [second, last] = [hourly[1] as Peak, hourly[HOURS - 1] as Peak];
    expect(last.window.bytes).toBeLessThanOrEqual(second.window.bytes * 1.5);
    expect(last.chain.bytes).toBeLessThanOrEqual(second.chain.bytes * 1.5);
    expect(last.events.ruleTracks).toBeLessThanOrEqual(Math.max(64, second.events.ruleTracks * 1.5));
    expect(last.cache.bytes).toBeLessThanOrEqual(256 * 1024);
  }, 60_000);
});
