/**
 * Reconnect states from the ingest become stream states and `stream.down` / `stream.recovered`
 * events (published to the sink and pushed to listeners). The ingest here is a scripted frame
 * source (the real reconnecting StreamSource is tested in src/ingest's own tests).
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Frame, VigilEvent } from '../../src/core/contracts.js';
import { createManager, type IngestStatus } from '../../src/analyzer/manager.js';

describe('manager: stream.down / stream.recovered', () => {
  it('turns ingest transitions into states and events with the error and outage', async () => {
    const frames = new Subject<Frame>();
    const status = new Subject<IngestStatus>();
    const events: VigilEvent[] = [];
    const states: string[] = [];
    const manager = createManager({
      analyze: async () => {
        throw new Error('not reached: no frames');
      },
      sink: {
        summary: async () => undefined,
        event: async (e) => void events.push(e),
        status: async (_id, info) => void states.push(info.state),
      },
      frameSource: () => ({ frames, status }),
    });
    await manager.attach({ id: 'cam', url: 'test:ball' });
    status.next({ state: 'live' });
    status.next({
      state: 'down',
      error: { code: 'VIGIL_ERR_SOURCE_UNREACHABLE', message: 'source rtsp://***@cam: refused' },
    });
    expect(manager.status('cam').state).toBe('down');
    expect(manager.status('cam').error?.code).toBe('VIGIL_ERR_SOURCE_UNREACHABLE');
    status.next({ state: 'recovered', outageMs: 1234 });
    expect(manager.status('cam').state).toBe('recovered');
    expect(events.map((e) => e.type)).toEqual(['stream.down', 'stream.recovered']);
    expect(events[0]).toMatchObject({ severity: 'warning', data: { code: 'VIGIL_ERR_SOURCE_UNREACHABLE' } });
    expect(events[1]).toMatchObject({ severity: 'info', data: { outageMs: 1234 } });
    expect(events[0]!.id).not.toBe(events[1]!.id);
    expect(states).toEqual(['connecting', 'live', 'down', 'recovered']);
    frames.complete();
    expect(manager.status('cam').state).toBe('completed');
    await manager.close();
  });
});
