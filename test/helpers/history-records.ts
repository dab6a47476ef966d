/** Events and window summaries of one stream for history tests, ids in the `<stream>:r1:` form. */
import type { Summary, VigilEvent } from '../../src/core/contracts.js';

export function historyRecords(streamId: string, t0: number) {
  const ev = (n: number, type: string, sec: number, data: Record<string, unknown>): VigilEvent => ({
    id: `${streamId}:r1:${type}:${n}`,
    type,
    streamId,
    timeMs: t0 + sec * 1000,
    ptsNs: sec * 1e9,
    severity: 'info',
    data,
    evidence: {
      streamId,
      keyframeId: `${streamId}:r1:${sec}`,
      ptsNs: sec * 1e9,
      timeMs: t0 + sec * 1000,
      boxes: [],
    },
  });
  const sum = (i: number, text: string, peak: Record<string, number>): Summary => ({
    id: `${streamId}:r1:window:${i}`,
    level: 'window',
    streamId,
    index: i,
    startPtsNs: i * 10e9,
    endPtsNs: (i + 1) * 10e9,
    startTimeMs: t0 + i * 10_000,
    endTimeMs: t0 + (i + 1) * 10_000,
    previousId: null,
    facts: { peakCounts: peak },
    text,
    evidence: [`${streamId}:r1:${i * 10}`],
  });
  return { ev, sum };
}
