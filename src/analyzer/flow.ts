/**
 * A stream's flow policy, written once: live sources drop, files wait.
 *
 * - Live: keyframes beyond `inferQueue` waiting for the model, and audio chunks beyond `vadQueue`
 *   waiting for the VAD, are dropped (oldest first, counted by the runner and the audio branch).
 * - Fast mode (files): nothing is dropped. Decoding pauses (the ingest's `shouldPause`) while the
 *   model is behind, while the VAD is behind, or while the video runs ahead of the audio (the
 *   AudioPacer); taking audio from the pipeline pauses (`shouldPauseAudio`) while the VAD is behind,
 *   so GStreamer holds the file's audio back instead of the analyzer dropping it.
 */
import { AudioPacer } from './speech.js';

/** Room for frames still in flight when a pause starts (fast mode). */
const IN_FLIGHT_ROOM = 16;
/** Audio chunks a file may queue for the VAD (fast mode); taking audio pauses at half of it. */
const FILE_VAD_QUEUE = 256;

export class StreamFlow {
  /** Keyframes selected and not yet analysed (kept by the runner). */
  readonly inferPressure = { pending: 0 };
  /** Audio chunks received and not yet through the VAD (kept by the audio branch). */
  readonly audioPressure = { pending: 0 };
  /** Fast mode with audio: keeps the video from running ahead of the audio. */
  readonly pacer: AudioPacer | undefined;
  /** The keyframe queue the runner enforces (fast mode: the pause bound plus room in flight). */
  readonly inferQueue: number;
  /** The audio chunk queue the audio branch enforces. */
  readonly vadQueue: number;

  constructor(
    readonly live: boolean,
    private readonly pauseAtKeyframes: number,
    liveVadQueue: number,
    audio: boolean,
  ) {
    this.inferQueue = live ? pauseAtKeyframes : pauseAtKeyframes + IN_FLIGHT_ROOM;
    this.vadQueue = live ? liveVadQueue : FILE_VAD_QUEUE;
    this.pacer =
      audio && !live
        ? new AudioPacer(undefined, undefined, undefined, () => this.audioPressure.pending > 0)
        : undefined;
  }

  /** Fast mode: decoding waits while this is true (live mode never asks). */
  readonly shouldPause = (): boolean =>
    this.inferPressure.pending >= this.pauseAtKeyframes ||
    this.shouldPauseAudio() ||
    this.pacer?.ahead === true;

  /** Fast mode: taking audio from the pipeline waits while this is true. */
  readonly shouldPauseAudio = (): boolean => this.audioPressure.pending >= this.vadQueue / 2;

  /** Told of every frame before the runner sees it. */
  video(ptsNs: number): void {
    this.pacer?.video(ptsNs);
  }
}
