/**
 * A clock a test moves by hand (for the cluster coordinator's rounds, renewals and lease
 * deadlines): time stands still until `advance`, which fires the timers that fall due in order and
 * awaits the work each one started before moving on. Nothing depends on how loaded the machine is.
 */
import type { CoordinatorClock } from '../../src/cluster/coordinator.js';

export class ManualClock implements CoordinatorClock {
  private t = 0;
  private seq = 0;
  /** Insertion order = the order timers were set: ties at the same instant fire in that order. */
  private readonly timers = new Map<number, { at: number; fn: () => unknown }>();

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => unknown, ms: number): number {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Timers waiting. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing each timer that falls due (earliest first) and awaiting its work. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (let fired = 0; ; fired++) {
      if (fired > 10_000) throw new Error('ManualClock: timers keep falling due (a zero-delay loop?)');
      let next: [number, { at: number; fn: () => unknown }] | undefined;
      for (const e of this.timers) if (e[1].at <= target && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      await next[1].fn();
    }
    this.t = target;
  }
}
