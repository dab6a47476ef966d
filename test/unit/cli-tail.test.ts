import { describe, expect, it } from 'vitest';
import { formatMessage, tailSubjects } from '../../src/cli/tail.js';
import { envelope } from '../../src/publish/cloudevents.js';
import { sampleEvent, sampleSummary } from '../helpers/messages.js';

describe('vigil tail', () => {
  it('builds subjects from the stream and type filters', () => {
    expect(tailSubjects(undefined, [])).toEqual([
      'vigil.*.event.>',
      'vigil.*.summary.>',
      'vigil.*.status',
      'vigil.*.caption',
      'vigil.*.transcript',
    ]);
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

  it('captions and transcripts: stream time, the text on one line (no terminal control), the model', () => {
    const c = {
      id: 'door:c:1',
      streamId: 'door',
      keyframeId: 'door:r1:7',
      ptsNs: 65e9,
      timeMs: 0,
      text: 'A man opens the door.\n\u001b[2Jrm -rf',
      model: 'qwen-vl',
      latencyMs: 120,
      why: 'shot-start',
    };
    expect(formatMessage('vigil.door.caption', envelope('caption', 'door', c.id, 0, c) as never)).toBe(
      'door [caption 01:05] A man opens the door. [2Jrm -rf (qwen-vl, keyframe door:r1:7)',
    );
    const t = {
      id: 'door:t:1',
      streamId: 'door',
      startPtsNs: 2.04e9,
      endPtsNs: 3.96e9,
      timeMs: 0,
      text: ' Please close the door. ',
      language: 'en',
      model: 'whisper-1',
      latencyMs: 300,
    };
    expect(formatMessage('vigil.door.transcript', envelope('transcript', 'door', t.id, 0, t) as never)).toBe(
      'door [transcript 2.0s–4.0s en] Please close the door. (whisper-1)',
    );
  });
});
