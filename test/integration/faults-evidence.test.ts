/**
 * Evidence storage at its cap: keyframe JPEGs go to a JetStream object store with a tiny size cap
 * (and, in the second test, a short max age). Past the cap the oldest evidence goes and the newest
 * is kept; events keep being published and acked (a full bucket never blocks the retry buffer);
 * expired evidence disappears by itself; nothing crashes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Keyframe } from '../../src/core/contracts.js';
import { createPublisher } from '../../src/publish/nats-publisher.js';
import { startNatsServer } from '../../src/publish/nats-server.js';
import { sampleAnalysis, sampleEvent, sampleKeyframe } from '../helpers/messages.js';
import { jetstreamContents, sleep } from '../helpers/faults-env.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

/** A keyframe whose pixels are noise: its JPEG is large (tens of KB) and differs every time. */
function noisyKeyframe(streamId: string, seq: number): Keyframe {
  const kf = sampleKeyframe(streamId, seq, 320, 240);
  const data = kf.frame.model.data;
  let x = seq * 7919 + 1;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    data[i] = x >> 23;
  }
  return kf;
}

async function objects(url: string, bucket: string) {
  const nc = await connect({ servers: url });
  try {
    const os = await new Objm(nc).open(bucket);
    const list = await os.list();
    const status = await os.status();
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(`OBJ_${bucket}`);
    return { names: list.map((o) => o.name), bytes: status.size, info };
  } finally {
    await nc.close();
  }
}

describe('evidence storage at its cap', () => {
  it('evicts the oldest evidence, keeps the newest, and never blocks events', async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.stop());
    const cap = 256 * 1024;
    const publisher = await createPublisher({
      servers: nats.url,
      ackTimeoutMs: 1_000,
      evidence: { bucket: 'tiny', maxBytes: cap, maxAgeMs: 3_600_000 },
    });
    cleanups.push(() => publisher.close());

    const total = 60;
    let jpegBytes = 0;
    for (let i = 0; i < total; i++) {
      const kf = noisyKeyframe('gate', i);
      await publisher.keyframe(kf, sampleAnalysis(kf));
      jpegBytes += publisher.jpegCache.get(kf.id)!.data.length;
      await publisher.event(sampleEvent('gate', i, kf.id));
      if (i % 10 === 9) await publisher.flush(20_000);
    }
    await publisher.flush(20_000);
    // Far more evidence than the cap holds went in.
    expect(jpegBytes).toBeGreaterThan(3 * cap);

    const stats = publisher.stats();
    expect(stats.dropped).toBe(0);
    expect(stats.pending).toBe(0);
    expect(stats.evidenceStored).toBe(total);
    expect(stats.evidenceEvicted).toBeGreaterThan(total / 2);
    // Every event was published and references its image.
    const stored = await jetstreamContents(nats.url);
    expect(stored.messages).toBe(total);
    const { names, bytes, info } = await objects(nats.url, 'tiny');
    expect(info.state.bytes).toBeLessThanOrEqual(cap);
    expect(bytes).toBeLessThanOrEqual(cap);
    // The newest evidence is there; the oldest went.
    expect(names).toContain('gate/gate:59.jpg');
    expect(names).toContain('gate/gate:58.jpg');
    expect(names).not.toContain('gate/gate:0.jpg');
    expect(names.length).toBeGreaterThan(1);
    expect(names.length).toBeLessThan(total);
    // What is listed can be read back whole (no object with chunks half evicted).
    const nc = await connect({ servers: nats.url });
    cleanups.push(() => nc.close());
    const os = await new Objm(nc).open('tiny');
    for (const name of names) {
      const blob = await os.getBlob(name);
      expect(blob, name).not.toBeNull();
      expect([blob![0], blob![1]]).toEqual([0xff, 0xd8]);
    }
  }, 60_000);

  it('old evidence expires by age while new evidence keeps coming', async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.stop());
    const publisher = await createPublisher({
      servers: nats.url,
      evidence: { bucket: 'shortlived', maxBytes: 8 * 1024 * 1024, maxAgeMs: 1_500 },
    });
    cleanups.push(() => publisher.close());
    const put = async (i: number) => {
      const kf = noisyKeyframe('yard', i);
      await publisher.keyframe(kf, sampleAnalysis(kf));
      await publisher.event(sampleEvent('yard', i, kf.id));
      await publisher.flush(10_000);
    };
    await put(0);
    expect((await objects(nats.url, 'shortlived')).names).toEqual(['yard/yard:0.jpg']);
    await sleep(1_000);
    await put(1);
    let names: string[] = [];
    const t0 = Date.now();
    while (Date.now() - t0 < 5_000) {
      names = (await objects(nats.url, 'shortlived')).names;
      if (!names.includes('yard/yard:0.jpg')) break;
      await sleep(100);
    }
    expect(names).not.toContain('yard/yard:0.jpg');
    await put(2);
    names = (await objects(nats.url, 'shortlived')).names;
    expect(names).toContain('yard/yard:2.jpg');
    expect(publisher.stats().evidenceStored).toBe(3);
  }, 30_000);
});
