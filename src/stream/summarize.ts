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
import type {
  DigestObjectEvent,
  EdgeTally,
  FrameEdge,
  Summary,
  SummaryLevel,
  SummarySentence,
  WindowDigest,
} from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import { checkNumber, checkRunId, idPrefix, rejectUnknownKeys } from './options.js';
import {
  DEFAULT_MERGE_BOUNDS,
  estimateDigestBytes,
  mergeDigests,
  splitDigest,
  tallyOf,
  type MergeBounds,
} from './rollup.js';

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
  /**
   * Max count per label in any analysed keyframe (confirmed tracks with a tracker). With analyses
   * missing (`partial`), a label seen less than the last known count keeps that count (`carried`).
   */
  peakCounts: Record<string, number>;
  lastCounts: Record<string, number>;
  /** Labels whose peak count differs from the previous summary's of the same level, e.g. { person: { from: 3, to: 5 } }. */
  changes: Record<string, { from: number; to: number }>;
  keyframes: number;
  analysed: number;
  missing: number;
  dropped: number;
  /** True when one or more analyses are missing: counts that fell are carried, not reported as changes. */
  partial: boolean;
  /** Analyses missing (= missing). */
  missingAnalyses: number;
  /**
   * Labels whose count was carried forward from the last known state (partial summaries); that
   * state (`knownCounts`, also in the facts) is the previous summary's counts. A summary with no
   * analysis carries it whole; one with some analyses carries a fallen count for at most 2
   * summaries in a row (`carriedFor`), then the fall is reported.
   */
  carried: Record<string, number>;
  /** Scene cuts (`scene.cut` events) in the range: the one count every level and the event list share. */
  sceneCuts: number;
  /** Shots that start in the range (the first shot of the stream and one per cut). */
  shots: number;
  /** Confirmed objects that entered and left (`object.entered` / `object.left` events). */
  entered: number;
  left: number;
  meanMotion: number;
  text: string[];
  /**
   * Carried along the chain: summaries so far, the highest count per label ever seen, and the
   * tracks already reported as parked or static (reported once per level).
   */
  chain: { windows: number; maxCounts: Record<string, number>; staticReported?: number[] };
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
  /** An object that stayed at least this long is named as a long stay, ms (default 30000). */
  longStayMs?: number;
  /** An object present at least this long that moved at most `staticMaxMove` is parked or static, ms (default 30000). */
  staticMinMs?: number;
  /** Most an object may move, in its box's diagonals, and still be static (default 0.5). */
  staticMaxMove?: number;
  /** Items named per sentence (shots, long stays, static objects) and evidence ids per sentence (default 4). */
  maxSentenceItems?: number;
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
  knownCounts: Record<string, number> | null;
  carriedFor: Record<string, number>;
  windows: number;
  maxCounts: Record<string, number>;
  staticReported: number[];
} {
  if (previous === null)
    return {
      peakCounts: null,
      knownCounts: null,
      carriedFor: {},
      windows: 0,
      maxCounts: {},
      staticReported: [],
    };
  const f = previous.facts;
  const chain = f['chain'];
  let windows = 1;
  let maxCounts: Record<string, number> = {};
  let staticReported: number[] = [];
  if (typeof chain === 'object' && chain !== null) {
    const c = chain as Record<string, unknown>;
    if (typeof c['windows'] === 'number' && Number.isFinite(c['windows'])) windows = c['windows'];
    if (isCounts(c['maxCounts'])) maxCounts = c['maxCounts'];
    const st = c['staticReported'];
    if (Array.isArray(st)) staticReported = st.filter((x): x is number => typeof x === 'number');
  }
  const peakCounts = isCounts(f['peakCounts']) ? f['peakCounts'] : null;
  return {
    peakCounts,
    knownCounts: isCounts(f['knownCounts']) ? f['knownCounts'] : peakCounts,
    carriedFor: isCounts(f['carriedFor']) ? f['carriedFor'] : {},
    windows,
    maxCounts,
    staticReported,
  };
}

/** Summaries with some analyses in a row that may carry a fallen count (see `carried`). */
const MAX_CARRY = 2;

/** Track ids remembered as already reported static (bounds the chain). */
const MAX_STATIC_REPORTED = 256;

/** Labels a parked object has (others are "static"). */
const VEHICLES = new Set(['car', 'truck', 'bus', 'motorcycle', 'bicycle', 'boat', 'train', 'airplane']);

/** "the previous window" / "the previous segment"; null for the stream level (it is cumulative). */
function previousName(level: SummaryLevel): string | null {
  return level === 'stream' ? null : `previous ${level}`;
}

function capitalize(s: string): string {
  return s.length === 0 ? s : `${s[0]?.toUpperCase() ?? ''}${s.slice(1)}`;
}

/** "12 s", "1 min 5 s". */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(total / 60);
  const sec = total % 60;
  if (m === 0) return `${sec} s`;
  return sec === 0 ? `${m} min` : `${m} min ${sec} s`;
}

/** "2 from the left, 1 from the top" (edge 'none': "inside the frame"). */
function describeEdges(byEdge: Partial<Record<FrameEdge, number>>, verb: 'from' | 'by'): string {
  return (Object.entries(byEdge) as [FrameEdge, number][])
    .sort(([ea, a], [eb, b]) => b - a || ea.localeCompare(eb))
    .map(([edge, n]) => (edge === 'none' ? `${n} inside the frame` : `${n} ${verb} the ${edge}`))
    .join(', ');
}

function sumOf(byEdge: Partial<Record<FrameEdge, number>>): number {
  return Object.values(byEdge).reduce((n, k) => n + (k ?? 0), 0);
}

function unique(ids: readonly (string | null | undefined)[], max: number): string[] {
  const out: string[] = [];
  for (const id of ids) {
    if (typeof id !== 'string' || id === '' || out.includes(id)) continue;
    out.push(id);
    if (out.length >= max) break;
  }
  return out;
}

interface Resolved {
  maxEvidence: number;
  maxChainLabels: number;
  maxQuotedTexts: number;
  longStayMs: number;
  staticMinMs: number;
  staticMaxMove: number;
  maxItems: number;
}

/** The deterministic default summarizer: same digest + same previous → same summary. */
export function createStructuredSummarizer(options: StructuredSummarizerOptions = {}): Summarizer {
  rejectUnknownKeys(CS, options, [
    'maxEvidence',
    'maxChainLabels',
    'maxQuotedTexts',
    'runId',
    'longStayMs',
    'staticMinMs',
    'staticMaxMove',
    'maxSentenceItems',
  ]);
  const runId = checkRunId(CS, options.runId);
  const int = { min: 0, integer: true };
  const r: Resolved = {
    maxEvidence: checkNumber(CS, 'maxEvidence', options.maxEvidence ?? 8, int),
    maxChainLabels: checkNumber(CS, 'maxChainLabels', options.maxChainLabels ?? 100, int),
    maxQuotedTexts: checkNumber(CS, 'maxQuotedTexts', options.maxQuotedTexts ?? 3, int),
    longStayMs: checkNumber(CS, 'longStayMs', options.longStayMs ?? 30_000, { min: 0 }),
    staticMinMs: checkNumber(CS, 'staticMinMs', options.staticMinMs ?? 30_000, { min: 0 }),
    staticMaxMove: checkNumber(CS, 'staticMaxMove', options.staticMaxMove ?? 0.5, { min: 0 }),
    maxItems: checkNumber(CS, 'maxSentenceItems', options.maxSentenceItems ?? 4, { min: 1, integer: true }),
  };

  return {
    summarize(digest: WindowDigest, previous: Summary | null, context?: SummaryContext): Summary {
      const level = context?.level ?? 'window';
      const prefix = idPrefix(digest.streamId, context?.runId ?? runId);
      const prev = previousFacts(previous);

      // Missing analyses: a count that fell may only be a keyframe nobody looked at. Carry the last
      // known count forward instead of inventing "1→0" now and "0→1" in the next summary.
      // A window that received frames but no keyframe (e.g. the last frames before an outage) has
      // no analysis at all: it carries the last known state whole, like one whose analyses are missing.
      const partial = digest.missing > 0 || (digest.analysed === 0 && (digest.frames ?? 0) > 0);
      const carried: Record<string, number> = {};
      const peakCounts: Record<string, number> = { ...digest.peakCounts };
      // The last known state is the previous summary's counts (carried ones included). A window
      // with no analysis at all carries it whole; one with some analyses carries a fallen count
      // for at most MAX_CARRY summaries in a row, so counts cannot stay up forever under load.
      const carriedFor: Record<string, number> = {};
      if (partial && prev.knownCounts !== null) {
        for (const [label, n] of Object.entries(prev.knownCounts)) {
          const age = prev.carriedFor[label] ?? 0;
          if (n > (peakCounts[label] ?? 0) && (digest.analysed === 0 || age < MAX_CARRY)) {
            carried[label] = n;
            peakCounts[label] = n;
            carriedFor[label] = digest.analysed === 0 ? age : age + 1;
          }
        }
      }
      const sortedPeak = Object.fromEntries(
        Object.entries(peakCounts).sort(([a], [b]) => a.localeCompare(b)),
      );

      const changes: StructuredFacts['changes'] = {};
      if (prev.peakCounts !== null) {
        const labels = new Set([...Object.keys(prev.peakCounts), ...Object.keys(sortedPeak)]);
        for (const label of [...labels].sort()) {
          const from = prev.peakCounts[label] ?? 0;
          const to = sortedPeak[label] ?? 0;
          if (from !== to) changes[label] = { from, to };
        }
      }

      const maxCounts: Record<string, number> = { ...prev.maxCounts };
      for (const [label, n] of Object.entries(digest.peakCounts)) {
        if (label in maxCounts) maxCounts[label] = Math.max(maxCounts[label] ?? 0, n);
        else if (Object.keys(maxCounts).length < r.maxChainLabels) maxCounts[label] = n;
      }

      const shots = digest.shots ?? [];
      const facts: StructuredFacts = {
        peakCounts: sortedPeak,
        lastCounts: { ...digest.lastCounts },
        changes,
        keyframes: digest.keyframes.length + (digest.dropped ?? 0),
        analysed: digest.analysed,
        missing: digest.missing,
        dropped: digest.dropped ?? 0,
        partial,
        missingAnalyses: digest.missing,
        carried,
        sceneCuts: digest.sceneCuts ?? 0,
        shots: (digest.sceneCuts ?? 0) + (shots.some((x) => x.transition === 'first') ? 1 : 0),
        entered: digest.objectsEntered ?? 0,
        left: digest.objectsLeft ?? 0,
        meanMotion: Math.round(digest.meanMotion * 1e4) / 1e4,
        text: [...digest.text],
        chain: { windows: prev.windows + 1, maxCounts },
      };
      facts['knownCounts'] = partial ? { ...sortedPeak } : { ...digest.peakCounts };
      if (Object.keys(carriedFor).length > 0) facts['carriedFor'] = carriedFor;

      const sentences = buildSentences(digest, facts, prev, level, r);
      const withDetections = digest.keyframes.filter((k) => (k.detections ?? 0) > 0).map((k) => k.id);
      const without = digest.keyframes.filter((k) => !((k.detections ?? 0) > 0)).map((k) => k.id);
      const evidence = unique([...withDetections, ...without], r.maxEvidence);

      if (digest.missingKeyframes !== undefined) facts['missingKeyframes'] = [...digest.missingKeyframes];
      if (digest.closedBy === 'timeout') facts['closedBy'] = 'timeout';
      if (digest.ptsResets !== undefined) facts['ptsResets'] = digest.ptsResets;
      if (digest.frames !== undefined) facts['frames'] = digest.frames;
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
        text: sentences.map((x) => x.text).join(' '),
        evidence,
        sentences,
      };
    },
  };
}

/**
 * The readable summary, sentence by sentence, each with the keyframes it rests on. No sentence
 * starts with the time range (the message carries it); the wording names the level.
 */
function buildSentences(
  digest: WindowDigest,
  facts: StructuredFacts,
  prev: ReturnType<typeof previousFacts>,
  level: SummaryLevel,
  r: Resolved,
): SummarySentence[] {
  const out: SummarySentence[] = [];
  const span = { startPtsNs: digest.startPtsNs, endPtsNs: digest.endPtsNs };
  const say = (text: string, ids: readonly (string | null | undefined)[], range = span): void => {
    out.push({ text, keyframeIds: unique(ids, r.maxItems), ...range });
  };
  const analysedIds = digest.keyframes.filter((k) => k.detections !== undefined);
  const withDetections = analysedIds.filter((k) => (k.detections ?? 0) > 0).map((k) => k.id);

  // 1. What was in view, against the previous summary of the same level.
  const seen = describeCounts(facts.peakCounts);
  const prevName = previousName(level);
  let trend = '';
  if (prevName !== null && prev.peakCounts !== null) {
    trend =
      Object.keys(facts.changes).length > 0
        ? ` (${prevName}: ${describeCounts(prev.peakCounts)})`
        : ` (unchanged from the ${prevName})`;
  }
  if (facts.analysed === 0) {
    const last = prev.peakCounts === null ? 'nothing known' : describeCounts(facts.peakCounts);
    const noKeyframe =
      digest.keyframes.length === 0 && digest.missing === 0 && (digest.frames ?? 0) > 0
        ? ` (${digest.frames} ${plural('frame', digest.frames ?? 0)}, no keyframe among them)`
        : '';
    say(
      `No analysis available${noKeyframe}${prevName !== null && prev.peakCounts !== null ? `; last known: ${last}, carried from the ${prevName}` : ''}.`,
      [],
    );
  } else if (seen === 'nothing' && (digest.tracks?.length ?? 0) > 0) {
    // The analysed keyframes saw nothing, but the tracker's detections between them did: say that,
    // rather than "nothing detected" beside the entries below.
    const tracked: Record<string, number> = {};
    for (const t of digest.tracks ?? []) tracked[t.label] = (tracked[t.label] ?? 0) + 1;
    say(
      `${capitalize(describeCounts(tracked))} tracked between the analysed keyframes${trend}.`,
      (digest.tracks ?? []).map((t) => t.keyframeId),
    );
  } else {
    say(
      seen === 'nothing'
        ? `Nothing detected${trend}.`
        : `Up to ${seen} in view${level === 'stream' ? ' at once' : ''}${trend}.`,
      withDetections.length > 0 ? withDetections : analysedIds.map((k) => k.id),
    );
  }

  // 2. Shots (content with cuts).
  const shots = digest.shots ?? [];
  if (facts.sceneCuts > 0) {
    const cuts = `${facts.sceneCuts} scene cut${facts.sceneCuts === 1 ? '' : 's'}`;
    const named = shots.slice(0, r.maxItems).map((x) => {
      const what = describeCounts(x.counts);
      return `${what === 'nothing' ? 'nothing detected' : what} at ${formatStreamTime(x.ptsNs)}`;
    });
    const more = shots.length > named.length || facts.shots > shots.length ? ', …' : '';
    const head = `${facts.shots} shot${facts.shots === 1 ? '' : 's'} (${cuts})`;
    say(
      named.length > 0 ? `${head}: ${named.join('; ')}${more}.` : `${head}.`,
      shots.map((x) => x.bestKeyframeId),
      shots.length > 0 ? { startPtsNs: shots[0]!.ptsNs, endPtsNs: digest.endPtsNs } : span,
    );
  }

  // 3. Entries and exits, by label, with the edges.
  const moves = (
    list: readonly DigestObjectEvent[],
    tally: EdgeTally | undefined,
    total: number,
    verb: 'entered' | 'left',
    edgeWord: 'from' | 'by',
  ): void => {
    if (total === 0) return;
    // Counted in full by label and edge (the tally); the list only bounds the evidence.
    const byLabel = Object.entries(tally ?? tallyOf(list)).map(
      ([label, byEdge]) => [label, sumOf(byEdge), byEdge] as const,
    );
    const parts = byLabel
      .sort(([la, a], [lb, b]) => b - a || la.localeCompare(lb))
      .map(([label, n, byEdge]) => `${n} ${plural(label, n)} (${describeEdges(byEdge, edgeWord)})`);
    const unlisted = total - byLabel.reduce((n, [, k]) => n + k, 0);
    if (unlisted > 0) parts.push(`${unlisted} more`);
    const text = `${capitalize(parts.join(', '))} ${verb}.`;
    const times = list.map((x) => x.ptsNs);
    say(
      text,
      list.map((x) => x.keyframeId),
      times.length > 0 ? { startPtsNs: Math.min(...times), endPtsNs: Math.max(...times) } : span,
    );
  };
  moves(digest.entries ?? [], digest.enteredBy, facts.entered, 'entered', 'from');
  moves(digest.exits ?? [], digest.leftBy, facts.left, 'left', 'by');

  // 4. Who stayed long (among those that left).
  const long = (digest.exits ?? [])
    .filter((x) => (x.dwellMs ?? 0) >= r.longStayMs && r.longStayMs > 0)
    .sort((a, b) => (b.dwellMs ?? 0) - (a.dwellMs ?? 0));
  if (long.length > 0) {
    const named = long
      .slice(0, r.maxItems)
      .map((x) => `${x.label} #${x.trackId} for ${formatDuration(x.dwellMs ?? 0)}`);
    const starts = long.map((x) => x.enteredPtsNs ?? x.ptsNs);
    say(
      `Stayed long: ${named.join(', ')}${long.length > named.length ? ', …' : ''}.`,
      long.map((x) => x.keyframeId),
      { startPtsNs: Math.min(...starts), endPtsNs: Math.max(...long.map((x) => x.ptsNs)) },
    );
  }

  // 5. Parked or static objects, once per level.
  const reported = new Set(prev.staticReported);
  const fresh = (digest.tracks ?? []).filter(
    (t) =>
      !reported.has(t.id) &&
      (t.lastPtsNs - t.firstPtsNs) / 1e6 >= r.staticMinMs &&
      (t.moved ?? Infinity) <= r.staticMaxMove,
  );
  if (fresh.length > 0) {
    const named = fresh
      .slice(0, r.maxItems)
      .map(
        (t) =>
          `${t.label} #${t.id} ${VEHICLES.has(t.label) ? 'parked' : 'static'} since ${formatStreamTime(t.firstPtsNs)}`,
      );
    say(
      `${capitalize(named.join(', '))}${fresh.length > named.length ? ', …' : ''}.`,
      fresh.map((t) => t.keyframeId),
      {
        startPtsNs: Math.min(...fresh.map((t) => t.firstPtsNs)),
        endPtsNs: Math.max(...fresh.map((t) => t.lastPtsNs)),
      },
    );
  }
  const staticReported = [...prev.staticReported, ...fresh.map((t) => t.id)].slice(-MAX_STATIC_REPORTED);
  if (staticReported.length > 0) facts.chain.staticReported = staticReported;

  // 6. How much was looked at, and what was carried.
  let looked = `${facts.analysed} keyframe${facts.analysed === 1 ? '' : 's'} analysed`;
  if (facts.missing > 0) looked += `, ${facts.missing} missing`;
  const carried = Object.keys(facts.carried);
  if (carried.length > 0 && facts.analysed > 0) {
    looked += `; ${carried.map((l) => plural(l, 2)).join(', ')} carried from the last known count`;
  }
  say(`${capitalize(looked)}.`, []);

  // 7. Recognised text.
  const quoted = facts.text
    .slice(0, r.maxQuotedTexts)
    .map((t) => `"${t.length > 40 ? `${t.slice(0, 39)}…` : t}"`);
  if (quoted.length > 0) {
    const at = new Map((digest.textAt ?? []).map((x) => [x.text, x.keyframeId]));
    say(
      `Text: ${quoted.join(', ')}${facts.text.length > quoted.length ? ', …' : ''}.`,
      facts.text.slice(0, r.maxQuotedTexts).map((t) => at.get(t)),
    );
  }
  return out;
}

export interface RollupOptions {
  /** Window summaries per segment summary (required, >= 1). */
  segmentWindows: number;
  /** Also keep a stream summary, updated after each segment (default true). */
  stream?: boolean;
  /**
   * Content with frequent cuts: once the open segment holds this many scene cuts it closes at its
   * last shot boundary (before `segmentWindows` windows), and the shot from that cut on opens the
   * next segment; 0 = segments of `segmentWindows` windows only (default 8).
   */
  segmentShots?: number;
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
  let rollup: {
    segmentWindows: number;
    segmentShots: number;
    stream: boolean;
    bounds: MergeBounds;
  } | null = null;
  if (options.rollup !== undefined) {
    const r = options.rollup;
    const RC = `${C}: rollup`;
    if (typeof r !== 'object' || r === null) throw new ConfigError(`${RC} must be { segmentWindows }`);
    rejectUnknownKeys(RC, r, [
      'segmentWindows',
      'segmentShots',
      'stream',
      'maxKeyframes',
      'maxTexts',
      'maxLabels',
    ]);
    if (r.stream !== undefined && typeof r.stream !== 'boolean')
      throw new ConfigError(`${RC}.stream must be a boolean`);
    rollup = {
      segmentWindows: checkNumber(RC, 'segmentWindows', r.segmentWindows, { min: 1, integer: true }),
      segmentShots: checkNumber(RC, 'segmentShots', r.segmentShots ?? 8, { min: 0, integer: true }),
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

      /**
       * Segment summary (and stream update) for the open segment, if any. `atShot`: close at the
       * segment's last shot boundary; the rest opens the next segment.
       */
      const closeSegment = (atShot = false): Observable<Summary> => {
        if (rollup === null || segment === null) return of();
        let seg = segment;
        segment = null;
        segmentCount = 0;
        if (atShot) {
          const cuts = (seg.shots ?? []).filter((x) => x.transition !== 'first' && x.ptsNs > seg.startPtsNs);
          const last = cuts.at(-1);
          const split = last === undefined ? null : splitDigest(seg, last.ptsNs, segmentIndex);
          if (split !== null) {
            seg = split.head;
            segment = split.tail;
          }
        }
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
                const byShots = r.segmentShots > 0 && (segment.sceneCuts ?? 0) >= r.segmentShots;
                if (segmentCount < r.segmentWindows && !byShots) return of();
                segmentIndex++;
                return closeSegment(byShots);
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
