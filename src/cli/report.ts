/**
 * `vigil analyze` report: one JSON file (machine-readable) and one Markdown file (for people), with
 * the timeline of window summaries, the events, all summaries, and the keyframe evidence images
 * the events refer to (JPEG files next to the report).
 */
import { formatModelTotals, type ModelCallTotals } from '../observability/metrics.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  Analysis,
  Caption,
  Keyframe,
  KeyframeReason,
  Summary,
  Transcript,
  VigilEvent,
} from '../core/contracts.js';
import type { EncodedJpeg } from '../publish/evidence.js';
import { clock } from './format.js';

export interface ReportMeta {
  streamId: string;
  source: string;
  startedAt: string;
  wallSeconds: number;
  mediaSeconds: number | null;
  counters: Record<string, number>;
  /** Language-model calls of the session per role and model (absent without language stages). */
  models?: ModelCallTotals[];
}

/** One keyframe as the report lists it: when it was taken and why. */
export interface ReportKeyframe {
  id: string;
  /** Stream time, mm:ss (h:mm:ss past an hour). */
  time: string;
  ptsNs: number;
  reason: KeyframeReason;
  motionScore: number;
  sceneScore: number;
  /** false: the model's analysis was unavailable for it (inference down). */
  analysed: boolean;
  detections: number;
}

export interface AnalysisReport extends ReportMeta {
  version: 1;
  /** Media seconds analysed per wall-clock second. */
  speed: number | null;
  timeline: {
    start: string;
    end: string;
    startPtsNs: number;
    endPtsNs: number;
    text: string;
    summaryId: string;
  }[];
  events: (VigilEvent & { evidenceImage: string | null })[];
  summaries: Summary[];
  /** Every keyframe the stream took, in order, with its time and reason. */
  keyframes: ReportKeyframe[];
  /** Language stages (absent without them): keyframe captions and transcribed speech. */
  captions?: Caption[];
  transcripts?: Transcript[];
  evidence: { keyframeId: string; file: string; width: number; height: number }[];
}

/** Keeps what the report needs while the analysis runs (events and summaries bounded). */
export class ReportBuilder {
  private readonly summaries: Summary[] = [];
  private readonly events: (VigilEvent & { evidenceImage: string | null })[] = [];
  private readonly keyframes: ReportKeyframe[] = [];
  private readonly images = new Map<string, EncodedJpeg>();
  droppedEvents = 0;
  private readonly captions: Caption[] = [];
  private readonly transcripts: Transcript[] = [];

  addCaption(c: Caption): void {
    if (this.captions.length < this.maxItems) this.captions.push(c);
  }

  addTranscript(t: Transcript): void {
    if (this.transcripts.length < this.maxItems) this.transcripts.push(t);
  }

  constructor(private readonly maxItems = 10_000) {}

  /** What was kept so far (for the report's history.sqlite). */
  contents(): {
    events: readonly (VigilEvent & { evidenceImage: string | null })[];
    summaries: readonly Summary[];
  } {
    return { events: this.events, summaries: this.summaries };
  }

  addSummary(s: Summary): void {
    if (this.summaries.length < this.maxItems) this.summaries.push(s);
  }

  addKeyframe(kf: Keyframe, analysis: Analysis | null): void {
    if (this.keyframes.length >= this.maxItems) return;
    this.keyframes.push({
      id: kf.id,
      time: clock(kf.frame.ptsNs),
      ptsNs: kf.frame.ptsNs,
      reason: kf.reason,
      motionScore: kf.motionScore,
      sceneScore: kf.sceneScore,
      analysed: analysis?.available === true,
      detections: analysis?.detections.length ?? 0,
    });
  }

  addEvent(e: VigilEvent, jpeg: EncodedJpeg | undefined): void {
    if (this.events.length >= this.maxItems) {
      this.droppedEvents++;
      return;
    }
    const kf = e.evidence.keyframeId;
    let file: string | null = null;
    if (kf && jpeg) {
      file = `evidence/${kf.replace(/[^A-Za-z0-9_-]/g, '_')}.jpg`;
      this.images.set(file, jpeg);
    }
    this.events.push({ ...e, evidenceImage: file });
  }

  build(meta: ReportMeta): AnalysisReport {
    const windows = this.summaries.filter((s) => s.level === 'window');
    return {
      version: 1,
      ...meta,
      speed: meta.mediaSeconds && meta.wallSeconds > 0 ? meta.mediaSeconds / meta.wallSeconds : null,
      timeline: windows.map((s) => ({
        start: clock(s.startPtsNs),
        end: clock(s.endPtsNs),
        startPtsNs: s.startPtsNs,
        endPtsNs: s.endPtsNs,
        text: s.text,
        summaryId: s.id,
      })),
      events: this.events,
      summaries: this.summaries,
      keyframes: this.keyframes,
      ...(this.captions.length > 0 ? { captions: this.captions } : {}),
      ...(this.transcripts.length > 0 ? { transcripts: this.transcripts } : {}),
      evidence: [...this.images].map(([file, j]) => ({
        keyframeId: this.events.find((e) => e.evidenceImage === file)?.evidence.keyframeId ?? '',
        file,
        width: j.width,
        height: j.height,
      })),
    };
  }

  /** Writes report.json, report.md and evidence/*.jpg into dir; returns the two report paths. */
  write(dir: string, meta: ReportMeta): { json: string; markdown: string; report: AnalysisReport } {
    const report = this.build(meta);
    mkdirSync(join(dir, 'evidence'), { recursive: true });
    for (const [file, j] of this.images) writeFileSync(join(dir, file), j.data);
    const json = join(dir, 'report.json');
    const markdown = join(dir, 'report.md');
    writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(markdown, renderMarkdown(report));
    return { json, markdown, report };
  }
}

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function renderMarkdown(r: AnalysisReport): string {
  const lines = [
    `# Vigil analysis: ${r.streamId}`,
    '',
    `- Source: \`${r.source}\``,
    `- Analysed: ${r.startedAt}, ${r.wallSeconds.toFixed(1)} s wall time` +
      (r.mediaSeconds !== null ? ` for ${r.mediaSeconds.toFixed(1)} s of video` : '') +
      (r.speed !== null ? ` (${r.speed.toFixed(1)}× real time)` : ''),
    `- Frames ${r.counters.frames ?? 0}, keyframes ${r.counters.keyframes ?? 0}, analysed ${r.counters.analysed ?? 0}, ` +
      `summaries ${r.summaries.length}, events ${r.events.length}`,
    '',
    '## Timeline',
    '',
    '| From | To | What happened |',
    '| --- | --- | --- |',
    ...r.timeline.map((t) => `| ${t.start} | ${t.end} | ${cell(t.text)} |`),
    '',
    '## Events',
    '',
    '| Time | Type | Details | Evidence |',
    '| --- | --- | --- | --- |',
    ...r.events.map((e) => {
      const details = Object.entries(e.data)
        .filter(([, v]) => v === null || typeof v !== 'object')
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' ');
      const ev = e.evidenceImage
        ? `![${e.evidence.keyframeId}](${e.evidenceImage})`
        : (e.evidence.keyframeId ?? '');
      return `| ${clock(e.ptsNs)} | ${e.type} | ${cell(details)} | ${ev} |`;
    }),
    '',
    '## Keyframes',
    '',
    '| Time | Keyframe | Reason | Detections |',
    '| --- | --- | --- | --- |',
    ...r.keyframes.map(
      (k) => `| ${k.time} | ${cell(k.id)} | ${k.reason} | ${k.analysed ? k.detections : 'not analysed'} |`,
    ),
    '',
    '## Summaries',
    '',
    ...r.summaries.map(
      (s) => `- **${s.level} #${s.index}** ${clock(s.startPtsNs)}–${clock(s.endPtsNs)}: ${s.text}`,
    ),
    '',
    ...(r.captions
      ? [
          '## Captions',
          '',
          ...r.captions.map((c) => `- ${clock(c.ptsNs)} \`${c.keyframeId}\` (${c.model}): ${c.text}`),
          '',
        ]
      : []),
    ...(r.transcripts
      ? [
          '## Transcripts',
          '',
          ...r.transcripts.map((t) => `- ${clock(t.startPtsNs)}–${clock(t.endPtsNs)}: ${t.text}`),
          '',
        ]
      : []),
    ...(r.models ? ['## Language models', '', ...r.models.map((m) => `- ${formatModelTotals(m)}`), ''] : []),
  ];
  return lines.join('\n');
}
