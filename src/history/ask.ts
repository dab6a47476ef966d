/**
 * Questions in plain words, answered from the history index without a language model.
 *
 * `parseQuestion` (pure) reads: what is asked (how many, when, how long, which objects, what
 * happened, or a plain find), object words (labels with synonyms and plurals), event verbs
 * (entered, left, stopped, cut, text, speech, motion, alert), counts ("at least 3 people"),
 * dwell ("longer than 10 seconds"), time expressions ("last hour", "between 10:00 and 10:05",
 * "in the first minute", "after 0:30", "after the first cut"), quoted text, zones ("in zone
 * gate", "at the gate") and stream names. `answer` turns that into one or two searches and
 * answers with a sentence and the evidence; "Nothing found" is an answer, with what was searched.
 *
 * Times: `m:ss` written with a 0 hour (`0:30`, `00:30`), units (`30 s`, `2 minutes`, `1m05s`,
 * `minute 2`) or near a word such as video/clip/into are stream time; `h:mm` otherwise (and am/pm)
 * is a wall-clock time of the day of `now`, in the process's time zone. A range's two bounds are
 * read on one clock: stream time when either is ("between 0:50 and 1:00").
 */
import { findLabels, labelNoun, labelsForWord } from './labels.js';
import {
  emptyQuery,
  HistoryError,
  SEARCH_LIMITS,
  tokenize,
  type SearchHit,
  type SearchQuery,
} from './query.js';
import type { HistoryIndex } from './store.js';

export type Intent = 'count' | 'when' | 'duration' | 'which' | 'what' | 'find';

export interface TimeAnchor {
  side: 'after' | 'before';
  which: 'first' | 'last';
  what: 'cut';
}

export interface ParsedQuestion {
  question: string;
  intent: Intent;
  /** Every label the object words may mean: those named, then look-alikes (`truck` → truck, car). */
  labels: string[];
  /** The labels the words name (`truck` → truck): searched first, look-alikes when none match. */
  namedLabels: string[];
  /** The object words as written ("people"), for the answer. */
  labelWords: string[];
  /**
   * Objects asked for together ("a person with a horse"): each group one mention's labels, all
   * required on the same record (keyframe, window or shot). Empty: any of `labels`.
   */
  labelGroups: string[][];
  text: string[][];
  zones: string[];
  /** Zones read loosely ("at the gate"): dropped, with a note, when they match nothing. */
  softZones: string[];
  streams: string[];
  types: string[];
  minCount: number | null;
  minDwellMs: number | null;
  clock: 'stream' | 'wall';
  from: number | null;
  to: number | null;
  anchors: TimeAnchor[];
  /** 'first' / 'last' occurrence asked for. */
  pick: 'first' | 'last' | null;
  /** "the last 20 seconds of the video": stream time this long before the stream's end, ms. */
  fromEndMs?: number;
  /**
   * The same times read as stream time, when they were read as times of day only by default
   * (`h:mm` with a non-zero hour, no am/pm, no word such as video or today): "between 1:00 and
   * 1:10". Answering uses it when the wall-clock range holds no record of the streams asked and
   * this one does.
   */
  streamReading?: { from: number | null; to: number | null };
  /**
   * Words said or shown are asked for ("what did the man say", "did anyone talk about …"): the
   * objects named are who spoke or held the sign, not labels the words' records carry.
   */
  wordsAsked: boolean;
}

export interface ParseOptions {
  /** Wall-clock now, ms (default Date.now()). */
  now?: number;
  /** Stream names known to the index: a question naming one searches only it. */
  knownStreams?: readonly string[];
}

export const MAX_QUESTION_CHARS = 2_000;

const NUMBER_WORDS: Record<string, number> = {
  a: 1,
  an: 1,
  one: 1,
  two: 2,
  three: 3,
  four: 4,
  five: 5,
  six: 6,
  seven: 7,
  eight: 8,
  nine: 9,
  ten: 10,
  eleven: 11,
  twelve: 12,
  twenty: 20,
};
const NUM = `(\\d+(?:\\.\\d+)?|${Object.keys(NUMBER_WORDS)
  .filter((w) => w.length > 2)
  .join('|')})`;
const toNum = (s: string): number => NUMBER_WORDS[s.toLowerCase()] ?? Number(s);

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hrs: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  day: 86_400_000,
  days: 86_400_000,
};
const UNIT = '(ms|secs?|seconds?|s|mins?|minutes?|m|hrs?|hours?|h|days?)';

/** Where words said or shown are kept: transcripts, speech events, OCR text, captions. */
const SAY_TYPES = ['transcript', 'speech', 'ocr', 'text.appeared', 'caption'];

/** Records of one object's presence (one label each); objects together are found by overlap. */
const PRESENCE_TYPES = ['object', 'object.entered', 'object.left'];

/** Verbs of being seen: over a range they mean present in it, not only entering in it. */
const PRESENCE_VERB =
  /\b(appear(s|ed|ing)?|show(s|ed|n)? up|showing up|turn(s|ed)? up|pop(s|ped)? up|come into view|came into view)\b/;
const ENTRY_VERB = /\b(enter(s|ed|ing)?|arriv(e|es|ed|ing)|c[oa]me in|walk(s|ed)? in)\b/;

const VERBS: { re: RegExp; types: string[]; dwell?: number }[] = [
  { re: ENTRY_VERB, types: ['object.entered'] },
  // "appeared", "showed up": an entry when no range is given; over a range, any presence in it.
  { re: PRESENCE_VERB, types: ['object.entered'] },
  {
    re: /\b(leave|leaves|left|leaving|depart(s|ed)?|disappear(s|ed)?|went away|walk(s|ed)? out)\b/,
    types: ['object.left'],
  },
  {
    re: /\b(stop(s|ped)?|park(s|ed)?|wait(s|ed)?|stand(s|ing)?|stood|stay(s|ed)?|linger(s|ed)?|loiter(s|ed|ing)?|idle)\b/,
    types: ['object.left', 'object', 'alert'],
    dwell: 3_000,
  },
  { re: /\b(cuts?|scene changes?|shots?|transitions?)\b/, types: ['scene.cut', 'shot'] },
  { re: /\b(texts?|written|writing|sign|reads?|captions?|ocr|words?)\b/, types: [] },
  {
    re: /\b(speech|speak(s|ing)?|spoke|spoken|talk(s|ed|ing)?|voices?|transcripts?|conversations?)\b/,
    types: ['speech', 'transcript'],
  },
  // "what did they say", "what does the sign say": words heard or read, anywhere they were kept.
  { re: /\b(said|says?|saying|told|tells?)\b/, types: SAY_TYPES },
  { re: /\b(motion|movement|moving|moves?|moved)\b/, types: ['motion.started', 'motion'] },
  { re: /\b(alerts?|alarms?)\b/, types: ['alert'] },
];

/** Words that never name a zone in "at the X" (time words, articles, objects are checked apart). */
const NOT_ZONE = new Set([
  'start',
  'beginning',
  'end',
  'same',
  'moment',
  'time',
  'first',
  'last',
  'video',
  'clip',
  'stream',
  'camera',
  'scene',
  'frame',
  'screen',
  'top',
  'bottom',
]);

/** Words before or after "zone" that are not its name ("in zone door", "the door zone"). */
const ZONE_STOP = new Set([
  'the',
  'a',
  'an',
  'that',
  'this',
  'which',
  'what',
  'any',
  'each',
  'in',
  'at',
  'on',
  'of',
  'to',
  'into',
  'same',
  'one',
  'no',
]);

function midnight(now: number, daysBack = 0): number {
  const d = new Date(now);
  d.setHours(0, 0, 0, 0);
  return d.getTime() - daysBack * 86_400_000;
}

/** Words that make a bare `h:mm` a time of day. */
const WALL_WORDS =
  /\b(today|yesterday|tonight|morning|afternoon|evening|night|noon|midnight|o'?clock|utc|gmt|wall clock|time of day|local time)\b/;

type TimeReading = Pick<ParsedQuestion, 'clock' | 'from' | 'to' | 'fromEndMs'>;

interface TimeToken {
  ms: number;
  clock: 'stream' | 'wall';
}

/** One time written in a question, or null. */
function readTime(raw: string, now: number, streamHint: boolean): TimeToken | null {
  const s = raw
    .trim()
    .toLowerCase()
    .replace(/^the\s+/, '')
    .replace(/\s+mark$/, '');
  const unit = new RegExp(`^${NUM}\\s*${UNIT}$`).exec(s);
  if (unit) return { ms: toNum(unit[1]!) * UNIT_MS[unit[2]!]!, clock: 'stream' };
  // "1 minute 5 seconds", "1 min 5 s", "1m05s".
  const compound = /^(\d+)\s*(?:m|mins?|minutes?)\s*(\d+(?:\.\d+)?)\s*(?:s|secs?|seconds?)$/.exec(s);
  if (compound) return { ms: (Number(compound[1]) * 60 + Number(compound[2])) * 1000, clock: 'stream' };
  // "minute 2", "second 50": that point of the recording.
  const nth = new RegExp(`^(minute|second|hour)\\s+${NUM}$`).exec(s);
  if (nth) return { ms: toNum(nth[2]!) * UNIT_MS[nth[1]!]!, clock: 'stream' };
  const c = /^(\d{1,2})(?::(\d{2}))?(?::(\d{2}(?:\.\d+)?))?\s*(am|pm)?$/.exec(s);
  if (!c || (c[2] === undefined && c[4] === undefined)) return null;
  const [, hs, ms, ss, ampm] = c;
  let h = Number(hs);
  const m = Number(ms ?? 0);
  const sec = ss === undefined ? 0 : Number(ss);
  if (m > 59 || sec >= 60) return null;
  if (ampm === undefined && (streamHint || /^0{1,2}$/.test(hs!))) {
    // m:ss or h:mm:ss of stream time.
    return ss === undefined
      ? { ms: (h * 60 + m) * 1000, clock: 'stream' }
      : { ms: ((h * 60 + m) * 60 + sec) * 1000, clock: 'stream' };
  }
  if (ampm === 'pm' && h < 12) h += 12;
  if (ampm === 'am' && h === 12) h = 0;
  if (h > 23) return null;
  let wall = midnight(now) + ((h * 60 + m) * 60 + sec) * 1000;
  if (wall > now + 60_000) wall -= 86_400_000; // a time later than now means yesterday's
  return { ms: wall, clock: 'wall' };
}

const TIME =
  `(\\d{1,2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?(?:\\s*[ap]m)?|\\d{1,2}\\s*[ap]m\\b` +
  `|\\d+\\s*(?:m|mins?|minutes?)\\s*\\d+(?:\\.\\d+)?\\s*(?:s|secs?|seconds?)\\b` +
  `|(?:minute|second|hour)\\s+${NUM}\\b|${NUM}\\s*${UNIT}\\b)`;
/** TIME without capturing groups, to build patterns with two times. */
const TIME_NC = TIME.replace(/\((?!\?)/g, '(?:');
const RANGE_SEP = '(?:and|to|until|till|through|thru|-|–|—)';

/**
 * Two times of one range ("between 0:50 and 1:00", "from 50s to 1:05", "0:50–1:00"). When one
 * reads as stream time and the other as a time of day, both are read as stream time ("1:00" after
 * "0:50" is a minute into the recording, not one in the morning).
 */
function readPair(
  rawA: string,
  rawB: string,
  now: number,
  streamHint: boolean,
): [TimeToken, TimeToken] | null {
  let a = readTime(rawA, now, streamHint);
  let b = readTime(rawB, now, streamHint);
  if (!a || !b) return null;
  if (a.clock !== b.clock) {
    if (a.clock === 'wall') a = readTime(rawA, now, true);
    if (b.clock === 'wall') b = readTime(rawB, now, true);
  }
  return a && b && a.clock === b.clock ? [a, b] : null;
}

/** A range with two bounds written in the question, or null. */
function readRange(q: string, now: number, streamHint: boolean): [TimeToken, TimeToken] | null {
  // "between 50 and 60 seconds", "from 1 to 2 minutes", "50-60 s": one unit for both numbers.
  const shared = new RegExp(
    `(?:\\b(?:between|from)\\s+(?:the\\s+)?(\\d+(?:\\.\\d+)?)\\s*${RANGE_SEP}|(?<![\\d:.])(\\d+(?:\\.\\d+)?)\\s*[-–—])\\s*(\\d+(?:\\.\\d+)?)\\s*${UNIT}\\b`,
  ).exec(q);
  if (shared) {
    const unit = UNIT_MS[shared[4]!]!;
    return [
      { ms: Number(shared[1] ?? shared[2]) * unit, clock: 'stream' },
      { ms: Number(shared[3]) * unit, clock: 'stream' },
    ];
  }
  const bound = `(?:the\\s+)?(${TIME_NC})(?:\\s+mark)?`;
  const m =
    new RegExp(`\\b(?:between|from)\\s+${bound}\\s*${RANGE_SEP}\\s*${bound}`).exec(q) ??
    new RegExp(`(?<![\\p{L}\\p{N}:.])${bound}\\s*(?:to|until|till|through|thru|-|–|—)\\s*${bound}`, 'u').exec(
      q,
    );
  return m ? readPair(m[1]!, m[2]!, now, streamHint) : null;
}

/** Parses a question; never throws except for a question over MAX_QUESTION_CHARS. */
export function parseQuestion(question: string, options: ParseOptions = {}): ParsedQuestion {
  if (typeof question !== 'string')
    throw new HistoryError('VIGIL_ERR_HISTORY_QUERY', 'the question must be text');
  if (question.length > MAX_QUESTION_CHARS) {
    throw new HistoryError(
      'VIGIL_ERR_HISTORY_QUERY',
      `the question is ${question.length} characters; at most ${MAX_QUESTION_CHARS}`,
    );
  }
  const now = options.now ?? Date.now();
  const p: ParsedQuestion = {
    question,
    intent: 'find',
    labels: [],
    namedLabels: [],
    labelWords: [],
    labelGroups: [],
    text: [],
    zones: [],
    softZones: [],
    streams: [],
    types: [],
    minCount: null,
    minDwellMs: null,
    clock: 'stream',
    from: null,
    to: null,
    anchors: [],
    pick: null,
    wordsAsked: false,
  };
  // Quoted text is searched as written; the rest is read for meaning.
  const quoted = [...question.matchAll(/["“”«»]([^"“”«»]{1,500})["“”«»]/g)].map((m) => m[1]!);
  if (quoted.length > 0) p.text = tokenize(quoted.map((q) => `"${q.replace(/"/g, ' ')}"`).join(' '));
  let bare = question.replace(/["“”«»][^"“”«»]{0,500}["“”«»]/g, ' ');
  // Unquoted ALL-CAPS words in a question written in lower case ("was EXIT shown?") are text on
  // screen, searched as written (runs of them as one phrase); not labels, stream names or AM/PM.
  if (/\p{Ll}/u.test(bare)) {
    const knownLower = new Set((options.knownStreams ?? []).map((s) => s.toLowerCase()));
    const caps = (w: string) =>
      /^\p{Lu}[\p{Lu}\p{N}]+$/u.test(w) &&
      !/^(AM|PM|OK|TV|ID|UTC|GMT)$/.test(w) &&
      !knownLower.has(w.toLowerCase()) &&
      labelsForWord(w).length === 0;
    const phrases: string[] = [];
    bare = bare.replace(/[\p{L}\p{N}]+(?:[ \t]+[\p{L}\p{N}]+)*/gu, (run) => {
      const words = run.split(/[ \t]+/);
      const taken = words.map(() => false);
      for (let i = 0; i < words.length;) {
        if (!caps(words[i]!)) {
          i++;
          continue;
        }
        // Digits continue a capital run ("EXIT 12") but never start one.
        let j = i + 1;
        while (j < words.length && (caps(words[j]!) || /^\p{N}+$/u.test(words[j]!))) j++;
        phrases.push(words.slice(i, j).join(' '));
        for (let k = i; k < j; k++) taken[k] = true;
        i = j;
      }
      return words.map((w, i) => (taken[i] ? '' : w)).join(' ');
    });
    for (const g of tokenize(phrases.map((x) => `"${x}"`).join(' '))) {
      if (!p.text.some((t) => t.join(' ') === g.join(' '))) p.text.push(g);
    }
  }
  const q = bare.toLowerCase().replace(/\s+/g, ' ');

  // Intent.
  if (/\bhow many\b|\bnumber of\b|\bcount\b/.test(q)) p.intent = 'count';
  else if (/\bhow long\b|\bduration\b|\bfor how much time\b/.test(q)) p.intent = 'duration';
  else if (/\bwhen\b|\bwhat time\b|\bat what point\b|\bat which (time|point)\b/.test(q)) p.intent = 'when';
  else if (
    /\b(which|what) (kinds? of )?(objects?|things?|labels?|classes|animals?|vehicles?)\b|\bwhat (did you |do you |can you |could you )?(see|saw|was seen|were seen|is visible|was visible)\b|\bwho\b/.test(
      q,
    )
  )
    p.intent = 'which';
  else if (
    /\bwhat happened\b|\bwhat('s| is| was) going on\b|\bsummar|\bdescribe\b|\bwhat went on\b/.test(q) ||
    /\bwhat (?:was|were|is|did|does|do|had|has)\b(?: [\p{L}]+){0,3}? (?:said|say|saying|written|shown|displayed|read|spoken)\b/u.test(
      q,
    )
  )
    p.intent = 'what';
  // "first"/"last" of the answer, not of a time anchor ("after the first cut") or span ("last hour").
  const unanchored = q.replace(
    /\b(after|before|since|until) the (first|last) (scene )?(cut|shot change|scene change|transition)\b/g,
    ' ',
  );
  if (
    /\b(first|earliest)\b(?! (\d|minute|second|hour|half|few|\w+ (minutes?|seconds?|hours?)))/.test(
      unanchored,
    )
  )
    p.pick = 'first';
  else if (
    /\b(last|latest|most recent)\b(?! (\d|minute|second|hour|day|half|few|\w+ (minutes?|seconds?|hours?|days?)))/.test(
      unanchored,
    )
  )
    p.pick = 'last';

  // Objects.
  const found = findLabels(q);
  for (const f of found) {
    for (const l of f.labels) if (!p.labels.includes(l)) p.labels.push(l);
    for (const l of f.named) if (!p.namedLabels.includes(l)) p.namedLabels.push(l);
    p.labelWords.push(f.words);
  }
  // Together: "a person with a horse", "dogs and horses together", "at the same time".
  const distinct = found.filter((f, i) => found.findIndex((g) => g.labels.join() === f.labels.join()) === i);
  if (distinct.length >= 2) {
    const WITH = /\b(with|alongside|along with|next to|beside|besides|near|accompanied by|riding|on)\b/;
    const anywhere =
      /\b(together|at the same time|at once|in the same (frame|shot|scene|picture|image|window)|both)\b/;
    const between = distinct.slice(1).some((f, i) => WITH.test(q.slice(distinct[i]!.end, f.start)));
    if (between || anywhere.test(q)) p.labelGroups = distinct.map((f) => [...f.labels]);
  }

  // Event verbs.
  for (const v of VERBS) {
    if (!v.re.test(q)) continue;
    if (v.types.includes('transcript')) p.wordsAsked = true;
    for (const t of v.types) if (!p.types.includes(t)) p.types.push(t);
    if (v.dwell !== undefined && p.intent !== 'duration') p.minDwellMs ??= v.dwell;
  }
  if (
    /\b(texts?|written|sign|reads?|ocr|words?)\b/.test(q) &&
    p.text.length === 0 &&
    p.intent !== 'count' &&
    !p.types.includes('text.appeared')
  ) {
    p.types.push('text.appeared');
  }

  // Counts: "at least 3 people", "more than two cars", "3 people".
  const countRe = new RegExp(
    `\\b(at least|more than|over|no fewer than|>=?)?\\s*${NUM}\\s+(?:or more\\s+)?([\\p{L}]+)`,
    'gu',
  );
  for (const m of q.matchAll(countRe)) {
    const word = m[3]!;
    const labels = findLabels(word);
    if (labels.length === 0) continue;
    const n = toNum(m[2]!);
    if (!Number.isFinite(n)) continue;
    const min = m[1] === 'more than' || m[1] === 'over' || m[1] === '>' ? Math.floor(n) + 1 : Math.ceil(n);
    if (min > 1 || m[1] !== undefined) p.minCount = Math.max(p.minCount ?? 0, min);
  }

  // Dwell: "longer than 10 seconds", "for at least 2 minutes", "more than 30 s".
  const dwell = new RegExp(
    `\\b(?:longer than|more than|at least|over|for at least|for more than)\\s+${NUM}\\s*${UNIT}\\b`,
  ).exec(q);
  if (dwell && /\b(stay|stayed|stop|stopped|wait|waited|long|linger|loiter|remain|dwell|park)/.test(q)) {
    p.minDwellMs = toNum(dwell[1]!) * UNIT_MS[dwell[2]!]!;
  }

  // Time expressions.
  const streamHint = /\b(video|clip|film|footage|recording|into|stream time|mark)\b/.test(q);
  const times = (streamHint: boolean): TimeReading => {
    const t: TimeReading = { clock: 'stream', from: null, to: null };
    const setRange = (a: TimeToken | null, b: TimeToken | null) => {
      if (a) {
        t.from = a.ms;
        t.clock = a.clock;
      }
      if (b) {
        t.to = b.ms;
        t.clock = b.clock;
      }
    };
    const rel = new RegExp(
      `\\b(?:in |during |within |over )?(?:the )?(?:last|past|previous)\\s+(?:${NUM}\\s+)?${UNIT}\\b`,
    ).exec(q);
    const first = new RegExp(`\\b(?:in |during |within )?the first\\s+(?:${NUM}\\s+)?${UNIT}\\b`).exec(q);
    const between = readRange(q, now, streamHint);
    const after = new RegExp(`\\b(?:after|since|from|later than)\\s+${TIME}`).exec(q);
    const before = new RegExp(`\\b(?:before|until|till|up to|earlier than|by)\\s+${TIME}`).exec(q);
    const at = new RegExp(`\\b(?:at|around|near|about)\\s+${TIME}`).exec(q);
    if (between) {
      setRange(between[0], between[1]);
    } else if (first) {
      const n = first[1] === undefined ? 1 : toNum(first[1]);
      t.clock = 'stream';
      t.from = 0;
      t.to = n * UNIT_MS[first[2]!]!;
    } else if (
      rel &&
      /^\s+of\s+(?:the|this)\s+(?:video|clip|recording|stream|footage|file)\b/.test(
        q.slice(rel.index + rel[0].length),
      )
    ) {
      // The end of the recording, not of the clock: resolved against the history when answering.
      const n = rel[1] === undefined ? 1 : toNum(rel[1]);
      t.clock = 'stream';
      t.fromEndMs = n * UNIT_MS[rel[2]!]!;
    } else if (rel) {
      const n = rel[1] === undefined ? 1 : toNum(rel[1]);
      t.clock = 'wall';
      t.from = now - n * UNIT_MS[rel[2]!]!;
      t.to = now;
    } else {
      // "after 0:50 and before 1:00": two bounds, read as one range.
      const both = after && before ? readPair(after[1]!, before[1]!, now, streamHint) : null;
      if (both) setRange(both[0], both[1]);
      else {
        if (after) setRange(readTime(after[1]!, now, streamHint), null);
        if (before) setRange(null, readTime(before[1]!, now, streamHint));
      }
      if (!after && !before && at) {
        const one = readTime(at[1]!, now, streamHint);
        if (one) {
          const slack = one.clock === 'stream' ? 5_000 : 60_000;
          setRange({ ...one, ms: Math.max(0, one.ms - slack) }, { ...one, ms: one.ms + slack });
        }
      }
    }
    if (/\btoday\b/.test(q) && t.from === null) {
      t.clock = 'wall';
      t.from = midnight(now);
      t.to = now;
    } else if (/\byesterday\b/.test(q) && t.from === null) {
      t.clock = 'wall';
      t.from = midnight(now, 1);
      t.to = midnight(now) - 1;
    }
    return t;
  };
  Object.assign(p, times(streamHint));
  // "between 1:00 and 1:10" with no hint: times of day by default, but they read as stream time
  // too (a minute into the recording). Kept as `streamReading`; answering picks the reading whose
  // range holds the stream's records (see answerQuestion).
  if (p.clock === 'wall' && !WALL_WORDS.test(q)) {
    const alt = times(true);
    if (alt.clock === 'stream' && (alt.from !== null || alt.to !== null))
      p.streamReading = { from: alt.from, to: alt.to };
  }
  for (const m of q.matchAll(
    /\b(after|before|since|until)\s+the\s+(first|last)\s+(?:scene\s+)?(cut|shot change|scene change|transition)\b/g,
  )) {
    p.anchors.push({
      side: m[1] === 'after' || m[1] === 'since' ? 'after' : 'before',
      which: m[2] as 'first' | 'last',
      what: 'cut',
    });
  }
  if (
    (p.from !== null || p.to !== null || p.fromEndMs !== undefined || p.anchors.length > 0) &&
    PRESENCE_VERB.test(q) &&
    !ENTRY_VERB.test(q)
  ) {
    // "which objects appeared in the last 15 seconds": objects present in the range (tracks,
    // object records, windows overlapping it), not only those whose entry falls inside it.
    p.types = p.types.filter((t) => t !== 'object.entered');
  }
  if (p.text.length > 0 && p.labels.length === 0) {
    // "when did "EXIT" appear": the verb is about the text, not about objects.
    p.types = p.types.filter((t) => !t.startsWith('object'));
  }
  if (p.text.length > 0 && !/\b(speech|speak|spoke|spoken|talk|voice|transcript)/.test(q)) {
    // "when did the screen say GATE CLOSED": the words are searched wherever they were kept
    // (on screen, spoken, in a caption or a summary); "say" does not narrow that to speech.
    p.types = p.types.filter((t) => !SAY_TYPES.includes(t));
  }
  if (p.anchors.length > 0) {
    // "after the first cut" is a time, not a question about cuts.
    p.types = p.types.filter((t) => t !== 'scene.cut' && t !== 'shot');
  }

  // Zones: "in zone gate", "the gate zone" (firm); "at/near/by the gate" (soft).
  for (const re of [
    /\bzone\s+([\p{L}\p{N}_-]{1,48})/gu,
    /\b([\p{L}\p{N}_-]{1,48})\s+(?:zone|area|region)\b/gu,
  ]) {
    for (const m of q.matchAll(re)) {
      const z = m[1]!;
      if (!ZONE_STOP.has(z) && !p.zones.includes(z)) p.zones.push(z);
    }
    if (p.zones.length > 0) break;
  }
  if (p.zones.length === 0) {
    for (const m of q.matchAll(
      /\b(?:at|near|by|through|in front of|inside|outside) the ([\p{L}_-]{2,48})\b/gu,
    )) {
      const z = m[1]!;
      if (NOT_ZONE.has(z) || findLabels(z).length > 0) continue;
      if (!p.softZones.includes(z)) p.softZones.push(z);
    }
  }

  // Streams: a known stream named as a word, or "camera 3" → camera3 / camera-3 / camera_3.
  const known = options.knownStreams ?? [];
  const norm = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  const words: string[] = q.match(/[\p{L}\p{N}_-]+/gu) ?? [];
  const camera = /\b(?:camera|cam|stream|feed|channel)\s*#?\s*(\d+)\b/.exec(q)?.[1];
  for (const s of known) {
    const n = norm(s);
    const byNumber =
      camera !== undefined &&
      /^(camera|cam|stream|feed|channel|c)?\d+$/.test(n) &&
      n.replace(/\D/g, '') === String(Number(camera));
    if ((words.includes(s.toLowerCase()) || byNumber) && !p.streams.includes(s)) p.streams.push(s);
  }
  return p;
}

export interface AnswerEvidence {
  stream: string;
  /** Stream time range, ms. */
  startMs: number;
  endMs: number;
  wallStart: string;
  wallEnd: string;
  kind: string;
  type: string;
  keyframeIds: string[];
  thumbnails: string[];
  text: string;
}

export interface Answer {
  question: string;
  answer: string;
  /** True when nothing matched. */
  empty: boolean;
  evidence: AnswerEvidence[];
  /** What was searched, in words and as the queries run. */
  searched: { description: string; queries: SearchQuery[]; streams: string[] };
  parsed: ParsedQuestion;
}

export interface AnswerOptions extends ParseOptions {
  /** Evidence items returned (default 5). */
  maxEvidence?: number;
}

/** Stream time as [h:]mm:ss(.s). */
export function formatStreamTime(ms: number): string {
  const total = Math.max(0, ms) / 1000;
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = (Math.round(s * 10) / 10)
    .toFixed(s % 1 === 0 ? 0 : 1)
    .padStart(s < 10 ? (s % 1 === 0 ? 2 : 4) : 0, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function range(h: { startMs: number; endMs: number }): string {
  const a = formatStreamTime(h.startMs);
  const b = formatStreamTime(h.endMs);
  return a === b ? a : `${a}–${b}`;
}

export function toEvidence(h: SearchHit): AnswerEvidence {
  return {
    stream: h.stream,
    startMs: h.startMs,
    endMs: h.endMs,
    wallStart: h.wallStart,
    wallEnd: h.wallEnd,
    kind: h.kind,
    type: h.type,
    keyframeIds: [...new Set(h.keyframes.map((k) => k.id))],
    thumbnails: [...new Set(h.keyframes.flatMap((k) => (k.thumbnail ? [k.thumbnail] : [])))],
    text: h.text,
  };
}

/**
 * Evidence without repeats: records of one stream, range, type and text (three horses' entry
 * events at 0:20.7) are one item with their keyframes together; no keyframe listed twice.
 */
export function distinctEvidence(hits: readonly SearchHit[], max: number): AnswerEvidence[] {
  const out: AnswerEvidence[] = [];
  const byKey = new Map<string, AnswerEvidence>();
  for (const h of hits) {
    const e = toEvidence(h);
    const key = JSON.stringify([e.stream, e.startMs, e.endMs, e.kind, e.type, e.text]);
    const same = byKey.get(key);
    if (same) {
      for (const k of e.keyframeIds) if (!same.keyframeIds.includes(k)) same.keyframeIds.push(k);
      for (const t of e.thumbnails) if (!same.thumbnails.includes(t)) same.thumbnails.push(t);
      continue;
    }
    if (out.length >= max) continue;
    byKey.set(key, e);
    out.push(e);
  }
  return out;
}

/** Hits close in time on one stream, merged into ranges (for "when" answers). */
function mergeRanges(hits: SearchHit[], gapMs: number): SearchHit[][] {
  const sorted = [...hits].sort((a, b) => a.stream.localeCompare(b.stream) || a.startMs - b.startMs);
  const groups: SearchHit[][] = [];
  for (const h of sorted) {
    const g = groups[groups.length - 1];
    const last = g?.[g.length - 1];
    if (g && last && last.stream === h.stream && h.startMs <= Math.max(...g.map((x) => x.endMs)) + gapMs)
      g.push(h);
    else groups.push([h]);
  }
  return groups;
}

function describe(
  p: ParsedQuestion,
  q: SearchQuery,
  zonesDropped: boolean,
  lookalikes: string[] | null = null,
  clockNote: string | null = null,
): string {
  const parts: string[] = [];
  const named = p.namedLabels.length > 0 ? p.namedLabels : p.labels;
  parts.push(
    p.labelGroups.length > 0 && !p.wordsAsked
      ? `objects ${p.labelGroups.map((g) => g.join('/')).join(' together with ')}`
      : lookalikes
        ? `objects ${lookalikes.join('/')} (no ${named.join('/')} found: look-alikes searched)`
        : named.length > 0 && !p.wordsAsked
          ? `objects ${named.join('/')}`
          : 'anything',
  );
  if (q.types.length > 0) parts.push(`of type ${q.types.join('/')}`);
  if (q.text.length > 0) parts.push(`with text ${q.text.map((g) => `"${g.join(' ')}"`).join(' and ')}`);
  if (q.zones.length > 0) parts.push(`in zone ${q.zones.join('/')}`);
  if (zonesDropped) parts.push(`(no zone named ${p.softZones.join('/')}; searched everywhere)`);
  if (q.minCount !== null) parts.push(`at least ${q.minCount} at once`);
  if (q.minDwellMs !== null) parts.push(`staying at least ${q.minDwellMs / 1000} s`);
  if (q.from !== null || q.to !== null) {
    const f = (v: number) => (q.clock === 'stream' ? formatStreamTime(v) : new Date(v).toISOString());
    parts.push(
      `${q.clock === 'stream' ? 'stream time' : 'wall clock'} ${q.from !== null ? f(q.from) : 'start'} to ${q.to !== null ? f(q.to) : 'now'}${clockNote ? ` (${clockNote})` : ''}`,
    );
  }
  parts.push(q.streams.length > 0 ? `on ${q.streams.join(', ')}` : 'on every stream');
  return parts.join(', ');
}

/** Answers a question from the index (no language model). */
export async function answerQuestion(
  index: HistoryIndex,
  question: string,
  o: AnswerOptions = {},
): Promise<Answer> {
  const knownStreams = [...(o.knownStreams ?? (await index.streams()))];
  const p = parseQuestion(question, { ...o, knownStreams });
  const maxEvidence = o.maxEvidence ?? 5;
  const queries: SearchQuery[] = [];
  const objectsFilter = !p.wordsAsked;
  const base = emptyQuery({
    streams: p.streams,
    // Named labels first ("truck" → truck); their look-alikes when none match (see `search`).
    labels: p.intent === 'which' || p.labelGroups.length > 0 || !objectsFilter ? [] : p.namedLabels,
    ...(p.labelGroups.length > 0 && objectsFilter ? { labelGroups: p.labelGroups } : {}),
    zones: p.zones.length > 0 ? p.zones : p.softZones,
    text: p.text,
    minCount: p.intent === 'count' ? null : p.minCount,
    minDwellMs: p.minDwellMs,
    types: p.types,
    clock: p.clock,
    from: p.from,
    to: p.to,
  });
  const run = async (q: SearchQuery) => {
    queries.push(q);
    return (await index.search(q)).hits;
  };

  /**
   * The first and last records of some streams (all when none is given): the oldest 20 and the
   * newest 20 by wall time, two reads in index order. A whole-stream roll-up summary starts when
   * the stream did, so it is among the oldest, however late it was written.
   */
  const edgeCache = new Map<string, SearchHit[]>();
  const edges = async (streams: string[]): Promise<SearchHit[]> => {
    const key = JSON.stringify(streams);
    let hits = edgeCache.get(key);
    if (hits === undefined) {
      hits = [
        ...(await run(emptyQuery({ streams, order: 'oldest', limit: 20 }))),
        ...(await run(emptyQuery({ streams, order: 'newest', limit: 20 }))),
      ];
      edgeCache.set(key, hits);
    }
    return hits;
  };
  /** A stream's end in stream time: the latest end of its first and last records. */
  const streamEnd = async (stream: string): Promise<number> =>
    Math.max(0, ...(await edges([stream])).map((h) => h.endMs));

  // "the last 20 seconds of the video": back from the stream's end (the latest end of its records).
  if (p.fromEndMs !== undefined) {
    let stream = p.streams[0];
    if (stream === undefined) stream = (await run(emptyQuery({ order: 'newest', limit: 1 })))[0]?.stream;
    const end = stream === undefined ? 0 : await streamEnd(stream);
    base.clock = 'stream';
    base.from = Math.max(0, end - p.fromEndMs);
    base.to = end;
    if (base.streams.length === 0 && stream !== undefined) base.streams = [stream];
  }

  // "between 1:00 and 1:10": a time of day by default; stream time when that reading fits the
  // history better. Each reading's range is scored against the recorded span of the streams asked
  // (all when none is named) on its clock: 2 when it overlaps part of the span (it selects), 1 when
  // it covers all of it (it selects nothing), 0 when it misses it. Stream time wins only on a
  // higher score: a clip analysed at 03:29 has nothing between 01:00 and 01:10 but a second
  // minute; a camera recording since yesterday has 01:00 today and keeps the time of day. The
  // spans come from two bounded reads (the oldest and newest records), never a scan for records
  // inside a range.
  let clockNote: string | null = null;
  if (p.streamReading && base.clock === 'wall') {
    const seen = await edges(p.streams);
    if (seen.length > 0) {
      // Wall times before 1973 are stream offsets that stood in for a missing wall time.
      const walls = (xs: number[]) => xs.filter((x) => Number.isFinite(x) && x >= 100_000_000_000);
      const wallSpan: [number, number] = [
        Math.min(...walls(seen.map((h) => Date.parse(h.wallStart)))),
        Math.max(...walls(seen.map((h) => Date.parse(h.wallEnd)))),
      ];
      const streamSpan: [number, number] = [
        Math.min(...seen.map((h) => h.startMs)),
        Math.max(...seen.map((h) => h.endMs)),
      ];
      const score = (from: number | null, to: number | null, [lo, hi]: [number, number]) => {
        const f = from ?? -Infinity;
        const t = to ?? Infinity;
        if (!(lo <= hi) || t < lo || f > hi) return 0;
        return f <= lo && t >= hi ? 1 : 2;
      };
      const alt = p.streamReading;
      const wallScore = score(base.from, base.to, wallSpan);
      if (score(alt.from, alt.to, streamSpan) > wallScore) {
        Object.assign(base, { clock: 'stream', from: alt.from, to: alt.to });
        clockNote =
          wallScore === 0
            ? 'read as stream time: no record at that time of day'
            : 'read as stream time: every record is within that time of day';
      }
    }
  }

  // "after the first cut": find the cut, then bound the range by it.
  for (const a of p.anchors) {
    const cuts = await run(
      emptyQuery({
        streams: p.streams,
        types: ['scene.cut', 'shot'],
        order: a.which === 'first' ? 'oldest' : 'newest',
        limit: 5,
      }),
    );
    const cut = cuts.find((h) => h.kind !== 'shot' || h.startMs > 0);
    if (!cut) {
      return nothing(
        p,
        base,
        queries,
        knownStreams,
        'no scene cut in the history to anchor "the ' + a.which + ' cut"',
      );
    }
    base.clock = 'stream';
    if (a.side === 'after') base.from = Math.max(base.from ?? 0, cut.startMs);
    else base.to = Math.min(base.to ?? SEARCH_LIMITS.maxStreamMs, cut.startMs);
    if (base.streams.length === 0) base.streams = [cut.stream];
  }
  if (base.from !== null && base.to !== null && base.to < base.from) {
    return nothing(p, base, queries, knownStreams, 'the time range is empty');
  }

  let zonesDropped = false;
  // Objects still in view (entered, never left: a parked car) have no exit and no final record,
  // so a dwell filter never sees them: they count with their stay up to the stream's end.
  const withOpen = async (q: SearchQuery, hits: SearchHit[], always = false): Promise<SearchHit[]> => {
    if (!always && q.minDwellMs === null && p.intent !== 'duration') return hits;
    const presence = { ...q, minDwellMs: null, order: 'oldest' as const, offset: 0, limit: 200 };
    const entered = await run({ ...presence, types: ['object.entered'] });
    if (entered.length === 0) return hits;
    // `object` also matches its sub-type object.entered: exits are the others.
    const exits = (await run({ ...presence, types: ['object.left', 'object'], from: null, to: null })).filter(
      (x) => x.type !== 'object.entered',
    );
    // One exit closes one entry: a track (first sighting to exit) that holds the entry, of the
    // same label, the nearest first sighting first. An exit event and the final object record of
    // one track are one exit. Entries left over never left.
    const tracks = new Map<string, SearchHit>();
    for (const x of exits) tracks.set(`${x.stream}|${x.labels.join()}|${x.startMs}|${x.endMs}`, x);
    const pairs: { x: SearchHit; e: SearchHit; d: number }[] = [];
    for (const x of tracks.values()) {
      for (const e of entered) {
        if (
          x.stream === e.stream &&
          x.labels.some((l) => e.labels.includes(l)) &&
          x.startMs <= e.startMs + 1 &&
          x.endMs >= e.startMs
        )
          pairs.push({ x, e, d: e.startMs - x.startMs });
      }
    }
    pairs.sort((a, b) => a.d - b.d);
    const usedExits = new Set<SearchHit>();
    const closed = new Set<string>();
    for (const { x, e } of pairs) {
      if (usedExits.has(x) || closed.has(e.id)) continue;
      usedExits.add(x);
      closed.add(e.id);
    }
    const open: SearchHit[] = [];
    for (const e of entered) {
      if (closed.has(e.id) || open.length >= 50) continue;
      const end = await streamEnd(e.stream);
      const dwellMs = Math.max(0, end - e.startMs);
      if (q.minDwellMs !== null && dwellMs < q.minDwellMs) continue;
      open.push({ ...e, endMs: Math.max(e.endMs, end), dwellMs });
    }
    // An open object's entry may be among the hits already (as itself, without a stay): replaced.
    const byId = new Map(open.map((h) => [h.id, h]));
    const ids = new Set(hits.map((h) => h.id));
    const merged = [...hits.map((h) => byId.get(h.id) ?? h), ...open.filter((h) => !ids.has(h.id))];
    if (q.order === 'longest') merged.sort((a, b) => (b.dwellMs ?? 0) - (a.dwellMs ?? 0));
    return merged;
  };
  // Objects together: records that list every group (a window, shot, cut or summary), and the
  // spans where one presence record (track, entry to exit) of each group overlaps the others.
  const together = async (x: SearchQuery): Promise<SearchHit[]> => {
    const groups = x.labelGroups ?? [];
    const types = x.types.filter((t) => !PRESENCE_TYPES.includes(t));
    // A presence verb ("appear", "enter") says the objects were there, not which record to read.
    const own = await run({ ...x, types: types.length > 0 || x.types.length === 0 ? types : [] });
    if (x.text.length > 0) return own;
    const per: SearchHit[][] = [];
    for (const g of groups) {
      const presence = emptyQuery({
        streams: x.streams,
        zones: x.zones,
        labels: g,
        types: PRESENCE_TYPES,
        clock: x.clock,
        from: x.from,
        to: x.to,
        order: 'oldest',
        limit: SEARCH_LIMITS.maxLimit,
      });
      per.push(await withOpen(presence, await run(presence), true));
    }
    let spans = (per[0] ?? []).map((h) => ({ parts: [h], startMs: h.startMs, endMs: h.endMs }));
    for (const next of per.slice(1)) {
      const out: typeof spans = [];
      for (const a of spans) {
        for (const b of next) {
          if (b.stream !== a.parts[0]!.stream || out.length >= 500) continue;
          const startMs = Math.max(a.startMs, b.startMs);
          const endMs = Math.min(a.endMs, b.endMs);
          if (endMs >= startMs) out.push({ parts: [...a.parts, b], startMs, endMs });
        }
      }
      spans = out;
    }
    // A span inside a longer one (an entry's instant inside both tracks) adds nothing.
    spans = spans.filter(
      (sp) =>
        !spans.some(
          (o) =>
            o !== sp &&
            o.parts[0]!.stream === sp.parts[0]!.stream &&
            o.startMs <= sp.startMs &&
            o.endMs >= sp.endMs &&
            o.endMs - o.startMs > sp.endMs - sp.startMs,
        ),
    );
    const seen = new Set<string>();
    const overlaps: SearchHit[] = [];
    for (const sp of spans) {
      const h = sp.parts[0]!;
      const key = `${h.stream}:${sp.startMs}:${sp.endMs}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const wall = (ms: number) => new Date(Date.parse(h.wallStart) + (ms - h.startMs)).toISOString();
      const counts: Record<string, number> = {};
      for (const x2 of sp.parts)
        for (const l of x2.labels) counts[l] = Math.max(counts[l] ?? 0, x2.counts[l] ?? x2.count ?? 1);
      overlaps.push({
        ...h,
        id: sp.parts.map((x2) => x2.id).join('+'),
        kind: 'object',
        type: 'together',
        startMs: sp.startMs,
        endMs: sp.endMs,
        wallStart: wall(sp.startMs),
        wallEnd: wall(sp.endMs),
        labels: [...new Set(sp.parts.flatMap((x2) => x2.labels))],
        counts,
        count: null,
        dwellMs: sp.endMs - sp.startMs,
        text: '',
        keyframes: sp.parts.flatMap((x2) => x2.keyframes).slice(0, 8),
        score: null,
      });
    }
    return sortHits([...own, ...overlaps], x.order);
  };
  // Labels in effect: the named ones, or their look-alikes when the named ones matched nothing.
  let searchedLabels = base.labels;
  let lookalikesUsed = false;
  const search = async (q: SearchQuery): Promise<SearchHit[]> => {
    const once = async (x: SearchQuery) =>
      refine(x, (x.labelGroups ?? []).length >= 2 ? await together(x) : await withOpen(x, await run(x)));
    const withLabels = async (x: SearchQuery) => {
      let hits = await once(x);
      searchedLabels = x.labels;
      const wider = p.labels.filter((l) => !x.labels.includes(l));
      if (hits.length === 0 && x.labels.length > 0 && wider.length > 0 && objectsFilter) {
        // "was a truck visible": none labelled truck; a car is what the detector calls a pickup.
        const widened = await once({ ...x, labels: [...x.labels, ...wider] });
        if (widened.length > 0) {
          hits = widened;
          searchedLabels = [...x.labels, ...wider];
          lookalikesUsed = true;
        }
      }
      return hits;
    };
    let hits = await withLabels(q);
    if (hits.length === 0 && p.zones.length === 0 && p.softZones.length > 0) {
      zonesDropped = true;
      hits = await withLabels({ ...q, zones: [] });
      if (hits.length === 0) zonesDropped = false;
    }
    return hits;
  };
  const labelPhrase = p.labelWords[0] ?? (p.labels[0] ? labelNoun(p.labels[0], 2) : 'matches');
  const finish = (sentence: string, hits: SearchHit[], q: SearchQuery): Answer => ({
    question,
    answer: sentence,
    empty: false,
    evidence: distinctEvidence(hits, maxEvidence),
    searched: {
      description: describe(p, q, zonesDropped, lookalikesUsed ? searchedLabels : null, clockNote),
      queries,
      streams: q.streams.length > 0 ? q.streams : knownStreams,
    },
    parsed: p,
  });

  switch (p.intent) {
    case 'count': {
      const q = { ...base, order: 'best' as const, limit: 100 };
      const hits = (await search(q)).filter((h) => h.count !== null || Object.keys(h.counts).length > 0);
      const counted = searchedLabels.length > 0 ? searchedLabels : p.labels;
      const countOf = (h: SearchHit) =>
        counted.length > 0
          ? Math.max(
              0,
              ...counted.map(
                (l) => h.counts[l] ?? (h.labels.includes(l) && h.labels.length === 1 ? (h.count ?? 0) : 0),
              ),
            )
          : (h.count ?? 0);
      const ranked = hits
        .filter((h) => countOf(h) > 0)
        .sort(
          (a, b) =>
            countOf(b) - countOf(a) || a.endMs - a.startMs - (b.endMs - b.startMs) || a.startMs - b.startMs,
        );
      if (ranked.length === 0) return nothing(p, q, queries, knownStreams, undefined, clockNote);
      const top = countOf(ranked[0]!);
      const peaks = ranked.filter((h) => countOf(h) === top);
      const noun = counted.length === 1 ? labelNoun(counted[0]!, top) : top === 1 ? 'object' : 'objects';
      const where = [...new Set(peaks.map((h) => `${range(h)} on ${h.stream}`))].slice(0, 3).join(', ');
      const entered =
        p.labels.length > 0
          ? await run({
              ...base,
              labels: searchedLabels,
              types: ['object.entered'],
              order: 'oldest',
              limit: SEARCH_LIMITS.maxLimit,
            })
          : [];
      const total =
        entered.length > 0
          ? ` ${entered.length >= SEARCH_LIMITS.maxLimit ? `At least ${entered.length}` : entered.length} entered in all.`
          : '';
      return finish(`At most ${top} ${noun} at once (${where}).${total}`, ranked, q);
    }
    case 'duration': {
      const q = {
        ...base,
        types: base.types.length > 0 ? base.types : ['object', 'object.left', 'alert'],
        order: 'longest' as const,
        limit: 20,
      };
      const hits = (await search(q)).filter((h) => (h.dwellMs ?? 0) > 0);
      if (hits.length === 0) return nothing(p, q, queries, knownStreams, undefined, clockNote);
      const h = hits[0]!;
      const who = h.labels[0] ? `a ${labelNoun(h.labels[0], 1)}` : 'an object';
      return finish(
        `The longest stay: ${who} for ${((h.dwellMs ?? 0) / 1000).toFixed(1)} s (${range(h)} on ${h.stream})${hits.length > 1 ? `; ${hits.length - 1} more stayed at least ${((hits[hits.length - 1]!.dwellMs ?? 0) / 1000).toFixed(1)} s` : ''}.`,
        hits,
        q,
      );
    }
    case 'which': {
      const q = { ...base, order: 'best' as const, limit: SEARCH_LIMITS.maxLimit };
      const hits = await search(q);
      const best = new Map<string, { n: number; hit: SearchHit }>();
      for (const h of hits) {
        for (const l of h.labels) {
          if (p.labels.length > 0 && !p.labels.includes(l)) continue;
          const n = h.counts[l] ?? (h.labels.length === 1 ? (h.count ?? 1) : 1);
          const cur = best.get(l);
          if (!cur || n > cur.n) best.set(l, { n, hit: h });
        }
      }
      if (best.size === 0) return nothing(p, q, queries, knownStreams, undefined, clockNote);
      const sorted = [...best.entries()].sort((a, b) => b[1].n - a[1].n);
      const list = sorted.map(([l, { n }]) => `${labelNoun(l, n)} (up to ${n} at once)`).join(', ');
      return finish(
        `Seen: ${list}.`,
        sorted.map(([, v]) => v.hit),
        q,
      );
    }
    case 'what': {
      const q = {
        ...base,
        types: base.types.length > 0 ? base.types : ['summary', 'caption', 'transcript'],
        order: 'oldest' as const,
        limit: 50,
      };
      let hits = await search(q);
      if (hits.length === 0) hits = await search({ ...q, types: [] });
      if (hits.length === 0) return nothing(p, q, queries, knownStreams, undefined, clockNote);
      const texts = [...hits]
        .sort((a, b) => a.endMs - a.startMs - (b.endMs - b.startMs) || a.startMs - b.startMs)
        .filter((h) => h.text !== '')
        .slice(0, 3)
        .map((h) => `${range(h)}: ${h.text}`);
      const sentence =
        texts.length > 0
          ? texts.join(' ')
          : `${hits.length} records: ${[...new Set(hits.map((h) => h.type))].slice(0, 6).join(', ')}.`;
      return finish(
        sentence + (hits.length > 3 ? ` (${hits.length > 49 ? '50+' : hits.length} records in all.)` : ''),
        hits,
        q,
      );
    }
    case 'when': {
      // Events and object records first (tight ranges); summaries only when nothing else matched.
      const q = { ...base, order: p.pick === 'last' ? ('newest' as const) : ('oldest' as const), limit: 100 };
      const precise =
        base.types.length > 0 || p.text.length > 0
          ? q
          : { ...q, types: ['event', 'object', 'shot', 'caption', 'transcript', 'ocr'] };
      let hits = await search(precise);
      if (hits.length === 0 && precise !== q) hits = await search(q);
      if (hits.length === 0) return nothing(p, q, queries, knownStreams, undefined, clockNote);
      // Roll-up summaries (segment, stream) span long ranges: kept only when nothing finer matched.
      const fine = hits.filter(
        (h) => !(h.kind === 'summary' && (h.type === 'segment' || h.type === 'stream')),
      );
      if (fine.length > 0) hits = fine;
      let groups = mergeRanges(hits, 2_000);
      if (p.pick === 'last') groups = groups.reverse();
      const ranges = groups.map((g) => ({
        ...g[0]!,
        startMs: Math.min(...g.map((h) => h.startMs)),
        endMs: Math.max(...g.map((h) => h.endMs)),
      }));
      const shown = ranges.slice(0, 4).map((r) => `${range(r)}${r.stream ? ` on ${r.stream}` : ''}`);
      const more =
        ranges.length > 4 ? ` and ${ranges.length - 4} more time${ranges.length - 4 === 1 ? '' : 's'}` : '';
      const head = p.pick
        ? `${p.pick === 'first' ? 'First' : 'Last'} at ${shown[0]}`
        : `${capitalise(labelPhrase)}: ${shown.join(', ')}${more}`;
      return finish(
        `${head}.`,
        ranges.map((r, i) => ({ ...r, keyframes: groups[i]!.flatMap((h) => h.keyframes).slice(0, 8) })),
        q,
      );
    }
    default: {
      const q = {
        ...base,
        order:
          p.text.length > 0
            ? ('best' as const)
            : p.pick === 'first'
              ? ('oldest' as const)
              : ('newest' as const),
        limit: 50,
      };
      const hits = await search(q);
      if (hits.length === 0) return nothing(p, q, queries, knownStreams, undefined, clockNote);
      const h = hits[0]!;
      const what =
        h.text !== ''
          ? `: ${h.text.slice(0, 200)}`
          : ` (${h.type}${h.labels.length > 0 ? `, ${h.labels.join(', ')}` : ''})`;
      return finish(
        `${hits.length >= 50 ? '50+' : hits.length} match${hits.length === 1 ? '' : 'es'}; ${p.text.length > 0 ? 'best' : p.pick === 'first' ? 'first' : 'latest'} at ${range(h)} on ${h.stream}${what}.`,
        hits,
        q,
      );
    }
  }
}

/** Hits in a query's order (for hits merged from several searches). */
function sortHits(hits: SearchHit[], order: SearchQuery['order']): SearchHit[] {
  const wall = (h: SearchHit) => Date.parse(h.wallStart) || 0;
  const cmp: Record<SearchQuery['order'], (a: SearchHit, b: SearchHit) => number> = {
    oldest: (a, b) => wall(a) - wall(b) || a.startMs - b.startMs,
    newest: (a, b) => wall(b) - wall(a) || b.startMs - a.startMs,
    best: (a, b) =>
      (b.score ?? 0) - (a.score ?? 0) ||
      (b.count ?? 0) - (a.count ?? 0) ||
      (b.dwellMs ?? 0) - (a.dwellMs ?? 0) ||
      wall(b) - wall(a),
    longest: (a, b) => (b.dwellMs ?? 0) - (a.dwellMs ?? 0) || wall(b) - wall(a),
  };
  return [...hits].sort(cmp[order]);
}

/** A record's own range against the asked one: the part of it inside, 0..1 (1 for a point inside). */
function insideFraction(h: SearchHit, q: SearchQuery): number {
  const [start, end] =
    q.clock === 'stream' ? [h.startMs, h.endMs] : [Date.parse(h.wallStart), Date.parse(h.wallEnd)];
  const lo = q.from ?? -Infinity;
  const hi = q.to ?? Infinity;
  if (!Number.isFinite(start) || !Number.isFinite(end)) return 1;
  if (end <= start) return start >= lo && start <= hi ? 1 : 0;
  return Math.max(0, Math.min(end, hi) - Math.max(start, lo)) / (end - start);
}

/** Words of a text as the tokeniser reads them. */
const wordsOf = (t: string): string[] =>
  t
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .match(/[\p{L}\p{N}]+/gu) ?? [];

/**
 * Evidence that answers what was asked, not just what the index's overlap search returned:
 * - with a time range, a record counts when it lies mostly (half or more) inside it; a record
 *   of presence (an object, an entry or exit) counts on any overlap, because the object was there
 *   the whole time, while a roll-up (a summary over 0:00–0:45) says nothing about when within it;
 * - with text, every phrase must be in the record's own words, in order.
 */
function refine(q: SearchQuery, hits: SearchHit[]): SearchHit[] {
  const ranged = q.from !== null || q.to !== null;
  return hits.filter((h) => {
    if (ranged && !(h.kind === 'object' || h.type.startsWith('object.')) && insideFraction(h, q) < 0.5)
      return false;
    if (q.text.length > 0) {
      const w = wordsOf(h.text);
      const has = (group: string[]) => {
        const g = wordsOf(group.join(' '));
        return w.some((_, i) => g.every((x, j) => w[i + j] === x));
      };
      if (!q.text.every(has)) return false;
    }
    return true;
  });
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function nothing(
  p: ParsedQuestion,
  q: SearchQuery,
  queries: SearchQuery[],
  streams: string[],
  why?: string,
  clockNote: string | null = null,
): Answer {
  const description = describe(p, q, false, null, clockNote);
  return {
    question: p.question,
    answer: `Nothing found${why ? ` (${why})` : ''}. Searched ${description}.`,
    empty: true,
    evidence: [],
    searched: { description, queries, streams: q.streams.length > 0 ? q.streams : streams },
    parsed: p,
  };
}
