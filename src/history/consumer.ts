/**
 * The history writer: durable JetStream pull consumers that copy what Vigil publishes into the
 * index, in batches, acknowledging a batch only after it is stored (at least once; the index is
 * idempotent by message id, so a redelivery changes nothing).
 *
 * - Stream `VIGIL` (events, summaries, and whatever kinds are added to it): every message.
 * - Keyframe records, detections, object records and shot records are core publishes; a small
 *   stream (`VIGIL_KEYFRAMES`, same max age) captures those of them the main stream does not
 *   (`vigil.*.keyframe`, `.detections`, `.object`, `.shot`), so they too can be replayed.
 * - Rebuild: `rebuild: true` deletes the durable consumers and starts again from the first
 *   sequence still in the streams.
 * - Retention follows JetStream's: rows older than the stream's max age are deleted periodically.
 *
 * Memory is bounded by one batch per stream. `close()` stops fetching, stores what was fetched
 * and returns; it is idempotent.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { itemFromMessage, type IndexItem } from './records.js';
import { DURABLE_KINDS, subscription, type SubjectKind } from '../core/subjects.js';
import { HistoryError } from './query.js';
import type { HistoryIndex } from './store.js';

export interface HistoryConsumerOptions {
  connection: NatsConnection;
  index: HistoryIndex;
  /** The JetStream stream the publisher writes (default VIGIL). */
  stream?: string;
  /** Durable consumer name (default vigil-history); replicas sharing a PostgreSQL index share it. */
  durable?: string;
  /** Stream that captures keyframe and detection messages (default VIGIL_KEYFRAMES); false: none. */
  keyframeStream?: string | false;
  /** Size cap of the keyframe stream, bytes (default 256 MiB). */
  keyframeStreamMaxBytes?: number;
  /** Messages per fetch and per index transaction (default 256). */
  batchSize?: number;
  /** How long one fetch waits for messages, ms (default and least 1000). */
  fetchExpiresMs?: number;
  /** How often retention runs, ms (default 10 minutes). */
  retentionEveryMs?: number;
  /** Start over from the first sequence (deletes the durable consumers first). */
  rebuild?: boolean;
  /** Called on a failed batch (it is retried: not acked). Never with secrets. */
  onError?: (err: unknown) => void;
  /** Called once per stream when it does not exist yet (start waits for the publisher to make it). */
  onWaiting?: (stream: string) => void;
}

export interface HistoryConsumerStats {
  /** Messages fetched from JetStream. */
  received: number;
  /** Records and keyframes newly stored. */
  inserted: number;
  /** Messages already in the index. */
  duplicates: number;
  /** Messages that are not history (status, malformed): acked and skipped. */
  skipped: number;
  /** Batches that failed to store (retried). */
  failedBatches: number;
  /** Rows deleted by retention. */
  expired: number;
}

export interface HistoryConsumer {
  stats(): HistoryConsumerStats;
  /** Resolves once every message present in the streams when called has been stored. */
  caughtUp(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const sleep = (ms: number, signal: { stopped: boolean }) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    t.unref();
    if (signal.stopped) {
      clearTimeout(t);
      resolve();
    }
  });

/** Core-published kinds the history keeps, unless the main stream already captures them. */
const CAPTURED_KINDS: readonly SubjectKind[] = ['keyframe', 'detections', 'object', 'shot'];

export function keyframeStreamSubjects(): string[] {
  return CAPTURED_KINDS.filter((k) => !DURABLE_KINDS.includes(k)).map((k) => subscription(k));
}

async function ensureKeyframeStream(jsm: JetStreamManager, name: string, maxAgeNs: number, maxBytes: number) {
  const config = {
    name,
    subjects: keyframeStreamSubjects(),
    max_age: maxAgeNs,
    max_bytes: maxBytes,
    duplicate_window: Math.min(120 * 1e9, maxAgeNs > 0 ? maxAgeNs : 120 * 1e9),
  };
  try {
    await jsm.streams.info(name);
    await jsm.streams.update(name, config);
  } catch {
    await jsm.streams.add(config);
  }
}

export async function startHistoryConsumer(o: HistoryConsumerOptions): Promise<HistoryConsumer> {
  const streamName = o.stream ?? 'VIGIL';
  const durable = o.durable ?? 'vigil-history';
  const kfStream = o.keyframeStream === undefined ? 'VIGIL_KEYFRAMES' : o.keyframeStream;
  const batchSize = o.batchSize ?? 256;
  const expires = Math.max(1_000, o.fetchExpiresMs ?? 1_000);
  const nc = o.connection;
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  const stats: HistoryConsumerStats = {
    received: 0,
    inserted: 0,
    duplicates: 0,
    skipped: 0,
    failedBatches: 0,
    expired: 0,
  };
  const signal = { stopped: false };

  /** Waits (bounded by close) until the publisher has created the main stream. */
  const streamInfo = async (name: string) => {
    let told = false;
    while (!signal.stopped) {
      try {
        return await jsm.streams.info(name);
      } catch {
        if (!told) o.onWaiting?.(name);
        told = true;
        await sleep(500, signal);
      }
    }
    return null;
  };

  const setUp = async (name: string) => {
    if (o.rebuild) await jsm.consumers.delete(name, durable).catch(() => undefined);
    try {
      await jsm.consumers.info(name, durable);
    } catch {
      await jsm.consumers.add(name, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        max_ack_pending: batchSize * 4,
        ack_wait: 30 * 1e9,
      });
    }
  };

  const store = async (msgs: JsMsg[]) => {
    const items: IndexItem[] = [];
    for (const m of msgs) {
      let body: unknown;
      try {
        body = m.json<unknown>();
      } catch {
        body = null;
      }
      const item = itemFromMessage(m.subject, body, m.headers?.get('Nats-Msg-Id') || undefined);
      if (item) items.push(item);
      else stats.skipped++;
    }
    if (items.length > 0) {
      const r = await o.index.write(items);
      stats.inserted += r.inserted;
      stats.duplicates += r.duplicates;
    }
  };

  const loop = async (name: string) => {
    const info = await streamInfo(name);
    if (info === null) return;
    await setUp(name);
    const consumer = await js.consumers.get(name, durable);
    while (!signal.stopped) {
      const msgs: JsMsg[] = [];
      try {
        const iter = await consumer.fetch({ max_messages: batchSize, expires });
        for await (const m of iter) msgs.push(m);
      } catch (err) {
        o.onError?.(err);
        await sleep(500, signal);
        continue;
      }
      if (msgs.length === 0) continue;
      stats.received += msgs.length;
      try {
        await store(msgs);
        for (const m of msgs) m.ack();
      } catch (err) {
        stats.failedBatches++;
        o.onError?.(err);
        // Not acked: JetStream redelivers after ack_wait; nak now to retry sooner.
        for (const m of msgs) m.nak(1_000);
        await sleep(500, signal);
      }
    }
  };

  const mainInfo = await streamInfo(streamName).catch(() => null);
  const maxAgeNs = mainInfo?.config.max_age ?? 0;
  if (kfStream !== false) {
    await ensureKeyframeStream(jsm, kfStream, maxAgeNs, o.keyframeStreamMaxBytes ?? 256 * 1024 * 1024);
  }
  const loops = [loop(streamName), ...(kfStream !== false ? [loop(kfStream)] : [])].map((p) =>
    p.catch((err: unknown) => o.onError?.(err)),
  );

  // Retention: what JetStream no longer holds leaves the index too.
  const retentionEvery = o.retentionEveryMs ?? 10 * 60_000;
  const expire = async () => {
    const info = await jsm.streams.info(streamName).catch(() => null);
    const ageNs = info?.config.max_age ?? 0;
    if (ageNs > 0) stats.expired += await o.index.deleteBefore(Date.now() - ageNs / 1e6);
  };
  let expiring: Promise<void> = Promise.resolve();
  const retention = setInterval(() => {
    expiring = expire().catch((err: unknown) => o.onError?.(err));
  }, retentionEvery);
  retention.unref();

  let closing: Promise<void> | undefined;
  return {
    stats: () => ({ ...stats }),
    caughtUp: async (timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      const names = [streamName, ...(kfStream !== false ? [kfStream] : [])];
      for (;;) {
        let pending = 0;
        for (const n of names) {
          const ci = await jsm.consumers.info(n, durable).catch(() => null);
          pending += ci ? ci.num_pending + ci.num_ack_pending : 1;
        }
        if (pending === 0) return;
        if (Date.now() > deadline) {
          throw new HistoryError(
            'VIGIL_ERR_HISTORY_BACKEND',
            `history consumer still ${pending} messages behind`,
          );
        }
        await sleep(100, { stopped: false });
      }
    },
    close: () => {
      closing ??= (async () => {
        signal.stopped = true;
        clearInterval(retention);
        await Promise.all(loops);
        await expiring;
      })();
      return closing;
    },
  };
}
