/**
 * Perceptual hashes of the small gray analysis frame, for near-duplicate detection (the memory
 * cache). A 64-bit difference hash (dHash): the frame is averaged down to 9x8 cells and each bit
 * says whether a cell is brighter than its right neighbour. Robust to noise, compression and small
 * brightness changes; two hashes differ in few bits when the frames look alike.
 */
import type { Image } from '../core/contracts.js';
import { VigilError } from '../core/errors.js';

/** 64-bit dHash of a GRAY8 image as 16 lowercase hex digits. */
export function dHash(img: Image): string {
  if (img.format !== 'GRAY8' || img.data.length < img.width * img.height) {
    throw new VigilError('VIGIL_ERR_STREAM_FRAME', `dHash: expected a GRAY8 image, got ${img.format}`);
  }
  const cols = 9;
  const rows = 8;
  const cells = new Float64Array(cols * rows);
  const w = img.width;
  const h = img.height;
  if (w === 0 || h === 0) return '0'.repeat(16);
  const data = img.data;
  for (let r = 0; r < rows; r++) {
    const y0 = Math.floor((r * h) / rows);
    const y1 = Math.min(h, Math.max(y0 + 1, Math.floor(((r + 1) * h) / rows)));
    for (let c = 0; c < cols; c++) {
      const x0 = Math.floor((c * w) / cols);
      const x1 = Math.min(w, Math.max(x0 + 1, Math.floor(((c + 1) * w) / cols)));
      let sum = 0;
      for (let y = y0; y < y1; y++) {
        const end = y * w + x1;
        for (let i = y * w + x0; i < end; i++) sum += data[i] as number;
      }
      cells[r * cols + c] = sum / ((y1 - y0) * (x1 - x0));
    }
  }
  let hi = 0;
  let lo = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < 8; c++) {
      const bit = (cells[r * cols + c] as number) > (cells[r * cols + c + 1] as number) ? 1 : 0;
      const i = r * 8 + c;
      if (i < 32) hi = ((hi << 1) | bit) >>> 0;
      else lo = ((lo << 1) | bit) >>> 0;
    }
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

function popcount32(x: number): number {
  x = x - ((x >>> 1) & 0x55555555);
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Number of differing bits between two 16-hex-digit hashes (0..64). */
export function hammingDistance(a: string, b: string): number {
  if (a.length !== 16 || b.length !== 16) {
    throw new VigilError(
      'VIGIL_ERR_STREAM_HASH',
      `hammingDistance: expected 16 hex digits, got '${a}' and '${b}'`,
    );
  }
  return (
    popcount32((parseInt(a.slice(0, 8), 16) ^ parseInt(b.slice(0, 8), 16)) >>> 0) +
    popcount32((parseInt(a.slice(8), 16) ^ parseInt(b.slice(8), 16)) >>> 0)
  );
}
