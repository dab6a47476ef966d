/**
 * Keeps glibc's mmap threshold fixed while GStreamer is loaded (#22 item 6).
 *
 * glibc starts with a 128 KiB threshold and raises it to the size of each large block that is
 * freed; after a decoder's first frame-sized blocks come and go, those sizes are served from the
 * malloc arenas of the streaming threads that asked for them. Pipelines come and go with their
 * threads, and those arenas fragment: with 720p attach/detach churn RSS grew 15-18% in 200 cycles.
 * A fixed threshold gives every block of that size its own mapping, returned when it is freed.
 * Fixing it costs nothing now that decoders copy frames into pooled buffers
 * (`pooledDecodeEnabled`): with libav's direct rendering, each frame was a fresh block, and fresh
 * pages doubled decoding's CPU.
 *
 * `VIGIL_MMAP_THRESHOLD`: a size in bytes (0 to 32 MiB), or `off` to leave glibc's own sliding
 * threshold. Needs Vigil's patch of gstreamer-superficial (`mallocMmapThreshold`).
 */
import { ConfigError } from '../core/errors.js';

/** glibc's own starting value, kept from then on. */
export const DEFAULT_MMAP_THRESHOLD = 128 * 1024;
/** glibc's largest (64-bit). */
export const MAX_MMAP_THRESHOLD = 32 * 1024 * 1024;

/** The threshold to fix, or null to leave glibc's sliding one; ConfigError for a bad value. */
export function mmapThresholdFromEnv(
  env: Readonly<Record<string, string | undefined>> = process.env,
): number | null {
  const raw = env.VIGIL_MMAP_THRESHOLD?.trim();
  if (raw === undefined || raw === '') return DEFAULT_MMAP_THRESHOLD;
  if (/^(off|false|no)$/i.test(raw)) return null; // not switchedOff: 0 is a threshold here
  const bytes = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(bytes >= 0 && bytes <= MAX_MMAP_THRESHOLD))
    throw new ConfigError(
      `VIGIL_MMAP_THRESHOLD must be a whole number of bytes from 0 to ${MAX_MMAP_THRESHOLD}, or off`,
    );
  return bytes;
}

/**
 * Fixes the threshold (as `mmapThresholdFromEnv` read it) with the addon's `mallocMmapThreshold`;
 * the value fixed, or null when left alone (off, or an addon or C library without it).
 */
export function applyMmapThreshold(
  addon: { mallocMmapThreshold?: (bytes: number) => boolean },
  bytes: number | null,
): number | null {
  if (bytes === null || !addon.mallocMmapThreshold) return null;
  return addon.mallocMmapThreshold(bytes) ? bytes : null;
}
