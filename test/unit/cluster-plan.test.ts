import { describe, expect, it } from 'vitest';
import { fairShare, planRound, preferenceRank, rendezvousScore } from '../../src/cluster/index.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => `cam-${i}`);

describe('cluster planning (pure)', () => {
  it('fair share is ceil(desired / replicas), never below one replica', () => {
    expect(fairShare(6, 3)).toBe(2);
    expect(fairShare(7, 3)).toBe(3);
    expect(fairShare(6, 2)).toBe(3);
    expect(fairShare(0, 3)).toBe(0);
    expect(fairShare(5, 0)).toBe(5);
  });

  it('rendezvous ranks give every stream exactly one first choice and spread them', () => {
    const replicas = ['r-a', 'r-b', 'r-c'];
    const firsts = new Map<string, number>();
    for (const s of ids(300)) {
      const first = replicas.filter((r) => preferenceRank(r, s, replicas) === 0);
      expect(first).toHaveLength(1);
      firsts.set(first[0]!, (firsts.get(first[0]!) ?? 0) + 1);
      expect(new Set(replicas.map((r) => preferenceRank(r, s, replicas)))).toEqual(new Set([0, 1, 2]));
    }
    for (const r of replicas) expect(firsts.get(r)!).toBeGreaterThan(60);
    expect(rendezvousScore('r-a', 'cam-1')).toBe(rendezvousScore('r-a', 'cam-1'));
  });

  it('claims unleased streams up to the share, preferred first', () => {
    const replicas = ['r-a', 'r-b', 'r-c'];
    const plan = planRound({ self: 'r-a', desired: ids(6), leased: new Set(), owned: new Set(), replicas });
    expect(plan.share).toBe(2);
    expect(plan.claim).toHaveLength(2);
    // Everything it claims ranks it at least as high as anything it leaves.
    const rank = (s: string) => preferenceRank('r-a', s, replicas);
    const left = ids(6).filter((s) => !plan.claim.includes(s));
    expect(Math.max(...plan.claim.map(rank))).toBeLessThanOrEqual(Math.min(...left.map(rank)));
    expect(plan.removed).toEqual([]);
    expect(plan.rebalance).toEqual([]);
  });

  it('never claims what is leased or already owned; claims nothing at its share', () => {
    const all = ids(6);
    const plan = planRound({
      self: 'r-a',
      desired: all,
      leased: new Set(all.slice(0, 5)),
      owned: new Set(['cam-0']),
      replicas: ['r-a', 'r-b', 'r-c'],
    });
    expect(plan.claim).toEqual(['cam-5']);
    const full = planRound({
      self: 'r-a',
      desired: all,
      leased: new Set(['cam-0', 'cam-1']),
      owned: new Set(['cam-0', 'cam-1']),
      replicas: ['r-a', 'r-b', 'r-c'],
    });
    expect(full.claim).toEqual([]);
  });

  it('counts itself even before its heartbeat is visible', () => {
    const plan = planRound({
      self: 'r-a',
      desired: ids(4),
      leased: new Set(),
      owned: new Set(),
      replicas: ['r-b'],
    });
    expect(plan.share).toBe(2);
  });

  it('takes over a dead replica’s streams: the share grows when the replica count falls', () => {
    const all = ids(6);
    // r-c died: its heartbeat and its leases (cam-4, cam-5) expired.
    const plan = planRound({
      self: 'r-a',
      desired: all,
      leased: new Set(['cam-0', 'cam-1', 'cam-2', 'cam-3']),
      owned: new Set(['cam-0', 'cam-1']),
      replicas: ['r-a', 'r-b'],
    });
    expect(plan.share).toBe(3);
    expect(plan.claim).toHaveLength(1);
    expect(['cam-4', 'cam-5']).toContain(plan.claim[0]);
  });

  it('releases removed streams at once and one surplus stream per round when above the share', () => {
    const owned = new Set(['cam-0', 'cam-1', 'cam-2', 'cam-3', 'gone']);
    const plan = planRound({
      self: 'r-a',
      desired: ids(6),
      leased: new Set([...owned]),
      owned,
      replicas: ['r-a', 'r-b', 'r-c'],
    });
    expect(plan.removed).toEqual(['gone']);
    expect(plan.rebalance).toHaveLength(1);
    // The one it gives up is the one it ranks worst among those it keeps.
    const worst = ['cam-0', 'cam-1', 'cam-2', 'cam-3'].reduce((a, b) =>
      preferenceRank('r-a', b, ['r-a', 'r-b', 'r-c']) > preferenceRank('r-a', a, ['r-a', 'r-b', 'r-c'])
        ? b
        : a,
    );
    expect(preferenceRank('r-a', plan.rebalance[0]!, ['r-a', 'r-b', 'r-c'])).toBe(
      preferenceRank('r-a', worst, ['r-a', 'r-b', 'r-c']),
    );
    expect(plan.claim).toEqual([]);
  });
});
