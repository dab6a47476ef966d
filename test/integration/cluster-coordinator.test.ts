/**
 * Coordinators against a real nats-server (JetStream KV): fair split, graceful hand-over, takeover
 * of a replica that vanished (its NATS connection cut, no goodbye), never two owners at once,
 * definition updates and removals. The stream host here records attach/detach times (pure
 * bookkeeping); the 3-process test with real pipelines is cluster-processes.test.ts.
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

const LEASE_MS = 1500;

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

  async function replica(name: string, log: Interval[], registry?: Registry) {
    const nc = await connect({ servers: nats.url, name });
    conns.push(nc);
    const host = new RecordingHost(name, log);
    const c = await ClusterCoordinator.start({
      nc,
      host,
      replicaId: name,
      leaseMs: LEASE_MS,
      ...buckets,
      ...(registry ? { registry } : {}),
    });
    coordinators.push(c);
    return { nc, host, c };
  }

  const total = (hosts: RecordingHost[]) => hosts.reduce((n, h) => n + h.running.size, 0);

  it('splits 6 streams 2/2/2 across 3 replicas, hands over on close, rebalances when one joins', async () => {
    await fresh(6);
    const log: Interval[] = [];
    const reg = new Registry();
    const [a, b, c] = await Promise.all([replica('r-a', log, reg), replica('r-b', log), replica('r-c', log)]);
    const hosts = [a.host, b.host, c.host];
    await until('6 streams running', () => total(hosts) === 6 && hosts.every((h) => h.running.size === 2));
    expect(new Set(hosts.flatMap((h) => [...h.running.keys()])).size).toBe(6);
    const text = await reg.metrics();
    expect(text).toMatch(/^vigil_cluster_owned_streams 2$/m);
    expect(text).toMatch(/^vigil_cluster_live_replicas 3$/m);
    expect(text).toMatch(/^vigil_cluster_desired_streams 6$/m);

    // A graceful stop gives the leases back: the others take over without waiting for expiry.
    const closedAt = Date.now();
    await c.c.close();
    await c.c.close(); // idempotent
    expect(c.host.running.size).toBe(0);
    await until('takeover after close', () => total([a.host, b.host]) === 6);
    expect(Date.now() - closedAt).toBeLessThan(LEASE_MS * 2);
    // Each takes its share, 3/3. Waited for rather than read at once: all replicas share this test's
    // event loop, and a loop starved for longer than the renewal margin (a loaded CI machine) makes a
    // replica drop its streams on purpose (it cannot prove its leases); the rounds then even out.
    await until('3/3 after the hand-over', () => a.host.running.size === 3 && b.host.running.size === 3);

    // A replica joins: the others release surplus one per round until it has its share.
    const d = await replica('r-d', log);
    await until('rebalanced to 2/2/2', () => [a.host, b.host, d.host].every((h) => h.running.size === 2));
    expect(overlaps(log)).toEqual([]);
  }, 30_000);

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
