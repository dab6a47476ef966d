// Debug: per-frame detector trace on one clip (not a bench; removed before commit).
import { decodeClip } from '../lib/keyframes-decode.js';
import { KeyframeSelector } from '../../src/stream/index.js';
const path = process.argv[2]!;
const { frames } = await decodeClip(path, 'dbg');
const sel = new KeyframeSelector();
console.log('frames', frames.length, frames[0]!.analysis.width, frames[0]!.analysis.height);
for (const f of frames) {
  const k = sel.next(f);
  const sg = sel.lastSignals;
  if (k) console.log((f.ptsNs / 1e9).toFixed(2), k.reason, JSON.stringify(k.shot ?? null));
  void sg;
}
