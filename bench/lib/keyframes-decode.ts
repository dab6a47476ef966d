/**
 * Bench helper: decodes a clip through Vigil's own ingest (real GStreamer, fast mode) and keeps the
 * small gray analysis frames, so the selector can be timed and re-run without decoding again.
 */
import { lastValueFrom, tap } from 'rxjs';
import type { Frame } from '../../src/core/contracts.js';
import { DEFAULT_INGEST_OPTIONS, openFrames, releaseFrame } from '../../src/ingest/frames.js';
import { parseSource } from '../../src/ingest/source.js';

export interface DecodedClip {
  frames: Frame[];
  /** Wall seconds spent decoding (ingest only). */
  decodeSeconds: number;
}

/**
 * Decodes every frame. The model-size RGB frame is never read (only the gray frame is used by the
 * selector): each frame's decoded pixels go back to the decoder right away (releaseFrame), so 80 s
 * of video stays a few MB.
 */
export async function decodeClip(path: string, streamId = 'bench', modelWidth = 640): Promise<DecodedClip> {
  const frames: Frame[] = [];
  const t0 = process.hrtime.bigint();
  await lastValueFrom(
    openFrames(parseSource(path), { ...DEFAULT_INGEST_OPTIONS, modelWidth, streamId, live: false }).pipe(
      tap((f) => {
        // Field by field: spreading the frame would read (and convert) its model frame.
        const kept: Frame = {
          streamId: f.streamId,
          seq: f.seq,
          ptsNs: f.ptsNs,
          captureTimeMs: f.captureTimeMs,
          sourceWidth: f.sourceWidth,
          sourceHeight: f.sourceHeight,
          analysis: { ...f.analysis, data: new Uint8Array(f.analysis.data) },
          model: { width: 0, height: 0, format: 'RGB', data: new Uint8Array(0) },
        };
        if (f.runId !== undefined) kept.runId = f.runId;
        if (f.captureClock !== undefined) kept.captureClock = f.captureClock;
        releaseFrame(f);
        frames.push(kept);
      }),
    ),
    { defaultValue: undefined },
  );
  const decodeSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { frames, decodeSeconds };
}
