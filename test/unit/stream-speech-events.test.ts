import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { KeyframeReason, VadSample, VigilEvent } from '../../src/core/contracts.js';
import { ConfigError } from '../../src/core/errors.js';
import {
  EventDetector,
  SpeechDetector,
  detectSpeech,
  type AnalysedKeyframe,
} from '../../src/stream/index.js';
import { analysedKeyframe, T0 } from '../helpers/analysed.js';

function kf(seq: number, ptsMs: number, reason: KeyframeReason, text: string[] = []): AnalysedKeyframe {
  return analysedKeyframe(seq, ptsMs, { reason, text, sceneScore: 0.6 });
}

const vad = (ms: number, p: number): VadSample => ({
  streamId: 'cam',
  ptsNs: ms * 1e6,
  captureTimeMs: T0 + ms,
  durationNs: 100e6,
  probability: p,
});

describe('scene.cut and text.appeared', () => {
  it('scene.cut once per cooldown, with the scene score', () => {
    const d = new EventDetector({ tracker: false, sceneCutCooldownMs: 1000 });
    const events = [
      kf(0, 0, 'scene-cut'),
      kf(1, 300, 'scene-cut'),
      kf(2, 1500, 'motion'),
      kf(3, 1600, 'scene-cut'),
    ].flatMap((i) => d.next(i));
    expect(events.map((e) => `${e.id}@${String(e.evidence.keyframeId)}`)).toEqual([
      'cam:scene.cut:0@cam:0',
      'cam:scene.cut:1@cam:3',
    ]);
    expect(events[0]?.data).toEqual({ sceneScore: 0.6 });
  });

  it('text.appeared for new text only; the same text again after textCooldownMs is new again', () => {
    const d = new EventDetector({ tracker: false, textCooldownMs: 10_000 });
    const events = [
      kf(0, 0, 'motion', ['EXIT', '  ']),
      kf(1, 1000, 'motion', ['exit', 'Gate  5']),
      kf(2, 5000, 'motion', ['gate 5']),
      kf(3, 16_000, 'motion', ['EXIT']),
    ].flatMap((i) => d.next(i));
    expect(events.map((e) => `${String(e.data['text'])}@${String(e.evidence.keyframeId)}`)).toEqual([
      'EXIT@cam:0',
      'Gate 5@cam:1',
      'EXIT@cam:3',
    ]);
  });

  it('bounds the texts remembered', () => {
    const d = new EventDetector({ tracker: false, maxTexts: 3 });
    for (let i = 0; i < 10; i++) d.next(kf(i, i * 10, 'motion', [`t${i}`]));
    expect(d.stats().texts).toBe(3);
  });

  it('runId makes event ids unique across re-attaches of the same stream', () => {
    const a = new EventDetector({ tracker: false, runId: 'r1' }).next(kf(0, 0, 'scene-cut'));
    const b = new EventDetector({ tracker: false, runId: 'r2' }).next(kf(0, 0, 'scene-cut'));
    expect([a[0]?.id, b[0]?.id]).toEqual(['cam:r1:scene.cut:0', 'cam:r2:scene.cut:0']);
    expect(() => new EventDetector({ runId: 'has space' })).toThrow(ConfigError);
  });
});

describe('detectSpeech', () => {
  const brief = (e: VigilEvent): string => `${e.type}@${e.ptsNs / 1e6}`;

  it('starts after minSpeechMs of speech and stops after minSilenceMs of silence (hysteresis)', () => {
    new TestScheduler((a, e) => expect(a).toEqual(e)).run(
      ({ cold, expectObservable, expectSubscriptions }) => {
        // 100 ms chunks: a blip (1 chunk), then speech 300..900 with one dip at 600, then silence.
        const probs = [0.1, 0.9, 0.1, 0.8, 0.9, 0.7, 0.2, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1];
        const values = Object.fromEntries(
          probs.map((p, i) => [String.fromCharCode(97 + i), vad(i * 100, p)]),
        );
        const src = cold('abcdefghijklm|', values);
        const out = src.pipe(detectSpeech({ minSpeechMs: 250, minSilenceMs: 300 }), map(brief));
        expectObservable(out).toBe('-----x-----y-|', { x: 'speech.started@300', y: 'speech.stopped@900' });
        expectSubscriptions(src.subscriptions).toBe('^------------!');
      },
    );
  });

  it('reports duration and mean probability, has no evidence keyframe, and splits endless speech', () => {
    const d = new SpeechDetector({ minSpeechMs: 100, minSilenceMs: 100, maxSegmentMs: 1000 });
    const events = Array.from({ length: 15 }, (_, i) => vad(i * 100, i < 12 ? 0.9 : 0)).flatMap((s) =>
      d.next(s),
    );
    expect(events.map(brief)).toEqual([
      'speech.started@0',
      'speech.stopped@1000',
      'speech.started@1000',
      'speech.stopped@1200',
    ]);
    expect(events[1]?.data).toMatchObject({
      startPtsNs: 0,
      endPtsNs: 1000e6,
      durationMs: 1000,
      probability: 0.9,
    });
    expect(events[0]?.evidence).toEqual({
      streamId: 'cam',
      keyframeId: null,
      ptsNs: 0,
      timeMs: T0,
      boxes: [],
    });
    expect(events[0]?.id).toBe('cam:speech.started:0');
  });

  it('validates options', () => {
    expect(() => detectSpeech({ startThreshold: 0.3, stopThreshold: 0.5 })).toThrow(/stopThreshold/);
    expect(() => detectSpeech({ minSpeechMs: -1 })).toThrow(ConfigError);
  });
});
