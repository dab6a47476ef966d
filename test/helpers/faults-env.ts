/**
 * Shared pieces of the fault tests: the manager's real reconnecting ingest with short backoff and
 * watchdog (tests must recover in seconds, not the production 30 s cap), waiting for conditions,
 * reading back what JetStream holds, and heap sampling after a forced GC.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { defaultFrameSource, type FrameSource } from '../../src/analyzer/manager.js';
import type { AnalyzeKeyframe } from '../../src/analyzer/stream-runner.js';
import type { Analysis } from '../../src/core/contracts.js';
import type { StreamSourceOptions } from '../../src/ingest/stream-source.js';

/** Reconnect and watchdog settings for tests: retries within ~0.5 s, a hang noticed after 2 s. */
export const FAST_RECONNECT: Pick<
  StreamSourceOptions,
  'reconnect' | 'stallTimeoutMs' | 'watchdogIntervalMs' | 'firstFrameTimeoutMs'
> = {
  reconnect: {
    initialDelayMs: 50,
    maxDelayMs: 500,
    factor: 2,
    jitter: 0.2,
    maxAttempts: Infinity,
    resetAfterMs: 2_000,
  },
  stallTimeoutMs: 2_000,
  watchdogIntervalMs: 100,
  firstFrameTimeoutMs: 4_000,
};

/** The manager's default (reconnecting StreamSource) with test-sized backoff and small frames. */
export function fastFrameSource(extra: Partial<StreamSourceOptions> = {}): FrameSource {
  return (spec, options, counters) => {
    const o: StreamSourceOptions = {
      ...options,
      ...FAST_RECONNECT,
      analysisWidth: 80,
      modelWidth: 320,
      ...extra,
    };
    return defaultFrameSource(spec, o, counters);
  };
}

/**
 * For tests about ingest and publishing, where the model is beside the point: every analysis is
 * "unavailable" (the degraded path the analyzer takes when inference is down), at once.
 */
export const withoutModel: AnalyzeKeyframe = async (kf): Promise<Analysis> => ({
  keyframeId: kf.id,
  streamId: kf.frame.streamId,
  ptsNs: kf.frame.ptsNs,
  captureTimeMs: kf.frame.captureTimeMs,
  available: false,
  detections: [],
  text: [],
  model: { name: 'none', version: '' },
  inferenceMs: 0,
  error: 'analysis unavailable: no model in this test',
});

export async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - t0;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every message id (CloudEvents id) stored in a JetStream stream, and the stream's message count. */
export async function jetstreamContents(
  url: string,
  stream = 'VIGIL',
): Promise<{ messages: number; ids: string[]; subjects: string[] }> {
  const nc = await connect({ servers: url, name: 'vigil-faults-reader' });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const ids: string[] = [];
    const subjects: string[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (!m) continue;
      ids.push(m.json<{ id: string }>().id);
      subjects.push(m.subject);
    }
    return { messages: info.state.messages, ids, subjects };
  } finally {
    await nc.close();
  }
}

let gcFn: (() => void) | undefined;
/** Heap plus array buffers after a full GC, bytes (pixel buffers live in array buffers). */
export function liveBytes(): number {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
