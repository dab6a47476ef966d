import { describe, expect, it } from 'vitest';
import { ConfigError, SourceError } from '../../src/core/errors.js';
import { LatencySample } from '../../src/ingest/counters.js';
import { describePipeline, sourceProperties } from '../../src/ingest/describe.js';
import { DEFAULT_INGEST_OPTIONS, frameDurationNs, levelDb, mapBusError } from '../../src/ingest/frames.js';
import { decoderPreference, hardwareRankEnv } from '../../src/ingest/gst.js';
import { parseSource } from '../../src/ingest/source.js';
import { backoffDelayMs, DEFAULT_RECONNECT, StreamSource } from '../../src/ingest/stream-source.js';

describe('backoffDelayMs', () => {
  const o = { ...DEFAULT_RECONNECT, initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.2 };
  it('grows exponentially up to the cap', () => {
    const noJitter = () => 0;
    expect([1, 2, 3, 4, 5, 6, 20].map((a) => backoffDelayMs(a, o, noJitter))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000,
    ]);
  });
  it('jitter only shortens the delay, by at most the jitter fraction, never above the cap', () => {
    expect(backoffDelayMs(10, o, () => 0.999)).toBeGreaterThanOrEqual(800);
    expect(backoffDelayMs(10, o, () => 0.5)).toBe(900);
    for (let i = 0; i < 100; i++) expect(backoffDelayMs(10, o)).toBeLessThanOrEqual(1000);
  });
});

describe('StreamSource options', () => {
  const spec = parseSource('test:ball');
  it('rejects nonsense up front with a ConfigError', () => {
    const bad = (o: object) => () => new StreamSource(spec, { streamId: 's', ...o });
    expect(bad({ stallTimeoutMs: 0 })).toThrow(ConfigError);
    expect(bad({ reconnect: { maxDelayMs: 10, initialDelayMs: 100 } })).toThrow(/maxDelayMs/);
    expect(bad({ reconnect: { jitter: 2 } })).toThrow(/jitter/);
    expect(bad({ maxBuffers: 0 })).toThrow(/maxBuffers/);
  });
  it('close() before start is idempotent and completes status with closed', async () => {
    const s = new StreamSource(spec, { streamId: 's' });
    const states: string[] = [];
    s.status.subscribe((x) => states.push(x.state));
    await Promise.all([s.close(), s.close()]);
    await s[Symbol.asyncDispose]();
    expect(states).toEqual(['closed']);
  });
});

describe('source kinds', () => {
  it('v4l2: a device node, set as a property, never in the description (no device here: form only)', () => {
    const spec = parseSource('v4l2:///dev/video0');
    expect(spec).toMatchObject({ kind: 'v4l2', location: '/dev/video0' });
    expect(sourceProperties(spec)).toEqual({ device: '/dev/video0' });
    const desc = describePipeline(spec, DEFAULT_INGEST_OPTIONS);
    expect(desc).toContain('v4l2src name=src');
    expect(desc).not.toContain('/dev/video0');
    expect(desc).toContain('sync=false');
    expect(parseSource('v4l2:///dev/v4l/by-id/usb-cam_1-video-index0').kind).toBe('v4l2');
    for (const bad of ['v4l2:///etc/passwd', 'v4l2:///dev/video0 ! filesink', 'v4l2:///dev/../dev/video0']) {
      expect(() => parseSource(bad)).toThrow(SourceError);
    }
  });
  it('rtsps and HLS are recognised', () => {
    expect(parseSource('rtsps://cam/x')).toMatchObject({
      kind: 'rtsp',
      tls: true,
      location: 'rtsps://cam/x',
    });
    expect(parseSource('https://h/live/index.m3u8')).toMatchObject({ kind: 'http', hls: true });
    expect(parseSource('https://h/clip.mp4').hls).toBeUndefined();
  });
  it('test sources take a validated size and rate', () => {
    const spec = parseSource('test:ball?width=320&height=240&fps=15');
    expect(spec.test).toEqual({ width: 320, height: 240, fps: 15 });
    expect(describePipeline(spec, DEFAULT_INGEST_OPTIONS)).toContain('width=320,height=240,framerate=15/1');
    expect(() => parseSource('test:ball?width=99999')).toThrow(SourceError);
    expect(() => parseSource('test:ball?depth=3')).toThrow(/depth/);
    expect(() => parseSource('test:nosuchpattern')).toThrow(/pattern/);
  });
  it('RTSP transport and NTP stamps; audio branch only when asked', () => {
    const spec = parseSource('rtsp://u:pw@cam/x');
    const udp = describePipeline(spec, { ...DEFAULT_INGEST_OPTIONS, rtspTransport: 'udp', audio: true });
    expect(udp).toContain('protocols=udp');
    expect(udp).toContain('add-reference-timestamp-meta=true');
    expect(udp).toContain('application/x-rtp,media=audio');
    expect(udp).toContain('format=S16LE,rate=16000,channels=1');
    expect(udp).not.toContain('pw');
    expect(describePipeline(spec, DEFAULT_INGEST_OPTIONS)).not.toContain('name=audio');
  });
});

describe('helpers', () => {
  it('frameDurationNs parses caps frame rates', () => {
    expect(frameDurationNs('30/1')).toBeCloseTo(33_333_333.3, 0);
    expect(frameDurationNs('30000/1001')).toBeCloseTo(33_366_666.7, 0);
    expect(frameDurationNs('0/1')).toBe(0);
    expect(frameDurationNs(undefined)).toBe(0);
  });
  it('levelDb is the RMS in dBFS', () => {
    expect(levelDb(new Int16Array(512))).toBe(-Infinity);
    expect(levelDb(new Int16Array(512).fill(32767))).toBeCloseTo(0, 2);
    expect(levelDb(new Int16Array(512).fill(3277))).toBeCloseTo(-20, 1);
  });
  it('LatencySample keeps the latest values in bounded memory', () => {
    const s = new LatencySample(100);
    for (let i = 1; i <= 1000; i++) s.record(i);
    expect(s.count).toBe(100);
    expect(s.percentile(50)).toBe(950);
    expect(s.percentile(99)).toBe(999);
    expect(new LatencySample().percentile(50)).toBeNaN();
  });
  it('hardware decoders are ranked first; a user setting still wins', () => {
    expect(hardwareRankEnv(undefined)).toMatch(/^nvh264dec:MAX,.*vah264dec:MAX/);
    expect(hardwareRankEnv('avdec_h264:NONE')).toMatch(/,avdec_h264:NONE$/);
    // This machine has neither NVIDIA nor VA-API decoders: software decoding.
    expect(decoderPreference()).toEqual({ mode: 'software', hardware: [] });
  });
  it('maps HTTP 403 to AUTH and a missing device to UNREACHABLE', () => {
    const spec = parseSource('v4l2:///dev/video9');
    expect(mapBusError(spec, { type: 'error', message: 'Forbidden (403)' }).code).toBe(
      'VIGIL_ERR_SOURCE_AUTH',
    );
    expect(mapBusError(spec, { type: 'error', message: "Cannot identify device '/dev/video9'." }).code).toBe(
      'VIGIL_ERR_SOURCE_UNREACHABLE',
    );
  });
});
