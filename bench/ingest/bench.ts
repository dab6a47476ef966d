/**
 * 1. Throughput: a 720p H.264 file decoded and delivered through Vigil's ingest (fast mode: every
 *    frame into JS with its gray analysis frame; the RGB model frame of every 15th frame, as the
 *    keyframe selector would ask) vs gst-launch-1.0 (a) decoding the same file into fakesink and
 *    (b) running the same post-decode elements as Vigil's pipeline (FRAME_CAPS: for this
 *    720p I420 clip videoscale and videoconvert pass the frames through) into fakesink, and for
 *    reference (c) GStreamer's own elements making the gray analysis frame into fakesink (see
 *    GRAY_IN_GSTREAMER). Start-up is excluded on both sides (gst-launch's process start and
 *    preroll, Vigil's pipeline start: see Timed); whole runs are shown too.
 * 2. Capacity: most concurrent live 720p30 RTSP streams (test fixture, pre-encoded H.264, no
 *    re-encoding on the server) delivered at full rate (every stream ≥ 95 % of 30 fps) with no
 *    frame dropped by Vigil itself (appsink): Vigil vs gst-launch (a) raw decodes and (b) the same
 *    decode + post-decode elements. Contenders run each level back to back.
 * 3. Latency: appsink arrival (native stamp in the patch's pad probe, g_get_real_time) to delivery
 *    to the JS subscriber (performance.timeOrigin + now), same wall clock, µs.
 * 4. RSS added per live 720p stream.
 *
 * `--only=throughput` or `--only=capacity` runs one part; `--levels=1,2,4` sets the capacity levels
 * (default up to 56, above what the 2-core machine sustains for any contender, so no ratio is capped),
 * `--which=before,vigil,vigil-mb4,raw,same` the capacity contenders, `--rounds=3` the throughput
 * rounds, `--before=DIR` an earlier checkout to measure alongside (see `before` below),
 * `--no-release` leaves delivered frames to the garbage collector (see `consume`), `--nice=N` the
 * niceness both sides' decoding runs at in the throughput part (default: Vigil's threadNice, see NICE).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { lastValueFrom, count, tap } from 'rxjs';
import type { Frame } from '../../src/core/contracts.js';
import { FRAME_CAPS } from '../../src/ingest/describe.js';
import {
  DEFAULT_INGEST_OPTIONS,
  openFrames,
  releaseFrame,
  type IngestOptions,
} from '../../src/ingest/frames.js';
import { UpstreamLoss } from '../../src/ingest/counters.js';
import { decoderPreference } from '../../src/ingest/gst.js';
import { parseSource } from '../../src/ingest/source.js';
import { openStream, type StreamSource } from '../../src/ingest/stream-source.js';
import { startRtspServer } from '../../test/helpers/rtsp-server.js';
import { executionSeconds } from '../lib/gst-launch.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CACHE = join(tmpdir(), 'vigil-bench-ingest');
mkdirSync(CACHE, { recursive: true });
const FPS = 30;
/** The bench clip's size (makeClip encodes it; the gray contender scales from it). */
const CLIP = { width: 1280, height: 720 } as const;

async function makeClip(name: string, seconds: number): Promise<string> {
  const path = join(CACHE, name);
  if (existsSync(path)) return path;
  const desc =
    `videotestsrc num-buffers=${seconds * FPS} pattern=ball ! video/x-raw,width=${CLIP.width},height=${CLIP.height},framerate=${FPS}/1 ` +
    `! x264enc speed-preset=veryfast key-int-max=${FPS} bitrate=3000 ! video/x-h264,profile=main ! h264parse ` +
    `! mp4mux faststart=true ! filesink`;
  await run('gst-launch-1.0', ['-q', ...desc.split(' '), `location=${path}.tmp`], { timeout: 300_000 });
  await run('mv', [`${path}.tmp`, path]);
  return path;
}

/** CPU ms used by this process and its reaped children (gst-launch) so far. */
function cpuMs(): number {
  const own = process.cpuUsage();
  // /proc/self/stat fields 16 and 17: children's user and system time, in clock ticks (100 Hz).
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  const children = (Number(fields[13]) + Number(fields[14])) * 10;
  return (own.user + own.system) / 1000 + children;
}

interface Timed {
  seconds: number;
  cpuMs: number;
  /**
   * Start-up excluded (process, pipeline, typefind, decoder open, first frame): wall seconds and CPU
   * ms from the first frame to the end, and the frames in that span. gst-launch: its own "Execution
   * ended after" (PLAYING, i.e. the first frame prerolled, to EOS) and its CPU less a start-up-only
   * run's; Vigil: from the first frame delivered to JS to the last.
   */
  steadySeconds: number;
  steadyCpuMs: number;
  steadyFrames: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * gst-launch running `args` over all `frames` of a file, timed whole and start-up excluded; the
 * start-up CPU is that of the same pipeline ended after its first frame (`identity eos-after=1`).
 */
async function gstTimed(args: string, frames: number): Promise<Timed> {
  const t0 = performance.now();
  const c0 = cpuMs();
  const { stdout } = await run(...gstCommand(args.split(' ')), { timeout: 300_000 });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuMs() - c0;
  const c1 = cpuMs();
  await gstLaunch(args.replace(/ ! fakesink /, ' ! identity eos-after=1 ! fakesink '));
  const startupCpu = cpuMs() - c1;
  return {
    seconds,
    cpuMs: cpu,
    steadySeconds: executionSeconds(stdout),
    steadyCpuMs: cpu - startupCpu,
    steadyFrames: frames - 1,
  };
}

/** Vigil's ingest over a file in fast mode, timed whole and from the first frame delivered on. */
async function vigilTimed(
  open: () => ReturnType<typeof openFrames>,
  modelEvery = MODEL_EVERY,
): Promise<Timed & { frames: number }> {
  const t0 = performance.now();
  const c0 = cpuMs();
  let first: { t: number; c: number } | null = null;
  const frames = await lastValueFrom(
    open().pipe(
      tap((frame) => {
        first ??= { t: performance.now(), c: cpuMs() };
        consume(frame, modelEvery);
      }),
      count(),
    ),
  );
  const t1 = performance.now();
  const c1 = cpuMs();
  const f = first ?? { t: t1, c: c1 };
  return {
    frames,
    seconds: (t1 - t0) / 1000,
    cpuMs: c1 - c0,
    steadySeconds: (t1 - f.t) / 1000,
    steadyCpuMs: c1 - f.c,
    steadyFrames: frames - 1,
  };
}

function gstLaunch(args: string): Promise<unknown> {
  return run(...gstCommand(['-q', ...args.split(' ')]), { timeout: 300_000 });
}

const arg = (name: string) => process.argv.find((x) => x.startsWith(`--${name}=`))?.split('=')[1];
const o = DEFAULT_INGEST_OPTIONS;
/**
 * Throughput runs both sides at one niceness: Vigil's pipeline threads at `threadNice` (its default
 * unless `--nice=N`), gst-launch under `nice -n` the same. On a shared machine a process at nice +5
 * gets about a third of the CPU share of one at 0, so a difference in niceness would be measured as
 * a difference in speed.
 */
const NICE = Math.max(0, Math.min(19, Math.trunc(Number(arg('nice') ?? o.threadNice ?? 0))));
function gstCommand(args: string[]): [string, string[]] {
  return NICE > 0 ? ['nice', ['-n', String(NICE), 'gst-launch-1.0', ...args]] : ['gst-launch-1.0', args];
}
/** What Vigil's pipeline does after decoding (see describePipeline), for gst-launch. */
const SAME = FRAME_CAPS;
/**
 * The analysis frame made by GStreamer's own elements (for reference, not Vigil's way): the same
 * hand-off queue as Vigil's fast mode, then videoscale (its default, bilinear) and videoconvert to
 * gray at the analysis size (160 x 90 for the 1280 x 720 CLIP). What producing the gray frame
 * costs inside GStreamer, with nothing delivered anywhere.
 */
const GRAY_IN_GSTREAMER =
  `queue max-size-buffers=4 max-size-bytes=0 max-size-time=0 ! videoscale ! videoconvert ! ` +
  `video/x-raw,format=GRAY8,width=${o.analysisWidth},height=${Math.round((o.analysisWidth * CLIP.height) / CLIP.width)}`;
/** Keyframes ask for the RGB model frame; a generous rate: every 15th frame (2 per second at 30 fps). */
const MODEL_EVERY = 15;

/**
 * Gives each frame's decoded pixels back once done with it (releaseFrame), as a consumer that knows
 * which frames it keeps should; `--no-release` leaves them to the garbage collector instead.
 */
const RELEASE = !process.argv.includes('--no-release');

function consume(frame: Frame, modelEvery = MODEL_EVERY): void {
  if (modelEvery > 0 && frame.seq % modelEvery === 0 && frame.model.data.length === 0)
    throw new Error('no model pixels');
  if (RELEASE) releaseFrame(frame);
}

interface Figures {
  /** Whole runs (gst-launch's process start-up included, Vigil's not): median fps, CPU ms/frame. */
  fps: number;
  cpu: number;
  /** Start-up excluded on both sides (see Timed): median fps, CPU ms/frame. */
  steadyFps: number;
  steadyCpu: number;
}

function figures(ts: Timed[], frames: (t: Timed) => number): Figures {
  return {
    fps: median(ts.map((t) => frames(t) / t.seconds)),
    cpu: median(ts.map((t) => t.cpuMs / frames(t))),
    steadyFps: median(ts.map((t) => t.steadyFrames / t.steadySeconds)),
    steadyCpu: median(ts.map((t) => t.steadyCpuMs / t.steadyFrames)),
  };
}

/** Alternating rounds (the machine is shared): median fps and median CPU ms per frame. */
async function throughput(clip: string, frames: number, rounds: number) {
  // Warm the page cache and the decoder once.
  await gstLaunch(`filesrc location=${clip} ! decodebin ! fakesink sync=false`);
  const runs: Record<
    'decode' | 'same' | 'gray' | 'vigil' | 'noModel' | 'before',
    (Timed & { frames?: number })[]
  > = {
    decode: [],
    same: [],
    gray: [],
    vigil: [],
    noModel: [],
    before: [],
  };
  const openVigil = () =>
    openFrames(parseSource(clip), { ...o, streamId: 'bench', live: false, threadNice: NICE });
  let got = 0;
  for (let r = 0; r < rounds; r++) {
    runs.decode.push(
      await gstTimed(`filesrc location=${clip} ! decodebin ! video/x-raw ! fakesink sync=false`, frames),
    );
    runs.same.push(
      await gstTimed(
        `filesrc location=${clip} ! decodebin ! video/x-raw ! ${SAME} ! fakesink sync=false`,
        frames,
      ),
    );
    runs.gray.push(
      await gstTimed(
        `filesrc location=${clip} ! decodebin ! video/x-raw ! ${GRAY_IN_GSTREAMER} ! fakesink sync=false`,
        frames,
      ),
    );
    const v = await vigilTimed(openVigil);
    got = v.frames;
    runs.vigil.push(v);
    // The same ingest with a consumer that never asks for a model frame: what the gray frame and
    // the delivery to JS cost without the model frames' conversion.
    runs.noModel.push(await vigilTimed(openVigil, 0));
    if (before) {
      const b = await vigilTimed(() =>
        before.openFrames(parseSource(clip), {
          ...(o as IngestOptions),
          maxUnpaired: 16,
          streamId: 'before',
          live: false,
          threadNice: NICE,
        } as IngestOptions),
      );
      if (b.frames !== frames) throw new Error(`before: ${b.frames}/${frames} frames`);
      runs.before.push(b);
    }
  }
  const all = (t: Timed & { frames?: number }) => t.frames ?? frames;
  return {
    frames,
    got,
    decode: figures(runs.decode, all),
    same: figures(runs.same, all),
    gray: figures(runs.gray, all),
    vigil: figures(runs.vigil, all),
    noModel: figures(runs.noModel, all),
    before: before ? figures(runs.before, all) : null,
  };
}

interface LevelResult {
  ok: boolean;
  minFps: number;
  drops: number;
  /** Drops by reason (appsink: JS pulled too late; upstream: never reached the appsink). */
  dropDetail?: string;
  rssPerStreamMb?: number;
  p50Us?: number;
  p99Us?: number;
}

const WARMUP_MS = 3000;
/**
 * The fixture server sometimes takes seconds to serve its first client (it builds the shared media
 * then); every contender waits until each of its streams has delivered a frame (at most 15 s)
 * before the warm-up and the window start.
 */
const START_MS = 15_000;
async function allStarted(done: () => boolean): Promise<void> {
  const until = Date.now() + START_MS;
  while (!done() && Date.now() < until) await sleep(100);
}
const WINDOW_MS = 5000;
/** Full rate: every stream delivers ≥ 95 % of 30 fps over the window. */
const FULL = 0.95 * FPS;

const vigilLevel =
  (open: typeof openStream, maxBuffers?: number) =>
  async (url: string, n: number): Promise<LevelResult> => {
    const rss0 = process.memoryUsage().rss;
    const sources: StreamSource[] = [];
    const counts = new Array<number>(n).fill(0);
    const history: string[][] = Array.from({ length: n }, () => []);
    for (let i = 0; i < n; i++) {
      const s = open(parseSource(url), {
        streamId: `cam${i}`,
        ...(maxBuffers ? { maxBuffers } : {}),
        reconnect: {
          initialDelayMs: 200,
          maxDelayMs: 1000,
          factor: 2,
          jitter: 0.2,
          maxAttempts: Infinity,
          resetAfterMs: 10_000,
        },
      });
      s.frames.subscribe((frame) => {
        consume(frame);
        counts[i]!++;
      });
      s.status.subscribe((st) => {
        if (history[i]!.length < 12)
          history[i]!.push(st.state + ('lastError' in st && st.lastError ? `(${st.lastError.code})` : ''));
      });
      sources.push(s);
    }
    await allStarted(() => counts.every((c) => c > 0));
    await sleep(WARMUP_MS);
    const start = [...counts];
    const byReason0 = sources.map((s) => ({ ...s.counters.dropped }));
    const drops0 = sources.map((s) => s.counters.dropped['appsink'] ?? 0);
    sources.forEach((s) => s.counters.latency.reset());
    await sleep(WINDOW_MS);
    const fps = counts.map((c, i) => ((c - start[i]!) * 1000) / WINDOW_MS);
    // Unplanned: frames Vigil itself lost (JS did not pull in time). Upstream losses (estimated
    // from PTS) happen to gst-launch alike and are shown, not judged.
    const drops = sources.reduce((sum, s, i) => sum + (s.counters.dropped['appsink'] ?? 0) - drops0[i]!, 0);
    const rssPerStreamMb = (process.memoryUsage().rss - rss0) / n / 2 ** 20;
    const all = sources[0]!.counters.latency;
    const p50Us = all.percentile(50);
    const p99Us = all.percentile(99);
    await Promise.all(sources.map((s) => s.close()));
    await sleep(500);
    const minFps = Math.min(...fps);
    // A stream below full rate: say what it went through (reconnects, errors).
    const slow = fps.findIndex((f) => f === minFps);
    if (minFps < FULL) console.log(`    slowest stream ${slow}: ${history[slow]!.join(' > ')}`);
    const detail: Record<string, number> = {};
    sources.forEach((s, i) => {
      for (const [k, v] of Object.entries(s.counters.dropped))
        detail[k] = (detail[k] ?? 0) + v - (byReason0[i]![k] ?? 0);
    });
    const dropDetail = Object.entries(detail)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    return { ok: minFps >= FULL && drops === 0, minFps, drops, dropDetail, rssPerStreamMb, p50Us, p99Us };
  };

const FRAME_NS = 1e9 / FPS;

/** "pts: 0:00:01.233333333" from identity's last-message. */
function parsePts(line: string): number | null {
  const m = /pts: (\d+):(\d\d):(\d\d)\.(\d{9})/.exec(line);
  if (!m) return null;
  return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1e9 + Number(m[4]);
}

/**
 * gst-launch streams, judged like Vigil's: frames that reach the sink in the window (identity
 * prints each buffer's PTS); frames lost upstream are estimated from PTS by the same rule as
 * ingest's `upstream` counter (UpstreamLoss) and shown.
 */
const gstLevel =
  (after: string) =>
  async (url: string, n: number): Promise<LevelResult> => {
    const children: ChildProcess[] = [];
    const frames = new Array<number>(n).fill(0);
    const started = new Array<boolean>(n).fill(false);
    let drops = 0;
    let counting = false;
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
          ...(after ? [...after.split(' '), '!'] : []),
          'identity',
          'name=pts',
          'silent=false',
          '!',
          'fakesink',
          'sync=false',
        ],
        { stdio: ['ignore', 'pipe', 'ignore'] },
      );
      let buf = '';
      let seen = 0;
      const loss = new UpstreamLoss();
      c.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.includes('last-message = chain')) continue;
          const pts = parsePts(line);
          if (pts === null) continue;
          started[i] = true;
          const lost = loss.observe(pts, ++seen, FRAME_NS);
          if (counting) {
            frames[i]!++;
            drops += lost;
          }
        }
      });
      children.push(c);
    }
    await allStarted(() => started.every(Boolean));
    await sleep(WARMUP_MS);
    counting = true;
    await sleep(WINDOW_MS);
    counting = false;
    for (const c of children) c.kill('SIGKILL');
    await sleep(500);
    const minFps = Math.min(...frames.map((f) => (f * 1000) / WINDOW_MS));
    return {
      ok: minFps >= FULL && drops === 0,
      minFps,
      drops,
      dropDetail: drops > 0 ? `upstream ${drops}` : '',
    };
  };

/**
 * One client that receives the RTP stream (no decoding) and stays connected through the run: the
 * fixture's shared media is then built before the contender's clients arrive (clients that raced
 * its construction sometimes got nothing for seconds, with any contender).
 */
async function prime(url: string): Promise<ChildProcess> {
  const c = spawn(
    'gst-launch-1.0',
    [
      '-v',
      'rtspsrc',
      `location=${url}`,
      'protocols=tcp',
      '!',
      'identity',
      'silent=false',
      '!',
      'fakesink',
      'sync=false',
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, START_MS);
    c.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('last-message = chain')) {
        clearTimeout(timer);
        c.stdout!.removeAllListeners('data');
        c.stdout!.resume();
        resolve();
      }
    });
  });
  return c;
}

interface Contender {
  label: string;
  measure: (url: string, n: number) => Promise<LevelResult>;
  best: number;
  at1?: LevelResult;
  atBest?: LevelResult;
  done: boolean;
}

/**
 * Level by level, every contender still at full rate runs the level back to back with the others
 * (the machine's other load then weighs on all of them alike); one that fails a level stops.
 */
async function capacity(clip: string, contenders: Contender[]): Promise<void> {
  const levels = (arg('levels') ?? '1,2,3,4,6,8,10,12,14,16,20,24,28,32,36,40,44,48,56')
    .split(',')
    .map(Number);
  for (const n of levels) {
    for (const c of contenders) {
      if (c.done) continue;
      // A fresh server per run: the shared media starts at the top of the clip every time.
      const srv = await startRtspServer({ source: `mp4:${clip}` });
      const primer = await prime(srv.url);
      try {
        const r = await c.measure(srv.url, n);
        console.log(
          `  ${c.label} ${String(n).padStart(2)} streams: min ${r.minFps.toFixed(1)} fps, unplanned drops ${r.drops}` +
            (r.dropDetail ? ` (${r.dropDetail})` : '') +
            (r.p50Us !== undefined
              ? `, latency p50 ${(r.p50Us / 1000).toFixed(2)} ms p99 ${(r.p99Us! / 1000).toFixed(2)} ms`
              : '') +
            (r.rssPerStreamMb !== undefined ? `, RSS ${r.rssPerStreamMb.toFixed(1)} MB/stream` : '') +
            (r.ok ? '' : '  ← below full rate'),
        );
        if (n === 1) c.at1 = r;
        if (r.ok) {
          c.best = n;
          c.atBest = r;
        } else c.done = true;
      } finally {
        primer.kill('SIGKILL');
        await srv.stop();
      }
    }
    if (contenders.every((c) => c.done)) break;
  }
}

/**
 * `--before=DIR`: a checkout of an earlier Vigil (its src/ingest, sharing this node_modules) runs
 * side by side as the 'before' contender, in the same process and rounds.
 */
const beforeDir = arg('before');
const before = beforeDir
  ? {
      openStream: (
        (await import(resolve(beforeDir, 'src/ingest/stream-source.ts'))) as { openStream: typeof openStream }
      ).openStream,
      openFrames: (
        (await import(resolve(beforeDir, 'src/ingest/frames.ts'))) as { openFrames: typeof openFrames }
      ).openFrames,
    }
  : null;

const seconds = 30;
const only = arg('only');
console.log(
  `vigil ingest bench (${decoderPreference().mode} decoding; thread pool ${process.env.UV_THREADPOOL_SIZE ?? 4}; ` +
    `frames ${RELEASE ? 'released by the consumer' : 'left to the garbage collector'}; cache ${CACHE})`,
);
const clip = await makeClip(`720p-${seconds}s.mp4`, seconds);
const liveClip = clip;

if (only === undefined || only === 'throughput') {
  console.log('1. throughput, 720p H.264 file, fast mode');
  const rounds = Number(arg('rounds') ?? 3);
  const t = await throughput(clip, seconds * FPS, rounds);
  const line = (label: string, f: Figures) =>
    console.log(
      `  ${label}: ${f.steadyFps.toFixed(0)} fps, ${f.steadyCpu.toFixed(2)} CPU ms/frame ` +
        `(whole runs: ${f.fps.toFixed(0)} fps, ${f.cpu.toFixed(2)} CPU ms/frame)`,
    );
  console.log(
    `  median of ${rounds} alternating rounds, ${t.got}/${t.frames} frames delivered to JS; start-up ` +
      `(process, pipeline, first frame) excluded on both sides: gst-launch's own PLAYING-to-EOS time and its ` +
      `CPU less a start-up-only run's, Vigil from its first frame in JS; whole runs in brackets ` +
      `(those include gst-launch's process start-up, not Vigil's); gst-launch at nice +${NICE}, Vigil's ` +
      `pipeline threads at threadNice ${NICE} (\`--nice=N\` sets both)`,
  );
  line('gst-launch (a) decode → fakesink', t.decode);
  line("gst-launch (b) decode + Vigil's post-decode elements → fakesink", t.same);
  line(
    "gst-launch (c) decode + GStreamer's own gray analysis frame (queue, videoscale, videoconvert) → fakesink",
    t.gray,
  );
  if (t.before) line(`Vigil before (${beforeDir}) → JS`, t.before);
  line(`Vigil ingest → JS, a model frame asked every ${MODEL_EVERY}th frame`, t.vigil);
  line('Vigil ingest → JS, no model frame asked', t.noModel);
  const v = t.vigil;
  console.log(
    `  fps ratio vs (a) ${(v.steadyFps / t.decode.steadyFps).toFixed(2)} (target ≥ 0.9), vs (b) ` +
      `${(v.steadyFps / t.same.steadyFps).toFixed(2)}, vs (c) ${(v.steadyFps / t.gray.steadyFps).toFixed(2)}; ` +
      `(c) vs (a) ${(t.gray.steadyFps / t.decode.steadyFps).toFixed(2)}; CPU per frame ratio (a)/Vigil ` +
      `${(t.decode.steadyCpu / v.steadyCpu).toFixed(2)}, (b)/Vigil ${(t.same.steadyCpu / v.steadyCpu).toFixed(2)}; ` +
      `no model frame asked: fps ratio vs (a) ${(t.noModel.steadyFps / t.decode.steadyFps).toFixed(2)}, vs (c) ` +
      `${(t.noModel.steadyFps / t.gray.steadyFps).toFixed(2)}` +
      (t.before
        ? `; before: fps ratio vs (a) ${(t.before.steadyFps / t.decode.steadyFps).toFixed(2)}, CPU (a)/before ` +
          `${(t.decode.steadyCpu / t.before.steadyCpu).toFixed(2)}`
        : ''),
  );
  console.log(
    `  whole runs: fps ratio vs (a) ${(v.fps / t.decode.fps).toFixed(2)}, CPU per frame ratio (a)/Vigil ` +
      `${(t.decode.cpu / v.cpu).toFixed(2)}`,
  );
}

if (only === undefined || only === 'capacity') {
  console.log(
    '2. capacity, live 720p30 RTSP (TCP): every stream ≥ 28.5 fps and no frame dropped by Vigil (appsink); ' +
      'upstream losses (estimated from PTS) are shown for all',
  );
  const which = (arg('which') ?? 'before,vigil,raw,same').split(',');
  const contender = (label: string, measure: Contender['measure']): Contender => ({
    label,
    measure,
    best: 0,
    done: false,
  });
  const v = contender('vigil', vigilLevel(openStream));
  // `--which=vigil-mb4,...`: the same with the former appsink bound (4), for comparison.
  const v4 = contender('vigil (max-buffers 4)', vigilLevel(openStream, 4));
  const b = before ? contender('vigil before', vigilLevel(before.openStream)) : null;
  const raw = contender('gst-launch (a) raw decode', gstLevel(''));
  const same = contender('gst-launch (b) decode + post-decode elements', gstLevel(SAME));
  await capacity(
    liveClip,
    [b, v, v4, raw, same].filter(
      (c, i): c is Contender =>
        c !== null && which.includes(['before', 'vigil', 'vigil-mb4', 'raw', 'same'][i]!),
    ),
  );
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : 'n/a');
  console.log(
    `  vigil ${v.best} streams${b ? ` (before: ${b.best})` : ''}; gst-launch (a) raw decode ${raw.best}, (b) same pipeline ${same.best}: ` +
      `ratio vs (a) ${ratio(v.best, raw.best)} (target ≥ 0.8), vs (b) ${ratio(v.best, same.best)}` +
      (b ? `; before: vs (a) ${ratio(b.best, raw.best)}, vs (b) ${ratio(b.best, same.best)}` : ''),
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
}
process.exit(0);
