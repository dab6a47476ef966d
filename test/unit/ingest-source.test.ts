import { describe, expect, it } from 'vitest';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSource, redact } from '../../src/ingest/source.js';
import { describePipeline, FRAME_CAPS, MAX_FRAME_SIDE, sourceProperties } from '../../src/ingest/describe.js';
import { DEFAULT_INGEST_OPTIONS, mapBusError } from '../../src/ingest/frames.js';
import { SourceError } from '../../src/core/errors.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SourceError);
    return (err as SourceError).code;
  }
  return undefined;
}

describe('parseSource', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-src-'));
  const clip = join(dir, 'clip.mp4');
  writeFileSync(clip, 'not really a video');

  it('accepts a file path and a file: URL', () => {
    expect(parseSource(clip)).toMatchObject({ kind: 'file', location: clip });
    expect(parseSource(`file://${clip}`)).toMatchObject({ kind: 'file', location: clip });
  });

  it('rejects a missing file, an empty file and a directory with NOT_FOUND / DECODE', () => {
    expect(codeOf(() => parseSource(join(dir, 'missing.mp4')))).toBe('VIGIL_ERR_SOURCE_NOT_FOUND');
    expect(codeOf(() => parseSource(dir))).toBe('VIGIL_ERR_SOURCE_NOT_FOUND');
    const empty = join(dir, 'empty.mp4');
    writeFileSync(empty, '');
    expect(codeOf(() => parseSource(empty))).toBe('VIGIL_ERR_SOURCE_DECODE');
  });

  it('rejects unknown schemes, naming the scheme', () => {
    expect(codeOf(() => parseSource('gopher://camera/1'))).toBe('VIGIL_ERR_SOURCE_SCHEME');
    expect(() => parseSource('gopher://camera/1')).toThrow(/gopher/);
  });

  it('splits RTSP credentials out of the location and redacts them for display', () => {
    const spec = parseSource('rtsp://admin:s3cret@10.0.0.5:554/stream1');
    expect(spec.kind).toBe('rtsp');
    expect(spec.location).toBe('rtsp://10.0.0.5:554/stream1');
    expect(spec.user).toBe('admin');
    expect(spec.password).toBe('s3cret');
    expect(spec.display).not.toContain('s3cret');
    expect(spec.display).toBe('rtsp://admin:***@10.0.0.5:554/stream1');
  });

  it('never echoes a password in an error message', () => {
    try {
      parseSource('rtsp://admin:s3cret@bad host/');
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('s3cret');
      expect((err as SourceError).source).not.toContain('s3cret');
    }
  });

  it('rejects control characters and bad test patterns', () => {
    expect(codeOf(() => parseSource('rtsp://h/a\nb'))).toBe('VIGIL_ERR_SOURCE_URL');
    expect(codeOf(() => parseSource('test:ball ! filesink location=x'))).toBe('VIGIL_ERR_SOURCE_URL');
  });

  it('redacts user:password and bare tokens', () => {
    expect(redact('rtsp://u:p@h/x')).toBe('rtsp://u:***@h/x');
    expect(redact('https://token@h/x')).toBe('https://token:***@h/x');
    expect(redact('/plain/path.mp4')).toBe('/plain/path.mp4');
  });
});

describe('describePipeline', () => {
  it('keeps user input out of the pipeline description', () => {
    const hostile = 'rtsp://u:pw@h/a ! filesink location=pwned.bin';
    const spec = parseSource(hostile);
    const desc = describePipeline(spec, DEFAULT_INGEST_OPTIONS);
    expect(desc).not.toContain('pwned');
    expect(desc).not.toContain('pw@');
    expect(sourceProperties(spec).location).toContain('pwned.bin');
    expect(sourceProperties(spec)['user-pw']).toBe('pw');
  });

  it('syncs file playback to the clock only in live mode', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-desc-'));
    const f = join(dir, 'a.avi');
    writeFileSync(f, 'x');
    const spec = parseSource(f);
    expect(describePipeline(spec, { ...DEFAULT_INGEST_OPTIONS, live: true })).toContain('sync=true');
    expect(describePipeline(spec, { ...DEFAULT_INGEST_OPTIONS, live: false })).not.toContain('sync=true');
  });

  it('delivers the decoded frames unscaled up to the size bound, through a bounded queue only in fast mode', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-desc-'));
    const f = join(dir, 'a.avi');
    writeFileSync(f, 'x');
    const spec = parseSource(f);
    const fast = describePipeline(spec, { ...DEFAULT_INGEST_OPTIONS, live: false });
    const live = [
      describePipeline(spec, { ...DEFAULT_INGEST_OPTIONS, live: true }),
      describePipeline(parseSource('rtsp://h/a'), DEFAULT_INGEST_OPTIONS),
    ];
    expect(fast).toContain(
      `decodebin name=dec dec. ! video/x-raw ! queue max-size-buffers=4 max-size-bytes=0 max-size-time=0 ! ${FRAME_CAPS} ! appsink name=frames`,
    );
    for (const d of live) {
      expect(d).toContain(`! video/x-raw ! ${FRAME_CAPS} ! appsink name=frames`);
      expect(d).not.toContain('! queue');
    }
    for (const d of [fast, ...live]) expect(d).not.toContain(`width=${DEFAULT_INGEST_OPTIONS.modelWidth}`);
    expect(FRAME_CAPS).toContain(`width=[1,${MAX_FRAME_SIDE}],height=[1,${MAX_FRAME_SIDE}]`);
  });
});

describe('mapBusError', () => {
  const spec = parseSource('rtsp://admin:s3cret@127.0.0.1:9/x');
  it('maps GStreamer messages to stable codes without the password', () => {
    const auth = mapBusError(spec, { type: 'error', message: 'Unauthorized' });
    expect(auth.code).toBe('VIGIL_ERR_SOURCE_AUTH');
    expect(auth.message).not.toContain('s3cret');
    expect(
      mapBusError(spec, { type: 'error', message: 'Could not open resource for reading and writing.' }).code,
    ).toBe('VIGIL_ERR_SOURCE_UNREACHABLE');
    expect(mapBusError(spec, { type: 'error', message: 'Could not determine type of stream.' }).code).toBe(
      'VIGIL_ERR_SOURCE_DECODE',
    );
    // A camera gone mid-stream over UDP: rtspsrc fails a read or write on its connection.
    for (const message of ['Could not write to resource.', 'Could not read from resource.']) {
      expect(mapBusError(spec, { type: 'error', message }).code, message).toBe(
        'VIGIL_ERR_SOURCE_UNREACHABLE',
      );
    }
    const file = parseSource('test:ball');
    expect(mapBusError(file, { type: 'error', message: 'Could not write to resource.' }).code).toBe(
      'VIGIL_ERR_SOURCE_PIPELINE',
    );
  });
});

describe('issue 22 #14: a 0-byte .m3u8 gave the generic VIGIL_ERR_SOURCE_PIPELINE', () => {
  it('an empty or unparsable HLS playlist is VIGIL_ERR_SOURCE_PLAYLIST; other empty HTTP content is DECODE', () => {
    const hls = parseSource('http://127.0.0.1:9/live/empty.m3u8');
    for (const m of [
      { type: 'error', message: "Stream doesn't contain enough data.", _src_element_name: 'typefind' },
      { type: 'error', message: 'Could not determine type of stream.' },
      { type: 'error', message: 'Failed to parse playlist', _src_element_name: 'hlsdemux0' },
    ]) {
      const err = mapBusError(hls, m);
      expect(err.code, m.message).toBe('VIGIL_ERR_SOURCE_PLAYLIST');
      expect(err.message).toMatch(/not a usable HLS playlist/);
    }
    const mp4 = parseSource('http://127.0.0.1:9/clip.mp4');
    expect(mapBusError(mp4, { type: 'error', message: "Stream doesn't contain enough data." }).code).toBe(
      'VIGIL_ERR_SOURCE_DECODE',
    );
  });

  it('a local 0-byte .m3u8 is VIGIL_ERR_SOURCE_PLAYLIST, a 0-byte video file DECODE', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-empty-'));
    try {
      writeFileSync(join(dir, 'empty.m3u8'), '');
      writeFileSync(join(dir, 'empty.mp4'), '');
      expect(codeOf(() => parseSource(join(dir, 'empty.m3u8')))).toBe('VIGIL_ERR_SOURCE_PLAYLIST');
      expect(codeOf(() => parseSource(join(dir, 'empty.mp4')))).toBe('VIGIL_ERR_SOURCE_DECODE');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
