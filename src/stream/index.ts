/** Public surface of the stream stage: pure RxJS operators and pure functions, no I/O. */
export {
  motionScore,
  meanAbsDiff,
  histogram,
  histogramDistance,
  DEFAULT_NOISE_THRESHOLD,
  DEFAULT_HISTOGRAM_BINS,
  DEFAULT_GRID,
  frameFeatures,
  type FrameFeatures,
  cellMotion,
  thumbnail,
  layoutDistance,
} from './motion.js';
export { ActivityGrid, type ActivityGridOptions, type ActivityStep } from './activity.js';
export { dHash, hammingDistance } from './phash.js';
export {
  selectKeyframes,
  parseKeyframeOptions,
  KeyframeSelector,
  KEYFRAME_DEFAULTS,
  type KeyframeOptions,
  type KeyframeSignals,
  type ResolvedKeyframeOptions,
} from './keyframes.js';
export {
  detectShots,
  parseShotOptions,
  SHOT_DEFAULTS,
  ShotDetector,
  type DetectedShotBoundary,
  type ResolvedShotOptions,
  type ShotBoundary,
  type ShotOptions,
} from './shots.js';
export {
  AnalysisCache,
  cachedAnalyze,
  estimateAnalysisBytes,
  type CacheOptions,
  type CacheStats,
} from './cache.js';
export {
  tumblingWindows,
  slidingWindows,
  parseWindowOptions,
  countByLabel,
  type AnalysedKeyframe,
  type WindowOptions,
  type ResolvedWindowOptions,
  type WindowStats,
} from './windows.js';
export {
  Tracker,
  trackObjects,
  parseTrackerOptions,
  iou,
  type TrackerOptions,
  type ResolvedTrackerOptions,
  type TrackView,
  type TrackStep,
  type TrackedKeyframe,
  type TrackerStats,
  type LeaveReason,
  type Edge,
  type Observation,
  type ClassTrackOptions,
  median,
  edgeOf,
} from './tracker.js';
export {
  RuleEngine,
  parseRules,
  pointInPolygon,
  MAX_RULES,
  type RuleConfig,
  type ZoneConfig,
  type ResolvedRule,
  type RuleAlert,
} from './rules.js';
export {
  chainSummaries,
  createStructuredSummarizer,
  formatStreamTime,
  describeCounts,
  plural,
  type Summarizer,
  type SummaryContext,
  type StructuredFacts,
  type StructuredSummarizerOptions,
  type ChainOptions,
  type ChainStats,
  type RollupOptions,
} from './summarize.js';
export {
  mergeDigests,
  splitDigest,
  estimateDigestBytes,
  DEFAULT_MERGE_BOUNDS,
  type MergeBounds,
} from './rollup.js';
export {
  createTextGenerationSummarizer,
  buildRefinePrompt,
  type TextGenerate,
  type RefinePromptInput,
  type TextGenerationSummarizer,
  type TextGenerationSummarizerOptions,
  type TextGenerationStats,
} from './lm-summarizer.js';
export {
  detectEvents,
  parseEventOptions,
  EventDetector,
  EventFactory,
  objectEvents,
  type ObjectEventAt,
  type EventOptions,
  type ResolvedEventOptions,
  type EventStats,
} from './events.js';
export { detectSpeech, SpeechDetector, type SpeechOptions } from './speech.js';
export { validateTrackOptions, TRACK_DEFAULTS, type TrackStreamOptions } from './track-options.js';
