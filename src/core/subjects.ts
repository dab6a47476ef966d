/**
 * The NATS subject grammar, written once: what the publisher publishes to, what JetStream
 * captures, what `vigil tail` and the CLI's printer subscribe to, and how a subject is read back.
 *
 *   vigil.<stream>.keyframe            a selected keyframe (id, time, reason)
 *   vigil.<stream>.detections          an analysed keyframe's detections
 *   vigil.<stream>.status              the stream's state
 *   vigil.<stream>.event.<type>        events (object.entered, count.changed, …)
 *   vigil.<stream>.summary.<level>     summaries (window, segment, stream)
 *   vigil.<stream>.object              object records (one per confirmed track)
 *   vigil.<stream>.shot                shot records
 *   vigil.<stream>.caption             keyframe captions
 *   vigil.<stream>.transcript          speech transcripts
 *   vigil.ctl.<op>                     the control API (request-reply)
 *
 * `<stream>` is a stream id (src/core/stream-id.ts); `<type>` and `<level>` are dot-separated
 * lowercase tokens.
 */
import { ConfigError } from './errors.js';
import { validateStreamId } from './stream-id.js';

export const SUBJECT_ROOT = 'vigil';

/** The kinds of message under `vigil.<stream>.`; `event` and `summary` take a suffix. */
export const SUBJECT_KINDS = [
  'keyframe',
  'detections',
  'status',
  'event',
  'summary',
  'object',
  'shot',
  'caption',
  'transcript',
] as const;
export type SubjectKind = (typeof SUBJECT_KINDS)[number];

/** Kinds whose subjects carry a type or level after the kind (`vigil.<stream>.event.<type>`). */
const SUFFIXED: ReadonlySet<SubjectKind> = new Set(['event', 'summary']);

const TYPE_TOKEN = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

function checkType(type: string): string {
  if (typeof type !== 'string' || !TYPE_TOKEN.test(type))
    throw new ConfigError(`message type ${JSON.stringify(type)} is not a valid subject suffix`);
  return type;
}

const subject = (stream: string, kind: SubjectKind) => `${SUBJECT_ROOT}.${validateStreamId(stream)}.${kind}`;

/** Publish subjects, one function per kind; every stream id and type is validated. */
export const subjects = {
  keyframe: (stream: string) => subject(stream, 'keyframe'),
  detections: (stream: string) => subject(stream, 'detections'),
  status: (stream: string) => subject(stream, 'status'),
  event: (stream: string, type: string) => `${subject(stream, 'event')}.${checkType(type)}`,
  summary: (stream: string, level: string) => `${subject(stream, 'summary')}.${checkType(level)}`,
  object: (stream: string) => subject(stream, 'object'),
  shot: (stream: string) => subject(stream, 'shot'),
  caption: (stream: string) => subject(stream, 'caption'),
  transcript: (stream: string) => subject(stream, 'transcript'),
};

/**
 * The subscription pattern for one kind of message of one stream (or of every stream when
 * `stream` is undefined): `vigil.door.event.>`, `vigil.*.status`.
 */
export function subscription(kind: SubjectKind, stream?: string): string {
  const s = stream === undefined ? '*' : validateStreamId(stream);
  return `${SUBJECT_ROOT}.${s}.${kind}${SUFFIXED.has(kind) ? '.>' : ''}`;
}

/** What the JetStream stream captures (durable, de-duplicated): events, summaries, captions, transcripts. */
export const DURABLE_KINDS: readonly SubjectKind[] = ['event', 'summary', 'caption', 'transcript'];

export function durableSubjects(): string[] {
  return DURABLE_KINDS.map((k) => subscription(k));
}

/** The control API's subjects (request-reply): `vigil.ctl.<op>`. */
export const CONTROL_PREFIX = `${SUBJECT_ROOT}.ctl`;
export const controlSubject = (op: string) => `${CONTROL_PREFIX}.${op}`;
export const CONTROL_SUBSCRIPTION = `${CONTROL_PREFIX}.>`;

/** Reads a published subject back (`vigil.<stream>.<kind>[.<suffix>]`); null for anything else. */
export function parseSubject(s: string): { stream: string; kind: SubjectKind; suffix?: string } | null {
  const [root, stream, kind, ...rest] = s.split('.');
  if (root !== SUBJECT_ROOT || stream === undefined || kind === undefined) return null;
  if (!(SUBJECT_KINDS as readonly string[]).includes(kind)) return null;
  const k = kind as SubjectKind;
  if (SUFFIXED.has(k) !== rest.length > 0) return null;
  return rest.length > 0 ? { stream, kind: k, suffix: rest.join('.') } : { stream, kind: k };
}
