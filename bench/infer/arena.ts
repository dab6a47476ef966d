/**
 * onnxruntime's CPU memory arena on and off (VIGIL_ORT_CPU_MEM_ARENA), YOLOv8n, in one process:
 * two sessions on the same model file, runs alternating between them (so load from other processes
 * hits both alike), at batch 1 and batch 4. Prints the median run time per side and batch, and RSS.
 *
 *   npx tsx bench/infer/arena.ts [--runs 20]
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' } } });
const runs = Number(values.runs);
const file = resolve(import.meta.dirname, '../../models/repo/yolov8n/1/model.onnx');
const make = (arena: boolean) =>
  ort.InferenceSession.create(file, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    enableCpuMemArena: arena,
  });
const sessions = { on: await make(true), off: await make(false) };
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
console.log(`YOLOv8n, ${runs} runs per side and batch, alternating; ${new Date().toISOString()}`);
console.log('| batch | arena on ms (median) | arena off ms (median) | off / on |\n|---:|---:|---:|---:|');
for (const batch of [1, 4]) {
  const input = new ort.Tensor('float32', new Float32Array(batch * 3 * 640 * 640).fill(0.5), [
    batch,
    3,
    640,
    640,
  ]);
  const name = sessions.on.inputNames[0]!;
  const times: Record<'on' | 'off', number[]> = { on: [], off: [] };
  for (const side of ['on', 'off'] as const) await sessions[side].run({ [name]: input }); // warm-up
  for (let i = 0; i < runs; i++) {
    for (const side of i % 2 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
      const t0 = performance.now();
      await sessions[side].run({ [name]: input });
      times[side].push(performance.now() - t0);
    }
  }
  const on = median(times.on);
  const off = median(times.off);
  console.log(`| ${batch} | ${on.toFixed(1)} | ${off.toFixed(1)} | ${(off / on).toFixed(3)} |`);
}
console.log(`RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`);
