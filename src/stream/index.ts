/** Public surface of the stream stage: pure RxJS operators and pure functions, no I/O. */
export {
  motionScore,
  meanAbsDiff,
  histogram,
  histogramDistance,
  DEFAULT_NOISE_THRESHOLD,
  DEFAULT_HISTOGRAM_BINS,
} from './motion.js';
export {
  selectKeyframes,
  parseKeyframeOptions,
  KeyframeSelector,
  KEYFRAME_DEFAULTS,
  type KeyframeOptions,
  type ResolvedKeyframeOptions,
} from './keyframes.js';
export {
  tumblingWindows,
  parseWindowOptions,
  countByLabel,
  type AnalysedKeyframe,
  type WindowOptions,
  type ResolvedWindowOptions,
} from './windows.js';
export {
  chainSummaries,
  createStructuredSummarizer,
  formatStreamTime,
  describeCounts,
  plural,
  type Summarizer,
  type StructuredFacts,
  type StructuredSummarizerOptions,
  type ChainOptions,
} from './summarize.js';
export {
  detectEvents,
  parseEventOptions,
  EventDetector,
  type EventOptions,
  type ResolvedEventOptions,
} from './events.js';
