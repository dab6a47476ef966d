/**
 * YOLOv8n through Vigil's gRPC inference server (a separate process, dynamic batching) against
 * in-process onnxruntime-node on the same model file, on the same machine, in the same run, at
 * concurrency 1, 4 and 16. Both sides get the same letterboxed frames; the server path sends UINT8
 * NHWC (its declared input) and the in-process path converts to FP32 NCHW itself, as a caller would.
 * The server is measured two ways: the frame's bytes in the gRPC message (what a remote client
 * does), and the frame in system shared memory (Triton's extension; what Vigil's client does by
 * default when the server is on the same host).
 *
 *   npx tsx bench/infer/run.ts [--requests 32] [--rounds 4] [--concurrency 1,4,16] [--queue-delay-us 0]
 *                              [--max-batch-size 4] [--spin]
 *
 * The two sides alternate (request by request at concurrency 1, in blocks otherwise) so that load
 * from other processes on a shared machine hits both alike. Prints one table: throughput (requests/s),
 * p50/p95 latency per side, the throughput ratio (server / in-process) and the latency the server
 * adds at p50; at concurrency 1 also the median of the per-request paired differences, the added
 * latency with the load drift between the sides taken out. Targets: ratio >= 0.9 at concurrency 16,
 * added p50 <= 3 ms at concurrency 1.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { InferenceClient } from '../../src/infer/client.js';
import { hwcToChwFloat } from '../../src/infer/detector.js';
import { yoloCandidates } from '../../src/infer/yolo.js';
import { syntheticLetterboxed } from '../../test/helpers/synthetic-frame.js';

const root = resolve(import.meta.dirname, '../..');
const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '4' },
    concurrency: { type: 'string', default: '1,4,16' },
    'queue-delay-us': { type: 'string', default: '0' },
    spin: { type: 'boolean', default: false },
    'max-batch-size': { type: 'string', default: '4' },
  },
});
const perLevel = Number(values.requests);
const rounds = Number(values.rounds);
const queueDelayUs = values['queue-delay-us']!;
const levels = values.concurrency!.split(',').map(Number);

if (!existsSync(join(root, 'models/raw/yolov8n.onnx'))) {
  console.error('models/raw/yolov8n.onnx missing: run bash scripts/setup.sh');
  process.exit(1);
}

/** Synthetic but non-trivial frames (gradients and blocks), letterboxed once up front. */
function frames(n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, k) => syntheticLetterboxed(k, 960, 540));
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

interface Acc {
  lat: number[];
  secs: number;
  n: number;
}

/** One block of `total` requests at `concurrency`; appends to `acc`. */
async function block(
  concurrency: number,
  total: number,
  once: (i: number) => Promise<void>,
  acc: Acc,
): Promise<void> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const s = performance.now();
        await once(i);
        acc.lat.push(performance.now() - s);
      }
    }),
  );
  acc.secs += (performance.now() - t0) / 1000;
  acc.n += total;
}

function median(x: number[]): number {
  const s = [...x].sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function summary(acc: Acc): { rps: number; p50: number; p95: number } {
  const lat = [...acc.lat].sort((a, b) => a - b);
  return { rps: acc.n / acc.secs, p50: pct(lat, 0.5), p95: pct(lat, 0.95) };
}

const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-infer-'));
const repo = join(dir, 'repo');
await promisify(execFile)(process.execPath, [
  join(root, 'scripts/prepare-model-repo.mjs'),
  '--out',
  repo,
  '--models',
  'yolov8n',
  '--max-batch-size',
  values['max-batch-size']!,
  '--queue-delay-us',
  queueDelayUs,
]);
const spin = values.spin!;
const proc = spawn(
  process.execPath,
  ['--import', 'tsx', join(root, 'bench/infer/serve.ts'), '--repo', repo, ...(spin ? [] : ['--no-spin'])],
  {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
// Never leave the server behind, even when this run is interrupted.
process.once('exit', () => proc.kill('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
const port = await new Promise<number>((res, rej) => {
  let out = '';
  proc.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    const m = /PORT (\d+)/.exec(out);
    if (m) res(Number(m[1]));
  });
  proc.once('exit', (c) => rej(new Error(`server exited with ${c}`)));
});
const client = new InferenceClient({
  addresses: [`127.0.0.1:${port}`],
  deadlineMs: 120_000,
  sharedMemory: 'off',
});
const shmClient = new InferenceClient({ addresses: [`127.0.0.1:${port}`], deadlineMs: 120_000 });
// The same (batch-edited) model file the server runs; outputs are identical to the published file.
// Two processes share the CPUs: by default neither side's onnxruntime threads spin between runs
// (--spin restores onnxruntime's default on both sides).
const session = await ort.InferenceSession.create(join(repo, 'yolov8n/1/model.onnx'), {
  graphOptimizationLevel: 'all',
  ...(spin ? {} : { extra: { session: { intra_op: { allow_spinning: '0' } } } }),
});
const imgs = frames(8);

// Both sides end with the same thing: the candidate boxes (best class score >= 0.1) of the frame,
// which the detector then runs NMS on. In process: convert, run, decode. Through the server: send
// UINT8, ask for the declared `candidates` output (the server converts, runs, batches, decodes).
const inProcess = async (i: number): Promise<void> => {
  const input = new ort.Tensor('float32', hwcToChwFloat(imgs[i % imgs.length]!, 640), [1, 3, 640, 640]);
  const out = await session.run({ images: input });
  yoloCandidates(out['output0']!.data as Float32Array, 8400, 80, 0.1, 1000);
};
const through =
  (c: InferenceClient) =>
  async (i: number): Promise<void> => {
    await c.infer({
      model: 'yolov8n',
      inputs: [{ name: 'images', datatype: 'UINT8', shape: [1, 640, 640, 3], data: imgs[i % imgs.length]! }],
      outputs: ['candidates'],
    });
  };
const viaServer = through(client);
const viaShm = through(shmClient);

try {
  for (let i = 0; i < 3; i++) {
    await inProcess(i);
    await viaServer(i);
    await viaShm(i);
    // The shared-memory client registers its regions in the background after its first call.
    await new Promise((r) => setTimeout(r, 100));
  }
  const rows: string[][] = [];
  let pairedNote = '';
  for (const c of levels) {
    // At concurrency 1 the sides alternate request by request (paired), otherwise block by block.
    const perBlock = c === 1 ? 1 : Math.max(Math.ceil(perLevel / rounds), c);
    const blocks = c === 1 ? perLevel : rounds;
    const accA: Acc = { lat: [], secs: 0, n: 0 };
    const accB: Acc = { lat: [], secs: 0, n: 0 };
    const accC: Acc = { lat: [], secs: 0, n: 0 };
    for (let r = 0; r < blocks; r++) {
      await block(c, perBlock, inProcess, accA);
      await block(c, perBlock, viaServer, accB);
      await block(c, perBlock, viaShm, accC);
    }
    const a = summary(accA);
    const b = summary(accB);
    const d = summary(accC);
    if (c === 1) {
      // Requests alternate one by one here, so request k of each side ran under the same load:
      // the median of the per-pair differences is the added latency with the load drift taken out.
      // (The difference of the two p50s in the table moves with the load between the sides' blocks.)
      const paired = (x: number[]) => median(x.map((v, k) => v - accA.lat[k]!));
      const verdict = (ms: number) => (ms <= 3 ? 'met' : 'missed');
      const pb = paired(accB.lat);
      const ps = paired(accC.lat);
      pairedNote =
        `added latency at concurrency 1, median of ${accA.lat.length} paired differences (server - in-process): ` +
        `bytes ${pb.toFixed(1)} ms (${verdict(pb)}), shared memory ${ps.toFixed(1)} ms (${verdict(ps)}); target <= 3 ms`;
    }
    rows.push([
      String(c),
      a.rps.toFixed(2),
      a.p50.toFixed(1),
      b.rps.toFixed(2),
      b.p50.toFixed(1),
      (b.rps / a.rps).toFixed(2),
      (b.p50 - a.p50).toFixed(1),
      d.rps.toFixed(2),
      d.p50.toFixed(1),
      (d.rps / a.rps).toFixed(2),
      (d.p50 - a.p50).toFixed(1),
    ]);
  }
  const head = [
    'conc',
    'in-proc req/s',
    'p50 ms',
    'gRPC bytes req/s',
    'p50 ms',
    'ratio',
    'added p50 ms',
    'gRPC+shm req/s',
    'p50 ms',
    'ratio',
    'added p50 ms',
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => '| ' + r.map((v, i) => v.padStart(widths[i]!)).join(' | ') + ' |';
  console.log(
    `YOLOv8n 640x640, ${cpus().length} CPU(s) ${cpus()[0]?.model ?? ''}, onnxruntime-node CPU, ` +
      `server in its own process: max_batch_size ${values['max-batch-size']}, max_queue_delay ${queueDelayUs} us, ${rounds} alternating rounds, ` +
      `onnxruntime thread spinning ${spin ? 'on' : 'off'} on both sides`,
  );
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const r of rows) console.log(line(r));
  if (pairedNote) console.log(pairedNote);
  const stats = await client.serverMetadata();
  console.log(
    `server: ${stats.name} ${stats.version}; calls through shared memory: ${shmClient.sharedMemoryCalls}, over a stream: ${shmClient.streamedCalls}; ` +
      `targets: ratio >= 0.9 at 16, added p50 <= 3 ms at 1`,
  );
} finally {
  client.close();
  shmClient.close();
  await session.release();
  proc.kill('SIGTERM');
  await new Promise((r) => proc.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
}
