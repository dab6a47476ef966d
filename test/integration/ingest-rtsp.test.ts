/**
 * StreamSource against a real RTSP server (Debian's gst-rtsp-server, test/fixtures/rtsp_server.py):
 * kill/restart over TCP and UDP, a hung server (SIGSTOP), credentials, unreachable hosts, an
 * unsupported codec, eight streams at once beside a failing one, and injection attempts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import type { Frame } from '../../src/core/contracts.js';
import { parseSource } from '../../src/ingest/source.js';
import {
  openStream,
  type StreamSource,
  type StreamSourceOptions,
  type StreamStatus,
} from '../../src/ingest/stream-source.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.js';

const CAP_MS = 1000;
const FAST: Partial<StreamSourceOptions> = {
  analysisWidth: 80,
  modelWidth: 160,
  stallTimeoutMs: 2000,
  firstFrameTimeoutMs: 4000,
  watchdogIntervalMs: 100,
  reconnect: {
    initialDelayMs: 100,
    maxDelayMs: CAP_MS,
    factor: 2,
    jitter: 0.2,
    maxAttempts: Infinity,
    resetAfterMs: 10_000,
  },
};

const servers: RtspServer[] = [];
const sources: StreamSource[] = [];
afterAll(async () => {
  await Promise.all(sources.map((s) => s.close()));
  await Promise.all(servers.map((s) => s.stop()));
});

async function server(o: Parameters<typeof startRtspServer>[0] = {}) {
  const s = await startRtspServer(o);
  servers.push(s);
  return s;
}

function watch(url: string, o: Partial<StreamSourceOptions> & { streamId: string }) {
  const source = openStream(parseSource(url), { ...FAST, ...o });
  sources.push(source);
  const frames: Frame[] = [];
  const statuses: StreamStatus[] = [];
  source.frames.subscribe({ next: (f) => frames.length < 10_000 && frames.push(f), error: () => {} });
  source.status.subscribe((s) => statuses.push(s));
  return { source, frames, statuses };
}

async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe.each(['tcp', 'udp'] as const)('RTSP over %s: the server dies and comes back', (transport) => {
  it(`resumes frames within the backoff cap + 2 s, seq continuing, runId changing`, async () => {
    const srv = await server();
    const w = watch(srv.url, { streamId: `kill-${transport}`, rtspTransport: transport });
    await until('first frames', () => w.frames.length >= 10, 10_000);
    expect(w.statuses.map((s) => s.state).slice(0, 2)).toEqual(['connecting', 'live']);

    await srv.kill();
    await until('down', () => w.statuses.some((s) => s.state === 'down'), 8_000);
    const before = w.frames.length;
    const lastRun = w.frames.at(-1)!.runId!;
    // Let a few retries fail against the closed port, then bring it back.
    await new Promise((r) => setTimeout(r, 1200));
    await srv.restart();
    const resumedIn = await until(
      'frames from a new run',
      () => w.frames.length > before + 5 && w.frames.at(-1)!.runId! > lastRun,
      CAP_MS + 2000 + 2000,
    );
    expect(resumedIn).toBeLessThan(CAP_MS + 2000);

    const states = w.statuses.map((s) => s.state);
    expect(states.filter((s) => s === 'down')).toHaveLength(1);
    expect(states.at(-1)).toBe('recovered');
    const down = w.statuses.find((s) => s.state === 'down')!;
    expect(down.state === 'down' && down.error.code).toBe('VIGIL_ERR_SOURCE_UNREACHABLE');
    const recovered = w.statuses.at(-1)!;
    expect(recovered.state === 'recovered' && recovered.outageMs).toBeGreaterThan(1000);
    // One continuous sequence across runs; runId tells the runs apart.
    w.frames.forEach((f, i) => expect(f.seq).toBe(w.frames[0]!.seq + i));
    // Regression, issue 22 "stream time restarts at each reconnect": stream time only grows, and the
    // new run starts after the old one by about the outage (not near 0, where windows stop closing).
    for (let i = 1; i < w.frames.length; i++) {
      expect(w.frames[i]!.ptsNs, `frame ${i}`).toBeGreaterThan(w.frames[i - 1]!.ptsNs);
    }
    const firstNew = w.frames.findIndex((f) => f.runId! > lastRun);
    const jumpMs = (w.frames[firstNew]!.ptsNs - w.frames[firstNew - 1]!.ptsNs) / 1e6;
    expect(jumpMs).toBeGreaterThan(1000);
    expect(jumpMs).toBeLessThan(recovered.state === 'recovered' ? recovered.outageMs + 2000 : 0);
    expect(w.source.counters.reconnects).toBeGreaterThanOrEqual(1);
    await w.source.close();
    expect(w.statuses.at(-1)!.state).toBe('closed');
  });
});

describe('RTSP: a recovered stream returns to live', () => {
  it('regression, issue 22 "a recovered stream never returns to live": recovered, then live once steady', async () => {
    const srv = await server();
    const w = watch(srv.url, {
      streamId: 'settle',
      reconnect: { ...FAST.reconnect!, resetAfterMs: 1500 },
    });
    await until('first frames', () => w.frames.length >= 5, 10_000);
    await srv.kill();
    await until('down', () => w.statuses.some((s) => s.state === 'down'), 8_000);
    await srv.restart();
    await until('recovered', () => w.statuses.at(-1)?.state === 'recovered', 8_000);
    await until('live again', () => w.statuses.at(-1)?.state === 'live', 6_000);
    const states = w.statuses.map((s) => s.state);
    expect(states.slice(-3)).toEqual(['connecting', 'recovered', 'live']);
    expect(states.filter((s) => s === 'live')).toHaveLength(2);
    await w.source.close();
  });
});

describe('RTSP: a hung server (SIGSTOP)', () => {
  it('the watchdog reports stalled, and the stream recovers after SIGCONT', async () => {
    const srv = await server();
    const w = watch(srv.url, { streamId: 'hang' });
    await until('first frames', () => w.frames.length >= 5, 10_000);
    srv.hang();
    const hungAt = Date.now();
    await until('stalled', () => w.statuses.some((s) => s.state === 'stalled'), 6_000);
    const stalled = w.statuses.find((s) => s.state === 'stalled')!;
    expect(stalled.state === 'stalled' && stalled.silentMs).toBeGreaterThanOrEqual(2000);
    const frozen = w.frames.length;
    await new Promise((r) => setTimeout(r, Math.max(0, 10_000 - (Date.now() - hungAt))));
    expect(w.frames.length).toBe(frozen);
    srv.resume();
    await until('recovered', () => w.statuses.at(-1)!.state === 'recovered', 4_000 + CAP_MS + 2000);
    await until('frames again', () => w.frames.length > frozen + 5, 5_000);
    expect(w.statuses.filter((s) => s.state === 'stalled')).toHaveLength(1);
    await w.source.close();
  });
});

describe('RTSP: typed errors name the source and never the password', () => {
  it('wrong credentials → AUTH; right credentials → frames', async () => {
    const srv = await server({ user: 'viewer', password: 'right-pw' });
    const bad = watch(srv.url.replace('rtsp://', 'rtsp://viewer:Wr0ngPw@'), { streamId: 'auth-bad' });
    await until('down', () => bad.statuses.some((s) => s.state === 'down'), 8_000);
    const down = bad.statuses.find((s) => s.state === 'down')!;
    expect(down.state === 'down' && down.error.code).toBe('VIGIL_ERR_SOURCE_AUTH');
    const text = JSON.stringify(bad.statuses);
    expect(text).not.toContain('Wr0ngPw');
    expect(text).toContain(`127.0.0.1:${srv.port}/stream`);
    expect(down.source).toBe(`rtsp://viewer:***@127.0.0.1:${srv.port}/stream`);
    await bad.source.close();

    const good = watch(srv.url.replace('rtsp://', 'rtsp://viewer:right-pw@'), { streamId: 'auth-good' });
    await until('frames', () => good.frames.length >= 3, 10_000);
    await good.source.close();
  });

  it('an unreachable host → UNREACHABLE, retried with growing delays', async () => {
    const port = await freePort();
    const w = watch(`rtsp://u:S3cretPw@127.0.0.1:${port}/x`, { streamId: 'unreachable' });
    await until(
      'three attempts',
      () => w.statuses.filter((s) => s.state === 'connecting').length >= 3,
      8_000,
    );
    const down = w.statuses.find((s) => s.state === 'down')!;
    expect(down.state === 'down' && down.error.code).toBe('VIGIL_ERR_SOURCE_UNREACHABLE');
    expect(down.state === 'down' && down.error.message).toContain(`127.0.0.1:${port}/x`);
    expect(JSON.stringify(w.statuses)).not.toContain('S3cretPw');
    expect(w.statuses.filter((s) => s.state === 'down')).toHaveLength(1);
    const retries = w.statuses.filter((s) => s.state === 'connecting').map((s) => s.attempt);
    expect(retries.slice(0, 3)).toEqual([0, 1, 2]);
    await w.source.close();
  });

  it('an unsupported codec → DECODE', async () => {
    const srv = await server({ source: 'bogus' });
    const w = watch(srv.url, { streamId: 'codec' });
    await until('down', () => w.statuses.some((s) => s.state === 'down'), 8_000);
    const down = w.statuses.find((s) => s.state === 'down')!;
    expect(down.state === 'down' && down.error.code).toBe('VIGIL_ERR_SOURCE_DECODE');
    expect(w.frames).toHaveLength(0);
    await w.source.close();
  });
});

describe('RTSP: many streams in one process', () => {
  it('eight streams at once all deliver, while a failing ninth does not disturb them', async () => {
    const srv = await server();
    const port = await freePort();
    const failing = watch(`rtsp://127.0.0.1:${port}/nothing`, { streamId: 'failing' });
    const streams = Array.from({ length: 8 }, (_, i) => watch(srv.url, { streamId: `cam${i}` }));
    await until('all eight live', () => streams.every((w) => w.frames.length >= 1), 15_000);
    const start = streams.map((w) => w.frames.length);
    await new Promise((r) => setTimeout(r, 2000));
    // 30 fps each for 2 s; allow for the loaded 2-core machine but not for starvation.
    streams.forEach((w, i) => expect(w.frames.length - start[i]!).toBeGreaterThan(30));
    expect(failing.statuses.some((s) => s.state === 'down')).toBe(true);
    expect(new Set(streams.flatMap((w) => w.frames.map((f) => f.streamId))).size).toBe(8);
    await Promise.all([...streams, failing].map((w) => w.source.close()));
  });
});

describe('RTSP: injection attempts stay inert', () => {
  it('a URL carrying gst-launch syntax is a URL, not a pipeline: no file appears', async () => {
    const srv = await server();
    const name = `pwned-${process.pid}.bin`;
    const hostile = [
      `rtsp://127.0.0.1:${srv.port}/a ! filesink location=${name}`,
      `rtsp://127.0.0.1:${srv.port}/a"!filesink location=${name}`,
      `rtsp://127.0.0.1:${srv.port}/stream?x=1 ! filesink location=${join(tmpdir(), name)}`,
    ];
    const ws = hostile.map((url, i) => watch(url, { streamId: `inj${i}` }));
    await until('each fails or plays', () => ws.every((w) => w.statuses.length >= 2), 8_000);
    await Promise.all(ws.map((w) => w.source.close()));
    expect(existsSync(join(process.cwd(), name))).toBe(false);
    expect(existsSync(join(tmpdir(), name))).toBe(false);
    // The host part cannot carry syntax at all: rejected before any pipeline exists.
    expect(() => parseSource(`rtsp://h!filesink/a`)).toThrow(/invalid host|not a valid URL/);
  });
});
