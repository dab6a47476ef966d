/**
 * 1. Throughput: a 720p H.264 file decoded and delivered through Vigil's ingest (fast mode: gray
 *    analysis + RGB model frames into JS) vs gst-launch-1.0 decoding the same file into fakesink,
 *    and vs gst-launch doing the same decode + scale + convert branches into fakesinks.
 * 2. Capacity: most concurrent live 720p30 RTSP streams (test fixture, pre-encoded H.264, no
 *    re-encoding on the server) ingested at full rate with no unplanned drops, vs concurrent
 *    gst-launch raw decodes at full rate.
 * 3. Latency: appsink arrival (native stamp in the patch's pad probe, g_get_real_time) to delivery
 *    to the JS subscriber (performance.timeOrigin + now), same wall clock, µs.
 * 4. RSS added per live 720p stream.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { lastValueFrom, count } from 'rxjs';
import { DEFAULT_INGEST_OPTIONS, openFrames } from '../../src/ingest/frames.js';
import { decoderPreference } from '../../src/ingest/gst.js';
import { parseSource } from '../../src/ingest/source.js';
import { openStream, type StreamSource } from '../../src/ingest/stream-source.js';
import { startRtspServer } from '../../test/helpers/rtsp-server.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CACHE = join(tmpdir(), 'vigil-bench-ingest');
mkdirSync(CACHE, { recursive: true });
const FPS = 30;

async function makeClip(name: string, seconds: number): Promise<string> {
  const path = join(CACHE, name);
  if (existsSync(path)) return path;
  const desc =
    `videotestsrc num-buffers=${seconds * FPS} pattern=ball ! video/x-raw,width=1280,height=720,framerate=${FPS}/1 ` +
    `! x264enc speed-preset=veryfast key-int-max=${FPS} bitrate=3000 ! video/x-h264,profile=main ! h264parse ` +
    `! mp4mux faststart=true ! filesink`;
  await run('gst-launch-1.0', ['-q', ...desc.split(' '), `location=${path}.tmp`], { timeout: 300_000 });
  await run('mv', [`${path}.tmp`, path]);
  return path;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

function gstLaunch(args: string): Promise<unknown> {
  return run('gst-launch-1.0', ['-q', ...args.split(' ')], { timeout: 300_000 });
}

async function throughput(clip: string, frames: number) {
  const o = DEFAULT_INGEST_OPTIONS;
  const branches =
    `t. ! queue ! videoscale ! videoconvert ! video/x-raw,format=GRAY8,width=${o.analysisWidth},pixel-aspect-ratio=1/1 ! fakesink sync=false ` +
    `t. ! queue ! videoscale ! videoconvert ! video/x-raw,format=RGB,width=${o.modelWidth},pixel-aspect-ratio=1/1 ! fakesink sync=false`;
  // Warm the page cache and the decoder once.
  await gstLaunch(`filesrc location=${clip} ! decodebin ! fakesink sync=false`);
  const decode = await timed(() =>
    gstLaunch(`filesrc location=${clip} ! decodebin ! video/x-raw ! fakesink sync=false`),
  );
  const same = await timed(() =>
    gstLaunch(`filesrc location=${clip} ! decodebin ! video/x-raw ! tee name=t ${branches}`),
  );
  let got = 0;
  const vigil = await timed(async () => {
    got = await lastValueFrom(
      openFrames(parseSource(clip), { ...o, streamId: 'bench', live: false }).pipe(count()),
    );
  });
  return { frames, got, decodeFps: frames / decode, sameFps: frames / same, vigilFps: got / vigil };
}

interface LevelResult {
  ok: boolean;
  minFps: number;
  drops: number;
  rssPerStreamMb?: number;
  p50Us?: number;
  p99Us?: number;
}

const WARMUP_MS = 3000;
const WINDOW_MS = 5000;
/** Full rate: every stream delivers ≥ 95 % of 30 fps over the window. */
const FULL = 0.95 * FPS;

async function vigilLevel(url: string, n: number): Promise<LevelResult> {
  const rss0 = process.memoryUsage().rss;
  const sources: StreamSource[] = [];
  const counts = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    const s = openStream(parseSource(url), {
      streamId: `cam${i}`,
      reconnect: {
        initialDelayMs: 200,
        maxDelayMs: 1000,
        factor: 2,
        jitter: 0.2,
        maxAttempts: Infinity,
        resetAfterMs: 10_000,
      },
    });
    s.frames.subscribe(() => counts[i]!++);
    sources.push(s);
  }
  await sleep(WARMUP_MS);
  const start = [...counts];
  const drops0 = sources.map(
    (s) => (s.counters.dropped['appsink'] ?? 0) + (s.counters.dropped['upstream'] ?? 0),
  );
  sources.forEach((s) => s.counters.latency.reset());
  await sleep(WINDOW_MS);
  const fps = counts.map((c, i) => ((c - start[i]!) * 1000) / WINDOW_MS);
  const drops = sources.reduce(
    (sum, s, i) =>
      sum + (s.counters.dropped['appsink'] ?? 0) + (s.counters.dropped['upstream'] ?? 0) - drops0[i]!,
    0,
  );
  const rssPerStreamMb = (process.memoryUsage().rss - rss0) / n / 2 ** 20;
  const all = sources[0]!.counters.latency;
  const p50Us = all.percentile(50);
  const p99Us = all.percentile(99);
  await Promise.all(sources.map((s) => s.close()));
  await sleep(500);
  const minFps = Math.min(...fps);
  return { ok: minFps >= FULL && drops === 0, minFps, drops, rssPerStreamMb, p50Us, p99Us };
}

async function gstLevel(url: string, n: number): Promise<LevelResult> {
  const children: ChildProcess[] = [];
  const last = new Array<number>(n).fill(0);
  for (let i = 0; i < n; i++) {
    const c = spawn(
      'gst-launch-1.0',
      [
        '-v',
        'rtspsrc',
        `location=${url}`,
        'protocols=tcp',
        'latency=200',
        '!',
        'application/x-rtp,media=video',
        '!',
        'decodebin',
        '!',
        'video/x-raw',
        '!',
        'fpsdisplaysink',
        'video-sink=fakesink',
        'text-overlay=false',
        'sync=false',
        'fps-update-interval=1000',
      ],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let buf = '';
    let rendered0 = -1;
    let t0 = 0;
    c.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        const m = /rendered: (\d+), dropped: (\d+)/.exec(line);
        if (!m) continue;
        const rendered = Number(m[1]);
        const now = Date.now();
        if (now - started >= WARMUP_MS && rendered0 < 0) {
          rendered0 = rendered;
          t0 = now;
        }
        if (rendered0 >= 0 && now > t0) last[i] = ((rendered - rendered0) * 1000) / (now - t0);
      }
    });
    children.push(c);
  }
  const started = Date.now();
  await sleep(WARMUP_MS + WINDOW_MS + 300);
  for (const c of children) c.kill('SIGKILL');
  await sleep(500);
  const minFps = Math.min(...last);
  return { ok: minFps >= FULL, minFps, drops: 0 };
}

async function capacity(
  clip: string,
  measure: (url: string, n: number) => Promise<LevelResult>,
  label: string,
) {
  const levels = [1, 2, 4, 6, 8, 10, 12, 16, 20, 24];
  let best = 0;
  let at1: LevelResult | undefined;
  let atBest: LevelResult | undefined;
  for (const n of levels) {
    // A fresh server per level: the shared media starts at the top of the clip for every level.
    const srv = await startRtspServer({ source: `mp4:${clip}` });
    try {
      const r = await measure(srv.url, n);
      console.log(
        `  ${label} ${String(n).padStart(2)} streams: min ${r.minFps.toFixed(1)} fps, unplanned drops ${r.drops}` +
          (r.p50Us !== undefined
            ? `, latency p50 ${(r.p50Us / 1000).toFixed(2)} ms p99 ${(r.p99Us! / 1000).toFixed(2)} ms`
            : '') +
          (r.rssPerStreamMb !== undefined ? `, RSS ${r.rssPerStreamMb.toFixed(1)} MB/stream` : '') +
          (r.ok ? '' : '  ← below full rate'),
      );
      if (n === 1) at1 = r;
      if (!r.ok) break;
      best = n;
      atBest = r;
    } finally {
      await srv.stop();
    }
  }
  return { best, at1, atBest };
}

const seconds = 10;
console.log(`vigil ingest bench (${decoderPreference().mode} decoding; cache ${CACHE})`);
const clip = await makeClip(`720p-${seconds}s.mp4`, seconds);
const liveClip = await makeClip('720p-30s.mp4', 30);

console.log('1. throughput, 720p H.264 file, fast mode');
const t = await throughput(clip, seconds * FPS);
console.log(
  `  gst-launch decode → fakesink: ${t.decodeFps.toFixed(0)} fps; gst-launch decode + Vigil's scale/convert branches → fakesinks: ${t.sameFps.toFixed(0)} fps; Vigil ingest → JS: ${t.vigilFps.toFixed(0)} fps (${t.got}/${t.frames} frames)`,
);
console.log(
  `  ratio vs decode-only ${(t.vigilFps / t.decodeFps).toFixed(2)} (target ≥ 0.9); vs the same pipeline in gst-launch ${(t.vigilFps / t.sameFps).toFixed(2)}`,
);

console.log('2. capacity, live 720p30 RTSP (TCP), full rate = every stream ≥ 28.5 fps, no drops');
const v = await capacity(liveClip, vigilLevel, 'vigil');
const g = await capacity(liveClip, gstLevel, 'gst-launch');
console.log(
  `  vigil ${v.best} streams, gst-launch ${g.best} streams: ratio ${g.best > 0 ? (v.best / g.best).toFixed(2) : 'n/a'} (target ≥ 0.8)`,
);
console.log('3. latency, appsink arrival → JS delivery (one stream of the level)');
if (v.at1)
  console.log(
    `  1 stream: p50 ${(v.at1.p50Us! / 1000).toFixed(2)} ms, p99 ${(v.at1.p99Us! / 1000).toFixed(2)} ms`,
  );
if (v.atBest)
  console.log(
    `  ${v.best} streams: p50 ${(v.atBest.p50Us! / 1000).toFixed(2)} ms, p99 ${(v.atBest.p99Us! / 1000).toFixed(2)} ms`,
  );
console.log('4. memory');
if (v.atBest)
  console.log(
    `  RSS added per live 720p stream at ${v.best} streams: ${v.atBest.rssPerStreamMb!.toFixed(1)} MB (target ≤ 50)`,
  );
process.exit(0);
