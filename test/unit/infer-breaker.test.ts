import { describe, expect, it } from 'vitest';
import { CircuitBreaker, type BreakerState } from '../../src/infer/breaker.js';

describe('CircuitBreaker', () => {
  it('opens after N consecutive failures, fails fast, probes once half-open, closes on success', () => {
    let now = 0;
    const changes: [BreakerState, BreakerState][] = [];
    const b = new CircuitBreaker(
      { failureThreshold: 3, resetTimeoutMs: 100 },
      () => now,
      (f, t) => changes.push([f, t]),
    );
    expect(b.tryAcquire()).toBe(true);
    b.failure();
    b.success(); // a success resets the count
    for (let i = 0; i < 2; i++) {
      expect(b.tryAcquire()).toBe(true);
      b.failure();
    }
    expect(b.state).toBe('closed');
    expect(b.tryAcquire()).toBe(true);
    b.failure();
    expect(b.state).toBe('open');
    expect(b.tryAcquire()).toBe(false);
    now = 99;
    expect(b.tryAcquire()).toBe(false);
    now = 100;
    expect(b.state).toBe('half-open');
    expect(b.tryAcquire()).toBe(true); // the probe
    expect(b.tryAcquire()).toBe(false); // only one at a time
    b.failure(); // probe failed: open again for another timeout
    expect(b.state).toBe('open');
    now = 150;
    expect(b.tryAcquire()).toBe(false);
    now = 200;
    expect(b.tryAcquire()).toBe(true);
    b.success();
    expect(b.state).toBe('closed');
    expect(b.consecutiveFailures).toBe(0);
    expect(changes).toEqual([
      ['closed', 'open'],
      ['open', 'half-open'],
      ['half-open', 'open'],
      ['open', 'half-open'],
      ['half-open', 'closed'],
    ]);
  });

  it('a released probe lets the next call probe; a throwing listener is ignored; options are checked', () => {
    let now = 0;
    const b = new CircuitBreaker(
      { failureThreshold: 1, resetTimeoutMs: 10 },
      () => now,
      () => {
        throw new Error('listener');
      },
    );
    b.failure();
    now = 10;
    expect(b.tryAcquire()).toBe(true);
    b.release();
    expect(b.tryAcquire()).toBe(true);
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ resetTimeoutMs: -1 })).toThrow(RangeError);
  });
});
