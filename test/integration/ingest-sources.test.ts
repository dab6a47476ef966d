/**
 * Real GStreamer on every non-RTSP source kind: a file with audio (PCM chunks + level), HTTP
 * progressive and HLS from a loopback HTTP server, many test sources side by side, attach/detach
 * without leaks, and a process that exits promptly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import {
  createReadStream,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import type { AudioChunk, Frame } from '../../src/core/contracts.js';
import { parseSource } from '../../src/ingest/source.js';
import { openStream, type StreamStatus } from '../../src/ingest/stream-source.js';
import { ROOT } from '../helpers/paths.js';

const run = promisify(execFile);
let dir: string;
let http: Server;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-ingest-src-'));
  const video = 'videotestsrc num-buffers=90 ! video/x-raw,width=320,height=240,framerate=30/1';
  // 3 s of H.264 with AAC audio (a 0.5 amplitude sine), moov first so HTTP needs no seeking.
  await run(
    'gst-launch-1.0',
    [
      '-q',
      ...`${video} ! x264enc speed-preset=ultrafast ! h264parse ! queue ! mp4mux faststart=true name=m`.split(
        ' ',
      ),
      '!',
      'filesink',
      `location=${join(dir, 'av.mp4')}`,
      ...'audiotestsrc num-buffers=141 samplesperbuffer=1024 wave=sine volume=0.5 ! audioconvert ! voaacenc ! queue ! m.'.split(
        ' ',
      ),
    ],
    { timeout: 30_000 },
  );
  await run(
    'gst-launch-1.0',
    [
      '-q',
      ...`${video} ! x264enc speed-preset=ultrafast key-int-max=30 ! h264parse ! mpegtsmux ! hlssink target-duration=1 playlist-length=0 max-files=0`.split(
        ' ',
      ),
      `location=${join(dir, 'seg%05d.ts')}`,
      `playlist-location=${join(dir, 'live.m3u8')}`,
    ],
    { timeout: 30_000 },
  );
  http = createServer((req, res) => {
    const name = (req.url ?? '/').slice(1);
    const path = join(dir, name);
    if (!/^[a-z0-9%.]+$/i.test(name) || !existsSync(path)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'content-type': name.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : 'application/octet-stream',
    });
    createReadStream(path).pipe(res);
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(http.address() as { port: number }).port}`;
});

afterAll(async () => {
  await new Promise((r) => http?.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const SMALL = { analysisWidth: 80, modelWidth: 160 };

async function drain(url: string, o: { audio?: boolean; live?: boolean } = {}) {
  const source = openStream(parseSource(url), { streamId: 's', live: false, ...SMALL, ...o });
  const audio: AudioChunk[] = [];
  const statuses: StreamStatus[] = [];
  source.audio.subscribe((c) => audio.push(c));
  source.status.subscribe((s) => statuses.push(s));
  const frames: Frame[] = await lastValueFrom(source.frames.pipe(toArray()));
  return { source, frames, audio, statuses };
}

describe('files', () => {
  it('delivers video and 16 kHz mono PCM chunks with a level; a file ends, it does not reconnect', async () => {
    const r = await drain(join(dir, 'av.mp4'), { audio: true });
    expect(r.frames.length).toBe(90);
    expect(r.statuses.map((s) => s.state)).toEqual(['connecting', 'live', 'ended']);
    // ~3.27 s of audio in 32 ms chunks of 512 samples.
    expect(r.audio.length).toBeGreaterThan(90);
    const mid = r.audio[20]!;
    expect([mid.sampleRate, mid.channels, mid.samples.length]).toEqual([16_000, 1, 512]);
    expect(mid.durationNs).toBe(32_000_000);
    // A 0.5 amplitude sine has an RMS of 0.354: -9 dBFS.
    expect(mid.levelDb).toBeGreaterThan(-10.5);
    expect(mid.levelDb).toBeLessThan(-7.5);
    expect(r.audio[21]!.seq).toBe(mid.seq + 1);
    expect(r.source.counters.audioChunks).toBe(r.audio.length);
  });

  it('a file without audio still plays with the audio branch asked for', async () => {
    const r = await drain(join(dir, 'seg00000.ts'), { audio: true });
    expect(r.frames.length).toBeGreaterThan(20);
    expect(r.audio).toHaveLength(0);
  });

  it('a path carrying gst-launch syntax is just a missing file; nothing is written', () => {
    const name = `pwned-${process.pid}.bin`;
    expect(() => parseSource(`${dir}/x.mp4 ! filesink location=${name}`)).toThrow(/no such file/);
    expect(() => parseSource(`test:ball ! filesink location=${name}`)).toThrow(/pattern/);
    expect(existsSync(join(process.cwd(), name))).toBe(false);
  });
});

describe('HTTP', () => {
  it('plays a progressive MP4 over HTTP', async () => {
    const r = await drain(`${base}/av.mp4`);
    expect(r.frames.length).toBe(90);
  });

  it('plays an HLS playlist (hlsdemux), segment after segment', async () => {
    expect(parseSource(`${base}/live.m3u8`).hls).toBe(true);
    expect(readFileSync(join(dir, 'live.m3u8'), 'utf8')).toContain('#EXT-X-ENDLIST');
    const r = await drain(`${base}/live.m3u8`);
    expect(r.frames.length).toBeGreaterThanOrEqual(85);
    expect(r.frames.at(-1)!.ptsNs - r.frames[0]!.ptsNs).toBeGreaterThan(2_500_000_000);
  });

  it('regression, issue 22 #14: a 0-byte .m3u8 over HTTP is VIGIL_ERR_SOURCE_PLAYLIST, not the generic pipeline error', async () => {
    writeFileSync(join(dir, 'empty.m3u8'), '');
    const source = openStream(parseSource(`${base}/empty.m3u8`), {
      streamId: 'hls',
      ...SMALL,
      reconnect: {
        initialDelayMs: 50,
        maxDelayMs: 100,
        factor: 2,
        jitter: 0,
        maxAttempts: 1,
        resetAfterMs: 1000,
      },
    });
    const err = await firstValueFrom(source.frames).catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe('VIGIL_ERR_SOURCE_PLAYLIST');
    expect((err as Error).message).toContain(`${base}/empty.m3u8: not a usable HLS playlist`);
    await source.close();
  });

  it('a missing URL gives NOT_FOUND naming the source', async () => {
    const source = openStream(parseSource(`${base}/missing.mp4`), {
      streamId: 'x',
      ...SMALL,
      reconnect: {
        initialDelayMs: 50,
        maxDelayMs: 100,
        factor: 2,
        jitter: 0,
        maxAttempts: 2,
        resetAfterMs: 1000,
      },
    });
    const err = await firstValueFrom(source.frames).catch((e: unknown) => e);
    expect((err as { code: string }).code).toBe('VIGIL_ERR_SOURCE_NOT_FOUND');
    expect((err as Error).message).toContain(`${base}/missing.mp4`);
    expect(source.state!.state).toBe('failed');
  });
});

// Element wrappers hold GStreamer objects until the JS garbage collector finds them; measure what
// survives a collection (released pipelines themselves free their resources at once).
v8.setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function settle() {
  // In-flight pulls give their thread back within 100 ms of a stop.
  await new Promise((r) => setTimeout(r, 300));
  gc();
  await new Promise((r) => setTimeout(r, 50));
  gc();
}

function procStats() {
  const status = readFileSync('/proc/self/status', 'utf8');
  return {
    fds: readdirSync('/proc/self/fd').length,
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)![1]),
    rssMb: process.memoryUsage().rss / 2 ** 20,
  };
}

describe('many streams in one process', () => {
  it('24 test sources run side by side; each gets its frames', async () => {
    const n = 24;
    const sources = Array.from({ length: n }, (_, i) =>
      openStream(parseSource('test:ball?width=160&height=120&fps=15'), { streamId: `t${i}`, ...SMALL }),
    );
    const counts = new Array<number>(n).fill(0);
    sources.forEach((s, i) => s.frames.subscribe(() => counts[i]!++));
    const t0 = Date.now();
    while (counts.some((c) => c === 0) && Date.now() - t0 < 15_000)
      await new Promise((r) => setTimeout(r, 50));
    const start = [...counts];
    await new Promise((r) => setTimeout(r, 3000));
    const got = counts.map((c, i) => c - start[i]!);
    await Promise.all(sources.map((s) => s.close()));
    // 15 fps for 3 s = 45 each: none starved (allow for a loaded 2-core machine).
    expect(Math.min(...got)).toBeGreaterThan(30);
    const drops = sources.reduce((sum, s) => sum + (s.counters.dropped['appsink'] ?? 0), 0);
    expect(drops).toBeLessThan(n * 3);
  });

  it('attach and detach a stream 100 times: fds, threads and RSS do not grow', async () => {
    const cycle = async () => {
      const s = openStream(parseSource('test:ball?width=160&height=120&fps=30'), {
        streamId: 'cycle',
        ...SMALL,
      });
      await firstValueFrom(s.frames);
      await s.close();
    };
    for (let i = 0; i < 10; i++) await cycle();
    await settle();
    const before = procStats();
    for (let i = 0; i < 100; i++) await cycle();
    await settle();
    const after = procStats();
    expect(after.fds - before.fds).toBeLessThanOrEqual(2);
    expect(after.threads - before.threads).toBeLessThanOrEqual(4);
    expect(after.rssMb - before.rssMb).toBeLessThan(40);
  });

  it('the process exits promptly after closing its streams, and on process.exit mid-stream', async () => {
    const script = join(dir, 'exit-child.mts');
    const src = resolve(ROOT, 'src/ingest');
    writeFileSync(
      script,
      `import { openStream } from '${src}/stream-source.ts';
import { parseSource } from '${src}/source.ts';
const ss = Array.from({ length: 8 }, (_, i) => openStream(parseSource('test:ball?width=160&height=120'), { streamId: 's' + i, analysisWidth: 80, modelWidth: 160 }));
await Promise.all(ss.map((s) => new Promise((r) => s.frames.subscribe(r))));
if (process.argv[2] === 'exit') { console.log('exiting'); process.exit(0); }
await Promise.all(ss.map((s) => s.close()));
console.log('closed');
`,
    );
    for (const mode of ['close', 'exit']) {
      const child = spawn(process.execPath, ['--import', 'tsx', script, mode], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, UV_THREADPOOL_SIZE: '64' },
      });
      let markAt = 0;
      child.stdout.on('data', () => (markAt ||= Date.now()));
      const code = await new Promise<number | null>((r) => {
        const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
        child.on('exit', (c) => {
          clearTimeout(kill);
          r(c);
        });
      });
      expect(code).toBe(0);
      expect(markAt).toBeGreaterThan(0);
      expect(Date.now() - markAt).toBeLessThan(2000);
    }
  });
});
