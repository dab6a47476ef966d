import { lastValueFrom, map, range, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { Summary, WindowDigest } from '../../src/core/contracts.js';
import { ConfigError } from '../../src/core/errors.js';
import {
  buildRefinePrompt,
  chainSummaries,
  createStructuredSummarizer,
  createTextGenerationSummarizer,
  mergeDigests,
  type ChainOptions,
} from '../../src/stream/index.js';
import { tallyOf } from '../../src/stream/rollup.js';

const T0 = 1_700_000_000_000;

function digest(index: number, peak: Record<string, number>, text: string[] = []): WindowDigest {
  return {
    streamId: 'cam',
    index,
    startPtsNs: index * 10e9,
    endPtsNs: (index + 1) * 10e9,
    startTimeMs: T0 + index * 10_000,
    endTimeMs: T0 + (index + 1) * 10_000,
    keyframes: [
      {
        id: `cam:${index * 2}`,
        ptsNs: index * 10e9,
        reason: 'motion',
        detections: Object.values(peak).reduce((a, b) => a + b, 0),
      },
      { id: `cam:${index * 2 + 1}`, ptsNs: index * 10e9 + 5e9, reason: 'max-interval' },
    ],
    peakCounts: peak,
    lastCounts: peak,
    analysed: 1,
    missing: 1,
    meanMotion: 0.1,
    text,
  };
}

const tag = (s: Summary): string => `${s.level}#${s.index}<${s.previousId ?? '-'}`;

describe('chain-of-summary roll-up', () => {
  it('segments roll up N windows; the stream summary follows each segment; a partial segment is flushed at the end', () => {
    new TestScheduler((a, e) => expect(a).toEqual(e)).run(
      ({ cold, expectObservable, expectSubscriptions }) => {
        const src = cold('a-----b-----c-----d-----e-----|', {
          a: digest(0, { person: 1 }),
          b: digest(1, { person: 3 }),
          c: digest(2, { car: 1 }),
          d: digest(3, {}),
          e: digest(4, { person: 2 }),
        });
        const out = src.pipe(
          chainSummaries(createStructuredSummarizer(), { rollup: { segmentWindows: 2 } }),
          map(tag),
        );
        expectObservable(out).toBe('a-----(bcd)-e-----(fgh)-i-----(jk|)', {
          a: 'window#0<-',
          b: 'window#1<cam:window:0',
          c: 'segment#0<-',
          d: 'stream#0<-',
          e: 'window#2<cam:window:1',
          f: 'window#3<cam:window:2',
          g: 'segment#1<cam:segment:0',
          h: 'stream#1<cam:stream:0',
          i: 'window#4<cam:window:3',
          j: 'segment#2<cam:segment:1',
          k: 'stream#2<cam:stream:1',
        });
        expectSubscriptions(src.subscriptions).toBe('^-----------------------------!');
      },
    );
  });

  it('segment and stream summaries cover their windows: ranges, peaks, evidence', async () => {
    const all = await lastValueFrom(
      range(0, 6).pipe(
        map((i) => digest(i, { person: i }, i === 4 ? ['EXIT'] : [])),
        chainSummaries(createStructuredSummarizer(), { rollup: { segmentWindows: 3 }, runId: 'r7' }),
        toArray(),
      ),
    );
    const seg = all.filter((s) => s.level === 'segment');
    const str = all.filter((s) => s.level === 'stream');
    expect(seg.map((s) => [s.id, s.startPtsNs / 1e9, s.endPtsNs / 1e9, s.facts['peakCounts']])).toEqual([
      ['cam:r7:segment:0', 0, 30, { person: 2 }],
      ['cam:r7:segment:1', 30, 60, { person: 5 }],
    ]);
    expect(str.at(-1)?.startPtsNs).toBe(0);
    expect(str.at(-1)?.endPtsNs).toBe(60e9);
    expect(str.at(-1)?.text).toMatch(/^Up to 5 persons in view at once/);
    expect(str.at(-1)?.text).toContain('"EXIT"');
    expect(all[0]?.id).toBe('cam:r7:window:0');
    // Evidence: keyframes with detections first.
    expect(seg[1]?.evidence[0]).toBe('cam:6');
  });

  it('entries and exits are counted by label and edge in full, past the bound on listed ones', async () => {
    // 6 windows × 10 entries (8 persons from the left, 2 parked cars): 60 entries, 32 listed at most.
    const withEntries = (i: number): WindowDigest => {
      const entries = Array.from({ length: 10 }, (_, k) => ({
        trackId: i * 10 + k,
        label: k < 8 ? 'person' : 'car',
        ptsNs: i * 10e9 + k * 1e9,
        edge: k < 8 ? ('left' as const) : ('none' as const),
        keyframeId: `cam:${i * 2}`,
      }));
      return { ...digest(i, { person: 8 }), objectsEntered: 10, entries, enteredBy: tallyOf(entries) };
    };
    const all = await lastValueFrom(
      range(0, 6).pipe(
        map(withEntries),
        chainSummaries(createStructuredSummarizer(), { rollup: { segmentWindows: 6 } }),
        toArray(),
      ),
    );
    const seg = all.find((s) => s.level === 'segment')!;
    expect(seg.text).toContain('48 persons (48 from the left), 12 cars (12 inside the frame) entered.');
    expect(seg.text).not.toMatch(/more entered/);
  });

  it('never says "nothing detected" beside objects the tracker followed in the window', async () => {
    const d: WindowDigest = {
      ...digest(0, {}),
      tracks: [
        { id: 1, label: 'person', firstPtsNs: 0, lastPtsNs: 4e9, keyframeId: 'cam:0' },
        { id: 2, label: 'person', firstPtsNs: 0, lastPtsNs: 4e9, keyframeId: 'cam:0' },
      ],
    };
    const [w] = await lastValueFrom(
      range(0, 1).pipe(
        map(() => d),
        chainSummaries(createStructuredSummarizer()),
        toArray(),
      ),
    );
    expect(w?.text).not.toMatch(/Nothing detected/);
    expect(w?.sentences?.[0]).toMatchObject({
      text: '2 persons tracked between the analysed keyframes.',
      keyframeIds: ['cam:0'],
    });
  });

  it('mergeDigests stays bounded over a long run', () => {
    let acc: WindowDigest | null = null;
    for (let i = 0; i < 5000; i++) acc = mergeDigests(acc, digest(i, { [`l${i % 500}`]: 1 }, [`t${i}`]), 0);
    const d = acc as WindowDigest;
    expect(d.keyframes.length).toBeLessThanOrEqual(32);
    expect(d.text.length).toBeLessThanOrEqual(32);
    expect(Object.keys(d.peakCounts).length).toBeLessThanOrEqual(100);
    expect(d.analysed).toBe(5000);
    expect(d.dropped).toBe(10_000 - d.keyframes.length);
  });

  it('validates rollup options', () => {
    const s = createStructuredSummarizer();
    expect(() => chainSummaries(s, { rollup: { segmentWindows: 0 } })).toThrow(/segmentWindows/);
    expect(() =>
      chainSummaries(s, { rollup: { segmentWindows: 2, every: 1 } } as unknown as ChainOptions),
    ).toThrow(/unknown option 'every'/);
    expect(() => chainSummaries({} as never)).toThrow(ConfigError);
  });
});

describe('language-model summarizer', () => {
  it('uses the model text, keeps the structured facts, and builds a refine prompt from the previous summary', async () => {
    const prompts: string[] = [];
    const lm = createTextGenerationSummarizer({
      generate: (prompt) => {
        prompts.push(prompt);
        return Promise.resolve(`  Summary ${prompts.length}.  `);
      },
    });
    const out = await lastValueFrom(
      range(0, 2).pipe(
        map((i) => digest(i, { person: 2 })),
        chainSummaries(lm),
        toArray(),
      ),
    );
    expect(out.map((s) => s.text)).toEqual(['Summary 1.', 'Summary 2.']);
    expect(out[1]?.facts).toMatchObject({ textSource: 'model', peakCounts: { person: 2 } });
    expect(out[1]?.previousId).toBe('cam:window:0');
    expect(prompts[0]).toContain('"previousSummary":null');
    expect(prompts[1]).toContain('"previousSummary":"Summary 1."');
    expect(prompts[1]).toContain('"peakCounts":{"person":2}');
    expect(out[1]?.facts).toMatchObject({ generatedBy: 'model' });
    expect(lm.stats()).toEqual({ calls: 2, fallbacks: 0, timeouts: 0, invalidCitations: 0 });
  });

  it('falls back to the structured text on error, empty answer or timeout (and aborts the call)', async () => {
    let aborted = 0;
    let n = 0;
    const lm = createTextGenerationSummarizer({
      timeoutMs: 20,
      generate: (_prompt, { signal }) => {
        n++;
        if (n === 1) return Promise.reject(new Error('503 from backend'));
        if (n === 2) return Promise.resolve('   ');
        return new Promise<string>((_, reject) =>
          signal.addEventListener('abort', () => {
            aborted++;
            reject(new Error('aborted'));
          }),
        );
      },
    });
    const out = await lastValueFrom(
      range(0, 3).pipe(
        map((i) => digest(i, { car: 1 })),
        chainSummaries(lm),
        toArray(),
      ),
    );
    expect(out.map((s) => s.facts['textSource'])).toEqual(['structured', 'structured', 'structured']);
    expect(out.map((s) => s.facts['modelError'])).toEqual([
      '503 from backend',
      'empty answer',
      'text generation timed out after 20 ms',
    ]);
    expect(out[0]?.text).toMatch(/^Up to 1 car in view/);
    expect(aborted).toBe(1);
    expect(out.map((s) => s.facts['generatedBy'])).toEqual(Array(3).fill('structured-fallback'));
    expect(lm.stats()).toEqual({ calls: 3, fallbacks: 3, timeouts: 1, invalidCitations: 0 });
  });

  it('bounds the prompt by trimming the previous summary', () => {
    const structured = createStructuredSummarizer().summarize(digest(1, {}), null) as Summary;
    const previous = { ...structured, text: 'x'.repeat(20_000) };
    const p = buildRefinePrompt({ level: 'window', previous, digest: digest(1, {}), structured }, 2000);
    expect(p.length).toBeLessThanOrEqual(2000);
    expect(p).toContain('"structuredDraft":');
    expect(p).toContain('"previousSummary":"…xxx');
    expect(() => createTextGenerationSummarizer({ generate: 'x' as never })).toThrow(
      /generate must be a function/,
    );
  });
});
