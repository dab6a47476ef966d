/**
 * Regression, issue 22 item 6 ("RSS grows with churn"): glibc's mmap threshold is fixed (128 KiB
 * by default) when GStreamer loads, so frame-sized blocks are mapped and unmapped instead of
 * fragmenting the streaming threads' malloc arenas; VIGIL_MMAP_THRESHOLD sets it or turns it off,
 * and a bad value is a typed config error. The addon here is a
 * stand-in that records what it was asked; the installed one (mallopt) is checked in
 * test/integration/ingest-decode-memory.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import {
  applyMmapThreshold,
  DEFAULT_MMAP_THRESHOLD,
  MAX_MMAP_THRESHOLD,
  mmapThresholdFromEnv,
} from '../../src/ingest/mmap-threshold.js';

describe('issue 22 item 6: RSS with churn (a fixed mmap threshold)', () => {
  it('reads VIGIL_MMAP_THRESHOLD: 128 KiB by default, bytes, or off', () => {
    expect(DEFAULT_MMAP_THRESHOLD).toBe(131072);
    expect(mmapThresholdFromEnv({})).toBe(131072);
    expect(mmapThresholdFromEnv({ VIGIL_MMAP_THRESHOLD: ' ' })).toBe(131072);
    expect(mmapThresholdFromEnv({ VIGIL_MMAP_THRESHOLD: '262144' })).toBe(262144);
    expect(mmapThresholdFromEnv({ VIGIL_MMAP_THRESHOLD: '0' })).toBe(0);
    expect(mmapThresholdFromEnv({ VIGIL_MMAP_THRESHOLD: String(MAX_MMAP_THRESHOLD) })).toBe(
      MAX_MMAP_THRESHOLD,
    );
    expect(mmapThresholdFromEnv({ VIGIL_MMAP_THRESHOLD: 'OFF' })).toBeNull();
  });

  it.each(['-1', '1e6', '128k', String(MAX_MMAP_THRESHOLD + 1), 'lots'])(
    'VIGIL_MMAP_THRESHOLD=%s is VIGIL_ERR_CONFIG',
    (value) => {
      const read = () => mmapThresholdFromEnv({ VIGIL_MMAP_THRESHOLD: value });
      expect(read).toThrow(ConfigError);
      expect(read).toThrow(/VIGIL_MMAP_THRESHOLD must be a whole number of bytes/);
    },
  );

  it('fixes the threshold through the addon, and leaves it when off or the addon lacks it', () => {
    const asked: number[] = [];
    const addon = { mallocMmapThreshold: (bytes: number) => (asked.push(bytes), true) };
    expect(applyMmapThreshold(addon, mmapThresholdFromEnv({}))).toBe(131072);
    expect(applyMmapThreshold(addon, mmapThresholdFromEnv({ VIGIL_MMAP_THRESHOLD: '65536' }))).toBe(65536);
    expect(applyMmapThreshold(addon, mmapThresholdFromEnv({ VIGIL_MMAP_THRESHOLD: 'off' }))).toBeNull();
    expect(asked).toEqual([131072, 65536]);
    expect(applyMmapThreshold({}, mmapThresholdFromEnv({}))).toBeNull();
    expect(applyMmapThreshold({ mallocMmapThreshold: () => false }, mmapThresholdFromEnv({}))).toBeNull();
  });
});
