/**
 * Speech events from the audio branch: voice-activity probabilities (e.g. Silero VAD per chunk) in,
 * `speech.started` / `speech.stopped` events out, with hysteresis: speech starts once the
 * probability stayed at or above `startThreshold` for `minSpeechMs`, and stops once it stayed below
 * `stopThreshold` for `minSilenceMs` (both stream time). A new `speech.started` needs at least
 * `cooldownMs` since the previous stop. Segments longer than `maxSegmentMs` are split (a stop and a
 * start) so a stuck detector still reports. State: O(1).
 */
import { Observable, type OperatorFunction } from 'rxjs';
import type { SpeechSegment, VadSample, VigilEvent } from '../core/contracts.js';
import { ConfigError } from '../core/errors.js';
import { EventFactory } from './events.js';
import { checkNumber, checkRunId, rejectUnknownKeys } from './options.js';

export interface SpeechOptions {
  /** Probability at or above which a chunk is speech (default 0.5). */
  startThreshold?: number;
  /** Probability below which a chunk is silence (default 0.35; <= startThreshold). */
  stopThreshold?: number;
  /** Speech must last this long before speech.started, ms (default 250). */
  minSpeechMs?: number;
  /** Silence must last this long before speech.stopped, ms (default 700). */
  minSilenceMs?: number;
  /** Least time between a stop and the next start, ms (default 0). */
  cooldownMs?: number;
  /** Longest segment before it is split, ms (default 300000). */
  maxSegmentMs?: number;
  runId?: string;
}

const C = 'detectSpeech';

interface Resolved {
  startThreshold: number;
  stopThreshold: number;
  minSpeechMs: number;
  minSilenceMs: number;
  cooldownMs: number;
  maxSegmentMs: number;
  runId: string | undefined;
}

function parse(options: SpeechOptions): Resolved {
  rejectUnknownKeys(C, options, [
    'startThreshold',
    'stopThreshold',
    'minSpeechMs',
    'minSilenceMs',
    'cooldownMs',
    'maxSegmentMs',
    'runId',
  ]);
  const startThreshold = checkNumber(C, 'startThreshold', options.startThreshold ?? 0.5, {
    min: 0,
    max: 1,
    exclusiveMin: true,
  });
  const stopThreshold = checkNumber(
    C,
    'stopThreshold',
    options.stopThreshold ?? Math.min(0.35, startThreshold),
    {
      min: 0,
      max: 1,
    },
  );
  if (stopThreshold > startThreshold) {
    throw new ConfigError(
      `${C}: stopThreshold (${stopThreshold}) must not exceed startThreshold (${startThreshold})`,
    );
  }
  return {
    startThreshold,
    stopThreshold,
    minSpeechMs: checkNumber(C, 'minSpeechMs', options.minSpeechMs ?? 250, { min: 0 }),
    minSilenceMs: checkNumber(C, 'minSilenceMs', options.minSilenceMs ?? 700, { min: 0 }),
    cooldownMs: checkNumber(C, 'cooldownMs', options.cooldownMs ?? 0, { min: 0 }),
    maxSegmentMs: checkNumber(C, 'maxSegmentMs', options.maxSegmentMs ?? 300_000, { min: 1 }),
    runId: checkRunId(C, options.runId),
  };
}

/** The speech state machine; `next(sample)` returns the events for one VAD sample. */
export class SpeechDetector {
  private readonly o: Resolved;
  private readonly ids: EventFactory;
  private speaking = false;
  /** Start of the current run of speech-like chunks (candidate or confirmed). */
  private runStartNs: number | null = null;
  private runStartTimeMs = 0;
  /** Start of the current run of silent chunks while speaking. */
  private silenceStartNs: number | null = null;
  private segment: SpeechSegment | null = null;
  private probSum = 0;
  private probN = 0;
  private lastStopNs: number | null = null;

  constructor(options: SpeechOptions = {}) {
    this.o = parse(options);
    this.ids = new EventFactory(this.o.runId);
  }

  /** The segment in progress, if any. */
  get current(): SpeechSegment | null {
    return this.segment === null ? null : { ...this.segment };
  }

  next(s: VadSample): VigilEvent[] {
    const out: VigilEvent[] = [];
    const end = s.ptsNs + s.durationNs;
    const at = { streamId: s.streamId, ptsNs: s.ptsNs, timeMs: s.captureTimeMs, keyframeId: null };
    if (!this.speaking) {
      if (s.probability >= this.o.startThreshold) {
        if (this.runStartNs === null) {
          this.runStartNs = s.ptsNs;
          this.runStartTimeMs = s.captureTimeMs;
        }
        const cooling =
          this.lastStopNs !== null && (this.runStartNs - this.lastStopNs) / 1e6 < this.o.cooldownMs;
        if ((end - this.runStartNs) / 1e6 >= this.o.minSpeechMs && !cooling) this.start(s, out);
      } else if (s.probability < this.o.stopThreshold) {
        this.runStartNs = null;
      }
      return out;
    }
    this.probSum += s.probability;
    this.probN++;
    if (s.probability < this.o.stopThreshold) {
      this.silenceStartNs ??= s.ptsNs;
      if ((end - this.silenceStartNs) / 1e6 >= this.o.minSilenceMs)
        out.push(this.stop(at, this.silenceStartNs));
    } else {
      this.silenceStartNs = null;
      const seg = this.segment as SpeechSegment;
      if ((end - seg.startPtsNs) / 1e6 >= this.o.maxSegmentMs) {
        out.push(this.stop(at, end));
        this.runStartNs = end;
        this.runStartTimeMs = s.captureTimeMs;
        this.start(s, out);
      }
    }
    return out;
  }

  reset(): void {
    this.speaking = false;
    this.runStartNs = null;
    this.silenceStartNs = null;
    this.segment = null;
    this.lastStopNs = null;
    this.ids.reset();
  }

  private start(s: VadSample, out: VigilEvent[]): void {
    const startNs = this.runStartNs ?? s.ptsNs;
    this.speaking = true;
    this.silenceStartNs = null;
    this.probSum = s.probability;
    this.probN = 1;
    this.segment = {
      streamId: s.streamId,
      startPtsNs: startNs,
      endPtsNs: null,
      startTimeMs: this.runStartTimeMs,
    };
    out.push(
      this.ids.create(
        'speech.started',
        { streamId: s.streamId, ptsNs: startNs, timeMs: this.runStartTimeMs, keyframeId: null },
        [],
        { startPtsNs: startNs, probability: s.probability },
      ),
    );
  }

  private stop(
    at: { streamId: string; ptsNs: number; timeMs: number; keyframeId: null },
    endNs: number,
  ): VigilEvent {
    const seg = this.segment as SpeechSegment;
    this.speaking = false;
    this.runStartNs = null;
    this.silenceStartNs = null;
    this.segment = null;
    this.lastStopNs = endNs;
    const probability = this.probN === 0 ? 0 : Math.round((this.probSum / this.probN) * 1000) / 1000;
    return this.ids.create('speech.stopped', { ...at, ptsNs: endNs }, [], {
      startPtsNs: seg.startPtsNs,
      endPtsNs: endNs,
      durationMs: (endNs - seg.startPtsNs) / 1e6,
      probability,
    });
  }
}

/** Operator: VAD samples in (in PTS order), speech events out. */
export function detectSpeech(options: SpeechOptions = {}): OperatorFunction<VadSample, VigilEvent> {
  parse(options);
  return (source) =>
    new Observable<VigilEvent>((subscriber) => {
      let d: SpeechDetector | null = new SpeechDetector(options);
      const sub = source.subscribe({
        next(s) {
          if (d === null) return;
          let events: VigilEvent[];
          try {
            events = d.next(s);
          } catch (err) {
            subscriber.error(err);
            return;
          }
          for (const e of events) subscriber.next(e);
        },
        error: (err: unknown) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        sub.unsubscribe();
        d?.reset();
        d = null;
      };
    });
}
