import { Subject, lastValueFrom, map, range, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { Summary, WindowDigest } from '../../src/core/contracts.js';
import { ConfigError } from '../../src/core/errors.js';
import {
  chainSummaries,
  createStructuredSummarizer,
  describeCounts,
  formatStreamTime,
  type ChainOptions,
  type StructuredFacts,
  type Summarizer,
} from '../../src/stream/index.js';

const T0 = 1_700_000_000_000;
const WIN_MS = 10_000;

function digest(
  index: number,
  peak: Record<string, number>,
  extra: Partial<WindowDigest> = {},
): WindowDigest {
  return {
    streamId: 'cam',
    index,
    startPtsNs: index * WIN_MS * 1e6,
    endPtsNs: (index + 1) * WIN_MS * 1e6,
    startTimeMs: T0 + index * WIN_MS,
    endTimeMs: T0 + (index + 1) * WIN_MS,
    keyframes: [
      { id: `cam:${index * 10}`, ptsNs: index * WIN_MS * 1e6, reason: 'motion', detections: 0 },
      { id: `cam:${index * 10 + 1}`, ptsNs: index * WIN_MS * 1e6 + 1e9, reason: 'motion', detections: 2 },
      { id: `cam:${index * 10 + 2}`, ptsNs: index * WIN_MS * 1e6 + 2e9, reason: 'max-interval' },
      { id: `cam:${index * 10 + 3}`, ptsNs: index * WIN_MS * 1e6 + 3e9, reason: 'motion', detections: 1 },
    ],
    peakCounts: peak,
    lastCounts: peak,
    analysed: 3,
    missing: 1,
    meanMotion: 0.05,
    text: [],
    ...extra,
  };
}

const facts = (s: Summary): StructuredFacts => s.facts as StructuredFacts;

describe('formatting', () => {
  it('formats stream time as mm:ss, hh:mm:ss from one hour', () => {
    expect(formatStreamTime(0)).toBe('00:00');
    expect(formatStreamTime(65.9e9)).toBe('01:05');
    expect(formatStreamTime(3725e9)).toBe('01:02:05');
  });

  it('describes counts, largest first, with plurals', () => {
    expect(describeCounts({ bicycle: 1, person: 5 })).toBe('5 persons and 1 bicycle');
    expect(describeCounts({ bus: 2, car: 3, dog: 1 })).toBe('3 cars, 2 buses and 1 dog');
    expect(describeCounts({ person: 0 })).toBe('nothing');
  });
});

describe('createStructuredSummarizer', () => {
  it('summarizes a first window without a previous one', () => {
    const s = createStructuredSummarizer().summarize(digest(1, { person: 3 }), null) as Summary;
    expect(s.id).toBe('cam:window:1');
    expect(s.level).toBe('window');
    expect(s.previousId).toBeNull();
    expect(s.text).toBe('Up to 3 persons in view. 3 keyframes analysed, 1 missing.');
    expect(s.sentences?.map((x) => x.keyframeIds)).toEqual([['cam:11', 'cam:13'], []]);
    expect(facts(s).changes).toEqual({});
    expect(facts(s).chain).toEqual({ windows: 1, maxCounts: { person: 3 } });
    // Keyframes with detections first.
    expect(s.evidence).toEqual(['cam:11', 'cam:13', 'cam:10', 'cam:12']);
    expect([s.startPtsNs, s.endPtsNs, s.startTimeMs, s.endTimeMs]).toEqual([
      10e9,
      20e9,
      T0 + 10_000,
      T0 + 20_000,
    ]);
  });

  it('builds on the previous summary: previousId, changes and trend in the text', () => {
    const summarizer = createStructuredSummarizer();
    const first = summarizer.summarize(digest(0, { person: 3 }), null) as Summary;
    const second = summarizer.summarize(digest(1, { person: 5, bicycle: 1 }), first) as Summary;
    expect(second.previousId).toBe('cam:window:0');
    expect(facts(second).changes).toEqual({ bicycle: { from: 0, to: 1 }, person: { from: 3, to: 5 } });
    expect(second.text).toBe(
      'Up to 5 persons and 1 bicycle in view (previous window: 3 persons). 3 keyframes analysed, 1 missing.',
    );
    const third = summarizer.summarize(digest(2, { person: 5, bicycle: 1 }), second) as Summary;
    expect(third.text).toContain('(unchanged from the previous window)');
    const fourth = summarizer.summarize(digest(3, {}, { missing: 0 }), third) as Summary;
    expect(fourth.text).toContain('Nothing detected (previous window: 5 persons and 1 bicycle)');
    expect(facts(fourth).chain).toEqual({ windows: 4, maxCounts: { bicycle: 1, person: 5 } });
  });

  it('says when no analysis was available, and quotes recognised text', () => {
    const s = createStructuredSummarizer().summarize(
      digest(0, {}, { analysed: 0, missing: 4, text: ['EXIT', 'NO PARKING', 'A', 'B'] }),
      null,
    ) as Summary;
    expect(s.text).toBe(
      'No analysis available. 0 keyframes analysed, 4 missing. Text: "EXIT", "NO PARKING", "A", ….',
    );
  });

  it('issue 22 RTSP flaps: a window with frames but no keyframe says so and carries the last known counts', () => {
    const summarizer = createStructuredSummarizer();
    const first = summarizer.summarize(digest(0, { person: 2 }, { missing: 0 }), null) as Summary;
    const noKeyframe = digest(1, {}, { keyframes: [], analysed: 0, missing: 0, frames: 7, lastCounts: {} });
    const second = summarizer.summarize(noKeyframe, first) as Summary;
    expect(second.text).toBe(
      'No analysis available (7 frames, no keyframe among them); last known: 2 persons, carried from the previous window. 0 keyframes analysed.',
    );
    // No invented change: person 2 is carried, not 2→0, and the next window is no 0→2 either.
    expect(facts(second).changes).toEqual({});
    expect(facts(second).carried).toEqual({ person: 2 });
    const third = summarizer.summarize(digest(2, { person: 2 }, { missing: 0 }), second) as Summary;
    expect(facts(third).changes).toEqual({});
  });

  it('bounds evidence and tolerates foreign facts in the previous summary', () => {
    const summarizer = createStructuredSummarizer({ maxEvidence: 2 });
    const foreign: Summary = {
      ...(summarizer.summarize(digest(0, {}), null) as Summary),
      facts: { peakCounts: 'not counts', chain: 42 },
    };
    const s = summarizer.summarize(digest(1, { dog: 1 }), foreign) as Summary;
    expect(s.evidence).toEqual(['cam:11', 'cam:13']);
    expect(s.previousId).toBe('cam:window:0');
    expect(facts(s).changes).toEqual({});
    expect(facts(s).chain.windows).toBe(2);
  });

  it('is deterministic', () => {
    const a = createStructuredSummarizer().summarize(digest(4, { car: 2 }), null);
    const b = createStructuredSummarizer().summarize(digest(4, { car: 2 }), null);
    expect(a).toEqual(b);
  });

  it('validates options', () => {
    expect(() => createStructuredSummarizer({ maxEvidence: -1 })).toThrow(ConfigError);
    expect(() => createStructuredSummarizer({ evidence: 3 } as never)).toThrow(/unknown option 'evidence'/);
  });
});

describe('chainSummaries', () => {
  it('chains previousId over 3 windows, in order, and releases the source', () => {
    new TestScheduler((a, e) => expect(a).toEqual(e)).run(
      ({ cold, expectObservable, expectSubscriptions }) => {
        const src = cold('a-b-c|', {
          a: digest(0, { person: 3 }),
          b: digest(1, { person: 5 }),
          c: digest(2, { person: 4 }),
        });
        const out = src.pipe(
          chainSummaries(createStructuredSummarizer()),
          map((s) => [s.id, s.previousId]),
        );
        expectObservable(out).toBe('a-b-c|', {
          a: ['cam:window:0', null],
          b: ['cam:window:1', 'cam:window:0'],
          c: ['cam:window:2', 'cam:window:1'],
        });
        expectSubscriptions(src.subscriptions).toBe('^----!');
      },
    );
  });

  it('mentions the trend from the previous summary in each text', () => {
    const summaries: Summary[] = [];
    const input = new Subject<WindowDigest>();
    input.pipe(chainSummaries(createStructuredSummarizer())).subscribe((s) => summaries.push(s));
    input.next(digest(0, { person: 3 }, { missing: 0 }));
    input.next(digest(1, { person: 5 }, { missing: 0 }));
    input.next(digest(2, { person: 2 }, { missing: 0 }));
    input.complete();
    expect(summaries.map((s) => s.sentences?.[0]?.text)).toEqual([
      'Up to 3 persons in view.',
      'Up to 5 persons in view (previous window: 3 persons).',
      'Up to 2 persons in view (previous window: 5 persons).',
    ]);
  });

  it('holds only the last summary: O(1) memory over a long chain', async () => {
    const seen: (string | null)[] = [];
    const inner = createStructuredSummarizer();
    const spy: Summarizer = {
      summarize(d, previous) {
        // Each call gets exactly the immediately previous summary, never the whole chain.
        seen.push(previous?.id ?? null);
        return inner.summarize(d, previous);
      },
    };
    const n = 2000;
    const sizes: number[] = [];
    const last = await lastValueFrom(
      range(0, n).pipe(
        map((i) => digest(i, { person: i % 7, ['label' + (i % 300)]: 1 })),
        chainSummaries(spy),
        map((s) => {
          sizes.push(JSON.stringify(s).length);
          return s;
        }),
      ),
    );
    expect(seen[0]).toBeNull();
    expect(seen[n - 1]).toBe(`cam:window:${n - 2}`);
    expect(facts(last).chain.windows).toBe(n);
    // maxCounts is capped (100 labels by default), so a summary's size stops growing.
    expect(Object.keys(facts(last).chain.maxCounts)).toHaveLength(100);
    expect(sizes[n - 1]).toBeLessThanOrEqual((sizes[200] as number) + 50);
  });

  it('preserves order with an async summarizer of varying latency', async () => {
    const inner = createStructuredSummarizer();
    const slowFirst: Summarizer = {
      summarize: (d, p) =>
        new Promise((resolve) =>
          setTimeout(() => resolve(inner.summarize(d, p) as Summary), (5 - d.index) * 3),
        ),
    };
    const out = await lastValueFrom(
      range(0, 5).pipe(
        map((i) => digest(i, { car: i })),
        chainSummaries(slowFirst),
        map((s) => `${s.index}<${s.previousId ?? '-'}`),
        toArray(),
      ),
    );
    expect(out).toEqual(['0<-', '1<cam:window:0', '2<cam:window:1', '3<cam:window:2', '4<cam:window:3']);
  });

  it('bounds the queue behind a slow summarizer: drops the newest and reports skipped windows', async () => {
    const inner = createStructuredSummarizer();
    const gates: (() => void)[] = [];
    const gated: Summarizer = {
      summarize: (d, p) =>
        new Promise<Summary>((resolve) => gates.push(() => resolve(inner.summarize(d, p) as Summary))),
    };
    const dropped: number[] = [];
    const got: Summary[] = [];
    const input = new Subject<WindowDigest>();
    const done = new Promise<void>((resolve) =>
      input
        .pipe(chainSummaries(gated, { maxPending: 2, onDrop: (d) => dropped.push(d.index) }))
        .subscribe({ next: (s) => got.push(s), complete: resolve }),
    );
    for (let i = 0; i < 5; i++) input.next(digest(i, {}));
    expect(dropped).toEqual([2, 3, 4]);
    const release = async (): Promise<void> => {
      while (gates.length > 0) {
        gates.shift()?.();
        await new Promise((r) => setTimeout(r, 0));
      }
    };
    await release();
    input.next(digest(5, {}));
    await release();
    input.complete();
    await done;
    expect(got.map((s) => s.index)).toEqual([0, 1, 5]);
    expect(got.map((s) => s.facts['skippedWindows'])).toEqual([undefined, undefined, 3]);
    expect(got[2]?.previousId).toBe('cam:window:1');
  });

  it('errors the stream when the summarizer throws', () => {
    new TestScheduler((a, e) => expect(a).toEqual(e)).run(
      ({ cold, expectObservable, expectSubscriptions }) => {
        const boom = new Error('boom');
        const failing: Summarizer = {
          summarize: () => {
            throw boom;
          },
        };
        const src = cold('a-b|', { a: digest(0, {}), b: digest(1, {}) });
        expectObservable(src.pipe(chainSummaries(failing))).toBe('#', undefined, boom);
        expectSubscriptions(src.subscriptions).toBe('(^!)');
      },
    );
  });

  it('validates options', () => {
    const s = createStructuredSummarizer();
    expect(() => chainSummaries(s, { concurrency: 2 } as unknown as ChainOptions)).toThrow(
      /concurrency must be 1/,
    );
    expect(() => chainSummaries(s, { maxPending: 0 })).toThrow(ConfigError);
    expect(() => chainSummaries(s, { concurency: 1 } as unknown as ChainOptions)).toThrow(/unknown option/);
  });
});
