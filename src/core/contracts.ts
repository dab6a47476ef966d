/**
 * Contracts between stages (see DESIGN.md): ingest → stream (Frame), stream → infer (Keyframe),
 * infer → stream (Analysis), and what stream produces (WindowDigest, Summary, VigilEvent).
 * Pure data; no stage-specific imports here.
 */

/** A raw image plane kept as tightly packed rows (stride == width * channels). */
export interface Image {
  width: number;
  height: number;
  /** GRAY8 = 1 byte per pixel, RGB = 3 bytes per pixel, HWC order. */
  format: 'GRAY8' | 'RGB';
  data: Uint8Array;
}

export interface Frame {
  streamId: string;
  /** Monotonic per stream, starting at 0 for each attach. */
  seq: number;
  /** Presentation timestamp in nanoseconds, relative to the stream's start. */
  ptsNs: number;
  /** Wall-clock capture time, Unix epoch milliseconds. */
  captureTimeMs: number;
  /** Size of the decoded source before scaling. */
  sourceWidth: number;
  sourceHeight: number;
  /** Small gray frame for motion and scene-cut scoring. */
  analysis: Image;
  /** The same frame (same PTS) at model size, RGB, aspect preserved. */
  model: Image;
  /**
   * Which pipeline run (attempt) of the stream delivered the frame, from 0; it changes on every
   * reconnect, where PTS restarts. Set by ingest's StreamSource; absent from a single run.
   */
  runId?: number;
  /** Where captureTimeMs comes from: the sender's NTP clock (RTSP with RTCP) or arrival here. */
  captureClock?: 'ntp' | 'arrival';
}

/** A chunk of decoded audio (ingest → VAD): 16 kHz mono signed 16-bit PCM. */
export interface AudioChunk {
  streamId: string;
  /** Monotonic per stream (continues across reconnects). */
  seq: number;
  /** Same run numbering and PTS clock as the stream's frames. */
  runId?: number;
  ptsNs: number;
  durationNs: number;
  captureTimeMs: number;
  sampleRate: number;
  channels: number;
  samples: Int16Array;
  /** RMS level in dBFS (-Infinity for digital silence). */
  levelDb: number;
}

export type KeyframeReason = 'first' | 'motion' | 'scene-cut' | 'max-interval';

/** How one shot gave way to the next. */
export type TransitionKind = 'cut' | 'dissolve' | 'fade-in' | 'fade-out' | 'fade' | 'wipe';

/** A shot boundary: the transition into the shot a keyframe opens (see stream/shots.ts). */
export interface ShotTransition {
  kind: TransitionKind;
  /** First frame of the transition, ns of stream time (for a cut: the new shot's first frame). */
  startPtsNs: number;
  /** First clean frame of the new shot, ns (for a cut: = startPtsNs). */
  endPtsNs: number;
  /** 0..1. */
  confidence: number;
}

export interface Keyframe {
  /** `<streamId>:<seq>`: stable, unique within a run. */
  id: string;
  frame: Frame;
  reason: KeyframeReason;
  motionScore: number;
  sceneScore: number;
  /** Milliseconds of stream time since the previous keyframe (Infinity for the first). */
  sincePreviousMs: number;
  /** 64-bit perceptual hash (dHash of the gray analysis frame) as 16 hex digits, when computed. */
  phash?: string;
  /** For a 'scene-cut' keyframe: the transition into the shot it opens (after the transition's end). */
  shot?: ShotTransition;
}

/** Box in source pixels: x, y of the top-left corner, width, height. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface Detection {
  label: string;
  classId: number;
  score: number;
  box: Box;
}

export interface Analysis {
  keyframeId: string;
  streamId: string;
  ptsNs: number;
  captureTimeMs: number;
  /** False when inference was unavailable; detections are then empty. */
  available: boolean;
  detections: Detection[];
  text: string[];
  caption?: string;
  model: { name: string; version: string };
  inferenceMs: number;
  error?: string;
  /** Set on an unavailable analysis whose failure was transient (the server answered too late): asking again may work. */
  retryable?: boolean;
  /** Set when this analysis was reused from a near-duplicate keyframe (the memory cache): that keyframe's id. */
  cachedFrom?: string;
}

export interface WindowDigest {
  streamId: string;
  index: number;
  startPtsNs: number;
  endPtsNs: number;
  startTimeMs: number;
  endTimeMs: number;
  keyframes: {
    id: string;
    ptsNs: number;
    reason: KeyframeReason;
    /** Number of detections in this keyframe's analysis (absent when the analysis is missing). */
    detections?: number;
  }[];
  /** Max count per class seen in any single keyframe of the window. */
  peakCounts: Record<string, number>;
  /** Count per class in the last analysed keyframe of the window. */
  lastCounts: Record<string, number>;
  analysed: number;
  /** Keyframes whose analysis was missing or unavailable when the window closed. */
  missing: number;
  meanMotion: number;
  text: string[];
  /** Keyframes beyond the window's bound: counted in the aggregates but not listed in `keyframes`. */
  dropped?: number;
  /** Items that arrived after their window had already closed (e.g. on the idle timeout); not counted. */
  late?: number;
  /** Ids of keyframes selected for this window whose analysis never came (bounded list; see `missing`). */
  missingKeyframes?: string[];
  /** Why it closed: its end passed ('watermark'), wall-time deadline or idle ('timeout'), end of input ('flush'), PTS reset ('reset'). */
  closedBy?: 'watermark' | 'timeout' | 'flush' | 'reset';
  /** PTS went backwards (e.g. a reconnect) this many times since the previous digest; PTS here are on a continuous timeline. */
  ptsResets?: number;
  /** Speech segments overlapping the window (from the audio/VAD branch), bounded. */
  speech?: SpeechSegment[];
  /** Confirmed object tracks seen in the window (from the tracker), bounded. */
  tracks?: DigestTrack[];
  /** Confirmed objects that entered in the window (`object.entered` events), bounded; `objectsEntered` counts all. */
  entries?: DigestObjectEvent[];
  /** Confirmed objects that left in the window (`object.left` events), bounded; `objectsLeft` counts all. */
  exits?: DigestObjectEvent[];
  /** `object.entered` / `object.left` events in the window, counted whether or not listed. */
  objectsEntered?: number;
  objectsLeft?: number;
  /** The same events tallied in full by label and frame edge (labels bounded like `peakCounts`): what the text counts. */
  enteredBy?: EdgeTally;
  leftBy?: EdgeTally;
  /** Shot boundaries (scene-cut keyframes) in the window: counted whether or not listed (the one count every level shares). */
  sceneCuts?: number;
  /** Shots that start in the window (bounded): their opening keyframe and what its analysis saw. */
  shots?: DigestShot[];
  /** Recognised text with where it was first seen in the window (bounded; same strings as `text`). */
  textAt?: { text: string; keyframeId: string; ptsNs: number }[];
  /** Captions of the window's keyframes by a vision-language model (bounded). */
  captions?: { keyframeId: string; ptsNs: number; text: string; model: string }[];
  /** Speech transcribed in the window (by its end time; bounded). */
  transcripts?: { startPtsNs: number; endPtsNs: number; text: string; language?: string }[];
  /**
   * Frames the source delivered in the window (when the window stage is fed the stream's frames):
   * a window that received media is published even when none of its frames was a keyframe.
   */
  frames?: number;
}

/** A confirmed track as a digest lists it (seen in the window's keyframes). */
export interface DigestTrack {
  id: number;
  label: string;
  /** First and last sighting (over the track's life so far), ns. */
  firstPtsNs: number;
  lastPtsNs: number;
  /** The last keyframe of the window it was seen in (evidence). */
  keyframeId?: string;
  /** Longest distance its centre moved from its first sighting, in box diagonals (0 = never moved). */
  moved?: number;
}

/** Entries or exits counted by label, then by the edge they came in or went out by. */
export type EdgeTally = Record<string, Partial<Record<FrameEdge, number>>>;

/** An object entering or leaving, as a digest lists it (from `object.entered` / `object.left`). */
export interface DigestObjectEvent {
  trackId: number;
  label: string;
  /** When it was decided (the event's time), ns. */
  ptsNs: number;
  /** The frame edge it came in or went out by. */
  edge: FrameEdge;
  /** Evidence keyframe: the first (entry) or last (exit) keyframe it was seen in; null when none. */
  keyframeId: string | null;
  /** Exits: how long it stayed, ms, and when it was first seen, ns. */
  dwellMs?: number;
  enteredPtsNs?: number;
}

/** A shot as a digest lists it. */
export interface DigestShot {
  keyframeId: string;
  /** Start of the shot (its opening keyframe's PTS), ns. */
  ptsNs: number;
  /** How it began ('first' for the stream's first shot). */
  transition: TransitionKind | 'first';
  /** Detections in the opening keyframe, as counts per label (empty when the analysis was missing). */
  counts: Record<string, number>;
  /** The shot's keyframe with the most confirmed objects in the window (evidence; default the opening one). */
  bestKeyframeId?: string;
}

/** A finished shot (published on `vigil.<stream>.shot`). */
export interface ShotRecord {
  id: string;
  streamId: string;
  /** 0, 1, 2, ... per run. */
  index: number;
  startPtsNs: number;
  endPtsNs: number;
  startTimeMs: number;
  endTimeMs: number;
  /** How it began ('first' for the stream's first shot) and, for a transition, its span. */
  transition: TransitionKind | 'first';
  transitionStartPtsNs: number;
  confidence: number;
  /** The representative keyframe: the one that opened the shot, after its transition ended. */
  keyframeId: string;
  keyframePtsNs: number;
  /** What its analysis saw: counts per label, text (empty when the analysis was missing). */
  counts: Record<string, number>;
  text: string[];
  caption?: string;
}

/** A keyframe described by a vision-language model (`vigil.<stream>.caption`). Data, never instructions. */
export interface Caption {
  id: string;
  streamId: string;
  keyframeId: string;
  /** Stream time of the keyframe, ns. */
  ptsNs: number;
  /** Wall-clock capture time of the keyframe, Unix ms. */
  timeMs: number;
  text: string;
  model: string;
  latencyMs: number;
  /** Why this keyframe was picked (shot start, new object, max interval). */
  why: string;
}

/** Speech turned into text (`vigil.<stream>.transcript`); times from the VAD's speech segment. */
export interface Transcript {
  id: string;
  streamId: string;
  /** Stream time of the speech segment, ns (padding not included). */
  startPtsNs: number;
  endPtsNs: number;
  /** Wall-clock time of the segment's start, Unix ms. */
  timeMs: number;
  text: string;
  language?: string;
  model: string;
  latencyMs: number;
}

/** Voice-activity probability for one audio chunk (audio/VAD branch → stream). */
export interface VadSample {
  streamId: string;
  /** Start of the audio chunk, ns of stream time (same clock as Frame.ptsNs). */
  ptsNs: number;
  captureTimeMs: number;
  /** Chunk length, ns. */
  durationNs: number;
  /** Speech probability 0..1 (e.g. Silero VAD). */
  probability: number;
}

/** A stretch of speech, as the VAD branch or the speech detector reports it. */
export interface SpeechSegment {
  streamId: string;
  startPtsNs: number;
  /** null while the speech is still going on. */
  endPtsNs: number | null;
  startTimeMs: number;
  /** Mean speech probability over the segment. */
  probability?: number;
}

export type SummaryLevel = 'window' | 'segment' | 'stream';

export interface Summary {
  id: string;
  level: SummaryLevel;
  streamId: string;
  index: number;
  startPtsNs: number;
  endPtsNs: number;
  startTimeMs: number;
  endTimeMs: number;
  /** The summary this one builds on (the chain); null for the first. */
  previousId: string | null;
  facts: Record<string, unknown>;
  /** The readable text (no time prefix: the range is in startPtsNs / endPtsNs). */
  text: string;
  evidence: string[];
  /** The text sentence by sentence, each with the keyframes it rests on and the time it covers. */
  sentences?: SummarySentence[];
}

/** One sentence of a summary with its evidence. */
export interface SummarySentence {
  text: string;
  /** Published keyframes the sentence rests on (may be empty, e.g. "nothing detected" with no keyframe). */
  keyframeIds: string[];
  startPtsNs: number;
  endPtsNs: number;
}

export type Severity = 'info' | 'warning' | 'critical';

export interface Evidence {
  streamId: string;
  keyframeId: string | null;
  ptsNs: number;
  timeMs: number;
  boxes: Detection[];
}

export interface VigilEvent {
  id: string;
  type: string;
  streamId: string;
  timeMs: number;
  ptsNs: number;
  severity: Severity;
  data: Record<string, unknown>;
  evidence: Evidence;
}

/** Frame edge an object entered or left by. */
export type FrameEdge = 'left' | 'right' | 'top' | 'bottom' | 'none';

/**
 * One tracked (confirmed) object, on `vigil.<stream>.object`: a record when it is confirmed,
 * updates while it lives, and a final one when it leaves (`final: true`). Times are stream time
 * (PTS, ns) and capture time (ms); boxes in source pixels.
 */
export interface ObjectRecord {
  /** `<streamId>[:<runId>]:object:<trackId>` (the same for every message of one object). */
  id: string;
  streamId: string;
  trackId: number;
  label: string;
  /** Message number for this object, from 0. */
  revision: number;
  final: boolean;
  /** Why it ended (final records only): unseen past maxLost, a timeline reset, or the stream's end. */
  reason?: 'lost' | 'reset' | 'end';
  /**
   * Final records: the effective maxLost that applied, ms (the configured maxLostMs, stretched
   * until the track missed maxLostDetections detections, at most maxLostLimitMs).
   */
  maxLostMs?: number;
  startPtsNs: number;
  endPtsNs: number;
  startTimeMs: number;
  endTimeMs: number;
  dwellMs: number;
  /** Sightings (detected frames matched). */
  hits: number;
  peakScore: number;
  medianScore: number;
  /** The best-scoring keyframe the object was seen in, with its box there. */
  best: { keyframeId: string; ptsNs: number; box: Box; score: number } | null;
  entryEdge: FrameEdge;
  /** Null while the object is still there. */
  exitEdge: FrameEdge | null;
  /** Names of the configured zones (rules) the object's anchor was in. */
  zones: string[];
  /** Sampled centre points: [ptsNs, x, y] (bounded). */
  path: [number, number, number][];
}

/**
 * The confirmed tracks seen in one keyframe (after tracking), boxes in source pixels: what the
 * annotated evidence snapshot of the keyframe draws ("person #12").
 */
export interface KeyframeTracks {
  streamId: string;
  keyframeId: string;
  ptsNs: number;
  sourceWidth: number;
  sourceHeight: number;
  tracks: { trackId: number; label: string; box: Box; score: number }[];
}
