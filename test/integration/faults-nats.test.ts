/**
 * Faults at NATS, under the analyzer's manager with live test sources and the real publisher:
 * - nats-server stopped and restarted mid-run (same port, same JetStream store): every event and
 *   summary the analyzer handed to the publisher is in JetStream, once;
 * - nats-server hung (SIGSTOP) so acks stall: the publisher's retry buffer stays within its bound,
 *   drops the oldest and counts every drop; nothing is lost silently (stored + dropped covers all);
 * - a slow consumer (a subscriber that never reads its socket) beside a normal one: the analyzer
 *   keeps publishing and being acked, the normal subscriber gets everything, and the analyzer's
 *   memory does not grow with what the slow one fails to read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect as tcpConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { createManager, type Manager, type ManagerSink } from '../../src/analyzer/manager.js';
import { createPublisher, type Publisher } from '../../src/publish/nats-publisher.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { collect } from '../helpers/collector.js';
import {
  fastFrameSource,
  jetstreamContents,
  liveBytes,
  sleep,
  until,
  withoutModel,
} from '../helpers/faults-env.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

const SOURCE = 'test:ball?width=160&height=120&fps=10';

/** The real publisher as the manager's sink, noting the id of every durable message handed to it. */
function recording(publisher: Publisher) {
  const ids: string[] = [];
  const sink: ManagerSink = {
    summary: (s) => (ids.push(s.id), publisher.summary(s)),
    event: (e) => (ids.push(e.id), publisher.event(e)),
    detections: (a, kf) => publisher.detections(a, kf),
    keyframe: (kf, a) => publisher.keyframe(kf, a),
    status: (id, info) => publisher.status(id, info),
  };
  return { ids, sink };
}

async function analyzer(publisher: Publisher, streams: number, windowMs: number) {
  const rec = recording(publisher);
  const manager: Manager = createManager({
    analyze: withoutModel,
    sink: rec.sink,
    frameSource: fastFrameSource(),
    windowMs,
  });
  cleanups.push(() => manager.close());
  for (let i = 0; i < streams; i++) {
    await manager.attach({
      id: `cam${i}`,
      url: SOURCE,
      keyframes: { minIntervalMs: 100, maxIntervalMs: 200 },
    });
  }
  await until('every stream live', () => manager.list().every((s) => s.counters.frames > 3), 20_000);
  return { manager, ids: rec.ids };
}

/** Bytes waiting in the NATS client's own outbound buffer (nats.js internals; white-box). */
function clientOutbound(publisher: Publisher): number {
  const nc = publisher.connection as unknown as { protocol: { outbound: { size(): number } } };
  return nc.protocol.outbound.size();
}

describe('nats-server restarted mid-run', () => {
  it('loses no event or summary: what the analyzer published is exactly what JetStream holds', async () => {
    const storeDir = mkdtempSync(join(tmpdir(), 'vigil-faults-js-'));
    cleanups.push(async () => rmSync(storeDir, { recursive: true, force: true }));
    let nats: LocalNatsServer = await startNatsServer({ storeDir });
    cleanups.push(() => nats.stop());
    const port = nats.port;
    const publisher = await createPublisher({ servers: nats.url, evidence: false, ackTimeoutMs: 500 });
    cleanups.push(() => publisher.close());
    const { manager, ids } = await analyzer(publisher, 3, 300);

    await sleep(1_500);
    await nats.stop();
    const atStop = ids.length;
    let outboundMax = 0;
    for (let i = 0; i < 25; i++) {
      await sleep(100);
      outboundMax = Math.max(outboundMax, clientOutbound(publisher));
    }
    // The analyzer went on: its summaries wait in the publisher's retry buffer.
    expect(ids.length).toBeGreaterThan(atStop + 10);
    expect(publisher.stats().pending).toBeGreaterThan(0);
    nats = await startNatsServer({ port, storeDir });
    await sleep(1_500);
    for (const s of manager.list()) await manager.detach(s.id);
    const published = ids.length;
    await publisher.flush(30_000);

    const stats = publisher.stats();
    expect(stats.pending).toBe(0);
    // Core messages (keyframe records, detections, status) are ephemeral: while the connection is
    // down they are dropped and counted, not piled up in the client's buffer until it comes back.
    expect(stats.coreDropped).toBeGreaterThan(0);
    expect(outboundMax).toBeLessThan(4096);
    expect(stats.dropped).toBe(0);
    expect(stats.acked).toBe(published);
    expect(new Set(ids).size).toBe(published);
    const stored = await jetstreamContents(nats.url);
    expect(stored.messages).toBe(published);
    expect(new Set(stored.ids)).toEqual(new Set(ids));
    expect(published).toBeGreaterThanOrEqual(30);
  }, 60_000);
});

describe('acks stall (nats-server hung with SIGSTOP)', () => {
  it('the retry buffer stays within its bound, drops the oldest, counts every drop', async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.stop());
    const maxPending = 8;
    const publisher = await createPublisher({
      servers: nats.url,
      evidence: false,
      ackTimeoutMs: 300,
      maxPending,
    });
    cleanups.push(() => publisher.close());
    const { manager, ids } = await analyzer(publisher, 2, 200);
    await sleep(500);

    let maxSeen = 0;
    const sampler = setInterval(() => (maxSeen = Math.max(maxSeen, publisher.stats().pending)), 20);
    cleanups.push(async () => clearInterval(sampler));
    nats.process.kill('SIGSTOP');
    let resumed = false;
    cleanups.push(async () => void (resumed || nats.process.kill('SIGCONT')));
    const atStop = ids.length;
    await sleep(3_000);
    const duringStall = ids.length - atStop;
    expect(duringStall).toBeGreaterThan(2 * maxPending);
    expect(publisher.stats().dropped).toBeGreaterThan(0);
    nats.process.kill('SIGCONT');
    resumed = true;
    await sleep(1_000);
    for (const s of manager.list()) await manager.detach(s.id);
    await publisher.flush(30_000);
    clearInterval(sampler);

    const stats = publisher.stats();
    expect(maxSeen).toBeLessThanOrEqual(maxPending);
    // Every durable message was either acked or counted as dropped; none vanished.
    expect(stats.acked + stats.dropped).toBe(ids.length);
    expect(stats.dropped).toBeGreaterThanOrEqual(duringStall - 2 * maxPending);
    const stored = await jetstreamContents(nats.url);
    const storedIds = new Set(stored.ids);
    // A publish dropped from the buffer may still have reached the server before it hung.
    expect(stored.messages).toBeGreaterThanOrEqual(stats.acked);
    expect(ids.filter((id) => !storedIds.has(id)).length).toBeLessThanOrEqual(stats.dropped);
    expect(stored.ids.every((id) => ids.includes(id))).toBe(true);
    // After the stall, publishing works again: the last message handed over is stored.
    expect(storedIds.has(ids.at(-1)!)).toBe(true);
  }, 60_000);
});

/** A NATS client that subscribes and then never reads its socket again. */
async function stuckSubscriber(port: number, subject: string): Promise<Socket> {
  const socket = tcpConnect({ host: '127.0.0.1', port });
  await new Promise<void>((res, rej) => {
    socket.once('error', rej);
    socket.once('data', () => res()); // INFO
  });
  socket.write(`CONNECT {"verbose":false,"pedantic":false,"name":"stuck"}\r\nSUB ${subject} 1\r\nPING\r\n`);
  await new Promise<void>((res) => socket.once('data', () => res())); // PONG
  socket.pause();
  return socket;
}

describe('a slow consumer', () => {
  it('does not slow the analyzer or grow its memory; a normal subscriber gets everything', async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.stop());
    const stuck = await stuckSubscriber(nats.port, 'vigil.>');
    cleanups.push(async () => stuck.destroy());
    const normal = await collect(nats.url, 'vigil.*.summary.>', 100_000);
    cleanups.push(() => normal.close());
    const publisher = await createPublisher({ servers: nats.url, evidence: false });
    cleanups.push(() => publisher.close());
    const { manager, ids } = await analyzer(publisher, 2, 200);

    // Other traffic the stuck subscriber also asked for: far more than socket buffers hold.
    const noise = await connect({ servers: nats.url, name: 'vigil-faults-noise' });
    cleanups.push(() => noise.close());
    const payload = new Uint8Array(64 * 1024).fill(120);
    const before = liveBytes();
    const samples: number[] = [];
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 48; i++) noise.publish('vigil.noise.keyframe', payload);
      await noise.flush();
      await sleep(250);
      samples.push(liveBytes());
    }
    // 30 MiB went to a subscriber that read none of it.
    for (const s of manager.list()) await manager.detach(s.id);
    await publisher.flush(15_000);
    await normal.flush();

    const stats = publisher.stats();
    expect(stats.dropped).toBe(0);
    expect(stats.acked).toBe(ids.length);
    const summaries = ids.filter((id) => !id.includes(':stream.') && /:(window|segment|stream):/.test(id));
    expect(summaries.length).toBeGreaterThan(10);
    const received = new Set(normal.messages.map((m) => (m.body as { id: string }).id));
    for (const id of summaries) expect(received.has(id), id).toBe(true);
    // The analyzer process (this one) held on to none of the 30 MiB.
    const growth = Math.max(...samples) - before;
    expect(growth).toBeLessThan(16 * 1024 * 1024);
  }, 60_000);
});
