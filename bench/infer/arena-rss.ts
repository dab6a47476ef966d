/**
 * RSS of one onnxruntime YOLOv8n session as batches of different sizes run (#22 item 6): how much
 * memory the largest batch leaves behind, with the CPU memory arena on or off (`off` as the first
 * argument). Zeros at 640x640, batches 1, 1, 2, 4, 4, 1, 3, 4, 1.
 *
 *   npx tsx bench/infer/arena-rss.ts [on|off]
 */
import { resolve } from 'node:path';
import * as ort from 'onnxruntime-node';

const arena = process.argv[2] !== 'off';
const file = resolve(import.meta.dirname, '../../models/repo/yolov8n/1/model.onnx');
const rss = () => (process.memoryUsage().rss / 2 ** 20).toFixed(0);
console.log(`arena ${arena ? 'on' : 'off'}: start ${rss()} MiB`);
const session = await ort.InferenceSession.create(file, {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
  enableCpuMemArena: arena,
});
console.log(`session created: ${rss()} MiB`);
for (const batch of [1, 1, 2, 4, 4, 1, 3, 4, 1]) {
  const input = new ort.Tensor('float32', new Float32Array(batch * 3 * 640 * 640).fill(0.5), [
    batch,
    3,
    640,
    640,
  ]);
  await session.run({ [session.inputNames[0]!]: input });
  console.log(`batch ${batch}: ${rss()} MiB`);
}
