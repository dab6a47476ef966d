/**
 * Chain-of-summary: each closed window is summarized from its digest AND the previous summary, so
 * the rolling summary carries context in O(1) memory (only the last summary is held).
 *
 * The default summarizer is deterministic and structured; a language-model summarizer plugs in
 * behind the same `Summarizer` interface (an edge adapter, not here: this module does no I/O).
 */
import {
  catchError,
  concat,
  concatMap,
  defer,
  filter,
  finalize,
  from,
  map,
  of,
  throwError,
  type Observable,
  type OperatorFunction,
} from 'rxjs';
import type { Summary, SummaryLevel, WindowDigest } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import { checkNumber, checkRunId, idPrefix, rejectUnknownKeys } from './options.js';
import { DEFAULT_MERGE_BOUNDS, estimateDigestBytes, mergeDigests, type MergeBounds } from './rollup.js';

/** Where a summary sits in the chain: the level it is for (default 'window') and the run id for ids. */
export interface SummaryContext {
  level: SummaryLevel;
  runId?: string;
}

/**
 * Builds one summary from a digest and the previous summary OF THE SAME LEVEL. Segment and stream
 * summaries are built from merged digests (see mergeDigests), so one summarizer serves all levels.
 */
export interface Summarizer {
  summarize(
    digest: WindowDigest,
    previous: Summary | null,
    context?: SummaryContext,
  ): Promise<Summary> | Summary;
}

/** Facts written by the structured summarizer (Summary.facts is this, as a plain object). */
export interface StructuredFacts {
  [key: string]: unknown;
  peakCounts: Record<string, number>;
  lastCounts: Record<string, number>;
  /** Labels whose peak count differs from the previous window's, e.g. { person: { from: 3, to: 5 } }. */
  changes: Record<string, { from: number; to: number }>;
  keyframes: number;
  analysed: number;
  missing: number;
  dropped: number;
  sceneCuts: number;
  meanMotion: number;
  text: string[];
  /** Carried along the chain: windows summarized so far and the highest count per label ever seen. */
  chain: { windows: number; maxCounts: Record<string, number> };
}

export interface StructuredSummarizerOptions {
  /** Evidence keyframe ids per summary, those with detections first (default 8). */
  maxEvidence?: number;
  /** Distinct labels carried in chain.maxCounts (default 100): bounds the chain's memory. */
  maxChainLabels?: number;
  /** Text strings quoted in the readable text (default 3). */
  maxQuotedTexts?: number;
  /** Run id put in summary ids (`<streamId>:<runId>:<level>:<index>`); a context's runId wins. */
  runId?: string;
}

const CS = 'createStructuredSummarizer';

/** Stream time as mm:ss (hh:mm:ss from one hour on). */
export function formatStreamTime(ptsNs: number): string {
  const total = Math.max(0, Math.floor(ptsNs / 1e9));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const two = (n: number): string => String(n).padStart(2, '0');
  return h > 0 ? `${two(h)}:${two(m)}:${two(s)}` : `${two(m)}:${two(s)}`;
}

/** English plural for a COCO-style label ("person" → "persons", "bus" → "buses"). */
export function plural(label: string, n: number): string {
  if (n === 1) return label;
  if (/(s|x|z|ch|sh)$/.test(label)) return `${label}es`;
  if (/[^aeiou]y$/.test(label)) return `${label.slice(0, -1)}ies`;
  return `${label}s`;
}

/** "5 persons and 1 bicycle", largest count first; "nothing" when empty. */
export function describeCounts(counts: Record<string, number>): string {
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort(([la, a], [lb, b]) => b - a || la.localeCompare(lb))
    .map(([label, n]) => `${n} ${plural(label, n)}`);
  if (parts.length === 0) return 'nothing';
  if (parts.length === 1) return parts[0] as string;
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1] as string}`;
}

function isCounts(v: unknown): v is Record<string, number> {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    Object.values(v as Record<string, unknown>).every((n) => typeof n === 'number' && Number.isFinite(n))
  );
}

/** Reads the fields this summarizer needs from any previous summary's facts (another summarizer may have written them). */
function previousFacts(previous: Summary | null): {
  peakCounts: Record<string, number> | null;
  windows: number;
  maxCounts: Record<string, number>;
} {
  if (previous === null) return { peakCounts: null, windows: 0, maxCounts: {} };
  const f = previous.facts;
  const chain = f['chain'];
  let windows = 1;
  let maxCounts: Record<string, number> = {};
  if (typeof chain === 'object' && chain !== null) {
    const c = chain as Record<string, unknown>;
    if (typeof c['windows'] === 'number' && Number.isFinite(c['windows'])) windows = c['windows'];
    if (isCounts(c['maxCounts'])) maxCounts = c['maxCounts'];
  }
  return { peakCounts: isCounts(f['peakCounts']) ? f['peakCounts'] : null, windows, maxCounts };
}

/** The deterministic default summarizer: same digest + same previous → same summary. */
export function createStructuredSummarizer(options: StructuredSummarizerOptions = {}): Summarizer {
  rejectUnknownKeys(CS, options, ['maxEvidence', 'maxChainLabels', 'maxQuotedTexts', 'runId']);
  const runId = checkRunId(CS, options.runId);
  const maxEvidence = checkNumber(CS, 'maxEvidence', options.maxEvidence ?? 8, { min: 0, integer: true });
  const maxChainLabels = checkNumber(CS, 'maxChainLabels', options.maxChainLabels ?? 100, {
    min: 0,
    integer: true,
  });
  const maxQuotedTexts = checkNumber(CS, 'maxQuotedTexts', options.maxQuotedTexts ?? 3, {
    min: 0,
    integer: true,
  });

  return {
    summarize(digest: WindowDigest, previous: Summary | null, context?: SummaryContext): Summary {
      const level = context?.level ?? 'window';
      const prefix = idPrefix(digest.streamId, context?.runId ?? runId);
      const prev = previousFacts(previous);

      const changes: StructuredFacts['changes'] = {};
      if (prev.peakCounts !== null) {
        const labels = new Set([...Object.keys(prev.peakCounts), ...Object.keys(digest.peakCounts)]);
        for (const label of [...labels].sort()) {
          const from = prev.peakCounts[label] ?? 0;
          const to = digest.peakCounts[label] ?? 0;
          if (from !== to) changes[label] = { from, to };
        }
      }

      const maxCounts: Record<string, number> = { ...prev.maxCounts };
      for (const [label, n] of Object.entries(digest.peakCounts)) {
        if (label in maxCounts) maxCounts[label] = Math.max(maxCounts[label] ?? 0, n);
        else if (Object.keys(maxCounts).length < maxChainLabels) maxCounts[label] = n;
      }

      const facts: StructuredFacts = {
        peakCounts: { ...digest.peakCounts },
        lastCounts: { ...digest.lastCounts },
        changes,
        keyframes: digest.keyframes.length + (digest.dropped ?? 0),
        analysed: digest.analysed,
        missing: digest.missing,
        dropped: digest.dropped ?? 0,
        sceneCuts: digest.keyframes.filter((k) => k.reason === 'scene-cut').length,
        meanMotion: Math.round(digest.meanMotion * 1e4) / 1e4,
        text: [...digest.text],
        chain: { windows: prev.windows + 1, maxCounts },
      };

      const withDetections = digest.keyframes.filter((k) => (k.detections ?? 0) > 0).map((k) => k.id);
      const without = digest.keyframes.filter((k) => !((k.detections ?? 0) > 0)).map((k) => k.id);
      const evidence = [...withDetections, ...without].slice(0, maxEvidence);

      if (digest.missingKeyframes !== undefined) facts['missingKeyframes'] = [...digest.missingKeyframes];
      if (digest.closedBy === 'timeout') facts['closedBy'] = 'timeout';
      if (digest.ptsResets !== undefined) facts['ptsResets'] = digest.ptsResets;
      if (digest.tracks !== undefined) facts['tracks'] = digest.tracks.map((t) => ({ ...t }));
      if (digest.speech !== undefined) facts['speech'] = digest.speech.map((x) => ({ ...x }));
      return {
        id: `${prefix}:${level}:${digest.index}`,
        level,
        streamId: digest.streamId,
        index: digest.index,
        startPtsNs: digest.startPtsNs,
        endPtsNs: digest.endPtsNs,
        startTimeMs: digest.startTimeMs,
        endTimeMs: digest.endTimeMs,
        previousId: previous?.id ?? null,
        facts,
        text: renderText(digest, facts, prev.peakCounts, maxQuotedTexts),
        evidence,
      };
    },
  };
}

function renderText(
  digest: WindowDigest,
  facts: StructuredFacts,
  previousPeak: Record<string, number> | null,
  maxQuotedTexts: number,
): string {
  const range = `${formatStreamTime(digest.startPtsNs)}–${formatStreamTime(digest.endPtsNs)}`;
  let what: string;
  if (facts.analysed === 0) {
    what = 'no analysis available';
  } else {
    const seen = describeCounts(facts.peakCounts);
    what = seen === 'nothing' ? 'nothing detected' : `up to ${seen} in view`;
  }
  let trend = '';
  if (previousPeak !== null) {
    const changed = Object.keys(facts.changes).length > 0;
    trend = changed
      ? ` (previous window: ${describeCounts(previousPeak)})`
      : ' (unchanged from previous window)';
  }
  const analysed = `${facts.analysed} keyframe${facts.analysed === 1 ? '' : 's'} analysed`;
  const missing = facts.missing > 0 ? `, ${facts.missing} missing` : '';
  const cuts = facts.sceneCuts > 0 ? `, ${facts.sceneCuts} scene cut${facts.sceneCuts === 1 ? '' : 's'}` : '';
  let text = `${range}: ${what}${trend}; ${analysed}${missing}${cuts}.`;
  const quoted = facts.text
    .slice(0, maxQuotedTexts)
    .map((t) => `"${t.length > 40 ? `${t.slice(0, 39)}…` : t}"`);
  if (quoted.length > 0)
    text += ` Text: ${quoted.join(', ')}${facts.text.length > quoted.length ? ', …' : ''}.`;
  return text;
}

export interface RollupOptions {
  /** Window summaries per segment summary (required, >= 1). */
  segmentWindows: number;
  /** Also keep a stream summary, updated after each segment (default true). */
  stream?: boolean;
  /** Keyframe entries / texts / labels kept in a merged digest (defaults 32 / 32 / 100). */
  maxKeyframes?: number;
  maxTexts?: number;
  maxLabels?: number;
}

export interface ChainOptions {
  /** Summaries in flight; must be 1: each summary needs the previous one (default 1). */
  concurrency?: 1;
  /** Digests waiting while a slow summarizer runs; beyond this the newest is dropped (default 16). */
  maxPending?: number;
  /** Called for each digest dropped because the queue was full (metrics hook; must not throw). */
  onDrop?: (digest: WindowDigest) => void;
  /** Segment and stream roll-up (default none: window summaries only). */
  rollup?: RollupOptions;
  /** Run id passed to the summarizer (ids `<streamId>:<runId>:<level>:<index>`). */
  runId?: string;
  /** Called with the retained state after each summary (memory tests, metrics; must not throw). */
  onStats?: (stats: ChainStats) => void;
}

export interface ChainStats {
  /** Summaries held: the last of each level (at most 3). */
  summaries: number;
  /** Windows folded into the open segment. */
  segmentWindows: number;
  /** Estimated bytes held (last summaries and merged digests). */
  bytes: number;
  pending: number;
  skipped: number;
  emitted: number;
}

/**
 * Operator: digests in, summaries out, in order (concatMap), each built on the previous one of its
 * level. Holds only the last summary per level and, with `rollup`, the merged digest of the open
 * segment and of the whole stream (bounded). Every `segmentWindows` window summaries, a segment
 * summary follows, then (unless `stream: false`) the updated stream summary; on completion a
 * partial segment and a final stream summary are flushed. The wait queue is bounded by maxPending
 * (drop-newest); the summary of the next digest accepted after a drop carries
 * `facts.skippedWindows`. A summarizer error errors the stream.
 */
export function chainSummaries(
  summarizer: Summarizer,
  options: ChainOptions = {},
): OperatorFunction<WindowDigest, Summary> {
  const C = 'chainSummaries';
  rejectUnknownKeys(C, options, ['concurrency', 'maxPending', 'onDrop', 'rollup', 'runId', 'onStats']);
  if (typeof summarizer !== 'object' || summarizer === null || typeof summarizer.summarize !== 'function') {
    throw new ConfigError(`${C}: summarizer must have a summarize(digest, previous) method`);
  }
  if ((options.concurrency ?? 1) !== 1) {
    throw new ConfigError(`${C}: concurrency must be 1 (each summary builds on the previous one)`);
  }
  const maxPending = checkNumber(C, 'maxPending', options.maxPending ?? 16, { min: 1, integer: true });
  const runId = checkRunId(C, options.runId);
  const onDrop = options.onDrop;
  const onStats = options.onStats;
  let rollup: { segmentWindows: number; stream: boolean; bounds: MergeBounds } | null = null;
  if (options.rollup !== undefined) {
    const r = options.rollup;
    const RC = `${C}: rollup`;
    if (typeof r !== 'object' || r === null) throw new ConfigError(`${RC} must be { segmentWindows }`);
    rejectUnknownKeys(RC, r, ['segmentWindows', 'stream', 'maxKeyframes', 'maxTexts', 'maxLabels']);
    if (r.stream !== undefined && typeof r.stream !== 'boolean')
      throw new ConfigError(`${RC}.stream must be a boolean`);
    rollup = {
      segmentWindows: checkNumber(RC, 'segmentWindows', r.segmentWindows, { min: 1, integer: true }),
      stream: r.stream ?? true,
      bounds: {
        maxKeyframes: checkNumber(RC, 'maxKeyframes', r.maxKeyframes ?? DEFAULT_MERGE_BOUNDS.maxKeyframes, {
          min: 1,
          integer: true,
        }),
        maxTexts: checkNumber(RC, 'maxTexts', r.maxTexts ?? DEFAULT_MERGE_BOUNDS.maxTexts, {
          min: 0,
          integer: true,
        }),
        maxLabels: checkNumber(RC, 'maxLabels', r.maxLabels ?? DEFAULT_MERGE_BOUNDS.maxLabels, {
          min: 1,
          integer: true,
        }),
        maxListed: DEFAULT_MERGE_BOUNDS.maxListed,
      },
    };
  }
  const ctx = (level: SummaryLevel): SummaryContext => (runId === undefined ? { level } : { level, runId });

  return (source) =>
    defer(() => {
      const last: Record<SummaryLevel, Summary | null> = { window: null, segment: null, stream: null };
      let segment: WindowDigest | null = null;
      let segmentCount = 0;
      let segmentIndex = 0;
      let streamDigest: WindowDigest | null = null;
      let streamIndex = 0;
      /** Digests accepted but not yet summarized (the one running included). */
      let pending = 0;
      let skipped = 0;
      let emitted = 0;

      const stats = (): ChainStats => {
        let bytes = 0;
        let summaries = 0;
        for (const s of Object.values(last)) {
          if (s === null) continue;
          summaries++;
          bytes += 256 + JSON.stringify(s.facts).length * 2 + s.text.length * 2 + s.evidence.length * 64;
        }
        if (segment !== null) bytes += estimateDigestBytes(segment);
        if (streamDigest !== null) bytes += estimateDigestBytes(streamDigest);
        return { summaries, segmentWindows: segmentCount, bytes, pending, skipped, emitted };
      };

      /** Runs the summarizer for one level; sync results stay sync (testable in virtual time). */
      const step = (
        level: SummaryLevel,
        digest: WindowDigest,
        extra?: (s: Summary) => Summary,
      ): Observable<Summary> =>
        defer(() => {
          const done = (s: Summary): Summary => {
            if (extra !== undefined) s = extra(s);
            last[level] = s;
            emitted++;
            onStats?.(stats());
            return s;
          };
          let result: Promise<Summary> | Summary;
          try {
            result = summarizer.summarize(digest, last[level], ctx(level));
          } catch (err) {
            return throwError(() => err);
          }
          if (!isPromiseLike(result)) return of(done(result));
          return from(result.then(done));
        });

      /** Segment summary (and stream update) for the open segment, if any. */
      const closeSegment = (): Observable<Summary> => {
        if (rollup === null || segment === null) return of();
        const seg = segment;
        segment = null;
        segmentCount = 0;
        const parts: Observable<Summary>[] = [step('segment', seg)];
        if (rollup.stream) {
          streamDigest = mergeDigests(streamDigest, seg, streamIndex++, rollup.bounds);
          parts.push(step('stream', streamDigest));
        }
        return concat(...parts);
      };

      const main = source.pipe(
        map((digest) => {
          if (pending >= maxPending) {
            skipped++;
            onDrop?.(digest);
            return null;
          }
          pending++;
          const skippedBefore = skipped;
          skipped = 0;
          return { digest, skippedBefore };
        }),
        filter((x): x is { digest: WindowDigest; skippedBefore: number } => x !== null),
        concatMap(({ digest, skippedBefore }) => {
          const win = step('window', digest, (s) => {
            pending--;
            return skippedBefore > 0 ? { ...s, facts: { ...s.facts, skippedWindows: skippedBefore } } : s;
          });
          const guarded = win.pipe(
            catchError((err: unknown) => {
              pending--; // the failed window releases its slot
              return throwError(() => err);
            }),
          );
          const parts: Observable<Summary>[] = [guarded];
          if (rollup !== null) {
            const r = rollup;
            parts.push(
              defer(() => {
                segment = mergeDigests(segment, digest, segmentIndex, r.bounds);
                segmentCount++;
                if (segmentCount < r.segmentWindows) return of();
                segmentIndex++;
                return closeSegment();
              }),
            );
          }
          return concat(...parts);
        }),
      );
      return concat(
        main,
        defer(() => closeSegment()),
      ).pipe(
        finalize(() => {
          last.window = null;
          last.segment = null;
          last.stream = null;
          segment = null;
          streamDigest = null;
        }),
      );
    });
}

function isPromiseLike<T>(v: Promise<T> | T): v is Promise<T> {
  return typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function';
}
