import { describe, expect, it } from 'vitest';
import {
  CONTROL_SUBSCRIPTION,
  controlSubject,
  durableSubjects,
  parseSubject,
  SUBJECT_KINDS,
  subjects,
  subscription,
} from '../../src/core/subjects.js';
import { kindOfSubject } from '../../src/publish/schemas.js';
import { validateStreamId } from '../../src/core/stream-id.js';
import { envelope } from '../../src/publish/cloudevents.js';
import { ConfigError } from '../../src/core/errors.js';

describe('subjects', () => {
  it('builds the documented subjects', () => {
    expect(subjects.summary('cam-1', 'window')).toBe('vigil.cam-1.summary.window');
    expect(subjects.event('cam_2', 'count.changed')).toBe('vigil.cam_2.event.count.changed');
    expect(subjects.status('a')).toBe('vigil.a.status');
  });

  it.each(['', 'a.b', 'a b', 'a*', 'a>', 'x'.repeat(65), 'ü', 'ctl'])('rejects the stream id %j', (id) => {
    expect(() => validateStreamId(id)).toThrow(ConfigError);
  });

  it('builds the subjects of later stages: object, shot, caption, transcript', () => {
    expect(subjects.object('door')).toBe('vigil.door.object');
    expect(subjects.shot('door')).toBe('vigil.door.shot');
    expect(subjects.caption('door')).toBe('vigil.door.caption');
    expect(subjects.transcript('door')).toBe('vigil.door.transcript');
    expect(subjects.keyframe('door')).toBe('vigil.door.keyframe');
    expect(subjects.detections('door')).toBe('vigil.door.detections');
    expect(() => subjects.object('a.b')).toThrow(ConfigError);
    expect(() => subjects.event('door', 'Bad Type')).toThrow(ConfigError);
  });

  it('writes subscription patterns with the same grammar, and reads every subject back', () => {
    expect(subscription('event')).toBe('vigil.*.event.>');
    expect(subscription('summary', 'door')).toBe('vigil.door.summary.>');
    expect(subscription('status', 'door')).toBe('vigil.door.status');
    expect(() => subscription('status', '>')).toThrow(ConfigError);
    expect(durableSubjects()).toEqual([
      'vigil.*.event.>',
      'vigil.*.summary.>',
      'vigil.*.caption',
      'vigil.*.transcript',
    ]);
    expect(controlSubject('attach')).toBe('vigil.ctl.attach');
    expect(CONTROL_SUBSCRIPTION).toBe('vigil.ctl.>');
    for (const kind of SUBJECT_KINDS) {
      const s =
        kind === 'event' || kind === 'summary' ? subjects[kind]('door', 'a.b') : subjects[kind]('door');
      expect(parseSubject(s), s).toEqual(
        kind === 'event' || kind === 'summary'
          ? { stream: 'door', kind, suffix: 'a.b' }
          : { stream: 'door', kind },
      );
    }
    expect(parseSubject('vigil.ctl.attach')).toBeNull();
    expect(parseSubject('vigil.door.event')).toBeNull();
    expect(parseSubject('vigil.door.status.x')).toBeNull();
    expect(parseSubject('other.door.status')).toBeNull();
    expect(kindOfSubject('vigil.door.summary.window')).toBe('summary');
    expect(kindOfSubject('vigil.door.object')).toBe('object'); // published, with schemas/object.schema.json
  });
});

describe('envelope', () => {
  it('is a CloudEvents 1.0 envelope', () => {
    const ce = envelope('event', 'cam', 'cam:count.changed:1', 0, { x: 1 }, 'count.changed');
    expect(ce).toMatchObject({
      specversion: '1.0',
      id: 'cam:count.changed:1',
      source: '/vigil/streams/cam',
      type: 'io.vigil.event.count.changed',
      time: '1970-01-01T00:00:00.000Z',
      datacontenttype: 'application/json',
      data: { x: 1 },
    });
  });
});
