/**
 * Scale-out on one machine with real processes: 3 analyzer replicas (src/cluster/main.ts), 6 live
 * RTSP streams (local gst-rtsp-server), the real inference server and nats-server. One replica is
 * killed with SIGKILL: its leases expire, the others take its streams over within two lease
 * periods, all 6 streams keep publishing, and no stream is ever published by two replicas at once
 * (every message carries its replica in the `Vigil-Replica` header).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { DesiredStreams } from '../../src/cluster/index.js';
import { startInferenceServer, type InferenceServer } from '../../src/infer/index.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { MODEL_REPO, requireFile } from '../helpers/paths.js';
import { startReplicaProcess, type ReplicaProcess } from '../helpers/replica-process.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.js';

const LEASE_MS = 3000;
const STREAMS = ['s0', 's1', 's2', 's3', 's4', 's5'];

interface Seen {
  at: number;
  stream: string;
  replica: string;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('3 analyzer replicas share 6 streams through JetStream KV leases', () => {
  let nats: LocalNatsServer;
  let infer: InferenceServer;
  let rtsp: RtspServer;
  let nc: NatsConnection;
  const replicas: ReplicaProcess[] = [];
  const seen: Seen[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    infer = await startInferenceServer({
      modelRepository: requireFile(MODEL_REPO),
      host: '127.0.0.1',
      port: 0,
    });
    rtsp = await startRtspServer({ width: 320, height: 240, fps: 10 });
    nc = await connect({ servers: nats.url });
    nc.subscribe('vigil.*.detections', {
      callback: (err, msg) => {
        if (err) return;
        seen.push({
          at: Date.now(),
          stream: msg.subject.split('.')[1]!,
          replica: msg.headers?.get('Vigil-Replica') ?? '(none)',
        });
      },
    });
    const desired = await DesiredStreams.open(nc);
    for (const id of STREAMS) await desired.put({ id, url: rtsp.url, keyframes: { maxIntervalMs: 1500 } });
    const env = {
      VIGIL_NATS_URL: nats.url,
      VIGIL_INFER_ADDRESSES: `127.0.0.1:${infer.port}`,
      VIGIL_LEASE_MS: String(LEASE_MS),
    };
    replicas.push(
      ...(await Promise.all(
        ['rep-a', 'rep-b', 'rep-c'].map((id) => startReplicaProcess({ ...env, VIGIL_REPLICA_ID: id })),
      )),
    );
  }, 90_000);

  afterAll(async () => {
    for (const r of replicas) await r.stop();
    await nc?.close();
    await rtsp?.stop();
    await infer?.close();
    await nats?.stop();
  });

  /** Replicas that published each stream at or after `since`. */
  const publishers = (since: number) => {
    const by = new Map<string, Set<string>>();
    for (const s of seen) {
      if (s.at < since) continue;
      if (!by.has(s.stream)) by.set(s.stream, new Set());
      by.get(s.stream)!.add(s.replica);
    }
    return by;
  };

  it('balances 2/2/2, takes over a SIGKILLed replica’s streams within two lease periods, never doubles one', async () => {
    // Balanced: every stream published by exactly one replica, every replica has two.
    let settledAt = Date.now();
    await until(
      'all 6 streams published, 2 per replica',
      () => {
        const by = publishers(settledAt);
        const ok =
          STREAMS.every((s) => by.get(s)?.size === 1) &&
          new Set([...by.values()].flatMap((r) => [...r])).size === 3 &&
          ['rep-a', 'rep-b', 'rep-c'].every((r) => [...by.values()].filter((set) => set.has(r)).length === 2);
        // Look at a fresh window each time: a stream that moved while balancing shows two names.
        if (!ok && Date.now() - settledAt > 4000) settledAt = Date.now() - 2000;
        return ok;
      },
      60_000,
    );

    const victim = replicas[1]!;
    const beforeKill = publishers(Date.now() - 3000);
    const orphaned = STREAMS.filter((s) => beforeKill.get(s)?.has(victim.replicaId));
    expect(orphaned).toHaveLength(2);

    const killedAt = Date.now();
    await victim.kill();
    // The leases move to live replicas within two lease periods (server-side TTL + next round).
    const kv = await new Kvm(nc).open('vigil-cluster');
    const holder = async (id: string) => {
      const e = await kv.get(`lease.${id}`);
      return e && e.operation === 'PUT' ? (e.json<{ replica: string }>().replica ?? null) : null;
    };
    await until(
      'orphaned leases taken over',
      async () => {
        for (const id of orphaned) {
          const h = await holder(id);
          if (h === null || h === victim.replicaId) return false;
        }
        return true;
      },
      LEASE_MS * 2,
    );
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(LEASE_MS * 2);

    // All 6 keep publishing, each from one live replica.
    const after = Date.now();
    await until(
      'all 6 streams publishing after the takeover',
      () => {
        const by = publishers(after);
        return STREAMS.every((s) => by.get(s)?.size === 1 && !by.get(s)!.has(victim.replicaId));
      },
      20_000,
    );
    const live = publishers(after);
    expect(new Set([...live.values()].flatMap((r) => [...r]))).toEqual(new Set(['rep-a', 'rep-c']));

    // Never doubled: per stream, once a replica's run of messages ends it never comes back
    // (two replicas analysing one stream would interleave).
    for (const stream of STREAMS) {
      const order = seen.filter((s) => s.stream === stream).map((s) => s.replica);
      const runs = order.filter((r, i) => i === 0 || order[i - 1] !== r);
      expect(new Set(runs).size, `${stream}: ${runs.join(' → ')}`).toBe(runs.length);
      expect(order).not.toContain('(none)');
    }
    console.log(
      `cluster: takeover of ${orphaned.join(', ')} after SIGKILL in ${takeoverMs} ms (lease ${LEASE_MS} ms); ${seen.length} detections messages`,
    );
  }, 120_000);
});
