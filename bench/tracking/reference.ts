/**
 * Bench helper: the dense reference for bench/tracking. Every frame of a clip is decoded through
 * Vigil's ingest (fast mode: decoding waits for the detector, nothing dropped) and sent to YOLOv8n
 * on the project's own inference server (real gRPC on loopback). All classes are kept at the
 * detector's floor (0.25); the bench applies its own reference score (0.4). The result is cached as
 * JSON per clip (it takes minutes on two cores), with the CPU time and wall time it cost, so the
 * cost stays printable on later runs.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { lastValueFrom, mergeMap } from 'rxjs';
import type { Detection, Frame } from '../../src/core/contracts.js';
import { createDetector, InferenceClient, startInferenceServer } from '../../src/infer/index.js';
import { DEFAULT_INGEST_OPTIONS, openFrames } from '../../src/ingest/frames.js';
import { parseSource } from '../../src/ingest/source.js';
import { rebaseStreamTime } from '../../src/analyzer/stream-time.js';

export interface RefFrame {
  seq: number;
  /** Stream time (first frame 0, as Vigil's stream path rebases it), ns. */
  ptsNs: number;
  detections: Detection[];
}

export interface RefFile {
  clip: string;
  model: string;
  sourceWidth: number;
  sourceHeight: number;
  /** CPU seconds (user + system) of this process while it detected every frame. */
  cpuS: number;
  wallS: number;
  frames: RefFrame[];
}

/** Detects every frame of `clipPath` (cached in `cacheFile`). */
export async function referenceDetections(clipPath: string, cacheFile: string): Promise<RefFile> {
  if (existsSync(cacheFile)) return JSON.parse(readFileSync(cacheFile, 'utf8')) as RefFile;
  const server = await startInferenceServer({
    modelRepository: resolve('models/repo'),
    host: '127.0.0.1',
    port: 0,
  });
  const client = new InferenceClient({ addresses: [`127.0.0.1:${server.port}`], deadlineMs: 60_000 });
  const detector = createDetector({ client, model: 'yolov8n' });
  const out: RefFile = {
    clip: clipPath,
    model: 'yolov8n',
    sourceWidth: 0,
    sourceHeight: 0,
    cpuS: 0,
    wallS: 0,
    frames: [],
  };
  let inFlight = 0;
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  try {
    const frames = openFrames(parseSource(clipPath), {
      ...DEFAULT_INGEST_OPTIONS,
      streamId: 'ref',
      live: false,
      shouldPause: () => inFlight >= 2,
    });
    await lastValueFrom(
      frames.pipe(
        rebaseStreamTime(),
        mergeMap(async (f: Frame) => {
          inFlight++;
          try {
            const model = { ...f.model, data: new Uint8Array(f.model.data) };
            // The machine is shared: a busy moment is retried, not fatal.
            let r: Awaited<ReturnType<typeof detector.detect>> | null = null;
            for (let attempt = 0; r === null; attempt++) {
              try {
                r = await detector.detect(model, f.sourceWidth, f.sourceHeight);
              } catch (err) {
                if (attempt >= 3) throw err;
              }
            }
            out.sourceWidth = f.sourceWidth;
            out.sourceHeight = f.sourceHeight;
            out.frames.push({ seq: f.seq, ptsNs: f.ptsNs, detections: r.detections });
            if (out.frames.length % 200 === 0) {
              console.error(
                `  reference: ${out.frames.length} frames, ${Math.round((Date.now() - t0) / 1000)} s`,
              );
            }
          } finally {
            inFlight--;
          }
        }, 2),
      ),
      { defaultValue: undefined },
    );
  } finally {
    client.close();
    await server.close();
  }
  const cpu = process.cpuUsage(cpu0);
  out.cpuS = (cpu.user + cpu.system) / 1e6;
  out.wallS = (Date.now() - t0) / 1000;
  out.frames.sort((a, b) => a.ptsNs - b.ptsNs);
  mkdirSync(dirname(cacheFile), { recursive: true });
  writeFileSync(cacheFile, JSON.stringify(out));
  return out;
}
