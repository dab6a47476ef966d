/**
 * Memory cache around the model call: a keyframe whose perceptual hash is within
 * `maxHammingDistance` bits of a recently analysed keyframe of the same stream reuses that analysis
 * instead of calling the model. LRU, bounded in entries and in (estimated) bytes; evictions, hits,
 * misses and skips are counted. No I/O: the model call is passed in (`cachedAnalyze`).
 *
 * Safety: by default only keyframes chosen for `max-interval` (a static scene) may reuse an
 * analysis; motion and scene-cut keyframes mean something changed, so they always go to the model.
 * Entries expire after `maxAgeMs` of stream time, so a long-static scene is still re-checked.
 */
import type { Analysis, Keyframe, KeyframeReason } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import { checkNumber, rejectUnknownKeys } from './options.js';
import { dHash, hammingDistance } from './phash.js';

export interface CacheOptions {
  /** Largest Hamming distance (bits of 64) still counted as the same picture (default 4). */
  maxHammingDistance?: number;
  /** Entries kept (default 256). */
  maxEntries?: number;
  /** Estimated bytes of cached analyses kept (default 4 MiB). */
  maxBytes?: number;
  /** An entry is reused only this long after it was analysed, ms of stream time (default 30000). */
  maxAgeMs?: number;
  /** Keyframe reasons allowed to reuse an analysis (default ['max-interval']). */
  reuseReasons?: readonly KeyframeReason[];
}

export interface CacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  /** Keyframes not looked up (reason not in reuseReasons). */
  skipped: number;
  /** Entries evicted by the entry or byte bound (expired ones included). */
  evictions: number;
  /** Analyses not stored: unavailable, or larger than maxBytes alone. */
  notStored: number;
  /** hits / (hits + misses), 0 before any lookup. */
  hitRate: number;
}

interface Entry {
  hash: string;
  streamId: string;
  ptsNs: number;
  analysis: Analysis;
  bytes: number;
}

const C = 'AnalysisCache';
const REASONS: readonly KeyframeReason[] = ['first', 'motion', 'scene-cut', 'max-interval'];

/** Rough retained size of an analysis: fixed overhead plus per detection and per text character. */
export function estimateAnalysisBytes(a: Analysis): number {
  let n = 256 + a.keyframeId.length * 2 + a.streamId.length * 2;
  for (const d of a.detections) n += 96 + d.label.length * 2;
  for (const t of a.text) n += 32 + t.length * 2;
  if (a.caption !== undefined) n += 32 + a.caption.length * 2;
  return n;
}

export class AnalysisCache {
  private readonly maxDistance: number;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly maxAgeNs: number;
  private readonly reasons: ReadonlySet<KeyframeReason>;
  /** Insertion order = recency order (oldest first). Keyed by keyframe id. */
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private skipped = 0;
  private evictions = 0;
  private notStored = 0;

  constructor(options: CacheOptions = {}) {
    rejectUnknownKeys(C, options, [
      'maxHammingDistance',
      'maxEntries',
      'maxBytes',
      'maxAgeMs',
      'reuseReasons',
    ]);
    this.maxDistance = checkNumber(C, 'maxHammingDistance', options.maxHammingDistance ?? 4, {
      min: 0,
      max: 64,
      integer: true,
    });
    this.maxEntries = checkNumber(C, 'maxEntries', options.maxEntries ?? 256, { min: 1, integer: true });
    this.maxBytes = checkNumber(C, 'maxBytes', options.maxBytes ?? 4 * 1024 * 1024, {
      min: 1,
      integer: true,
    });
    this.maxAgeNs = checkNumber(C, 'maxAgeMs', options.maxAgeMs ?? 30_000, { min: 0 }) * 1e6;
    const reasons = options.reuseReasons ?? ['max-interval'];
    if (!Array.isArray(reasons) || !reasons.every((r) => REASONS.includes(r))) {
      throw new ConfigError(`${C}: reuseReasons must be an array of ${REASONS.join(', ')}`);
    }
    this.reasons = new Set(reasons);
  }

  /** A copy of the cached analysis re-addressed to `keyframe`, or null (miss or not eligible). */
  lookup(keyframe: Keyframe): Analysis | null {
    if (!this.reasons.has(keyframe.reason)) {
      this.skipped++;
      return null;
    }
    const hash = keyframe.phash ?? dHash(keyframe.frame.analysis);
    const { streamId, ptsNs, captureTimeMs } = keyframe.frame;
    let best: Entry | null = null;
    let bestDistance = Infinity;
    for (const e of this.entries.values()) {
      if (e.streamId !== streamId) continue;
      const age = ptsNs - e.ptsNs;
      if (age < 0 || age > this.maxAgeNs) continue;
      const d = hammingDistance(hash, e.hash);
      if (
        d <= this.maxDistance &&
        (d < bestDistance || (d === bestDistance && best !== null && e.ptsNs > best.ptsNs))
      ) {
        best = e;
        bestDistance = d;
      }
    }
    if (best === null) {
      this.misses++;
      return null;
    }
    this.hits++;
    // Refresh recency.
    this.entries.delete(best.analysis.keyframeId);
    this.entries.set(best.analysis.keyframeId, best);
    const a = best.analysis;
    return {
      ...a,
      keyframeId: keyframe.id,
      streamId,
      ptsNs,
      captureTimeMs,
      detections: a.detections.map((d) => ({ ...d, box: { ...d.box } })),
      text: [...a.text],
      inferenceMs: 0,
      cachedFrom: a.cachedFrom ?? a.keyframeId,
    };
  }

  /** Stores an available analysis of `keyframe` (most recent), evicting the least recently used. */
  store(keyframe: Keyframe, analysis: Analysis): void {
    if (!analysis.available || analysis.cachedFrom !== undefined) {
      if (!analysis.available) this.notStored++;
      return;
    }
    const bytes = estimateAnalysisBytes(analysis);
    if (bytes > this.maxBytes) {
      this.notStored++;
      return;
    }
    const hash = keyframe.phash ?? dHash(keyframe.frame.analysis);
    const old = this.entries.get(analysis.keyframeId);
    if (old !== undefined) {
      this.entries.delete(analysis.keyframeId);
      this.bytes -= old.bytes;
    }
    this.entries.set(analysis.keyframeId, {
      hash,
      streamId: keyframe.frame.streamId,
      ptsNs: keyframe.frame.ptsNs,
      analysis,
      bytes,
    });
    this.bytes += bytes;
    while (this.entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      const e = this.entries.get(oldest.value) as Entry;
      this.entries.delete(oldest.value);
      this.bytes -= e.bytes;
      this.evictions++;
    }
  }

  stats(): CacheStats {
    const lookups = this.hits + this.misses;
    return {
      entries: this.entries.size,
      bytes: this.bytes,
      hits: this.hits,
      misses: this.misses,
      skipped: this.skipped,
      evictions: this.evictions,
      notStored: this.notStored,
      hitRate: lookups === 0 ? 0 : this.hits / lookups,
    };
  }

  /** Drops every entry (counters are kept). */
  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}

/**
 * Wraps the model call: near-duplicates are answered from the cache, everything else goes to
 * `analyze` and its (available) answer is stored. The returned function has the same shape as
 * `analyze`, so it drops into any `mergeMap`/bounded queue around the model call.
 */
export function cachedAnalyze(
  cache: AnalysisCache,
  analyze: (keyframe: Keyframe) => Promise<Analysis>,
): (keyframe: Keyframe) => Promise<Analysis> {
  if (!(cache instanceof AnalysisCache))
    throw new ConfigError('cachedAnalyze: cache must be an AnalysisCache');
  if (typeof analyze !== 'function') throw new ConfigError('cachedAnalyze: analyze must be a function');
  return async (keyframe) => {
    const hit = cache.lookup(keyframe);
    if (hit !== null) return hit;
    const analysis = await analyze(keyframe);
    cache.store(keyframe, analysis);
    return analysis;
  };
}
