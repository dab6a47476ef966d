/**
 * Soak (endurance) run, outside CI: one analyzer service (`startService`, as `vigil run`: local
 * nats-server, the YOLOv8n inference server, the stream manager, the control API) with N live
 * streams for M minutes. Every 10 s it samples the process's RSS, heap, open file descriptors
 * (/proc/self/fd), threads (/proc/self/status) and active libuv handles/requests
 * (process.getActiveResourcesInfo()), and at the
 * end fits a least-squares line to each after the warm-up, printing the slope per minute and a
 * verdict.
 *
 *   npx tsx bench/soak/run.ts --streams 4 --minutes 30      # the endurance run
 *   npx tsx bench/soak/run.ts --streams 4 --minutes 3       # the short version (bench)
 *   npx tsx --expose-gc bench/soak/run.ts ...                # heap sampled after a full GC
 *
 * Streams alternate between the real RTSP test server (gst-rtsp-server, 640x360 at 15 fps over
 * TCP, one server process, one session per stream) and live test sources (videotestsrc `ball`,
 * 640x360 at 15 fps), so both the network/depay path and the raw path run the whole time.
 *
 * Verdict per metric: GROWTH when the fitted increase over the measured span is both larger than
 * 3x the residual noise (standard deviation of the samples around the line) and larger than a
 * floor that matters (RSS/heap 8 MiB, 2 fds, 2 threads, 2 handles), and the slope's t-statistic is over 3;
 * otherwise "flat (within noise)". The first 20% of the run (at least 30 s) is warm-up and not
 * fitted: JIT, pools and caches fill up there.
 */
const { readdirSync, readFileSync } = await import('node:fs');
const { cpus, totalmem } = await import('node:os');
const { resolve } = await import('node:path');
const { parseArgs } = await import('node:util');
const { startService } = await import('../../src/app/service.js');
const { parseConfig } = await import('../../src/config/index.js');
const { startRtspServer } = await import('../../test/helpers/rtsp-server.js');

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '4' },
    minutes: { type: 'string', default: '30' },
    'interval-s': { type: 'string', default: '10' },
  },
});
const streams = Number(values.streams);
const minutes = Number(values.minutes);
const intervalMs = Number(values['interval-s']) * 1000;
if (!(streams >= 1 && minutes > 0 && intervalMs >= 1000)) {
  console.error('usage: npx tsx bench/soak/run.ts --streams N --minutes M [--interval-s 10]');
  process.exit(2);
}
const root = resolve(import.meta.dirname, '../..');
const cpuModel = /model name\s*:\s*(.+)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
console.log(
  `soak: ${streams} streams for ${minutes} min, sampling every ${intervalMs / 1000} s; ` +
    `${cpus().length} CPUs (${cpuModel}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB; shared machine, noisy`,
);

const gc = (globalThis as { gc?: () => void }).gc;
const rtsp = await startRtspServer({ width: 640, height: 360, fps: 15 });
const config = parseConfig(
  [
    'control: {host: 127.0.0.1, port: 0}',
    'web: {enabled: true}',
    `analyzer: {maxStreams: ${Math.max(16, streams)}}`,
    'streams:',
    ...Array.from({ length: streams }, (_, i) =>
      i % 2 === 0
        ? `  - {id: rtsp${i}, url: "${rtsp.url}"}`
        : `  - {id: test${i}, url: "test:ball?width=640&height=360&fps=15"}`,
    ),
  ].join('\n'),
  'soak',
  {},
);
config.inference.modelRepository = resolve(root, 'models/repo');
const service = await startService(config, () => undefined);

interface Sample {
  tMin: number;
  rssMiB: number;
  heapMiB: number;
  fds: number;
  threads: number;
  handles: number;
  frames: number;
  /** Mean over the streams of capture → analysis done for the latest keyframe, ms. */
  latencyMs: number;
}
const samples: Sample[] = [];
const t0 = Date.now();
const sample = () => {
  gc?.();
  const mem = process.memoryUsage();
  const infos = service.manager.list();
  const s: Sample = {
    tMin: (Date.now() - t0) / 60_000,
    rssMiB: mem.rss / 2 ** 20,
    heapMiB: mem.heapUsed / 2 ** 20,
    fds: readdirSync('/proc/self/fd').length,
    threads: Number(/^Threads:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0),
    handles: process.getActiveResourcesInfo().length,
    frames: infos.reduce((a, x) => a + x.counters.frames, 0),
    latencyMs: (() => {
      const l = infos.map((x) => x.latencyMs).filter((x): x is number => x !== null);
      return l.length ? l.reduce((a, b) => a + b, 0) / l.length : 0;
    })(),
  };
  samples.push(s);
  const states = infos.map((x) => x.state).join(',');
  console.log(
    `  ${s.tMin.toFixed(2)} min  rss ${s.rssMiB.toFixed(1)} MiB  heap ${s.heapMiB.toFixed(1)} MiB  ` +
      `fds ${s.fds}  threads ${s.threads}  handles ${s.handles}  latency ${s.latencyMs.toFixed(0)} ms  frames ${s.frames}  [${states}]`,
  );
};

let stopping = false;
const stop = () => {
  stopping = true;
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
const endAt = t0 + minutes * 60_000;
sample();
while (!stopping && Date.now() < endAt) {
  await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(0, endAt - Date.now()))));
  sample();
}
const final = service.manager.list();
await service.close();
await rtsp.stop();

/** Least-squares slope (per minute), its standard error, and the residual standard deviation. */
function fit(xs: number[], ys: number[]): { slope: number; se: number; resid: number } {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i]! - mx) ** 2;
    sxy += (xs[i]! - mx) * (ys[i]! - my);
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  let sse = 0;
  for (let i = 0; i < n; i++) sse += (ys[i]! - (my + slope * (xs[i]! - mx))) ** 2;
  const resid = n > 2 ? Math.sqrt(sse / (n - 2)) : 0;
  const se = sxx > 0 && n > 2 ? resid / Math.sqrt(sxx) : Infinity;
  return { slope, se, resid };
}

const warmupMin = Math.max(0.5, 0.2 * minutes);
const measured = samples.filter((s) => s.tMin >= warmupMin);
const spanMin = measured.length > 1 ? measured[measured.length - 1]!.tMin - measured[0]!.tMin : 0;
console.log(
  `\nsoak result (${new Date(t0).toISOString()}, ${streams} streams, ${samples[samples.length - 1]!.tMin.toFixed(1)} min, ` +
    `fitted on ${measured.length} samples after ${warmupMin.toFixed(1)} min warm-up):`,
);
const metrics: [keyof Sample, string, number][] = [
  ['rssMiB', 'RSS (MiB)', 8],
  ['heapMiB', gc ? 'heap after GC (MiB)' : 'heap used (MiB)', 8],
  ['fds', 'open fds', 2],
  ['threads', 'threads', 2],
  ['handles', 'active handles', 2],
  ['latencyMs', 'keyframe latency (ms)', 100],
];
let grew = false;
console.log('| metric | first | last | slope / min | fitted change | noise (sd) | verdict |');
console.log('|---|---:|---:|---:|---:|---:|---|');
for (const [key, label, floor] of metrics) {
  if (measured.length < 3) break;
  const xs = measured.map((s) => s.tMin);
  const ys = measured.map((s) => s[key]);
  const { slope, se, resid } = fit(xs, ys);
  const change = slope * spanMin;
  const growth = change > 3 * resid && change > floor && slope / se > 3;
  grew ||= growth;
  console.log(
    `| ${label} | ${ys[0]!.toFixed(1)} | ${ys[ys.length - 1]!.toFixed(1)} | ${slope >= 0 ? '+' : ''}${slope.toFixed(3)} | ` +
      `${change >= 0 ? '+' : ''}${change.toFixed(1)} | ${resid.toFixed(2)} | ${growth ? 'GROWTH beyond noise' : 'flat (within noise)'} |`,
  );
}
const fpsPerStream =
  samples.length > 1
    ? (samples[samples.length - 1]!.frames - samples[0]!.frames) /
      ((samples[samples.length - 1]!.tMin - samples[0]!.tMin) * 60) /
      streams
    : 0;
console.log(
  `streams: ${final.map((s) => `${s.id} ${s.state} ${s.counters.frames} frames ${s.counters.analysed} analysed`).join('; ')}; ` +
    `${fpsPerStream.toFixed(1)} fps per stream on average`,
);
console.log(`verdict: ${grew ? 'GROWTH beyond noise in at least one metric' : 'no growth beyond noise'}`);
process.exit(grew ? 1 : 0);
