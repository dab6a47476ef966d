/**
 * Faults at inference, under the analyzer's manager with live test sources, the real gRPC client
 * (retries, circuit breaker) and the real inference server (YOLOv8n) in its own process,
 * publishing to a real nats-server:
 * - the server is SIGKILLed and restarted on the same port: analyses turn `available: false`
 *   ("analysis unavailable"), summaries and events keep flowing, nothing fails, and analyses come
 *   back by themselves once the server is up again;
 * - the server is slow (every call held 1.5 s by a proxy): the per-stream inference queue stays
 *   within its bound, the oldest keyframes are dropped and counted (inferDropped), only
 *   `inferConcurrency` calls reach the server at once, and memory does not grow.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeWith } from '../../src/analyzer/analyze.js';
import { createManager, type Manager } from '../../src/analyzer/manager.js';
import { InferenceClient } from '../../src/infer/client.js';
import { createDetector } from '../../src/infer/detector.js';
import { createPublisher, type Publisher } from '../../src/publish/nats-publisher.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { collect } from '../helpers/collector.js';
import { fastFrameSource, liveBytes, sleep, until } from '../helpers/faults-env.js';
import {
  spawnInferenceServer,
  startDelayProxy,
  yoloOnlyRepo,
  type InferProcess,
} from '../helpers/faults-infer.js';

let repo: string;
let server: InferProcess;
let nats: LocalNatsServer;
let publisher: Publisher;
let collector: Awaited<ReturnType<typeof collect>>;
const cleanups: (() => Promise<unknown> | unknown)[] = [];

beforeAll(async () => {
  repo = yoloOnlyRepo();
  [server, nats] = await Promise.all([spawnInferenceServer(repo), startNatsServer()]);
  collector = await collect(nats.url, 'vigil.>', 100_000);
  publisher = await createPublisher({ servers: nats.url, evidence: false });
}, 90_000);

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
  await publisher?.close();
  await collector?.close();
  await nats?.stop();
  await server?.stop();
  if (repo) rmSync(repo, { recursive: true, force: true });
});

function analyzerOn(address: string, deadlineMs: number) {
  const client = new InferenceClient({
    addresses: [address],
    deadlineMs,
    retries: 1,
    retryBackoffMs: 20,
    breaker: { failureThreshold: 2, resetTimeoutMs: 300 },
    reconnectBackoffMaxMs: 200,
  });
  cleanups.push(() => client.close());
  const manager: Manager = createManager({
    analyze: analyzeWith(createDetector({ client }), 'yolov8n', { health: client }),
    sink: publisher,
    frameSource: fastFrameSource(),
    windowMs: 1_000,
  });
  cleanups.push(() => manager.close());
  return { client, manager };
}

type Detections = { data: { streamId: string; available: boolean; captureTimeMs: number } };
const detections = (stream: string) =>
  collector.messages
    .filter((m) => m.subject === `vigil.${stream}.detections`)
    .map((m) => (m.body as Detections).data);
const count = (prefix: string) => collector.messages.filter((m) => m.subject.startsWith(prefix)).length;

describe('inference server killed and restarted', () => {
  it('streams go degraded (analysis unavailable), keep summarizing, and recover by themselves', async () => {
    const { client, manager } = analyzerOn(server.address, 5_000);
    await manager.attach({
      id: 'door',
      url: 'test:ball?width=320&height=240&fps=10',
      keyframes: { minIntervalMs: 500, maxIntervalMs: 1_000 },
    });
    await until('analyses', () => detections('door').filter((d) => d.available).length >= 2, 60_000);

    await server.kill();
    const killedAt = Date.now();
    await until(
      'degraded analyses',
      () => detections('door').filter((d) => !d.available && d.captureTimeMs > killedAt).length >= 3,
      20_000,
    );
    expect(client.available).toBe(false);
    // While inference is down the stream goes on: summaries keep coming, a new stream starts and
    // reports its motion, all without a model.
    const summariesBefore = count('vigil.door.summary.');
    await manager.attach({ id: 'yard', url: 'test:snow?width=160&height=120&fps=10' });
    await until(
      'summaries during the outage',
      () => count('vigil.door.summary.') >= summariesBefore + 2,
      10_000,
    );
    await until('an event from the new stream', () => count('vigil.yard.event.motion.') >= 1, 15_000);
    const down = manager.status('door');
    expect(down.state).toBe('live');
    expect(down.counters.inferFailed).toBeGreaterThan(0);
    const degraded = detections('yard');
    expect(degraded.length).toBeGreaterThan(0);
    expect(degraded.every((d) => !d.available)).toBe(true);

    await server.restart();
    const restartedAt = Date.now();
    const analysedBefore = manager.status('door').counters.analysed;
    await until(
      'analyses again on both streams',
      () =>
        ['door', 'yard'].every((s) =>
          detections(s).some((d) => d.available && d.captureTimeMs > restartedAt),
        ),
      30_000,
    );
    expect(client.health().state).toBe('closed');
    for (const s of manager.list()) {
      expect(s.state).toBe('live');
      expect(s.error).toBeNull();
    }
    expect(manager.status('door').counters.analysed).toBeGreaterThan(analysedBefore);
    await manager.close();
  }, 150_000);
});

describe('a slow inference server', () => {
  it('keeps the inference queue within its bound, drops and counts, and does not grow memory', async () => {
    const proxy = await startDelayProxy(server.address, 1_500);
    cleanups.push(() => proxy.close());
    const { manager } = analyzerOn(proxy.address, 10_000);
    const inferQueue = 2;
    await manager.attach({
      id: 'busy',
      // Noise: every keyframe differs, so the near-duplicate cache cannot answer for the model.
      url: 'test:snow?width=160&height=120&fps=15',
      keyframes: { minIntervalMs: 100, maxIntervalMs: 200 },
      inferQueue,
      inferConcurrency: 1,
    });
    await until('first keyframes', () => manager.status('busy').counters.keyframes >= 3, 20_000);
    let maxInSystem = 0;
    const sampler = setInterval(() => {
      const c = manager.status('busy').counters;
      maxInSystem = Math.max(
        maxInSystem,
        c.keyframes - c.analysed - c.inferFailed - c.inferDropped - c.inferStale,
      );
    }, 20);
    cleanups.push(() => clearInterval(sampler));
    await sleep(2_000);
    const early = liveBytes();
    const droppedEarly = manager.status('busy').counters.inferDropped;
    await sleep(8_000);
    const late = liveBytes();
    clearInterval(sampler);

    const c = manager.status('busy').counters;
    expect(c.keyframes).toBeGreaterThan(30);
    expect(c.inferDropped - droppedEarly).toBeGreaterThan(10);
    expect(c.analysed).toBeGreaterThan(2);
    // Waiting (the bound) plus the one being analysed.
    expect(maxInSystem).toBeLessThanOrEqual(inferQueue + 1);
    expect(proxy.stats().maxConcurrent).toBeLessThanOrEqual(1);
    expect(manager.status('busy').state).toBe('live');
    // Hundreds of dropped model-size frames: none of them is retained.
    expect(late - early).toBeLessThan(24 * 1024 * 1024);
    await manager.close();
  }, 90_000);
});
