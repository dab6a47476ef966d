import type { Analysis, Keyframe, Summary, VigilEvent } from '../../src/core/contracts.js';

/** A keyframe with real pixels (a gradient with a bright square), as the stream stage hands it over. */
export function sampleKeyframe(streamId: string, seq: number, width = 64, height = 36): Keyframe {
  const model = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const inSquare = x > 10 && x < 30 && y > 5 && y < 25;
      model[i] = inSquare ? 250 : (x * 4) & 255;
      model[i + 1] = inSquare ? 240 : (y * 6) & 255;
      model[i + 2] = 90;
    }
  }
  const analysis = new Uint8Array(16 * 9).fill(128);
  return {
    id: `${streamId}:${seq}`,
    frame: {
      streamId,
      seq,
      ptsNs: seq * 40_000_000,
      captureTimeMs: Date.now(),
      sourceWidth: 1280,
      sourceHeight: 720,
      analysis: { width: 16, height: 9, format: 'GRAY8', data: analysis },
      model: { width, height, format: 'RGB', data: model },
    },
    reason: seq === 0 ? 'first' : 'motion',
    motionScore: 0.1,
    sceneScore: 0.01,
    sincePreviousMs: seq === 0 ? Infinity : 40,
  };
}

export function sampleAnalysis(kf: Keyframe): Analysis {
  return {
    keyframeId: kf.id,
    streamId: kf.frame.streamId,
    ptsNs: kf.frame.ptsNs,
    captureTimeMs: kf.frame.captureTimeMs,
    available: true,
    detections: [{ label: 'person', classId: 0, score: 0.9, box: { x: 200, y: 100, w: 80, h: 200 } }],
    text: [],
    model: { name: 'yolov8n', version: '1' },
    inferenceMs: 12,
  };
}

export function sampleEvent(streamId: string, n: number, keyframeId: string | null = null): VigilEvent {
  return {
    id: `${streamId}:count.changed:${n}`,
    type: 'count.changed',
    streamId,
    timeMs: Date.now(),
    ptsNs: n * 1_000_000,
    severity: 'info',
    data: { label: 'person', from: 0, to: 1 },
    evidence: {
      streamId,
      keyframeId,
      ptsNs: n * 1_000_000,
      timeMs: Date.now(),
      boxes: [{ label: 'person', classId: 0, score: 0.9, box: { x: 200, y: 100, w: 80, h: 200 } }],
    },
  };
}

export function sampleSummary(streamId: string, index: number): Summary {
  return {
    id: `${streamId}:window:${index}`,
    level: 'window',
    streamId,
    index,
    startPtsNs: index * 1e9,
    endPtsNs: (index + 1) * 1e9,
    startTimeMs: Date.now() - 1000,
    endTimeMs: Date.now(),
    previousId: index === 0 ? null : `${streamId}:window:${index - 1}`,
    facts: { peakCounts: { person: 1 } },
    text: 'One person in view.',
    evidence: [`${streamId}:${index}`],
  };
}
