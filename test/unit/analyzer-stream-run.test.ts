/**
 * A stream's lifecycle (StreamRun under the manager): stop() ends its subscriptions and resolves
 * only once its source is closed; detach and close await it; stopping twice is harmless; a
 * one-shot definition reaches the frame source. The source here is a scripted frame source (the
 * real StreamSource's close is tested with the ingest).
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Frame } from '../../src/core/contracts.js';
import { createManager, type FrameSourceOptions, type IngestStatus } from '../../src/analyzer/manager.js';

function scriptedSource() {
  const frames = new Subject<Frame>();
  const status = new Subject<IngestStatus>();
  let releaseClose!: () => void;
  const closed = new Promise<void>((r) => (releaseClose = r));
  const seen: FrameSourceOptions[] = [];
  let closeCalls = 0;
  return {
    frames,
    status,
    seen,
    releaseClose: () => releaseClose(),
    get closeCalls() {
      return closeCalls;
    },
    frameSource: (_spec: unknown, options: FrameSourceOptions) => {
      seen.push(options);
      return {
        frames,
        status,
        close: () => {
          closeCalls++;
          return closed;
        },
      };
    },
  };
}

const sink = { summary: async () => undefined, event: async () => undefined };
const analyze = async () => {
  throw new Error('not reached: no frames');
};

describe('StreamRun lifecycle', () => {
  it('detach resolves only after the source is closed, with state stopped; the subscriptions end at once', async () => {
    const src = scriptedSource();
    const manager = createManager({ analyze, sink, frameSource: src.frameSource });
    await manager.attach({ id: 'cam', url: 'test:ball', oneShot: true });
    expect(src.seen[0]!.oneShot).toBe(true);
    expect(src.frames.observed).toBe(true);
    let detached = false;
    const detaching = manager.detach('cam').then((info) => {
      detached = true;
      return info;
    });
    // The pipeline and status subscriptions are gone before the close finishes.
    expect(src.frames.observed).toBe(false);
    expect(src.status.observed).toBe(false);
    await new Promise((r) => setTimeout(r, 20));
    expect(detached).toBe(false);
    src.releaseClose();
    const info = await detaching;
    expect(info.state).toBe('stopped');
    expect(src.closeCalls).toBe(1);
    expect(() => manager.status('cam')).toThrow(/no stream named/);
    await manager.close();
    expect(src.closeCalls).toBe(1);
  });

  it('close awaits every stream and is idempotent; a definition without oneShot reconnects', async () => {
    const src = scriptedSource();
    const manager = createManager({ analyze, sink, frameSource: src.frameSource });
    await manager.attach({ id: 'cam', url: 'test:ball' });
    expect(src.seen[0]!.oneShot).toBeUndefined();
    let closed = false;
    const closing = manager.close().then(() => (closed = true));
    expect(manager.close()).toBe(manager.close());
    await new Promise((r) => setTimeout(r, 20));
    expect(closed).toBe(false);
    src.releaseClose();
    await closing;
    expect(closed).toBe(true);
    await expect(manager.attach({ id: 'x', url: 'test:ball' })).rejects.toThrow(/shutting down/);
  });

  it('oneShot must be a boolean', async () => {
    const manager = createManager({ analyze, sink, frameSource: scriptedSource().frameSource });
    await expect(
      manager.attach({ id: 'cam', url: 'test:ball', oneShot: 'yes' as unknown as boolean }),
    ).rejects.toThrow(/oneShot: expected true or false/);
    await manager.close();
  });
});
