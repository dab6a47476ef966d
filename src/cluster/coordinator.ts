/**
 * Scale-out without home-made cluster code: analyzer replicas share the streams of the desired
 * bucket through NATS JetStream KV.
 *
 * - Liveness: each replica puts `replica.<id>` in the cluster bucket every renew interval. The
 *   bucket's TTL is the lease period, so the server itself forgets a replica that stops writing.
 * - Ownership: `lease.<stream>` is created with compare-and-set (`create` fails if it exists) and
 *   renewed with compare-and-set on its revision (`update(key, value, revision)`). The same TTL
 *   drops a lease nobody renews, so a dead replica's streams are free one lease period after its
 *   last renewal and are claimed on the next round (well within two lease periods).
 * - No double analysis: a replica stops a stream before its lease can expire on the server: every
 *   successful renewal arms a deadline at (time the renewal was sent + lease − safety margin). A
 *   failed renewal (NATS unreachable) lets the deadline fire; a renewal rejected on the revision
 *   (the lease expired and someone else holds it) stops the stream at once.
 * - Balance: each replica claims up to ceil(desired / live replicas) streams, preferring those it
 *   ranks first by rendezvous hashing, and releases one stream per round while above its share,
 *   so a replica that joins gets work and one that leaves hands its streams over.
 *
 * The coordinator drives a stream host ({attach, detach, list}: the multi-stream manager) and
 * never touches pipelines itself.
 */
import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm, KvWatchInclude, type KV } from '@nats-io/kv';
import { Counter, Gauge, type Registry } from 'prom-client';
import { ConfigError, VigilError } from '../core/errors.js';
import { NATS_NAME } from '../core/stream-id.js';
import {
  checkBucketName,
  DEFAULT_DESIRED_BUCKET,
  openDesiredBucket,
  parseDefinition,
  type StreamDefinition,
} from './desired.js';
import { planRound } from './plan.js';

/** What the coordinator drives: the multi-stream manager (or anything with the same three calls). */
export interface StreamHost {
  attach(def: StreamDefinition): unknown;
  detach(id: string): unknown;
  /** Streams the host runs; a `state` of failed, completed or stopped means it gave up on one. */
  list(): Iterable<HostedStream> | Promise<Iterable<HostedStream>>;
}

export interface HostedStream {
  id: string;
  state?: string;
}

/** Host states after which a stream is handed back to the cluster (so it is retried, maybe elsewhere). */
const ENDED_STATES = new Set(['failed', 'completed', 'stopped']);

export interface CoordinatorOptions {
  nc: NatsConnection;
  host: StreamHost;
  /** Unique per replica: letters, digits, '_' or '-' (default: hostname-pid-random). */
  replicaId?: string;
  /** Lease period, ms (default 10000): the cluster bucket's TTL; every replica must use the same. */
  leaseMs?: number;
  /** Lease renewal and heartbeat interval, ms (default leaseMs / 3); ownership rounds run twice as often. */
  renewMs?: number;
  desiredBucket?: string;
  /** Holds heartbeats and leases (default `vigil-cluster`). */
  clusterBucket?: string;
  /** Registers vigil_cluster_* metrics here (the analyzer's registry). */
  registry?: Registry;
  log?: (line: string) => void;
  /**
   * Time for rounds, renewals and lease deadlines (default: the system clock). Tests drive it by
   * hand; the KV bucket's TTL still runs on the NATS server's own clock.
   */
  clock?: CoordinatorClock;
}

/** The coordinator's time source and timers. */
export interface CoordinatorClock {
  now(): number;
  /**
   * Calls `fn` after `ms` (the timer must not keep the process alive). `fn` returns the work it
   * started, as a promise: a clock driven by a test awaits it before time moves on.
   */
  setTimeout(fn: () => unknown, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const SYSTEM_CLOCK: CoordinatorClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout> | undefined),
};

const OPTION_KEYS = [
  'nc',
  'host',
  'replicaId',
  'leaseMs',
  'renewMs',
  'desiredBucket',
  'clusterBucket',
  'registry',
  'log',
  'clock',
];

export const DEFAULT_CLUSTER_BUCKET = 'vigil-cluster';
export const DEFAULT_LEASE_MS = 10_000;

export type ReleaseReason =
  'removed' | 'rebalance' | 'lease_lost' | 'lease_expired' | 'attach_failed' | 'stream_ended' | 'shutdown';

interface Owned {
  id: string;
  /** Revision of the lease entry we wrote last. */
  revision: number;
  /** Revision of the definition the host runs. */
  defRevision: number;
  /** When the last successful write was sent (the server's TTL runs from a later instant). */
  sentAt: number;
  deadline: unknown;
}

export interface CoordinatorStatus {
  replicaId: string;
  owned: string[];
  liveReplicas: number;
  desired: number;
  share: number;
  leaseMs: number;
}

export function defaultReplicaId(): string {
  const host = hostname()
    .replace(/[^A-Za-z0-9_-]/g, '-')
    .slice(0, 40);
  return `${host || 'replica'}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
}

function isRevisionMismatch(err: unknown): boolean {
  const text = `${(err as Error)?.message ?? ''} ${String((err as { cause?: unknown })?.cause ?? '')}`;
  return /wrong last sequence|key exists/i.test(text);
}

export class ClusterCoordinator {
  readonly replicaId: string;
  readonly leaseMs: number;
  readonly renewMs: number;
  private readonly safetyMs: number;
  /** Interval between rounds: half the renew interval. */
  private readonly scanMs: number;
  private roundNo = 0;
  private readonly owned = new Map<string, Owned>();
  private readonly changed = new Set<string>();
  private roundTimer: unknown;
  private readonly clock: CoordinatorClock;
  private round: Promise<void> = Promise.resolve();
  private closing: Promise<void> | undefined;
  private view = { liveReplicas: 1, desired: 0, share: 0 };
  private readonly metrics: ReturnType<typeof defineMetrics> | undefined;
  private watcher: { stop(): void } | undefined;

  private constructor(
    private readonly o: CoordinatorOptions,
    private readonly cluster: KV,
    private readonly desired: KV,
  ) {
    this.replicaId = o.replicaId!;
    this.leaseMs = o.leaseMs!;
    this.renewMs = o.renewMs!;
    this.clock = o.clock ?? SYSTEM_CLOCK;
    this.safetyMs = Math.max(200, Math.round(this.leaseMs / 5));
    this.scanMs = Math.max(50, Math.round(this.renewMs / 2));
    this.metrics = o.registry
      ? defineMetrics(
          o.registry,
          () => this.owned.size,
          () => this.view,
        )
      : undefined;
  }

  static async start(options: CoordinatorOptions): Promise<ClusterCoordinator> {
    for (const key of Object.keys(options)) {
      if (!OPTION_KEYS.includes(key))
        throw new ConfigError(`cluster: unknown option '${key}' (known: ${OPTION_KEYS.join(', ')})`);
    }
    const replicaId = options.replicaId ?? defaultReplicaId();
    if (!NATS_NAME.test(replicaId))
      throw new ConfigError(`cluster: replicaId ${JSON.stringify(replicaId)} must be 1-64 of [A-Za-z0-9_-]`);
    const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    if (!Number.isInteger(leaseMs) || leaseMs < 1000)
      throw new ConfigError(`cluster: leaseMs must be an integer >= 1000, got ${String(leaseMs)}`);
    const renewMs = options.renewMs ?? Math.round(leaseMs / 3);
    if (!Number.isInteger(renewMs) || renewMs < 100 || renewMs > leaseMs / 2)
      throw new ConfigError(
        `cluster: renewMs must be an integer in [100, leaseMs / 2], got ${String(renewMs)}`,
      );
    const clusterBucket = checkBucketName(options.clusterBucket ?? DEFAULT_CLUSTER_BUCKET, 'cluster bucket');
    const kvm = new Kvm(options.nc);
    let cluster: KV;
    try {
      cluster = await kvm.create(clusterBucket, { history: 1, ttl: leaseMs });
    } catch {
      // It exists with another configuration: open it and say what differs below.
      cluster = await kvm.open(clusterBucket);
    }
    const status = await cluster.status();
    if (status.ttl !== leaseMs) {
      throw new ConfigError(
        `cluster: bucket ${clusterBucket} has a ${status.ttl} ms TTL but this replica uses leaseMs ${leaseMs}: every replica must use the same lease`,
      );
    }
    const desired = await openDesiredBucket(options.nc, options.desiredBucket ?? DEFAULT_DESIRED_BUCKET);
    const c = new ClusterCoordinator(
      { ...options, replicaId, leaseMs, renewMs, clusterBucket },
      cluster,
      desired,
    );
    await c.heartbeat();
    await c.watchDefinitions();
    // Wait one interval so that replicas starting together see each other before claiming.
    c.schedule(renewMs);
    return c;
  }

  status(): CoordinatorStatus {
    return {
      replicaId: this.replicaId,
      owned: [...this.owned.keys()].sort(),
      ...this.view,
      leaseMs: this.leaseMs,
    };
  }

  /**
   * Stops claiming, stops this replica's streams and gives their leases back (so others take them
   * over at once instead of after a lease period), then removes the heartbeat. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.clock.clearTimeout(this.roundTimer);
      this.watcher?.stop();
      await this.round.catch(() => undefined);
      for (const id of [...this.owned.keys()]) await this.release(id, 'shutdown');
      await this.cluster.delete(`replica.${this.replicaId}`).catch(() => undefined);
    })();
    return this.closing;
  }

  private log(line: string): void {
    this.o.log?.(`cluster[${this.replicaId}]: ${line}`);
  }

  private schedule(delayMs: number): void {
    if (this.closing) return;
    this.roundTimer = this.clock.setTimeout(() => {
      this.round = this.runRound()
        .catch((err: unknown) =>
          this.log(`round failed: ${err instanceof Error ? err.message : String(err)}`),
        )
        .finally(() => this.schedule(this.scanMs));
      return this.round;
    }, delayMs);
  }

  private async watchDefinitions(): Promise<void> {
    const it = await this.desired.watch({ include: KvWatchInclude.UpdatesOnly });
    this.watcher = it;
    void (async () => {
      for await (const e of it) if (this.owned.has(e.key)) this.changed.add(e.key);
    })().catch(() => undefined);
  }

  private async heartbeat(): Promise<void> {
    await this.cluster.put(
      `replica.${this.replicaId}`,
      JSON.stringify({
        replica: this.replicaId,
        owned: this.owned.size,
        at: new Date(this.clock.now()).toISOString(),
      }),
    );
  }

  private async keys(kv: KV, filter?: string): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await kv.keys(filter)) out.push(k);
    return out;
  }

  private armDeadline(entry: Owned): void {
    this.clock.clearTimeout(entry.deadline);
    const wait = entry.sentAt + this.leaseMs - this.safetyMs - this.clock.now();
    entry.deadline = this.clock.setTimeout(
      () => {
        if (this.owned.get(entry.id) !== entry) return;
        this.log(`lease on ${entry.id} not renewed in time: stopping it`);
        return this.release(entry.id, 'lease_expired', { keepLease: true });
      },
      Math.max(0, wait),
    );
  }

  private async renew(entry: Owned): Promise<void> {
    const sentAt = this.clock.now();
    try {
      const revision = await this.cluster.update(
        `lease.${entry.id}`,
        JSON.stringify({ replica: this.replicaId, renewedAt: new Date(sentAt).toISOString() }),
        entry.revision,
      );
      if (this.owned.get(entry.id) !== entry) return;
      entry.revision = revision;
      entry.sentAt = sentAt;
      this.armDeadline(entry);
      this.metrics?.renewals.inc({ result: 'ok' });
    } catch (err) {
      this.metrics?.renewals.inc({ result: 'failed' });
      if (this.owned.get(entry.id) !== entry) return;
      if (isRevisionMismatch(err)) {
        this.log(`lease on ${entry.id} was lost: stopping it`);
        await this.release(entry.id, 'lease_lost', { keepLease: true });
      }
      // Anything else (NATS unreachable, timeout): the deadline stops the stream if this persists.
    }
  }

  private async runRound(): Promise<void> {
    // Rounds run twice per renew interval (a freed stream is claimed sooner); leases and the
    // heartbeat are written once per renew interval.
    const renewing = this.roundNo++ % 2 === 0;
    if (renewing) {
      await this.heartbeat().catch(() => undefined);
      await Promise.all([...this.owned.values()].map((e) => this.renew(e)));
    }
    if (this.closing) return;

    const [replicaKeys, leaseKeys, desiredIds] = await Promise.all([
      this.keys(this.cluster, 'replica.*'),
      this.keys(this.cluster, 'lease.*'),
      this.keys(this.desired),
    ]);
    const replicas = replicaKeys.map((k) => k.slice('replica.'.length));
    const leased = new Set(leaseKeys.map((k) => k.slice('lease.'.length)));
    const plan = planRound({
      self: this.replicaId,
      desired: desiredIds,
      leased,
      owned: new Set(this.owned.keys()),
      replicas,
    });
    this.view = {
      liveReplicas: new Set([...replicas, this.replicaId]).size,
      desired: desiredIds.length,
      share: plan.share,
    };

    for (const id of plan.removed) await this.release(id, 'removed');
    for (const id of plan.rebalance) await this.release(id, 'rebalance');
    // Claim up to the share; a stream lost to a faster replica makes room for the next candidate.
    let won = 0;
    for (const id of plan.candidates) {
      if (this.closing || won >= plan.room) break;
      if (await this.claim(id)) won++;
    }
    await this.applyDefinitionChanges();
    await this.releaseMissing();
  }

  /** True when this replica won the lease (even if the host then failed to attach). */
  private async claim(id: string): Promise<boolean> {
    const entry = await this.desired.get(id);
    if (!entry || entry.operation !== 'PUT') return false;
    let def: StreamDefinition;
    try {
      def = parseDefinition(id, entry.value);
    } catch (err) {
      this.log(`skipping desired stream ${id}: ${(err as Error).message}`);
      return false;
    }
    const sentAt = this.clock.now();
    let revision: number;
    try {
      revision = await this.cluster.create(
        `lease.${id}`,
        JSON.stringify({ replica: this.replicaId, since: new Date(sentAt).toISOString() }),
      );
    } catch {
      this.metrics?.claims.inc({ result: 'lost' });
      return false;
    }
    this.metrics?.claims.inc({ result: 'won' });
    const owned: Owned = { id, revision, defRevision: entry.revision, sentAt, deadline: undefined };
    this.owned.set(id, owned);
    this.armDeadline(owned);
    try {
      await this.o.host.attach(def);
      this.log(`claimed ${id}`);
    } catch (err) {
      this.log(`cannot attach ${id}: ${err instanceof Error ? err.message : String(err)}`);
      await this.release(id, 'attach_failed', { skipDetach: true });
    }
    return true;
  }

  private async applyDefinitionChanges(): Promise<void> {
    for (const id of [...this.changed]) {
      this.changed.delete(id);
      const owned = this.owned.get(id);
      if (!owned) continue;
      const entry = await this.desired.get(id);
      if (!entry || entry.operation !== 'PUT' || entry.revision === owned.defRevision) continue;
      try {
        const def = parseDefinition(id, entry.value);
        await this.o.host.detach(id);
        owned.defRevision = entry.revision;
        await this.o.host.attach(def);
        this.log(`restarted ${id} with its new definition`);
      } catch (err) {
        this.log(`cannot restart ${id}: ${err instanceof Error ? err.message : String(err)}`);
        await this.release(id, 'attach_failed', { skipDetach: true });
      }
    }
  }

  /**
   * A stream the host no longer runs (detached behind our back) or gave up on (failed, ended) is
   * handed back to the cluster: the next round claims it again, here or on another replica.
   */
  private async releaseMissing(): Promise<void> {
    if (this.owned.size === 0) return;
    const hosted = new Map<string, string | undefined>();
    for (const s of await this.o.host.list()) hosted.set(s.id, s.state);
    for (const id of [...this.owned.keys()]) {
      if (!hosted.has(id)) await this.release(id, 'stream_ended', { skipDetach: true });
      else if (ENDED_STATES.has(hosted.get(id) ?? '')) await this.release(id, 'stream_ended');
    }
  }

  private async release(
    id: string,
    reason: ReleaseReason,
    opts: { keepLease?: boolean; skipDetach?: boolean } = {},
  ): Promise<void> {
    const entry = this.owned.get(id);
    if (!entry) return;
    this.owned.delete(id);
    this.clock.clearTimeout(entry.deadline);
    this.metrics?.releases.inc({ reason });
    if (!opts.skipDetach) {
      try {
        await this.o.host.detach(id);
      } catch (err) {
        this.log(`detach ${id} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.log(`released ${id} (${reason})`);
    // Only after the stream stopped: delete the lease if it is still ours (revision check).
    if (!opts.keepLease) {
      await this.cluster.delete(`lease.${id}`, { previousSeq: entry.revision }).catch(() => undefined);
    }
  }
}

function defineMetrics(
  registry: Registry,
  owned: () => number,
  view: () => { liveReplicas: number; desired: number; share: number },
) {
  const registers = [registry];
  const existing = registry.getSingleMetric('vigil_cluster_owned_streams');
  if (existing)
    throw new VigilError('VIGIL_ERR_CONFIG', 'cluster: metrics already registered on this registry');
  new Gauge({
    name: 'vigil_cluster_owned_streams',
    help: 'Streams this replica holds a lease on',
    registers,
    collect() {
      this.set(owned());
    },
  });
  new Gauge({
    name: 'vigil_cluster_desired_streams',
    help: 'Streams in the desired-streams bucket (as of the last round)',
    registers,
    collect() {
      this.set(view().desired);
    },
  });
  new Gauge({
    name: 'vigil_cluster_live_replicas',
    help: 'Replicas with a live heartbeat (as of the last round), this one included',
    registers,
    collect() {
      this.set(view().liveReplicas);
    },
  });
  new Gauge({
    name: 'vigil_cluster_fair_share',
    help: 'Most streams this replica takes: ceil(desired / live replicas)',
    registers,
    collect() {
      this.set(view().share);
    },
  });
  const claims = new Counter({
    name: 'vigil_cluster_claims_total',
    help: 'Lease claims by result (won, or lost to another replica)',
    labelNames: ['result'] as const,
    registers,
  });
  const releases = new Counter({
    name: 'vigil_cluster_releases_total',
    help: 'Streams this replica stopped and gave up, by reason',
    labelNames: ['reason'] as const,
    registers,
  });
  const renewals = new Counter({
    name: 'vigil_cluster_lease_renewals_total',
    help: 'Lease renewals by result',
    labelNames: ['result'] as const,
    registers,
  });
  for (const result of ['won', 'lost']) claims.inc({ result }, 0);
  for (const reason of [
    'removed',
    'rebalance',
    'lease_lost',
    'lease_expired',
    'attach_failed',
    'stream_ended',
    'shutdown',
  ])
    releases.inc({ reason }, 0);
  for (const result of ['ok', 'failed']) renewals.inc({ result }, 0);
  return { claims, releases, renewals };
}
