/**
 * Coordinators against a real nats-server (JetStream KV): fair split, graceful hand-over, takeover
 * of a replica that vanished (its NATS connection cut, no goodbye), never two owners at once,
 * definition updates and removals. The stream host here records attach/detach times (pure
 * bookkeeping); the 3-process test with real pipelines is cluster-processes.test.ts.
 *
 * Where no lease has to expire on the server, the coordinators run on a clock the test moves by
 * hand (test/helpers/manual-clock.ts) with a lease far longer than the test: rounds happen only
 * when the test advances time, one after the other, so a loaded machine cannot make a replica miss
 * a renewal and drop its streams (the flake "timed out waiting for rebalanced to 2/2/2"), and the
 * assertions count rounds instead of milliseconds.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import {
  ClusterCoordinator,
  DesiredStreams,
  type StreamDefinition,
  type StreamHost,
} from '../../src/cluster/index.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import type { CoordinatorClock } from '../../src/cluster/coordinator.js';
import { ManualClock } from '../helpers/manual-clock.js';

const LEASE_MS = 1500;
/** The lease with a hand-moved clock: longer than the whole test, so the server expires nothing. */
const MANUAL_LEASE_MS = 120_000;
/** Time between a coordinator's rounds: half its renew interval (leaseMs / 3). */
const MANUAL_ROUND_MS = MANUAL_LEASE_MS / 6;

interface Interval {
  host: string;
  stream: string;
  from: number;
  to: number | null;
  def: StreamDefinition;
}

/** Records who ran which stream when: the truth the assertions check. */
class RecordingHost implements StreamHost {
  readonly running = new Map<string, Interval>();
  constructor(
    readonly name: string,
    readonly log: Interval[],
  ) {}
  attach(def: StreamDefinition) {
    if (this.running.has(def.id)) throw new Error(`${def.id} already attached on ${this.name}`);
    const iv: Interval = { host: this.name, stream: def.id, from: Date.now(), to: null, def };
    this.running.set(def.id, iv);
    this.log.push(iv);
  }
  detach(id: string) {
    const iv = this.running.get(id);
    if (iv) iv.to = Date.now();
    this.running.delete(id);
  }
  list() {
    return [...this.running.keys()].map((id) => ({ id }));
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** No stream may have two overlapping run intervals on different hosts. */
function overlaps(log: Interval[]): string[] {
  const bad: string[] = [];
  for (const a of log)
    for (const b of log) {
      if (a === b || a.stream !== b.stream || a.host === b.host) continue;
      const aEnd = a.to ?? Infinity;
      const bEnd = b.to ?? Infinity;
      if (a.from < bEnd && b.from < aEnd) bad.push(`${a.stream}: ${a.host} and ${b.host}`);
    }
  return bad;
}

describe('cluster coordinator on NATS JetStream KV', () => {
  let nats: LocalNatsServer;
  let admin: NatsConnection;
  let desired: DesiredStreams;
  const conns: NatsConnection[] = [];
  const coordinators: ClusterCoordinator[] = [];
  let bucketN = 0;
  let buckets: { desiredBucket: string; clusterBucket: string };

  beforeAll(async () => {
    nats = await startNatsServer();
    admin = await connect({ servers: nats.url });
  });
  afterEach(async () => {
    for (const c of coordinators.splice(0)) await c.close();
    for (const nc of conns.splice(0)) await nc.close();
  });
  afterAll(async () => {
    await admin?.close();
    await nats?.stop();
  });

  async function fresh(streams: number) {
    bucketN++;
    buckets = { desiredBucket: `desired-${bucketN}`, clusterBucket: `cluster-${bucketN}` };
    desired = await DesiredStreams.open(admin, buckets.desiredBucket);
    for (let i = 0; i < streams; i++) await desired.put({ id: `cam-${i}`, url: 'test:ball' });
  }

  async function replica(name: string, log: Interval[], registry?: Registry, clock?: CoordinatorClock) {
    const nc = await connect({ servers: nats.url, name });
    conns.push(nc);
    const host = new RecordingHost(name, log);
    const c = await ClusterCoordinator.start({
      nc,
      host,
      replicaId: name,
      leaseMs: clock ? MANUAL_LEASE_MS : LEASE_MS,
      ...buckets,
      ...(registry ? { registry } : {}),
      ...(clock ? { clock } : {}),
    });
    coordinators.push(c);
    return { nc, host, c };
  }

  const total = (hosts: RecordingHost[]) => hosts.reduce((n, h) => n + h.running.size, 0);

  /** Moves the clock one round at a time until `cond` holds; returns the rounds it took. */
  async function roundsUntil(clock: ManualClock, what: string, cond: () => boolean, maxRounds = 20) {
    for (let rounds = 0; rounds <= maxRounds; rounds++) {
      if (cond()) return rounds;
      await clock.advance(MANUAL_ROUND_MS);
    }
    throw new Error(`not ${what} after ${maxRounds} rounds`);
  }

  it('splits 6 streams 2/2/2 across 3 replicas, hands over on close, rebalances when one joins', async () => {
    await fresh(6);
    const clock = new ManualClock();
    const log: Interval[] = [];
    const reg = new Registry();
    const [a, b, c] = await Promise.all([
      replica('r-a', log, reg, clock),
      replica('r-b', log, undefined, clock),
      replica('r-c', log, undefined, clock),
    ]);
    const hosts = [a.host, b.host, c.host];
    // The first round waits a renew interval (two rounds) so that replicas starting together see
    // each other; then each claims its share.
    await roundsUntil(clock, 'split 2/2/2', () => hosts.every((h) => h.running.size === 2), 4);
    expect(new Set(hosts.flatMap((h) => [...h.running.keys()])).size).toBe(6);
    const text = await reg.metrics();
    expect(text).toMatch(/^vigil_cluster_owned_streams 2$/m);
    expect(text).toMatch(/^vigil_cluster_live_replicas 3$/m);
    expect(text).toMatch(/^vigil_cluster_desired_streams 6$/m);
    // Nothing was dropped on the way: every attach is still running.
    expect(log.every((iv) => iv.to === null)).toBe(true);
    // A starved event loop (what a loaded machine does to replicas sharing it), longer than the
    // real-clock lease, changes nothing: lease time moves only with the rounds.
    const stalledUntil = Date.now() + LEASE_MS;
    while (Date.now() < stalledUntil) {
      // busy
    }
    await clock.advance(2 * MANUAL_ROUND_MS);
    expect(hosts.map((h) => h.running.size)).toEqual([2, 2, 2]);
    expect(log.every((iv) => iv.to === null)).toBe(true);

    // A graceful stop gives the leases back: the others take over in their next rounds, while the
    // server would keep an abandoned lease for MANUAL_LEASE_MS (far more than these rounds).
    await c.c.close();
    await c.c.close(); // idempotent
    expect(c.host.running.size).toBe(0);
    const handover = await roundsUntil(
      clock,
      'taken over after close',
      () => total([a.host, b.host]) === 6,
      4,
    );
    expect(handover * MANUAL_ROUND_MS).toBeLessThan(MANUAL_LEASE_MS);
    await roundsUntil(
      clock,
      'split 3/3 after the hand-over',
      () => a.host.running.size === 3 && b.host.running.size === 3,
      4,
    );

    // A replica joins: the others release surplus one per round until it has its share.
    const d = await replica('r-d', log, undefined, clock);
    await roundsUntil(
      clock,
      'rebalanced to 2/2/2',
      () => [a.host, b.host, d.host].every((h) => h.running.size === 2),
      8,
    );
    expect(overlaps(log)).toEqual([]);
    // Streams moved only where the test made them move: 2 from r-c's close, 2 to the newcomer.
    expect(
      log
        .filter((iv) => iv.to !== null)
        .map((iv) => iv.host)
        .sort(),
    ).toEqual(['r-a', 'r-b', 'r-c', 'r-c']);
  }, 60_000);

  it('takes over the streams of a replica that vanished, within two lease periods, never doubled', async () => {
    await fresh(6);
    const log: Interval[] = [];
    const [a, b, c] = await Promise.all([replica('r-a', log), replica('r-b', log), replica('r-c', log)]);
    await until('6 streams running', () => total([a.host, b.host, c.host]) === 6);
    const orphaned = [...c.host.running.keys()];
    // Cut r-c off NATS without a goodbye: it can no longer renew.
    const cutAt = Date.now();
    await c.nc.close();
    // It must stop its own streams before the leases expire on the server…
    await until('r-c stopped its streams', () => c.host.running.size === 0, LEASE_MS);
    // …and the others take them over within two lease periods.
    await until('takeover', () => total([a.host, b.host]) === 6, LEASE_MS * 2 + 500);
    const tookMs = Date.now() - cutAt;
    expect(tookMs).toBeLessThan(LEASE_MS * 2);
    for (const id of orphaned) expect(a.host.running.has(id) || b.host.running.has(id)).toBe(true);
    expect(overlaps(log)).toEqual([]);
  }, 30_000);

  it('restarts a stream whose definition changed and stops one that was removed', async () => {
    await fresh(2);
    const log: Interval[] = [];
    const a = await replica('r-a', log);
    await until('2 streams', () => a.host.running.size === 2);
    await desired.put({ id: 'cam-0', url: 'test:smpte' });
    await until('cam-0 restarted', () => a.host.running.get('cam-0')?.def.url === 'test:smpte');
    await desired.remove('cam-1');
    await until('cam-1 stopped', () => !a.host.running.has('cam-1'));
    expect(a.c.status().owned).toEqual(['cam-0']);
    expect(await desired.ids()).toEqual(['cam-0']);
  }, 20_000);

  it('rejects bad options and a lease that differs from the bucket’s', async () => {
    await fresh(0);
    const nc = await connect({ servers: nats.url });
    conns.push(nc);
    const host = new RecordingHost('x', []);
    await expect(ClusterCoordinator.start({ nc, host, leaseMs: 10 })).rejects.toThrow(/leaseMs/);
    await expect(ClusterCoordinator.start({ nc, host, replicaId: 'a.b' })).rejects.toThrow(/replicaId/);
    await expect(ClusterCoordinator.start({ nc, host, lease: 3 } as never)).rejects.toThrow(/unknown option/);
    await replica('r-a', []);
    await expect(
      ClusterCoordinator.start({ nc, host, replicaId: 'r-b', leaseMs: LEASE_MS * 2, ...buckets }),
    ).rejects.toThrow(/same lease/);
    await expect(desired.put({ id: 'bad id', url: 'test:ball' })).rejects.toThrow(
      /id: expected a NATS-safe name/,
    );
    // One stream spec for the config file, the control API and the KV entry: bad keys are named.
    await expect(desired.put({ id: 'cam-9', url: 'test:ball', windowMs: 5 } as never)).rejects.toMatchObject({
      code: 'VIGIL_ERR_CONFIG',
      message: /windowMs: expected an integer from 100/,
    });
    await expect(desired.put({ id: 'cam-9', url: 'test:ball', colour: 'red' } as never)).rejects.toThrow(
      /colour: unknown key/,
    );
  }, 20_000);
});
