/**
 * Issue 19 (bad input): the shot detector's options out of their range, from the config file, give
 * a typed config error (VIGIL_ERR_CONFIG) naming the key; the same values are accepted in range.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import type { VigilError } from '../../src/core/errors.js';

function attempt(keyframes: unknown): [code: string, message: string] {
  const def = { id: 'cam', url: 'file:///tmp/cam.mp4', keyframes };
  try {
    parseConfig(`streams:\n  - ${JSON.stringify(def)}\n`, 'vigil.yaml');
    return ['(accepted)', ''];
  } catch (err) {
    return [(err as VigilError).code, (err as Error).message];
  }
}

describe('shot detector options in the config', () => {
  it.each([
    [{ sceneCutThreshold: 5 }, /streams\[0\]\.keyframes.*sceneCutThreshold/],
    [{ shots: { cutThreshold: 0.01 } }, /streams\[0\]\.keyframes.*shots.*cutThreshold/],
    [{ shots: { cutAdaptiveRatio: 100 } }, /shots.*cutAdaptiveRatio/],
    [{ shots: { gradualThreshold: -1 } }, /shots.*gradualThreshold/],
    [{ shots: { gradualMinMs: 10 } }, /shots.*gradualMinMs/],
    [{ shots: { gradualMaxMs: 20_000 } }, /shots.*gradualMaxMs/],
    [{ shots: { gradualMinMs: 2000, gradualMaxMs: 1000 } }, /shots.*gradualMinMs/],
    [{ shots: { flashMaxFrames: 0 } }, /shots.*flashMaxFrames/],
    [{ shots: { flashMaxFrames: 2.5 } }, /shots.*flashMaxFrames/],
    [{ shots: { minShotMs: -5 } }, /shots.*minShotMs/],
    [{ shots: { flatLevel: 100 } }, /shots.*flatLevel/],
    [{ shots: { historyFrames: 4 } }, /shots.*historyFrames/],
    [{ shots: { historyFrames: 'many' } }, /shots.*historyFrames/],
    [{ shots: { bogus: 1 } }, /shots.*bogus/],
    [{ shots: 3 }, /keyframes.*shots/],
    [{ holdMotionInTransitions: 'yes' }, /streams\[0\]\.keyframes.*holdMotionInTransitions/],
  ])('%j is VIGIL_ERR_CONFIG naming the key', (keyframes, key) => {
    const [code, message] = attempt(keyframes);
    expect(code).toBe('VIGIL_ERR_CONFIG');
    expect(message).toMatch(key);
  });

  it('accepts every option in range', () => {
    const [code, message] = attempt({
      sceneCutThreshold: 0.6,
      holdMotionInTransitions: false,
      shots: {
        cutAdaptiveRatio: 5,
        gradualThreshold: 0.4,
        gradualMinMs: 200,
        gradualMaxMs: 4000,
        flashMaxFrames: 4,
        minShotMs: 300,
        flatLevel: 8,
        historyFrames: 256,
      },
    });
    expect(code, message).toBe('(accepted)');
  });
});
