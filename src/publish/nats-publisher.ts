/**
 * Publishes CloudEvents on NATS. Events and summaries go through JetStream with a `Nats-Msg-Id`
 * header (so retries are de-duplicated) and an ack; everything else is a plain core publish.
 */
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { Analysis, Keyframe, Summary, VigilEvent } from '../core/contracts.js';
import { PublishError } from '../core/errors.js';
import { envelope, type CloudEvent } from './cloudevents.js';
import { subjects } from './subjects.js';

export interface PublisherOptions {
  servers: string | string[];
  /** JetStream stream that captures events and summaries; created or updated at start. */
  jetstreamName: string;
  maxAgeMs: number;
  maxBytes: number;
  name?: string;
}

export const DEFAULT_PUBLISHER_OPTIONS: Omit<PublisherOptions, 'servers'> = {
  jetstreamName: 'VIGIL',
  maxAgeMs: 7 * 24 * 3600 * 1000,
  maxBytes: 1024 * 1024 * 1024,
};

export interface Publisher {
  summary(s: Summary): Promise<void>;
  event(e: VigilEvent): Promise<void>;
  /** Per-keyframe detections: a core publish (high rate, not captured by JetStream). */
  detections(a: Analysis, keyframe: Keyframe): Promise<void>;
  /** Drains pending publishes and closes the connection; idempotent. */
  close(): Promise<void>;
  readonly connection: NatsConnection;
}

export async function createPublisher(options: PublisherOptions): Promise<Publisher> {
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: options.servers,
      name: options.name ?? 'vigil-analyzer',
      maxReconnectAttempts: -1,
    });
  } catch (cause) {
    throw new PublishError(`cannot connect to NATS at ${String(options.servers)}`, { cause });
  }
  const jsm = await jetstreamManager(nc);
  const config = {
    name: options.jetstreamName,
    subjects: ['vigil.*.event.>', 'vigil.*.summary.>'],
    max_age: options.maxAgeMs * 1_000_000,
    max_bytes: options.maxBytes,
    duplicate_window: 120 * 1_000_000_000,
  };
  try {
    await jsm.streams.info(options.jetstreamName);
    await jsm.streams.update(options.jetstreamName, config);
  } catch {
    await jsm.streams.add(config);
  }
  const js: JetStreamClient = jetstream(nc);
  let closing: Promise<void> | undefined;

  const publishDurable = async <T>(subject: string, ce: CloudEvent<T>) => {
    const h = headers();
    h.set('Nats-Msg-Id', ce.id);
    h.set('Content-Type', 'application/cloudevents+json');
    try {
      await js.publish(subject, JSON.stringify(ce), { msgID: ce.id, headers: h });
    } catch (cause) {
      throw new PublishError(`publish to ${subject} failed`, { cause });
    }
  };

  return {
    connection: nc,
    summary: (s) =>
      publishDurable(
        subjects.summary(s.streamId, s.level),
        envelope('summary', s.streamId, s.id, s.endTimeMs, s, s.level),
      ),
    event: (e) =>
      publishDurable(
        subjects.event(e.streamId, e.type),
        envelope('event', e.streamId, e.id, e.timeMs, e, e.type),
      ),
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
      const ce = envelope('detections', a.streamId, `${a.keyframeId}:detections`, a.captureTimeMs, data);
      const h = headers();
      h.set('Nats-Msg-Id', ce.id);
      nc.publish(subjects.detections(a.streamId), JSON.stringify(ce), { headers: h });
    },
    close: () => {
      closing ??= nc.drain().catch(() => nc.close());
      return closing;
    },
  };
}
