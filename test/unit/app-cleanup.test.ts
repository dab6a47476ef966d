/** The composition root's CleanupStack: reverse order, every teardown once, failures collected. */
import { describe, expect, it } from 'vitest';
import { CleanupStack } from '../../src/app/cleanup.js';

describe('CleanupStack', () => {
  it('runs teardowns last first, each awaited before the next, once however often close is called', async () => {
    const stack = new CleanupStack();
    const order: string[] = [];
    stack.push('nats-server', () => order.push('nats-server'));
    stack.push('inference server', async () => {
      await new Promise((r) => setTimeout(r, 20));
      order.push('inference server');
    });
    stack.push('publisher', () => order.push('publisher'));
    const [a, b] = await Promise.all([stack.close(), stack.close()]);
    expect(order).toEqual(['publisher', 'inference server', 'nats-server']);
    expect(a).toEqual([]);
    expect(b).toBe(a);
    await stack.close();
    expect(order).toHaveLength(3);
    expect(stack.closed).toBe(true);
  });

  it('a failing teardown does not stop the others; the failures are returned with their names', async () => {
    const stack = new CleanupStack();
    const order: string[] = [];
    stack.push('first', () => order.push('first'));
    stack.push('broken', () => {
      throw new Error('boom');
    });
    stack.push('rejecting', () => Promise.reject(new Error('no')));
    stack.push('last', () => order.push('last'));
    const failures = await stack.close();
    expect(order).toEqual(['last', 'first']);
    expect(failures.map((f) => f.name)).toEqual(['rejecting', 'broken']);
    expect((failures[1]!.error as Error).message).toBe('boom');
  });

  it('a teardown pushed after close started still runs (nothing started late is left behind)', async () => {
    const stack = new CleanupStack();
    let ran = false;
    const closing = stack.close();
    stack.push('late', () => {
      ran = true;
    });
    await closing;
    await new Promise((r) => setTimeout(r, 0));
    expect(ran).toBe(true);
  });
});
