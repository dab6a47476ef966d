/**
 * The desired set of streams, kept in a JetStream KV bucket (key = stream id, value = the stream's
 * definition as JSON). Operators (or `vigil` itself) write it; analyzer replicas read it and
 * share the streams out among themselves (see coordinator.ts).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { ConfigError } from '../core/errors.js';
import { NATS_NAME, validateStreamId } from '../core/stream-id.js';
import { parseStreamDefinition, type StreamDefinition } from '../config/stream-spec.js';

/** A desired stream is a stream definition (src/config/stream-spec.ts), checked on the way in and out. */
export type { StreamDefinition };

export const DEFAULT_DESIRED_BUCKET = 'vigil-streams';

export function checkBucketName(name: string, what: string): string {
  if (typeof name !== 'string' || !NATS_NAME.test(name))
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

/** Reads a KV entry: JSON, a valid stream definition (typed config error naming the key), id = key. */
export function parseDefinition(id: string, value: Uint8Array): StreamDefinition {
  const origin = `desired stream ${id}`;
  let def: unknown;
  try {
    def = JSON.parse(new TextDecoder().decode(value));
  } catch (cause) {
    throw new ConfigError(`${origin}: value is not JSON`, { cause });
  }
  const d = parseStreamDefinition(def, origin);
  if (d.id !== id) throw new ConfigError(`${origin}: its id field says ${JSON.stringify(d.id)}`);
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
    const d = parseStreamDefinition(def, 'desired stream');
    return this.kv.put(d.id, JSON.stringify(d));
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
