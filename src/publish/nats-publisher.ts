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
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { Analysis, Caption, Keyframe, Summary, Transcript, VigilEvent } from '../core/contracts.js';
import { PublishError } from '../core/errors.js';
import { envelope, type CloudEvent, type MessageKind } from './cloudevents.js';
import { connectNats, type NatsClientOptions } from './connection.js';
import { JpegCache } from './evidence.js';
import { subjects } from './subjects.js';

export interface EvidenceOptions {
  /** Object-store bucket for keyframe JPEGs (default `vigil-evidence`). */
  bucket: string;
  /** Size cap of the bucket, bytes (default 256 MiB); the oldest objects go first. */
  maxBytes: number;
  /** Objects older than this are removed, ms (default 24 h). */
  maxAgeMs: number;
}

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
}

export interface Publisher {
  summary(s: Summary): Promise<void>;
  event(e: VigilEvent): Promise<void>;
  /** Per-keyframe detections: a core publish (high rate, not captured by JetStream). */
  detections(a: Analysis, keyframe: Keyframe): Promise<void>;
  /** An analysed keyframe with its pixels: caches its JPEG (for evidence) and publishes its record. */
  keyframe(keyframe: Keyframe, analysis: Analysis): Promise<void>;
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

type Item = { seq: number; droppedInFlight?: boolean } & (
  | { kind: 'js'; subject: string; payload: string; msgId: string }
  | { kind: 'obj'; name: string; data: Uint8Array; streamId: string; keyframeId: string }
);

const MAX_BACKOFF_MS = 2_000;

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
  const jsm = await jetstreamManager(nc);
  const js: JetStreamClient = jetstream(nc, { timeout: options.ackTimeoutMs });
  const streamConfig = {
    name: options.jetstreamName,
    subjects: ['vigil.*.event.>', 'vigil.*.summary.>', 'vigil.*.caption', 'vigil.*.transcript'],
    max_age: options.maxAgeMs * 1_000_000,
    max_bytes: options.maxBytes,
    duplicate_window: 120 * 1_000_000_000,
  };
  const evidence = options.evidence;
  let objectStore: ObjectStore | undefined;
  const ensure = async () => {
    try {
      await jsm.streams.info(options.jetstreamName);
      await jsm.streams.update(options.jetstreamName, streamConfig);
    } catch {
      await jsm.streams.add(streamConfig);
    }
    if (evidence) {
      objectStore = await new Objm(nc).create(evidence.bucket, {
        max_bytes: evidence.maxBytes,
        ttl: evidence.maxAgeMs * 1_000_000,
      });
    }
  };
  try {
    await ensure();
  } catch (cause) {
    await nc.close().catch(() => undefined);
    throw new PublishError(`cannot set up JetStream stream ${options.jetstreamName}`, { cause });
  }

  const jpegCache = options.jpegCache ?? new JpegCache();
  const stats: PublisherStats = {
    acked: 0,
    pending: 0,
    dropped: 0,
    retries: 0,
    evidenceStored: 0,
    evidenceEvicted: 0,
    evidenceMissing: 0,
    core: 0,
    coreDropped: 0,
    abandoned: 0,
  };
  const queue: Item[] = [];
  /** In flight and still wanted (not dropped by the bound). */
  const flying = new Set<Item>();
  let inFlight = 0;
  let nextSeq = 0;
  let backoffMs = 0;
  let blockedUntil = 0;
  let wake: NodeJS.Timeout | undefined;
  let needsEnsure = false;
  let ensuring: Promise<void> | undefined;
  let closed = false;
  let closing: Promise<void> | undefined;
  const idleWaiters = new Set<() => void>();
  /** Evidence objects already stored (bounded), so several events on one keyframe store it once. */
  const stored = new Map<string, true>();

  /**
   * While the connection is down, nats.js keeps every publish in its own buffer, without a bound,
   * until it reconnects. So durable messages wait in this publisher's bounded buffer instead (no
   * attempt while disconnected), and core messages, which are ephemeral, are dropped and counted.
   */
  let connected = true;

  const updatePending = () => {
    stats.pending = queue.length + flying.size;
    if (stats.pending === 0) for (const w of [...idleWaiters]) w();
  };

  const attempt = async (item: Item) => {
    if (needsEnsure) {
      ensuring ??= ensure().finally(() => (ensuring = undefined));
      await ensuring;
      needsEnsure = false;
    }
    if (item.kind === 'js') {
      const h = headers();
      for (const [k, v] of Object.entries(options.headers ?? {})) h.set(k, v);
      h.set('Nats-Msg-Id', item.msgId);
      h.set('Content-Type', 'application/cloudevents+json');
      await js.publish(item.subject, item.payload, { msgID: item.msgId, headers: h });
      stats.acked++;
    } else {
      const os = objectStore;
      if (!os) throw new PublishError('object store not ready');
      const put = () =>
        os.putBlob(
          {
            name: item.name,
            description: `keyframe ${item.keyframeId}`,
            headers: undefined,
            metadata: { streamId: item.streamId, keyframeId: item.keyframeId, contentType: 'image/jpeg' },
          },
          item.data,
        );
      // One evidence put at a time: at the cap, each eviction makes room for the put that needs it.
      const turn = evidenceTurn.then(async () => {
        for (let tries = 0; ; tries++) {
          try {
            return await put();
          } catch (err) {
            // The bucket refuses new objects at its cap (object stores discard new): evict the oldest.
            const full = /maximum bytes|insufficient resources/i.test(String((err as Error)?.message));
            if (!evidence || !full || tries >= 3) throw err;
            await evictOldest(os, item.data.length + Math.floor(evidence.maxBytes / 4));
          }
        }
      });
      evidenceTurn = turn.catch(() => undefined);
      await turn;
      stats.evidenceStored++;
    }
  };

  /** Evidence puts run one after another (see attempt). */
  let evidenceTurn: Promise<unknown> = Promise.resolve();
  /** Deletes the oldest evidence objects until at least `bytes` are freed. */
  const evictOldest = async (os: ObjectStore, bytes: number) => {
    const all = (await os.list()).sort((a, b) => Date.parse(a.mtime) - Date.parse(b.mtime));
    let freed = 0;
    for (const o of all) {
      if (freed >= bytes) break;
      await os.delete(o.name);
      freed += o.size;
      stats.evidenceEvicted++;
    }
  };

  const pump = () => {
    if (closed && closing === undefined) return;
    if (!connected) return updatePending();
    const now = Date.now();
    if (now < blockedUntil) {
      if (!wake) {
        wake = setTimeout(() => {
          wake = undefined;
          pump();
        }, blockedUntil - now);
      }
      return;
    }
    while (inFlight < options.maxInFlight && queue.length > 0) {
      const item = queue.shift()!;
      inFlight++;
      flying.add(item);
      attempt(item).then(
        () => {
          inFlight--;
          flying.delete(item);
          // Dropped by the bound while in flight, but it made it after all.
          if (item.droppedInFlight) stats.dropped--;
          backoffMs = 0;
          updatePending();
          pump();
        },
        (err: unknown) => {
          inFlight--;
          flying.delete(item);
          if (item.droppedInFlight) {
            updatePending();
            return pump();
          }
          stats.retries++;
          const text = String((err as Error)?.message ?? err);
          if (/no responders|not found|503/i.test(text)) needsEnsure = true;
          // Retried with the same message id: JetStream drops a duplicate.
          // Back in seq order, so retried messages keep their original order on the wire.
          let at = 0;
          while (at < queue.length && queue[at]!.seq < item.seq) at++;
          queue.splice(at, 0, item);
          backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs === 0 ? 100 : backoffMs * 2);
          blockedUntil = Date.now() + backoffMs;
          trim();
          updatePending();
          pump();
        },
      );
    }
    updatePending();
  };

  /** Drop-oldest over waiting and in-flight messages until the bound holds; every drop counted. */
  const trim = () => {
    while (queue.length + flying.size > options.maxPending) {
      let oldestFlying: Item | undefined;
      for (const f of flying) if (!oldestFlying || f.seq < oldestFlying.seq) oldestFlying = f;
      const head = queue[0];
      if (head && (!oldestFlying || head.seq < oldestFlying.seq)) queue.shift();
      else if (oldestFlying) {
        oldestFlying.droppedInFlight = true;
        flying.delete(oldestFlying);
      } else break;
      stats.dropped++;
    }
  };

  type NewItem =
    | { kind: 'js'; subject: string; payload: string; msgId: string }
    | { kind: 'obj'; name: string; data: Uint8Array; streamId: string; keyframeId: string };
  const enqueue = (fields: NewItem) => {
    if (closed) throw new PublishError('publisher is closed');
    const item: Item = { ...fields, seq: nextSeq++ };
    queue.push(item);
    trim();
    pump();
  };

  const durable = <T>(subject: string, ce: CloudEvent<T>) =>
    enqueue({ kind: 'js', subject, payload: JSON.stringify(ce), msgId: ce.id });

  const core = <T>(subject: string, ce: CloudEvent<T>) => {
    if (closed) return;
    if (!connected) {
      stats.coreDropped++;
      return;
    }
    const h = headers();
    for (const [k, v] of Object.entries(options.headers ?? {})) h.set(k, v);
    h.set('Nats-Msg-Id', ce.id);
    h.set('Content-Type', 'application/cloudevents+json');
    try {
      nc.publish(subject, JSON.stringify(ce), { headers: h });
      stats.core++;
    } catch (cause) {
      throw new PublishError(`publish to ${subject} failed`, { cause });
    }
  };

  /** Stores the keyframe's JPEG (once) and returns its reference, or null when not available. */
  const evidenceRef = (streamId: string, keyframeId: string | null) => {
    if (!evidence || keyframeId === null) return null;
    const name = `${streamId}/${keyframeId}.jpg`;
    if (!stored.has(name)) {
      const jpg = jpegCache.get(keyframeId);
      if (!jpg) {
        stats.evidenceMissing++;
        return null;
      }
      enqueue({ kind: 'obj', name, data: jpg.data, streamId, keyframeId });
      stored.set(name, true);
      while (stored.size > 4096) stored.delete(stored.keys().next().value as string);
    }
    return { bucket: evidence.bucket, name, contentType: 'image/jpeg' };
  };

  // Connection state (see `connected`); a reconnect resumes the durable buffer at once.
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') connected = false;
      else if (s.type === 'reconnect') {
        connected = true;
        pump();
      }
    }
  })().catch(() => undefined);

  const kindEnvelope = <T>(
    kind: MessageKind,
    streamId: string,
    id: string,
    t: number,
    data: T,
    sub?: string,
  ) => envelope(kind, streamId, id, t, data, sub);

  return {
    connection: nc,
    jpegCache,
    evidenceBucket: evidence ? evidence.bucket : null,
    summary: async (s) =>
      durable(
        subjects.summary(s.streamId, s.level),
        kindEnvelope('summary', s.streamId, s.id, s.endTimeMs, s, s.level),
      ),
    event: async (e) => {
      const image = evidenceRef(e.streamId, e.evidence.keyframeId);
      const data = image ? { ...e, evidence: { ...e.evidence, image } } : e;
      durable(
        subjects.event(e.streamId, e.type),
        kindEnvelope('event', e.streamId, e.id, e.timeMs, data, e.type),
      );
    },
    caption: async (c) =>
      durable(subjects.caption(c.streamId), kindEnvelope('caption', c.streamId, c.id, c.timeMs, c)),
    transcript: async (t) =>
      durable(subjects.transcript(t.streamId), kindEnvelope('transcript', t.streamId, t.id, t.timeMs, t)),
    detections: async (a, kf) => {
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
      core(
        subjects.detections(a.streamId),
        kindEnvelope('detections', a.streamId, `${a.keyframeId}:detections`, a.captureTimeMs, data),
      );
    },
    keyframe: async (kf, analysis) => {
      const jpg = evidence ? jpegCache.put(kf) : undefined;
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
      core(
        subjects.keyframe(kf.frame.streamId),
        kindEnvelope('keyframe', kf.frame.streamId, `${kf.id}:keyframe`, kf.frame.captureTimeMs, data),
      );
    },
    status: async (streamId, info) => {
      const data = { ...info, streamId } as Record<string, unknown>;
      const state = typeof data.state === 'string' ? data.state : 'unknown';
      core(
        subjects.status(streamId),
        kindEnvelope(
          'status',
          streamId,
          `${streamId}:status:${Date.now()}:${state}`,
          Date.now(),
          data,
          state,
        ),
      );
    },
    flush: (timeoutMs = 30_000) =>
      new Promise<void>((resolve, reject) => {
        if (queue.length === 0 && flying.size === 0) return resolve();
        const timer = setTimeout(() => {
          idleWaiters.delete(done);
          reject(
            new PublishError(
              `${queue.length + flying.size} messages still unacknowledged after ${timeoutMs} ms`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          idleWaiters.delete(done);
          resolve();
        };
        idleWaiters.add(done);
      }),
    stats: () => ({ ...stats, pending: queue.length + flying.size }),
    close: () => {
      closing ??= (async () => {
        closed = true;
        const wait = new Promise<void>((resolve) => {
          if (queue.length + flying.size === 0) return resolve();
          const timer = setTimeout(resolve, options.closeTimeoutMs);
          idleWaiters.add(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        await wait;
        if (wake) clearTimeout(wake);
        stats.abandoned += queue.length + flying.size;
        queue.length = 0;
        await nc.drain().catch(() => nc.close().catch(() => undefined));
      })();
      return closing;
    },
  };
}
