/** `vigil tail`: subscribes to live messages and pretty-prints them, filtered by stream and type. */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Caption, Summary, Transcript, VigilEvent } from '../core/contracts.js';
import { VigilError } from '../core/errors.js';
import type { MessageKind } from '../publish/cloudevents.js';
import { subscription } from '../core/subjects.js';
import { kindOfSubject } from '../publish/schemas.js';
import { clock, formatCaption, formatEvent, formatSummary, formatTranscript } from './format.js';

export const TAIL_TYPES: readonly MessageKind[] = [
  'event',
  'summary',
  'detections',
  'keyframe',
  'status',
  'object',
  'caption',
  'transcript',
];

/**
 * Subjects for a stream (or all) and a set of kinds (or the default: events, summaries, status,
 * and the language stages' captions and transcripts, which only streams with those models publish).
 */
export function tailSubjects(stream: string | undefined, types: readonly string[]): string[] {
  const kinds = types.length > 0 ? types : ['event', 'summary', 'status', 'caption', 'transcript'];
  for (const k of kinds) {
    if (!(TAIL_TYPES as readonly string[]).includes(k)) {
      throw new VigilError('VIGIL_ERR_USAGE', `--type ${k}: expected one of ${TAIL_TYPES.join(', ')}`);
    }
  }
  return [...new Set(kinds)].map((k) => subscription(k as MessageKind, stream));
}

interface Envelope {
  type: string;
  time: string;
  subject: string;
  data: Record<string, unknown>;
}

/** One readable line per message. */
export function formatMessage(subject: string, ce: Envelope): string {
  const kind = kindOfSubject(subject);
  const stream = ce.subject;
  const d = ce.data;
  switch (kind) {
    case 'summary':
      return `${stream} ${formatSummary(d as unknown as Summary)}`;
    case 'event': {
      const e = d as unknown as VigilEvent & { evidence: { image?: { bucket: string; name: string } } };
      const image = e.evidence.image ? ` image ${e.evidence.image.bucket}/${e.evidence.image.name}` : '';
      return `${stream} ${formatEvent(e)}${image}`;
    }
    case 'detections': {
      const dets = (d.detections as { label: string }[]) ?? [];
      const counts = new Map<string, number>();
      for (const x of dets) counts.set(x.label, (counts.get(x.label) ?? 0) + 1);
      const what = [...counts].map(([l, n]) => `${n} ${l}`).join(', ') || 'nothing';
      return `${stream} [detections ${clock(Number(d.ptsNs))}] ${what} (${Number(d.inferenceMs).toFixed(0)} ms)`;
    }
    case 'keyframe':
      return `${stream} [keyframe ${clock(Number(d.ptsNs))}] ${String(d.keyframeId)} ${String(d.reason)}, ${String(d.detections)} detections`;
    case 'caption':
      return `${stream} ${formatCaption(d as unknown as Caption)}`;
    case 'transcript':
      return `${stream} ${formatTranscript(d as unknown as Transcript)}`;
    case 'status': {
      const err = d.error as { code: string; message: string } | null;
      return `${stream} [status] ${String(d.state)} ${Number(d.fps).toFixed(1)} fps${err ? ` ${err.code}: ${err.message}` : ''}`;
    }
    default:
      return `${subject} ${JSON.stringify(d)}`;
  }
}

export interface TailHandle {
  /** Resolves when the subscriptions end (close, or the connection closes). */
  done: Promise<void>;
  close(): Promise<void>;
}

export function tail(
  nc: NatsConnection,
  subjects: string[],
  print: (line: string) => void,
  options: { json?: boolean; max?: number } = {},
): TailHandle {
  let seen = 0;
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  const subs: Subscription[] = [];
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      for (const s of subs) s.unsubscribe();
      finish();
    })();
    return closing;
  };
  for (const subject of subjects) {
    subs.push(
      nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          if (options.max !== undefined && seen >= options.max) return;
          seen++;
          if (options.json) print(msg.string());
          else {
            try {
              print(formatMessage(msg.subject, msg.json<Envelope>()));
            } catch {
              print(`${msg.subject} ${msg.string()}`);
            }
          }
          if (options.max !== undefined && seen >= options.max) void close();
        },
      }),
    );
  }
  void nc.closed().then(() => close());
  return { done, close };
}
