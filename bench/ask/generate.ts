/**
 * The generated history of the scale bench (bench/ask/scale.ts) and its queries, shared with
 * bench/ask/explain.ts: deterministic, the same records for every backend.
 */
import type { HistoryRecord } from '../../src/history/records.js';

export const STREAMS = 100;
const LABELS = ['person', 'car', 'truck', 'bicycle', 'dog', 'bus', 'motorcycle', 'backpack'];
const WORDS = [
  'exit',
  'gate',
  'north',
  'delivery',
  'parking',
  'sale',
  'open',
  'closed',
  'platform',
  'arrival',
];
const T0 = Date.UTC(2026, 11, 1);

/** Deterministic generator (xorshift): same records for both backends. */
export function* records(n: number): Generator<HistoryRecord> {
  let x = 2463534242;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  const kinds = ['event', 'event', 'event', 'summary', 'object', 'caption'];
  for (let i = 0; i < n; i++) {
    const stream = `cam${i % STREAMS}`;
    const t = (i / STREAMS) * 2000; // one record per stream every 2 s of stream time
    const kind = kinds[Math.floor(rnd() * kinds.length)]!;
    const label = LABELS[Math.floor(rnd() * rnd() * LABELS.length)]!;
    const text =
      kind === 'summary' || kind === 'caption'
        ? `${label} near the ${WORDS[Math.floor(rnd() * WORDS.length)]} ${WORDS[Math.floor(rnd() * WORDS.length)]}`
        : '';
    const count = 1 + Math.floor(rnd() * rnd() * 8);
    yield {
      id: `${stream}:${kind}:${i}`,
      stream,
      kind,
      type:
        kind === 'event'
          ? rnd() < 0.5
            ? 'object.entered'
            : 'count.changed'
          : kind === 'summary'
            ? 'window'
            : kind,
      startMs: t,
      endMs: t + (kind === 'summary' ? 10_000 : kind === 'object' ? 1000 + rnd() * 60_000 : 0),
      wallStartMs: T0 + t,
      wallEndMs: T0 + t,
      labels: [label],
      zones: rnd() < 0.1 ? ['gate'] : [],
      count,
      counts: { [label]: count },
      dwellMs: kind === 'object' ? rnd() * 60_000 : null,
      text,
      keyframeIds: [`${stream}:${i}`],
      evidence: null,
    };
  }
}

export const QUERIES: [string, Record<string, unknown>][] = [
  ['newest page', {}],
  ['label', { label: 'truck' }],
  ['stream + range', { stream: 'cam7', from: '1:40:00', to: '1:50:00' }],
  ['text', { text: 'delivery gate' }],
  ['text + label + range', { text: 'exit', label: 'dog', from: '0:00', to: '8:20:00' }],
  ['rare label + count', { label: 'backpack', minCount: 5 }],
  ['zone + dwell', { zone: 'gate', minDwellMs: 30_000, type: 'object' }],
  ['page 50', { label: 'person', offset: 1000, limit: 20 }],
];
