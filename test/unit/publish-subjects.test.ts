import { describe, expect, it } from 'vitest';
import { subjects } from '../../src/core/subjects.js';
import { validateStreamId } from '../../src/core/stream-id.js';
import { envelope } from '../../src/publish/cloudevents.js';
import { ConfigError } from '../../src/core/errors.js';

describe('subjects', () => {
  it('builds the documented subjects', () => {
    expect(subjects.summary('cam-1', 'window')).toBe('vigil.cam-1.summary.window');
    expect(subjects.event('cam_2', 'count.changed')).toBe('vigil.cam_2.event.count.changed');
    expect(subjects.status('a')).toBe('vigil.a.status');
  });

  it.each(['', 'a.b', 'a b', 'a*', 'a>', 'x'.repeat(65), 'ü'])('rejects the stream id %j', (id) => {
    expect(() => validateStreamId(id)).toThrow(ConfigError);
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
