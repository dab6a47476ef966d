/**
 * Pure planning for stream ownership (no I/O): given what one replica sees in the KV buckets, which
 * streams should it try to claim and which should it let go? The coordinator applies the plan
 * with compare-and-set writes, so two replicas acting on stale views cannot both win a stream.
 */

/** Streams each live replica should run at most: ceil(desired / replicas). */
export function fairShare(desired: number, replicas: number): number {
  if (desired <= 0) return 0;
  return Math.ceil(desired / Math.max(1, replicas));
}

/** FNV-1a 32-bit; stable across processes and machines. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // A final avalanche so that ids differing in their last character spread well.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return h >>> 0;
}

/** Rendezvous (highest random weight) score of a replica for a stream. */
export function rendezvousScore(replica: string, stream: string): number {
  return fnv1a(`${replica}\u0000${stream}`);
}

/** 0 when `self` is the stream's first choice among `replicas`, 1 when second, … */
export function preferenceRank(self: string, stream: string, replicas: readonly string[]): number {
  const mine = rendezvousScore(self, stream);
  let rank = 0;
  for (const r of replicas) {
    if (r === self) continue;
    const other = rendezvousScore(r, stream);
    if (other > mine || (other === mine && r < self)) rank++;
  }
  return rank;
}

export interface PlanInput {
  self: string;
  /** Stream ids in the desired-streams bucket. */
  desired: readonly string[];
  /** Stream ids with a live lease (any owner, self included). */
  leased: ReadonlySet<string>;
  /** Stream ids this replica holds a lease on. */
  owned: ReadonlySet<string>;
  /** Live replica ids (from their heartbeat keys); self is counted even if its key is missing. */
  replicas: readonly string[];
  /** Streams released for rebalancing per round (default 1: converge without thrashing). */
  maxReleasesPerRound?: number;
}

export interface Plan {
  share: number;
  /** Streams to claim now, best first: the first `share − kept` of `candidates`. */
  claim: string[];
  /** Every unleased desired stream, best first: when a claim is lost to another replica, the next. */
  candidates: string[];
  /** How many more streams this replica should take (share − streams it keeps). */
  room: number;
  /** Owned streams no longer desired: stop and release now. */
  removed: string[];
  /** Owned streams above the fair share: stop and release so a less loaded replica can claim them. */
  rebalance: string[];
}

export function planRound(input: PlanInput): Plan {
  const replicas = input.replicas.includes(input.self) ? input.replicas : [...input.replicas, input.self];
  const desired = new Set(input.desired);
  const share = fairShare(desired.size, replicas.length);
  const removed = [...input.owned].filter((id) => !desired.has(id)).sort();
  const keep = [...input.owned].filter((id) => desired.has(id));
  const rank = (id: string) => preferenceRank(input.self, id, replicas);
  const byPreference = (a: string, b: string) =>
    rank(a) - rank(b) || rendezvousScore(input.self, b) - rendezvousScore(input.self, a) || (a < b ? -1 : 1);
  let rebalance: string[] = [];
  if (keep.length > share) {
    // Give up the streams this replica is the worst choice for.
    const worstFirst = [...keep].sort(byPreference).reverse();
    rebalance = worstFirst.slice(0, Math.min(keep.length - share, input.maxReleasesPerRound ?? 1));
  }
  const room = Math.max(0, share - keep.length);
  const candidates =
    room === 0
      ? []
      : [...desired].filter((id) => !input.leased.has(id) && !input.owned.has(id)).sort(byPreference);
  return { share, claim: candidates.slice(0, room), candidates, room, removed, rebalance };
}
