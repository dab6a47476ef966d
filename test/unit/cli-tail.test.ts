import { describe, expect, it } from 'vitest';
import { formatMessage, tailSubjects } from '../../src/cli/tail.js';
import { envelope } from '../../src/publish/cloudevents.js';
import { sampleEvent, sampleSummary } from '../helpers/messages.js';

describe('vigil tail', () => {
  it('builds subjects from the stream and type filters', () => {
    expect(tailSubjects(undefined, [])).toEqual(['vigil.*.event.>', 'vigil.*.summary.>', 'vigil.*.status']);
    expect(tailSubjects('door', ['event', 'detections'])).toEqual([
      'vigil.door.event.>',
      'vigil.door.detections',
    ]);
    expect(() => tailSubjects('door', ['frames'])).toThrow(/--type frames: expected one of event, summary/);
    expect(() => tailSubjects('a.b', [])).toThrow(/NATS-safe/);
  });

  it('pretty-prints each kind on one line', () => {
    const e = sampleEvent('door', 3, 'door:7');
    const ce = envelope(
      'event',
      'door',
      e.id,
      e.timeMs,
      { ...e, evidence: { ...e.evidence, image: { bucket: 'b', name: 'door/door:7.jpg' } } },
      e.type,
    );
    expect(formatMessage('vigil.door.event.count.changed', ce as never)).toMatch(
      /^door \[event count\.changed 00:00\] label=person from=0 to=1 keyframe door:7, 1 box image b\/door\/door:7\.jpg$/,
    );
    const s = sampleSummary('door', 1);
    expect(
      formatMessage('vigil.door.summary.window', envelope('summary', 'door', s.id, 0, s, 'window') as never),
    ).toMatch(/^door \[summary window #1 00:01–00:02\] One person in view\. \(builds on door:window:0\)$/);
    const st = envelope(
      'status',
      'door',
      'x',
      0,
      { state: 'down', fps: 0, error: { code: 'VIGIL_ERR_SOURCE_UNREACHABLE', message: 'refused' } },
      'down',
    );
    expect(formatMessage('vigil.door.status', st as never)).toBe(
      'door [status] down 0.0 fps VIGIL_ERR_SOURCE_UNREACHABLE: refused',
    );
  });
});
