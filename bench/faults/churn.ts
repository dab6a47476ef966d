/**
 * Attach/detach churn (#22 item 6): one analyzer service as `vigil run` builds it (local
 * nats-server and inference server, the stream manager), then N cycles of attach → first frames →
 * detach (after 5 frames), alternating an RTSP stream (the gst-rtsp-server test server) and a live
 * test source at 640x360 and 15 fps (`--frames N`, `--size WxH` and `--fps N` change those). Prints
 * RSS, heap, open fds and threads at cycle 10, every `--every` cycles and at the last one (each
 * after `settleMs`, 2 s, with nothing attached), and the ratio the issue's target is about:
 * RSS(last) / RSS(10) <= 1.10. `--smaps` splits RSS into glibc's main heap,
 * its per-thread arenas, other anonymous memory and files; `--hold-s N` idles N s at the end and
 * measures again (to look at the process from outside); `--trim-addon FILE` takes `mallocTrim` from
 * a build of the patched addon when the installed one predates it; `--addon FILE` loads a whole
 * build of the patched addon in place of the installed one; `--no-warmup` starts the local inference
 * server without its warm-up (`inference.warmup: false`); `--unique-ids` attaches every cycle under a
 * new stream id (by default two ids take turns). Also prints the malloc trims run
 * (src/ingest/malloc-trim.ts) and the allocator settings (MALLOC_ARENA_MAX, UV_THREADPOOL_SIZE).
 * `--heap-snapshot DIR` writes V8 heap snapshots at cycle 10 and the last cycle (compare them with
 * bench/faults/heap-diff.ts).
 *
 *   npx tsx --expose-gc bench/faults/churn.ts --cycles 200 [--every 50] [--smaps] [--infer HOST:PORT]
 *     [--size 1280x720] [--fps 30] [--frames 30]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import { startService } from '../../src/app/service.js';
import { gst } from '../../src/ingest/gst.js';
import { mallocTrimStats } from '../../src/ingest/malloc-trim.js';
import { parseConfig } from '../../src/config/index.js';
import { startRtspServer } from '../../test/helpers/rtsp-server.js';

/** What each cycle attaches: both sources at this size and rate, detached after `frames` frames. */
export interface ChurnSource {
  width: number;
  height: number;
  fps: number;
  frames: number;
}

export interface ChurnPoint {
  cycle: number;
  rssMiB: number;
  heapMiB: number;
  fds: number;
  threads: number;
}

function point(cycle: number): ChurnPoint {
  (globalThis as { gc?: () => void }).gc?.();
  const status = readFileSync('/proc/self/status', 'utf8');
  return {
    cycle,
    rssMiB: process.memoryUsage().rss / 2 ** 20,
    heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
    fds: readdirSync('/proc/self/fd').length,
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0),
  };
}

/**
 * Where the RSS is, from /proc/self/smaps: the main heap ([heap]), glibc's per-thread arenas
 * (anonymous reservations of 64 MiB, read/write part plus the ---p rest), other anonymous memory
 * (V8, large mmap'd blocks, onnxruntime), and file-backed mappings; MiB each.
 */
export function rssBreakdown(): Record<string, number> {
  const lines = readFileSync('/proc/self/smaps', 'utf8').split('\n');
  const out: Record<string, number> = { heap: 0, arenas: 0, arenaCount: 0, anon: 0, files: 0 };
  const maps: { start: number; end: number; perms: string; name: string; rss: number }[] = [];
  for (const line of lines) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      maps.push({ start: parseInt(m[1]!, 16), end: parseInt(m[2]!, 16), perms: m[3]!, name: m[4]!, rss: 0 });
      continue;
    }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (r && maps.length) maps[maps.length - 1]!.rss = Number(r[1]) / 1024;
  }
  const ARENA = 64 * 2 ** 20;
  for (let i = 0; i < maps.length; i++) {
    const m = maps[i]!;
    if (m.name === '[heap]') out.heap! += m.rss;
    else if (m.name === '' || m.name.startsWith('[anon')) {
      const next = maps[i + 1];
      const isArena =
        m.start % ARENA === 0 &&
        m.perms.startsWith('rw') &&
        (m.end - m.start === ARENA ||
          (next !== undefined &&
            next.start === m.end &&
            next.perms.startsWith('---') &&
            next.end - m.start === ARENA));
      if (isArena) {
        out.arenas! += m.rss;
        out.arenaCount!++;
      } else out.anon! += m.rss;
    } else if (!m.name.startsWith('[')) out.files! += m.rss;
  }
  return out;
}

export async function churn(
  cycles: number,
  log: (line: string) => void,
  inferAddress?: string,
  every = 50,
  smaps = false,
  holdS = 0,
  settleMs = 2000,
  snapshotDir?: string,
  warmup = true,
  uniqueIds = false,
  source: ChurnSource = { width: 640, height: 360, fps: 15, frames: 5 },
): Promise<ChurnPoint[]> {
  const root = resolve(import.meta.dirname, '../..');
  const { width, height, fps } = source;
  const rtsp = await startRtspServer({ width, height, fps });
  const config = parseConfig('control: {host: 127.0.0.1, port: 0}\nweb: {enabled: false}\n', 'churn', {});
  config.inference.modelRepository = resolve(root, 'models/repo');
  config.inference.warmup = warmup;
  // An inference server in another process keeps onnxruntime's memory out of this process's RSS.
  if (inferAddress) config.inference.address = inferAddress;
  const service = await startService(config, () => undefined, { serve: false });
  const points: ChurnPoint[] = [];
  let analysed = 0;
  let inferRequests = 0;
  try {
    for (let i = 1; i <= cycles; i++) {
      const url = i % 2 ? rtsp.url : `test:ball?width=${width}&height=${height}&fps=${fps}`;
      // Two ids taken in turn, or a new id every cycle (state kept per stream id shows up as growth).
      const id = uniqueIds ? `churn${i}` : `churn${i % 2}`;
      await service.manager.attach({ id, url, keyframes: { maxIntervalMs: 1000 } });
      const deadline = Date.now() + 30_000;
      // Frames flowing through the whole pipeline (decode, scale, appsinks, the runner).
      for (;;) {
        const info = service.manager.list().find((s) => s.id === id);
        if (info && info.counters.frames >= source.frames) break;
        if (Date.now() > deadline)
          throw new Error(
            `cycle ${i}: ${id} had no frames in 30 s: ${JSON.stringify(service.manager.list().map((s) => [s.state, s.counters.frames, s.counters.analysed, s.error]))}`,
          );
        await new Promise((r) => setTimeout(r, 50));
      }
      analysed += service.manager.list().find((s) => s.id === id)?.counters.analysed ?? 0;
      await service.manager.detach(id);
      if (i === 10 || i === cycles || i % every === 0) {
        // What a detach leaves behind once it has settled (the malloc trim after a release runs 1 s later).
        await new Promise((r) => setTimeout(r, settleMs));
        const text = await service.metrics.metrics();
        inferRequests = [...text.matchAll(/^vigil_infer_requests_total\{[^}]*\} (\d+)/gm)].reduce(
          (n, m) => n + Number(m[1]),
          0,
        );
        const p = point(i);
        points.push(p);
        if (snapshotDir && (i === 10 || i === cycles))
          log(`  heap snapshot: ${writeHeapSnapshot(resolve(snapshotDir, `churn-${i}.heapsnapshot`))}`);
        log(
          `  cycle ${i}: rss ${p.rssMiB.toFixed(1)} MiB  heap ${p.heapMiB.toFixed(1)} MiB  fds ${p.fds}  threads ${p.threads}  ${smaps ? JSON.stringify(Object.fromEntries(Object.entries(rssBreakdown()).map(([k, v]) => [k, Math.round(v)]))) + '  ' : ''}keyframes analysed so far ${analysed}, inference requests ${inferRequests}`,
        );
      }
    }
    if (holdS > 0) {
      // Idle with nothing attached (e.g. to look at the process from outside), then measure again.
      log(`  holding ${holdS} s (pid ${process.pid})`);
      await new Promise((r) => setTimeout(r, holdS * 1000));
      const p = point(cycles);
      log(
        `  after ${holdS} s idle: rss ${p.rssMiB.toFixed(1)} MiB  heap ${p.heapMiB.toFixed(1)} MiB  fds ${p.fds}  threads ${p.threads}  ${smaps ? JSON.stringify(Object.fromEntries(Object.entries(rssBreakdown()).map(([k, v]) => [k, Math.round(v)]))) : ''}`,
      );
    }
  } finally {
    await service.close();
    await rtsp.stop();
  }
  return points;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      cycles: { type: 'string', default: '200' },
      infer: { type: 'string' },
      every: { type: 'string', default: '50' },
      smaps: { type: 'boolean', default: false },
      'hold-s': { type: 'string', default: '0' },
      'trim-addon': { type: 'string' },
      'heap-snapshot': { type: 'string' },
      addon: { type: 'string' },
      'no-warmup': { type: 'boolean', default: false },
      'unique-ids': { type: 'boolean', default: false },
      size: { type: 'string', default: '640x360' },
      fps: { type: 'string', default: '15' },
      frames: { type: 'string', default: '5' },
    },
  });
  const cycles = Number(values.cycles);
  const [width, height] = values.size.split('x').map(Number);
  const source: ChurnSource = {
    width: width!,
    height: height!,
    fps: Number(values.fps),
    frames: Number(values.frames),
  };
  if (![source.width, source.height, source.fps, source.frames].every((n) => Number.isInteger(n) && n > 0))
    throw new Error(
      `--size WxH, --fps and --frames take positive integers (got ${values.size}, ${values.fps}, ${values.frames})`,
    );
  if (values.addon) {
    // A build of the addon from a patched source (e.g. the patch in patches/ before `npm install`
    // has rebuilt node_modules): it stands in for the installed one for the whole process.
    const req = createRequire(import.meta.url);
    const key = req.resolve('gstreamer-superficial');
    const built = req(resolve(values.addon)) as unknown;
    req.cache[key] = { id: key, filename: key, loaded: true, exports: built } as unknown as NodeJS.Module;
    console.log(`gstreamer-superficial: ${resolve(values.addon)} in place of ${key}`);
  }
  if (values['trim-addon']) {
    // A build of the patched addon with mallocTrim, for a checkout whose installed build predates it.
    const built = createRequire(import.meta.url)(resolve(values['trim-addon'])) as {
      mallocTrim: (done?: (released: boolean) => void) => boolean | undefined;
    };
    Object.assign(gst(), { mallocTrim: built.mallocTrim });
  }
  console.log(
    `churn (pid ${process.pid}): ${cycles} attach/detach cycles of ${source.frames} frames at ${source.width}x${source.height} ${source.fps} fps; inference warm-up ${values['no-warmup'] ? 'off' : 'on'}; VIGIL_POOLED_DECODE=${process.env.VIGIL_POOLED_DECODE ?? '(unset)'} MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX ?? '(unset)'} UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '(unset)'}`,
  );
  const points = await churn(
    cycles,
    console.log,
    values.infer,
    Number(values.every),
    values.smaps,
    Number(values['hold-s']),
    2000,
    values['heap-snapshot'],
    !values['no-warmup'],
    values['unique-ids'],
    source,
  );
  const t = mallocTrimStats();
  console.log(
    `malloc trims (VIGIL_MALLOC_TRIM=${process.env.VIGIL_MALLOC_TRIM ?? '(unset)'}): ${t.calls}, ${t.totalMs.toFixed(1)} ms in all, longest ${t.maxMs.toFixed(1)} ms`,
  );
  const first = points.find((p) => p.cycle === 10)!;
  const last = points[points.length - 1]!;
  const ratio = last.rssMiB / first.rssMiB;
  console.log(
    `| cycle | RSS MiB | heap MiB | fds | threads |\n|---:|---:|---:|---:|---:|\n` +
      points
        .map(
          (p) =>
            `| ${p.cycle} | ${p.rssMiB.toFixed(1)} | ${p.heapMiB.toFixed(1)} | ${p.fds} | ${p.threads} |`,
        )
        .join('\n'),
  );
  console.log(
    `RSS after ${last.cycle} / after 10: ${ratio.toFixed(3)} (target <= 1.10): ${ratio <= 1.1 ? 'met' : 'NOT met'}`,
  );
  process.exit(0);
}
