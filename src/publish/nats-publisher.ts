/**
 * Publishes CloudEvents on NATS.
 *
 * - Events and summaries go through JetStream (stream `VIGIL`, subjects `vigil.*.event.>` and
 *   `vigil.*.summary.>`, size and age limits) with a `Nats-Msg-Id` header, so a retried publish is
 *   de-duplicated, and each one waits for its ack.
 * - `summary()` / `event()` only enqueue: a bounded retry buffer (`maxPending`, drop-oldest,
 *   every drop counted) feeds at most `maxInFlight` publishes at a time and retries failures with
 *   backoff, so a NATS restart mid-run loses nothing as long as the buffer holds.
 * - Keyframe evidence (JPEG) referenced by events goes into a JetStream object-store bucket with
 *   a size cap and max age; the event's `data.evidence.image` names the object.
 * - Detections, keyframe records and stream status are core publishes (high rate or ephemeral),
 *   each with a `Nats-Msg-Id` too.
 */
import { headers, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type {
  Analysis,
  Caption,
  Keyframe,
  KeyframeTracks,
  ObjectRecord,
  ShotRecord,
  Summary,
  Transcript,
  VigilEvent,
} from '../core/contracts.js';
import { PublishError } from '../core/errors.js';
import { envelope, type CloudEvent } from './cloudevents.js';
import { connectNats, type NatsClientOptions } from './connection.js';
import { annotateJpeg, cropJpeg } from './annotate.js';
import { JpegCache } from './evidence.js';
import { EvidenceStore, type EvidenceItem, type EvidenceOptions } from './evidence-store.js';
import { JetStreamResources } from './jetstream-resources.js';
import { RetryBuffer } from './retry-buffer.js';
import { subjects } from '../core/subjects.js';

export type { EvidenceOptions } from './evidence-store.js';

export interface PublisherOptions extends NatsClientOptions {
  /** JetStream stream that captures events and summaries; created or updated at start. */
  jetstreamName: string;
  maxAgeMs: number;
  maxBytes: number;
  /** Retry buffer: messages waiting for an ack; past it the oldest waiting one is dropped (counted). */
  maxPending: number;
  /** Publishes awaiting their ack at once. */
  maxInFlight: number;
  /** How long one publish waits for its ack before it is retried, ms. */
  ackTimeoutMs: number;
  /** How long `close()` waits for the buffer to empty, ms. */
  closeTimeoutMs: number;
  /** Keyframe evidence in an object store, or false for none. */
  evidence: EvidenceOptions | false;
  /** Shared JPEG cache (e.g. with the web view); one is created when absent. */
  jpegCache?: JpegCache;
  /** Extra headers on every message (e.g. `Vigil-Replica` in a cluster); never put secrets here. */
  headers?: Record<string, string>;
}

export const DEFAULT_EVIDENCE_OPTIONS: EvidenceOptions = {
  bucket: 'vigil-evidence',
  maxBytes: 256 * 1024 * 1024,
  maxAgeMs: 24 * 3600 * 1000,
};

export const DEFAULT_PUBLISHER_OPTIONS: Omit<PublisherOptions, 'servers'> = {
  jetstreamName: 'VIGIL',
  maxAgeMs: 7 * 24 * 3600 * 1000,
  maxBytes: 1024 * 1024 * 1024,
  maxPending: 10_000,
  maxInFlight: 32,
  ackTimeoutMs: 2_000,
  closeTimeoutMs: 5_000,
  evidence: DEFAULT_EVIDENCE_OPTIONS,
};

export interface PublisherStats {
  /** Durable messages acked by JetStream (a duplicate ack counts once per publish call). */
  acked: number;
  /** Waiting or in flight in the retry buffer. */
  pending: number;
  /** Dropped from the retry buffer because it was full (oldest first). */
  dropped: number;
  /** Publish attempts that failed and were retried. */
  retries: number;
  /** Evidence images stored in the object store. */
  evidenceStored: number;
  /** Evidence images deleted (oldest first) to make room at the bucket's size cap. */
  evidenceEvicted: number;
  /** Evidence references that could not be served (image not in the cache). */
  evidenceMissing: number;
  /** Core (fire-and-forget) publishes. */
  core: number;
  /** Core publishes dropped because the connection was down (ephemeral: never buffered). */
  coreDropped: number;
  /** Abandoned at close because the buffer did not empty in time. */
  abandoned: number;
  /** Annotated keyframe snapshots (boxes and "label #id") queued for the object store. */
  annotated: number;
  /** Best-box crops of objects queued for the object store. */
  crops: number;
  /** Snapshots or crops not made because the keyframe's JPEG was no longer cached. */
  annotateMissing: number;
}

export interface Publisher {
  summary(s: Summary): Promise<void>;
  event(e: VigilEvent): Promise<void>;
  /** Per-keyframe detections: a core publish (high rate, not captured by JetStream). */
  detections(a: Analysis, keyframe: Keyframe): Promise<void>;
  /** An analysed keyframe with its pixels: caches its JPEG (for evidence) and publishes its record. */
  keyframe(keyframe: Keyframe, analysis: Analysis): Promise<void>;
  /** A tracked object's record on `vigil.<stream>.object` (core publish: updates supersede). */
  object(r: ObjectRecord): Promise<void>;
  /** A tracked keyframe's confirmed tracks: its annotated snapshot goes into the object store. */
  tracked(t: KeyframeTracks): Promise<void>;
  /** A finished shot's record on `vigil.<stream>.shot` (core publish, one per shot). */
  shot(r: ShotRecord): Promise<void>;
  /** Stream status (the analyzer's StreamInfo) on `vigil.<stream>.status`. */
  status(streamId: string, info: object): Promise<void>;
  /** A keyframe's caption by the vision-language model (JetStream, acked). */
  caption(c: Caption): Promise<void>;
  /** Transcribed speech (JetStream, acked). */
  transcript(t: Transcript): Promise<void>;
  /** Resolves when the retry buffer is empty; rejects with VIGIL_ERR_PUBLISH after timeoutMs. */
  flush(timeoutMs?: number): Promise<void>;
  stats(): PublisherStats;
  readonly jpegCache: JpegCache;
  readonly evidenceBucket: string | null;
  /** Flushes (bounded by closeTimeoutMs), drains and closes the connection; idempotent. */
  close(): Promise<void>;
  readonly connection: NatsConnection;
}

type Item =
  { kind: 'js'; subject: string; payload: string; msgId: string } | ({ kind: 'obj' } & EvidenceItem);

function validateOptions(o: PublisherOptions): void {
  const positive = (name: keyof PublisherOptions) => {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
      throw new PublishError(`publisher option ${name} must be a positive integer, got ${String(v)}`);
    }
  };
  for (const k of ['maxAgeMs', 'maxBytes', 'maxPending', 'maxInFlight', 'ackTimeoutMs'] as const) positive(k);
}

export async function createPublisher(
  input: Partial<PublisherOptions> & Pick<PublisherOptions, 'servers'>,
): Promise<Publisher> {
  const options: PublisherOptions = { ...DEFAULT_PUBLISHER_OPTIONS, ...input };
  validateOptions(options);
  const nc = await connectNats({ ...options, name: options.name ?? 'vigil-analyzer' });
  const resources = new JetStreamResources(nc, await jetstreamManager(nc), options);
  try {
    await resources.ensure();
  } catch (cause) {
    await nc.close().catch(() => undefined);
    throw new PublishError(`cannot set up JetStream stream ${options.jetstreamName}`, { cause });
  }
  return new NatsPublisher(nc, resources, options);
}

/** The Publisher over one connection: durable messages through a RetryBuffer, core ones direct. */
class NatsPublisher implements Publisher {
  readonly jpegCache: JpegCache;
  readonly evidenceBucket: string | null;
  private readonly js: JetStreamClient;
  private readonly buffer: RetryBuffer<Item>;
  private readonly evidence: EvidenceStore;
  private readonly counts = {
    evidenceMissing: 0,
    core: 0,
    coreDropped: 0,
    annotated: 0,
    crops: 0,
    annotateMissing: 0,
  };
  /** Evidence objects already stored (bounded), so several events on one keyframe store it once. */
  private readonly stored = new Map<string, true>();
  /** Durable messages acked by JetStream. */
  private acked = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  /**
   * While the connection is down, nats.js keeps every publish in its own buffer, without a bound,
   * until it reconnects. So durable messages wait in this publisher's bounded buffer instead (no
   * attempt while disconnected), and core messages, which are ephemeral, are dropped and counted.
   */
  private connected = true;

  constructor(
    readonly connection: NatsConnection,
    private readonly resources: JetStreamResources,
    private readonly options: PublisherOptions,
  ) {
    this.jpegCache = options.jpegCache ?? new JpegCache();
    this.evidenceBucket = options.evidence ? options.evidence.bucket : null;
    this.js = jetstream(connection, { timeout: options.ackTimeoutMs });
    this.evidence = new EvidenceStore(
      () => resources.objectStore,
      options.evidence ? options.evidence.maxBytes : 0,
    );
    this.buffer = new RetryBuffer<Item>({
      maxPending: options.maxPending,
      maxInFlight: options.maxInFlight,
      attempt: (item) => this.attempt(item),
      onRetry: (err) => {
        const text = String((err as Error)?.message ?? err);
        if (/no responders|not found|503/i.test(text)) resources.stale();
      },
    });
    void this.watchConnection();
  }

  /** Connection state (see `connected`); a reconnect resumes the durable buffer at once. */
  private async watchConnection(): Promise<void> {
    try {
      for await (const s of this.connection.status()) {
        if (s.type === 'disconnect') {
          this.connected = false;
          this.buffer.setConnected(false);
        } else if (s.type === 'reconnect') {
          this.connected = true;
          this.buffer.setConnected(true);
        }
      }
    } catch {
      // the connection closed
    }
  }

  /** One delivery attempt (retried with the same message id: JetStream drops a duplicate). */
  private async attempt(item: Item): Promise<void> {
    await this.resources.ready();
    if (item.kind === 'js') {
      await this.js.publish(item.subject, item.payload, {
        msgID: item.msgId,
        headers: this.headers(item.msgId),
      });
      this.acked++;
    } else {
      await this.evidence.put(item);
    }
  }

  private headers(msgId: string): MsgHdrs {
    const h = headers();
    for (const [k, v] of Object.entries(this.options.headers ?? {})) h.set(k, v);
    h.set('Nats-Msg-Id', msgId);
    h.set('Content-Type', 'application/cloudevents+json');
    return h;
  }

  private enqueue(item: Item): void {
    if (this.closed) throw new PublishError('publisher is closed');
    this.buffer.push(item);
  }

  private durable<T>(subject: string, ce: CloudEvent<T>): void {
    this.enqueue({ kind: 'js', subject, payload: JSON.stringify(ce), msgId: ce.id });
  }

  private core<T>(subject: string, ce: CloudEvent<T>): void {
    if (this.closed) return;
    if (!this.connected) {
      this.counts.coreDropped++;
      return;
    }
    try {
      this.connection.publish(subject, JSON.stringify(ce), { headers: this.headers(ce.id) });
      this.counts.core++;
    } catch (cause) {
      throw new PublishError(`publish to ${subject} failed`, { cause });
    }
  }

  /** Stores the keyframe's JPEG (once) and returns its reference, or null when not available. */
  private evidenceRef(streamId: string, keyframeId: string | null) {
    const evidence = this.options.evidence;
    if (!evidence || keyframeId === null) return null;
    const name = `${streamId}/${keyframeId}.jpg`;
    if (!this.stored.has(name)) {
      const jpg = this.jpegCache.get(keyframeId);
      if (!jpg) {
        this.counts.evidenceMissing++;
        return null;
      }
      this.enqueue({ kind: 'obj', name, data: jpg.data, streamId, keyframeId });
      this.markStored(name);
    }
    return { bucket: evidence.bucket, name, contentType: 'image/jpeg' };
  }

  private markStored(name: string): void {
    this.stored.set(name, true);
    while (this.stored.size > 4096) this.stored.delete(this.stored.keys().next().value as string);
  }

  /** The reference of an object-store name (only names that were stored or are being stored). */
  private ref(name: string) {
    const evidence = this.options.evidence;
    return evidence && this.stored.has(name)
      ? { bucket: evidence.bucket, name, contentType: 'image/jpeg' }
      : null;
  }

  /**
   * The annotated snapshot and the best-box crop of an object record: the crop is made (once per
   * object and best keyframe) from the best keyframe's plain JPEG, while it is still cached.
   */
  private objectEvidence(r: ObjectRecord) {
    const evidence = this.options.evidence;
    if (!evidence || r.best === null) return null;
    const kf = r.best.keyframeId;
    const snapshot = annotatedName(r.streamId, kf);
    const crop = `${r.streamId}/${kf}.track-${r.trackId}.jpg`;
    const plain = this.jpegCache.get(kf);
    if (!this.stored.has(crop)) {
      if (plain?.source) {
        const jpg = cropJpeg(plain.data, r.best.box, plain.source);
        this.enqueue({ kind: 'obj', name: crop, data: jpg.data, streamId: r.streamId, keyframeId: kf });
        this.markStored(crop);
        this.counts.crops++;
      } else this.counts.annotateMissing++;
    }
    // The snapshot of the best keyframe is drawn when that keyframe is tracked (right after its
    // first record) while its plain JPEG is cached.
    const snap =
      this.ref(snapshot) ??
      (plain ? { bucket: evidence.bucket, name: snapshot, contentType: 'image/jpeg' } : null);
    return { snapshot: snap, crop: this.ref(crop) };
  }

  // Arrow properties, as the object createPublisher returned before: callers may pass them on.
  readonly summary = async (s: Summary): Promise<void> =>
    this.durable(
      subjects.summary(s.streamId, s.level),
      envelope('summary', s.streamId, s.id, s.endTimeMs, s, s.level),
    );

  readonly event = async (e: VigilEvent): Promise<void> => {
    const image = this.evidenceRef(e.streamId, e.evidence.keyframeId);
    const kf = e.evidence.keyframeId;
    const annotated = kf === null ? null : this.ref(annotatedName(e.streamId, kf));
    const data = image
      ? { ...e, evidence: { ...e.evidence, image, ...(annotated ? { annotated } : {}) } }
      : e;
    this.durable(
      subjects.event(e.streamId, e.type),
      envelope('event', e.streamId, e.id, e.timeMs, data, e.type),
    );
  };

  readonly caption = async (c: Caption): Promise<void> =>
    this.durable(subjects.caption(c.streamId), envelope('caption', c.streamId, c.id, c.timeMs, c));

  readonly transcript = async (t: Transcript): Promise<void> =>
    this.durable(subjects.transcript(t.streamId), envelope('transcript', t.streamId, t.id, t.timeMs, t));

  readonly detections = async (a: Analysis, kf: Keyframe): Promise<void> => {
    const data = {
      streamId: a.streamId,
      keyframeId: a.keyframeId,
      ptsNs: a.ptsNs,
      captureTimeMs: a.captureTimeMs,
      reason: kf.reason,
      sourceWidth: kf.frame.sourceWidth,
      sourceHeight: kf.frame.sourceHeight,
      available: a.available,
      detections: a.detections,
      model: a.model,
      inferenceMs: a.inferenceMs,
    };
    this.core(
      subjects.detections(a.streamId),
      envelope('detections', a.streamId, `${a.keyframeId}:detections`, a.captureTimeMs, data),
    );
  };

  readonly keyframe = async (kf: Keyframe, analysis: Analysis): Promise<void> => {
    const jpg = this.options.evidence ? this.jpegCache.put(kf) : undefined;
    const data = {
      streamId: kf.frame.streamId,
      keyframeId: kf.id,
      seq: kf.frame.seq,
      ptsNs: kf.frame.ptsNs,
      captureTimeMs: kf.frame.captureTimeMs,
      reason: kf.reason,
      motionScore: kf.motionScore,
      sceneScore: kf.sceneScore,
      phash: kf.phash ?? null,
      sourceWidth: kf.frame.sourceWidth,
      sourceHeight: kf.frame.sourceHeight,
      detections: analysis.detections.length,
      available: analysis.available,
      image: jpg ? { width: jpg.width, height: jpg.height, bytes: jpg.data.length } : null,
    };
    this.core(
      subjects.keyframe(kf.frame.streamId),
      envelope('keyframe', kf.frame.streamId, `${kf.id}:keyframe`, kf.frame.captureTimeMs, data),
    );
  };

  readonly object = async (r: ObjectRecord): Promise<void> => {
    const evidence = this.objectEvidence(r);
    const data = evidence ? { ...r, evidence } : r;
    this.core(
      subjects.object(r.streamId),
      envelope('object', r.streamId, `${r.id}:${r.revision}`, r.endTimeMs, data),
    );
  };

  /** A tracked keyframe: its annotated snapshot (boxes, "person #12") goes into the object store. */
  readonly tracked = async (t: KeyframeTracks): Promise<void> => {
    if (!this.options.evidence || t.tracks.length === 0) return;
    const name = annotatedName(t.streamId, t.keyframeId);
    if (this.stored.has(name)) return;
    const plain = this.jpegCache.get(t.keyframeId);
    if (!plain) {
      this.counts.annotateMissing++;
      return;
    }
    const jpg = annotateJpeg(plain.data, t.tracks, { width: t.sourceWidth, height: t.sourceHeight });
    this.enqueue({ kind: 'obj', name, data: jpg.data, streamId: t.streamId, keyframeId: t.keyframeId });
    this.markStored(name);
    this.counts.annotated++;
  };

  readonly shot = async (r: ShotRecord): Promise<void> => {
    this.core(subjects.shot(r.streamId), envelope('shot', r.streamId, r.id, r.endTimeMs, r));
  };

  readonly status = async (streamId: string, info: object): Promise<void> => {
    const data = { ...info, streamId } as Record<string, unknown>;
    const state = typeof data.state === 'string' ? data.state : 'unknown';
    this.core(
      subjects.status(streamId),
      envelope('status', streamId, `${streamId}:status:${Date.now()}:${state}`, Date.now(), data, state),
    );
  };

  readonly flush = (timeoutMs = 30_000): Promise<void> => this.buffer.flush(timeoutMs);

  readonly stats = (): PublisherStats => ({
    acked: this.acked,
    pending: this.buffer.pending,
    dropped: this.buffer.dropped,
    retries: this.buffer.retries,
    evidenceStored: this.evidence.stored,
    evidenceEvicted: this.evidence.evicted,
    ...this.counts,
    abandoned: this.buffer.abandoned,
  });

  readonly close = (): Promise<void> => {
    this.closing ??= this.shutDown();
    return this.closing;
  };

  private async shutDown(): Promise<void> {
    this.closed = true;
    await this.buffer.drain(this.options.closeTimeoutMs);
    const nc = this.connection;
    await nc.drain().catch(() => nc.close().catch(() => undefined));
  }
}

/** Object name of a keyframe's annotated snapshot (next to its plain `<stream>/<keyframe>.jpg`). */
export function annotatedName(streamId: string, keyframeId: string): string {
  return `${streamId}/${keyframeId}.boxes.jpg`;
}
