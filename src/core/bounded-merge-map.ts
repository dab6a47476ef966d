/**
 * mergeMap with a bounded waiting queue and a named drop policy: at most `concurrency` projects
 * run at once, at most `maxQueue` items wait, and when the queue is full the OLDEST waiting item
 * is dropped (live video: the newest frame matters most) and reported through `onDrop`.
 */
import { Observable, from, type ObservableInput, type OperatorFunction, type Subscription } from 'rxjs';

export function boundedMergeMap<T, R>(
  project: (value: T) => ObservableInput<R>,
  options: { concurrency: number; maxQueue: number; onDrop?: (dropped: T) => void },
): OperatorFunction<T, R> {
  const { concurrency, maxQueue, onDrop } = options;
  if (!(concurrency >= 1) || !(maxQueue >= 0))
    throw new RangeError('concurrency must be >= 1 and maxQueue >= 0');
  return (source) =>
    new Observable<R>((subscriber) => {
      const queue: T[] = [];
      const inner = new Set<Subscription>();
      let active = 0;
      let sourceDone = false;

      const maybeComplete = () => {
        if (sourceDone && active === 0 && queue.length === 0) subscriber.complete();
      };
      const start = (value: T) => {
        active++;
        let finished = false;
        // Assigned once subscribe returns; a project that completes synchronously (of(x)) finishes first.
        const ref: { sub?: Subscription } = {};
        const done = () => {
          if (finished) return;
          finished = true;
          active--;
          if (ref.sub) inner.delete(ref.sub);
          const next = queue.shift();
          if (next !== undefined) start(next);
          else maybeComplete();
        };
        let input: ObservableInput<R>;
        try {
          input = project(value);
        } catch (err) {
          subscriber.error(err);
          return;
        }
        const sub = from(input).subscribe({
          next: (r) => subscriber.next(r),
          error: (err: unknown) => subscriber.error(err),
          complete: done,
        });
        ref.sub = sub;
        if (!finished) inner.add(sub);
      };

      const outer = source.subscribe({
        next: (value) => {
          if (active < concurrency) return start(value);
          queue.push(value);
          if (queue.length > maxQueue) {
            const dropped = queue.shift() as T;
            onDrop?.(dropped);
          }
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => {
          sourceDone = true;
          maybeComplete();
        },
      });
      return () => {
        outer.unsubscribe();
        for (const s of inner) s.unsubscribe();
        inner.clear();
        queue.length = 0;
      };
    });
}
