import { letterbox } from '../../src/infer/yolo.js';

/**
 * A synthetic RGB frame of `width` x `height` with structure (gradients and blocks, varied by `k`),
 * letterboxed to the model's input: for inference tests and benchmarks that need real-looking but
 * reproducible pixels.
 */
export function syntheticLetterboxed(k: number, width: number, height: number): Uint8Array {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      rgb[i] = (x + k * 37) & 255;
      rgb[i + 1] = (y * 2 + k * 11) & 255;
      rgb[i + 2] = ((x >> 5) ^ (y >> 5)) & 1 ? 220 : 30;
    }
  return letterbox(rgb, width, height).data;
}
