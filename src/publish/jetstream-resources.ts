/**
 * The JetStream stream that captures events and summaries, and the evidence object store: created
 * or updated at start, and again after a publish finds them gone (`stale()`), once for all the
 * publishes waiting on it.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamManager } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { EvidenceOptions } from './evidence-store.js';
import { durableSubjects } from '../core/subjects.js';

export interface JetStreamResourcesOptions {
  jetstreamName: string;
  maxAgeMs: number;
  maxBytes: number;
  evidence: EvidenceOptions | false;
}

export class JetStreamResources {
  private store: ObjectStore | undefined;
  private needsEnsure = false;
  private ensuring: Promise<void> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly options: JetStreamResourcesOptions,
  ) {}

  /** The evidence bucket, once ensured (undefined when evidence is off). */
  get objectStore(): ObjectStore | undefined {
    return this.store;
  }

  /** Creates or updates the stream, and creates the evidence bucket. */
  async ensure(): Promise<void> {
    const o = this.options;
    const streamConfig = {
      name: o.jetstreamName,
      subjects: durableSubjects(),
      max_age: o.maxAgeMs * 1_000_000,
      max_bytes: o.maxBytes,
      duplicate_window: 120 * 1_000_000_000,
    };
    try {
      await this.jsm.streams.info(o.jetstreamName);
      await this.jsm.streams.update(o.jetstreamName, streamConfig);
    } catch {
      await this.jsm.streams.add(streamConfig);
    }
    if (o.evidence) {
      this.store = await new Objm(this.nc).create(o.evidence.bucket, {
        max_bytes: o.evidence.maxBytes,
        ttl: o.evidence.maxAgeMs * 1_000_000,
      });
    }
  }

  /** A publish found the stream or bucket missing: ensure them again before the next attempt. */
  stale(): void {
    this.needsEnsure = true;
  }

  /** Resolves once nothing needs ensuring (ensuring again first when stale). */
  async ready(): Promise<void> {
    if (!this.needsEnsure) return;
    this.ensuring ??= this.ensure().finally(() => (this.ensuring = undefined));
    await this.ensuring;
    this.needsEnsure = false;
  }
}
