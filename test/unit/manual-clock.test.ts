import { describe, expect, it } from 'vitest';
import { ManualClock } from '../helpers/manual-clock.js';

describe('ManualClock', () => {
  it('fires due timers in time order (ties in the order set), awaiting each one, and not the others', async () => {
    const clock = new ManualClock();
    const seen: string[] = [];
    clock.setTimeout(() => seen.push(`b@${clock.now()}`), 20);
    clock.setTimeout(async () => {
      await new Promise((r) => setTimeout(r, 10));
      seen.push(`a@${clock.now()}`);
    }, 10);
    clock.setTimeout(() => seen.push(`c@${clock.now()}`), 20);
    const late = clock.setTimeout(() => seen.push('late'), 31);
    await clock.advance(30);
    expect(seen).toEqual(['a@10', 'b@20', 'c@20']);
    expect(clock.now()).toBe(30);
    clock.clearTimeout(late);
    await clock.advance(100);
    expect(seen).toHaveLength(3);
  });

  it('fires a timer set by a firing timer when it falls due within the same advance', async () => {
    const clock = new ManualClock();
    const at: number[] = [];
    const tick = () => {
      at.push(clock.now());
      clock.setTimeout(tick, 25);
    };
    clock.setTimeout(tick, 25);
    await clock.advance(100);
    expect(at).toEqual([25, 50, 75, 100]);
    expect(clock.pending).toBe(1);
  });
});
