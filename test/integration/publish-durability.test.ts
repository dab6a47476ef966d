/**
 * The publisher against a real nats-server: a server restart mid-run (same port, same store) loses
 * nothing; the retry buffer is bounded (drop-oldest, counted); keyframe evidence lands in the object
 * store and events reference it; every message validates against its JSON Schema.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { createPublisher, type Publisher } from '../../src/publish/nats-publisher.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { kindOfSubject, validateMessage } from '../../src/publish/schemas.js';
import { collect } from '../helpers/collector.js';
import { sampleAnalysis, sampleEvent, sampleKeyframe, sampleSummary } from '../helpers/messages.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups.length = 0;
});

async function storedCount(url: string, stream = 'VIGIL'): Promise<number> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    return (await jsm.streams.info(stream)).state.messages;
  } finally {
    await nc.close();
  }
}

describe('publisher durability', () => {
  it('a nats-server restart mid-run loses nothing: published == stored', async () => {
    const storeDir = mkdtempSync(join(tmpdir(), 'vigil-js-restart-'));
    cleanups.push(async () => rmSync(storeDir, { recursive: true, force: true }));
    let nats: LocalNatsServer = await startNatsServer({ storeDir });
    const port = nats.port;
    cleanups.push(() => nats.stop());
    const pub = await createPublisher({ servers: nats.url, ackTimeoutMs: 500, evidence: false });
    cleanups.push(() => pub.close());

    const total = 120;
    for (let i = 0; i < total; i++) {
      if (i % 2 === 0) await pub.event(sampleEvent('door', i));
      else await pub.summary(sampleSummary('door', i));
      if (i === 40) {
        await pub.flush(10_000);
        await nats.stop();
      }
      // While the server is down the messages wait in the retry buffer.
      if (i === 80) {
        expect(pub.stats().pending).toBeGreaterThan(0);
        nats = await startNatsServer({ port, storeDir });
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await pub.flush(30_000);
    const s = pub.stats();
    expect(s.dropped).toBe(0);
    // While the server was down nothing was attempted (the NATS client would only pile it up in
    // its own unbounded buffer): the messages waited in the retry buffer (pending > 0 above).
    expect(s.pending).toBe(0);
    expect(await storedCount(nats.url)).toBe(total);
  }, 60_000);

  it('the retry buffer is bounded: with the server down the oldest are dropped and counted', async () => {
    const storeDir = mkdtempSync(join(tmpdir(), 'vigil-js-bound-'));
    cleanups.push(async () => rmSync(storeDir, { recursive: true, force: true }));
    let nats = await startNatsServer({ storeDir });
    const port = nats.port;
    cleanups.push(() => nats.stop());
    const pub = await createPublisher({
      servers: nats.url,
      ackTimeoutMs: 300,
      maxPending: 10,
      evidence: false,
    });
    cleanups.push(() => pub.close());
    await nats.stop();
    for (let i = 0; i < 25; i++) await pub.event(sampleEvent('cam', i));
    expect(pub.stats().pending).toBeLessThanOrEqual(10);
    expect(pub.stats().dropped).toBe(15);
    nats = await startNatsServer({ port, storeDir });
    await pub.flush(30_000);
    expect(await storedCount(nats.url)).toBe(10);
    // The newest survived (drop-oldest).
    const nc = await connect({ servers: nats.url });
    cleanups.push(() => nc.close());
    const jsm = await jetstreamManager(nc);
    const last = await jsm.streams.getMessage('VIGIL', { last_by_subj: 'vigil.cam.event.count.changed' });
    expect(last?.json<{ id: string }>().id).toBe('cam:count.changed:24');
  }, 60_000);

  it('stores keyframe evidence JPEGs in the object store; events reference them; all messages valid', async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.stop());
    const collector = await collect(nats.url, 'vigil.>');
    cleanups.push(() => collector.close());
    const pub: Publisher = await createPublisher({
      servers: nats.url,
      evidence: { bucket: 'evidence-test', maxBytes: 8 * 1024 * 1024, maxAgeMs: 3_600_000 },
    });
    cleanups.push(() => pub.close());

    const kf = sampleKeyframe('lobby', 7);
    const analysis = sampleAnalysis(kf);
    await pub.keyframe(kf, analysis);
    await pub.detections(analysis, kf);
    await pub.event(sampleEvent('lobby', 1, kf.id));
    await pub.event(sampleEvent('lobby', 2, 'lobby:999')); // not cached: no image
    await pub.summary(sampleSummary('lobby', 0));
    await pub.status('lobby', {
      id: 'lobby',
      source: 'test:ball',
      state: 'live',
      live: true,
      windowMs: 1000,
      runId: 'abc',
      attachedAtMs: Date.now(),
      lastFrameAtMs: Date.now(),
      endedAtMs: null,
      counters: {
        frames: 1,
        keyframes: 1,
        analysed: 1,
        inferDropped: 0,
        inferFailed: 0,
        summaries: 0,
        events: 0,
      },
      fps: 25,
      latencyMs: 30,
      error: null,
    });
    await pub.flush(10_000);
    await collector.flush();

    expect(pub.stats().evidenceStored).toBe(1);
    expect(pub.stats().evidenceMissing).toBe(1);
    const events = collector.messages.filter((m) => m.subject === 'vigil.lobby.event.count.changed');
    expect(events).toHaveLength(2);
    const ref = (events[0]!.body as { data: { evidence: { image?: { bucket: string; name: string } } } }).data
      .evidence.image;
    expect(ref).toEqual({ bucket: 'evidence-test', name: 'lobby/lobby:7.jpg', contentType: 'image/jpeg' });
    expect(
      (events[1]!.body as { data: { evidence: { image?: unknown } } }).data.evidence.image,
    ).toBeUndefined();

    const nc = await connect({ servers: nats.url });
    cleanups.push(() => nc.close());
    const os = await new Objm(nc).open('evidence-test');
    const blob = await os.getBlob(ref!.name);
    expect(blob).not.toBeNull();
    expect([blob![0], blob![1]]).toEqual([0xff, 0xd8]); // JPEG SOI
    const status = await os.status();
    expect(status.ttl).toBe(3_600_000 * 1_000_000);

    const kinds = new Set<string>();
    for (const m of collector.messages) {
      const kind = kindOfSubject(m.subject);
      expect(kind, m.subject).not.toBeNull();
      kinds.add(kind!);
      expect(validateMessage(kind!, m.body), m.subject).toBeNull();
      expect(m.headers['Nats-Msg-Id']).toBe((m.body as { id: string }).id);
    }
    expect([...kinds].sort()).toEqual(['detections', 'event', 'keyframe', 'status', 'summary']);
  }, 30_000);

  it('close is idempotent and refuses further durable publishes', async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.stop());
    const pub = await createPublisher({ servers: nats.url, evidence: false });
    await pub.event(sampleEvent('x', 1));
    await Promise.all([pub.close(), pub.close()]);
    await pub.close();
    expect(pub.stats().abandoned).toBe(0);
    await expect(pub.event(sampleEvent('x', 2))).rejects.toMatchObject({ code: 'VIGIL_ERR_PUBLISH' });
    expect(pub.connection.isClosed()).toBe(true);
  });
});
