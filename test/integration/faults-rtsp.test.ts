/**
 * Faults at the camera: the RTSP server (Debian's gst-rtsp-server) is killed and restarted 20
 * times in a row, then hung with SIGSTOP and resumed. The unit under test is the analyzer's
 * multi-stream manager with its real reconnecting ingest, publishing to a real nats-server: every
 * stream recovers each time (frames resume), and what reaches NATS says what happened — one
 * `stream.down` and one `stream.recovered` event per outage (stored in JetStream too), and the
 * `vigil.<stream>.status` messages walk live → down → … → recovered, or stalled for the hang.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManager, type Manager } from '../../src/analyzer/manager.js';
import { createPublisher, type Publisher } from '../../src/publish/nats-publisher.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { validateMessage } from '../../src/publish/schemas.js';
import { collect } from '../helpers/collector.js';
import { fastFrameSource, jetstreamContents, sleep, until, withoutModel } from '../helpers/faults-env.js';
import { startRtspServer, type RtspServer } from '../helpers/rtsp-server.js';

const STREAMS = ['cam0', 'cam1'];
const CYCLES = 20;

let nats: LocalNatsServer;
let rtsp: RtspServer;
let publisher: Publisher;
let manager: Manager;
let collector: Awaited<ReturnType<typeof collect>>;

beforeAll(async () => {
  [nats, rtsp] = await Promise.all([
    startNatsServer(),
    startRtspServer({ width: 160, height: 120, fps: 15 }),
  ]);
  collector = await collect(nats.url, 'vigil.>', 50_000);
  publisher = await createPublisher({ servers: nats.url, evidence: false, ackTimeoutMs: 1_000 });
  manager = createManager({
    analyze: withoutModel,
    sink: publisher,
    frameSource: fastFrameSource(),
    windowMs: 60_000,
  });
  for (const id of STREAMS) await manager.attach({ id, url: rtsp.url, keyframes: { maxIntervalMs: 5_000 } });
});

afterAll(async () => {
  await manager?.close();
  await publisher?.close();
  await collector?.close();
  await rtsp?.stop();
  await nats?.stop();
});

type Body = { id: string; type: string; data: Record<string, unknown> };
const bodies = (subject: string) =>
  collector.messages.filter((m) => m.subject === subject).map((m) => m.body as Body);
const states = (id: string) => bodies(`vigil.${id}.status`).map((b) => b.data.state as string);
const outage = (b: Body) => (b.data.data as { outageMs: number }).outageMs;
const frames = (id: string) => manager.status(id).counters.frames;

describe('RTSP server killed and restarted 20 times, then hung', () => {
  it(`every stream recovers after each of ${CYCLES} kills; one down and one recovered per outage`, async () => {
    await until('both streams live', () => STREAMS.every((id) => frames(id) >= 5), 20_000);
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      await rtsp.kill();
      await until(
        `cycle ${cycle}: both down`,
        () => STREAMS.every((id) => manager.status(id).state === 'down'),
        10_000,
      );
      const before = STREAMS.map(frames);
      await rtsp.restart();
      await until(
        `cycle ${cycle}: frames resume on both`,
        () =>
          STREAMS.every(
            (id, i) =>
              frames(id) >= before[i]! + 3 && ['recovered', 'live'].includes(manager.status(id).state),
          ),
        15_000,
      );
    }
    await publisher.flush(10_000);
    await collector.flush();

    for (const id of STREAMS) {
      const downs = bodies(`vigil.${id}.event.stream.down`);
      const ups = bodies(`vigil.${id}.event.stream.recovered`);
      expect(downs, id).toHaveLength(CYCLES);
      expect(ups, id).toHaveLength(CYCLES);
      expect(new Set([...downs, ...ups].map((b) => b.id)).size).toBe(2 * CYCLES);
      for (const d of downs) expect((d.data.data as Body['data']).code).toBe('VIGIL_ERR_SOURCE_UNREACHABLE');
      for (const u of ups) expect(outage(u)).toBeGreaterThan(0);
      // The status messages tell the same story, in order: each outage is down → … → recovered.
      const seq = states(id).filter((s) => s === 'down' || s === 'recovered');
      expect(seq).toEqual(Array.from({ length: CYCLES }, () => ['down', 'recovered']).flat());
      expect(states(id).slice(0, 2)).toEqual(['connecting', 'live']);
      expect(manager.status(id).counters.sinkFailed).toBe(0);
    }
    for (const m of collector.messages) {
      const kind = m.subject.endsWith('.status') ? 'status' : m.subject.includes('.event.') ? 'event' : null;
      if (kind) expect(validateMessage(kind, m.body), m.subject).toBeNull();
    }
    // Events are durable: every one of them is in JetStream. The streams keep running (an event can
    // come after the flush above), so the events seen so far are taken first, then the publisher is
    // drained again before JetStream is read.
    const eventIds = collector.messages
      .filter((m) => m.subject.includes('.event.'))
      .map((m) => (m.body as Body).id);
    await publisher.flush(10_000);
    const stored = await jetstreamContents(nats.url);
    const storedIds = new Set(stored.ids);
    expect(eventIds.filter((id) => !storedIds.has(id))).toEqual([]);
    expect(storedIds.size).toBe(stored.ids.length);
    expect(publisher.stats().dropped).toBe(0);
  }, 180_000);

  it('a hung server (SIGSTOP) is reported stalled, then recovered after SIGCONT', async () => {
    const before = STREAMS.map(frames);
    rtsp.hang();
    try {
      await until(
        'both stalled',
        () =>
          STREAMS.every(
            (id) => states(id).slice(-3).includes('stalled') || manager.status(id).state === 'stalled',
          ),
        8_000,
      );
      const frozen = STREAMS.map(frames);
      await sleep(2_000);
      // Nothing arrives from a hung server, and the manager does not invent frames.
      expect(STREAMS.map(frames)).toEqual(frozen);
      expect(frozen.every((n, i) => n >= before[i]!)).toBe(true);
    } finally {
      rtsp.resume();
    }
    await until(
      'frames again on both',
      () => STREAMS.every((id, i) => frames(id) > before[i]! + 5 && manager.status(id).state === 'recovered'),
      20_000,
    );
    await publisher.flush(10_000);
    await collector.flush();
    for (const id of STREAMS) {
      const tail = states(id).slice(states(id).lastIndexOf('stalled'));
      expect(tail[0], id).toBe('stalled');
      expect(tail.at(-1), id).toBe('recovered');
      // The hang is an outage too: one stream.down (stalled), one stream.recovered.
      const downs = bodies(`vigil.${id}.event.stream.down`);
      expect(downs).toHaveLength(CYCLES + 1);
      expect(downs.at(-1)!.data.data).toMatchObject({ code: 'VIGIL_ERR_SOURCE_STALLED' });
      const ups = bodies(`vigil.${id}.event.stream.recovered`);
      expect(ups).toHaveLength(CYCLES + 1);
      expect(outage(ups.at(-1)!)).toBeGreaterThanOrEqual(2_000);
    }
  }, 60_000);
});
