import { describe, expect, it } from 'vitest';
import { TestScheduler } from 'rxjs/testing';
import { delay, of } from 'rxjs';
import { boundedMergeMap } from '../../src/core/bounded-merge-map.js';

describe('boundedMergeMap', () => {
  it('runs at most `concurrency` at once and drops the oldest waiting item when the queue is full', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('abcde|');
      const dropped: string[] = [];
      const result = source.pipe(
        boundedMergeMap((v) => of(v.toUpperCase()).pipe(delay(10, scheduler)), {
          concurrency: 1,
          maxQueue: 2,
          onDrop: (v) => dropped.push(v),
        }),
      );
      // a runs 0-10; b, c queue; d arrives with the queue full, b is dropped; e drops c.
      expectObservable(result).toBe('----------A 9ms D 9ms (E|)');
      expectSubscriptions(source.subscriptions).toBe('^----!');
      scheduler.flush();
      expect(dropped).toEqual(['b', 'c']);
    });
  });

  it('unsubscribes running inner work on teardown', () => {
    const scheduler = new TestScheduler((a, b) => expect(a).toEqual(b));
    scheduler.run(({ cold, hot, expectObservable, expectSubscriptions }) => {
      const inner = cold('-----x|');
      const source = hot('a---');
      expectObservable(
        source.pipe(boundedMergeMap(() => inner, { concurrency: 2, maxQueue: 1 })),
        '^--!',
      ).toBe('----');
      expectSubscriptions(inner.subscriptions).toBe('^--!');
    });
  });

  it('rejects a zero concurrency', () => {
    expect(() => boundedMergeMap(() => of(1), { concurrency: 0, maxQueue: 1 })).toThrow(RangeError);
  });
});
