/**
 * The desired set of streams, kept in a JetStream KV bucket (key = stream id, value = the stream's
 * definition as JSON). Operators (or `vigil` itself) write it; analyzer replicas read it and
 * share the streams out among themselves (see coordinator.ts).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { ConfigError } from '../core/errors.js';
import { validateStreamId } from '../publish/subjects.js';

/** What a replica needs to run a stream; everything but `id` is the stream host's business. */
export interface StreamDefinition {
  id: string;
  [key: string]: unknown;
}

export const DEFAULT_DESIRED_BUCKET = 'vigil-streams';

const BUCKET = /^[A-Za-z0-9_-]{1,64}$/;

export function checkBucketName(name: string, what: string): string {
  if (typeof name !== 'string' || !BUCKET.test(name))
    throw new ConfigError(
      `${what} ${JSON.stringify(name)} is not a valid KV bucket name (letters, digits, _ -)`,
    );
  return name;
}

export async function openDesiredBucket(nc: NatsConnection, bucket = DEFAULT_DESIRED_BUCKET): Promise<KV> {
  checkBucketName(bucket, 'desired-streams bucket');
  // history 1: only the current definition matters; no TTL: desired streams stay until removed.
  return new Kvm(nc).create(bucket, { history: 1 });
}

export function parseDefinition(id: string, value: Uint8Array): StreamDefinition {
  let def: unknown;
  try {
    def = JSON.parse(new TextDecoder().decode(value));
  } catch (cause) {
    throw new ConfigError(`desired stream ${id}: value is not JSON`, { cause });
  }
  if (typeof def !== 'object' || def === null || Array.isArray(def))
    throw new ConfigError(`desired stream ${id}: value must be a JSON object`);
  const d = def as StreamDefinition;
  if (d.id !== id) throw new ConfigError(`desired stream ${id}: its id field says ${JSON.stringify(d.id)}`);
  return d;
}

/** Read and write access to the desired streams (for operators, tests and a control API). */
export class DesiredStreams {
  private constructor(private readonly kv: KV) {}

  static async open(nc: NatsConnection, bucket = DEFAULT_DESIRED_BUCKET): Promise<DesiredStreams> {
    return new DesiredStreams(await openDesiredBucket(nc, bucket));
  }

  /** Adds or replaces a stream; the owning replica restarts it with the new definition. */
  async put(def: StreamDefinition): Promise<number> {
    validateStreamId(def.id);
    return this.kv.put(def.id, JSON.stringify(def));
  }

  async remove(id: string): Promise<void> {
    validateStreamId(id);
    await this.kv.delete(id);
  }

  async get(id: string): Promise<StreamDefinition | null> {
    const e = await this.kv.get(validateStreamId(id));
    if (!e || e.operation !== 'PUT') return null;
    return parseDefinition(id, e.value);
  }

  async ids(): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await this.kv.keys()) out.push(k);
    return out.sort();
  }
}
