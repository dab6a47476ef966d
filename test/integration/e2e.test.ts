/**
 * End to end on the real thing: a real nats-server, the real inference server (YOLOv8n on
 * onnxruntime) on a random loopback port, real GStreamer decoding of the real pedestrian clip.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lastValueFrom } from 'rxjs';
import type { Summary, VigilEvent } from '../../src/core/contracts.js';
import { DEFAULT_INGEST_OPTIONS, openFrames } from '../../src/ingest/frames.js';
import { parseSource } from '../../src/ingest/source.js';
import { createDetector, InferenceClient, startInferenceServer } from '../../src/infer/index.js';
import {
  createPublisher,
  DEFAULT_PUBLISHER_OPTIONS,
  type Publisher,
} from '../../src/publish/nats-publisher.js';
import { startNatsServer, type LocalNatsServer } from '../../src/publish/nats-server.js';
import { kindOfSubject, validateMessage } from '../../src/publish/schemas.js';
import { analyzeWith } from '../../src/analyzer/analyze.js';
import { newCounters, streamPipeline } from '../../src/analyzer/stream-runner.js';
import { collect, type Collected } from '../helpers/collector.js';
import { MODEL_REPO, requireFile, VTEST } from '../helpers/paths.js';

interface CE<T> {
  id: string;
  type: string;
  data: T;
}

describe('end to end: pedestrian clip → YOLOv8n over gRPC → chained summaries and events on NATS', () => {
  let nats: LocalNatsServer;
  let server: Awaited<ReturnType<typeof startInferenceServer>>;
  let client: InferenceClient;
  let publisher: Publisher;
  let collector: Awaited<ReturnType<typeof collect>>;
  const counters = newCounters();
  const failures: string[] = [];

  beforeAll(async () => {
    requireFile(VTEST);
    nats = await startNatsServer();
    server = await startInferenceServer({
      modelRepository: requireFile(MODEL_REPO),
      host: '127.0.0.1',
      port: 0,
    });
    client = new InferenceClient({ addresses: [`127.0.0.1:${server.port}`] });
    publisher = await createPublisher({ ...DEFAULT_PUBLISHER_OPTIONS, servers: nats.url });
    collector = await collect(nats.url, 'vigil.e2e.>');
    const frames = openFrames(parseSource(VTEST), {
      ...DEFAULT_INGEST_OPTIONS,
      streamId: 'e2e',
      live: false,
    });
    await lastValueFrom(
      streamPipeline(
        {
          streamId: 'e2e',
          frames,
          analyze: analyzeWith(createDetector({ client, model: 'yolov8n' }), 'yolov8n'),
          sink: publisher,
          windowMs: 10_000,
          // Fast mode feeds keyframes faster than CPU inference; let them queue rather than drop here.
          inferQueue: 1000,
          live: false,
          onAnalysed: (_kf, a) => {
            if (!a.available) failures.push(a.error ?? 'unavailable');
          },
        },
        counters,
      ),
      { defaultValue: undefined },
    );
    // Durable publishes are acked asynchronously through the retry buffer.
    await publisher.flush();
    await collector.flush();
  }, 240_000);

  afterAll(async () => {
    await collector?.close();
    await publisher?.close();
    client?.close();
    await server?.close();
    await nats?.stop();
  });

  const bodies = <T>(pred: (m: Collected) => boolean) =>
    collector.messages.filter(pred).map((m) => m.body as CE<T>);

  it('analyses the whole clip without losing keyframes', () => {
    expect(counters.frames).toBeGreaterThan(780);
    expect(counters.keyframes).toBeGreaterThan(16); // at least one per max interval (5 s) over 80 s
    expect(counters.inferDropped).toBe(0);
    expect(counters.inferFailed, failures.join('; ')).toBe(0);
    expect(counters.analysed).toBe(counters.keyframes);
  });

  it('publishes window summaries in order, each naming its predecessor', () => {
    const summaries = bodies<Summary>((m) => m.subject === 'vigil.e2e.summary.window').map((b) => b.data);
    // 80 s of video in 10 s windows.
    expect(summaries.length).toBeGreaterThanOrEqual(8);
    summaries.forEach((s, i) => {
      expect(s.index).toBe(i);
      expect(s.level).toBe('window');
      expect(s.previousId).toBe(i === 0 ? null : summaries[i - 1]!.id);
      if (i > 0) expect(s.startPtsNs).toBeGreaterThanOrEqual(summaries[i - 1]!.endPtsNs);
      expect(s.text.length).toBeGreaterThan(0);
    });
    // Pedestrians are in view all along: every summary says so and cites evidence keyframes.
    const withPeople = summaries.filter((s) => /person/.test(s.text));
    expect(withPeople.length).toBeGreaterThanOrEqual(summaries.length - 1);
    expect(summaries.every((s) => s.evidence.length > 0)).toBe(true);
  });

  it('detects persons with evidence: keyframe id, time and boxes in source pixels', () => {
    const dets = bodies<{
      keyframeId: string;
      ptsNs: number;
      detections: { label: string; score: number; box: { x: number; y: number; w: number; h: number } }[];
    }>((m) => m.subject === 'vigil.e2e.detections');
    const persons = dets.flatMap((d) =>
      d.data.detections.filter((x) => x.label === 'person').map((x) => ({ d, x })),
    );
    expect(persons.length).toBeGreaterThan(50);
    for (const { d, x } of persons) {
      expect(d.data.keyframeId).toMatch(/^e2e:/);
      expect(x.box.x).toBeGreaterThanOrEqual(-1);
      expect(x.box.y).toBeGreaterThanOrEqual(-1);
      expect(x.box.x + x.box.w).toBeLessThanOrEqual(769);
      expect(x.box.y + x.box.h).toBeLessThanOrEqual(577);
      expect(x.box.w).toBeGreaterThan(2);
      // Pedestrians are taller than wide.
    }
    const tall = persons.filter(({ x }) => x.box.h > x.box.w).length;
    expect(tall / persons.length).toBeGreaterThan(0.8);

    const events = bodies<VigilEvent>((m) => m.subject === 'vigil.e2e.event.count.changed').map(
      (b) => b.data,
    );
    const personEvents = events.filter((e) => e.data.label === 'person');
    expect(personEvents.length).toBeGreaterThan(0);
    const grew = personEvents.find((e) => Number(e.data.to) > 0)!;
    expect(grew.evidence.keyframeId).toMatch(/^e2e:[a-z0-9]+:\d+$/);
    expect(grew.evidence.boxes.length).toBe(Number(grew.data.to));
    expect(grew.evidence.boxes.every((b) => b.label === 'person')).toBe(true);
    expect(grew.evidence.ptsNs).toBeGreaterThanOrEqual(0);
  });

  it('every message is a CloudEvents envelope valid against its JSON Schema, with a Nats-Msg-Id', () => {
    expect(collector.messages.length).toBeGreaterThan(0);
    for (const m of collector.messages) {
      const kind = kindOfSubject(m.subject);
      expect(kind, m.subject).not.toBeNull();
      expect(validateMessage(kind!, m.body), `${m.subject}`).toBeNull();
      expect(m.headers['Nats-Msg-Id']).toBe((m.body as CE<unknown>).id);
    }
  });
});
