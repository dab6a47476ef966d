/**
 * `vigil analyze` report: one JSON file (machine-readable) and one Markdown file (for people), with
 * the timeline of window summaries, the events, all summaries, and the keyframe evidence images
 * the events refer to (JPEG files next to the report).
 */
import { formatModelTotals, type ModelCallTotals } from '../observability/metrics.js';
import { closeSync, existsSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VigilError } from '../core/errors.js';
import { makeDirectory, MakeDirError } from '../core/make-dir.js';
import type {
  Analysis,
  Caption,
  Keyframe,
  KeyframeReason,
  KeyframeTracks,
  ObjectRecord,
  ShotRecord,
  Summary,
  Transcript,
  VigilEvent,
} from '../core/contracts.js';
import { annotateJpeg, cropJpeg } from '../publish/annotate.js';
import type { EncodedJpeg } from '../publish/evidence.js';
import { clock } from './format.js';

/**
 * Makes the report directory and proves it writable before any analysis starts (issue 22 item 4:
 * `--report /proc/nope` spun in Node's recursive mkdir at the end of a run; a `--report` under a
 * regular file was an "unexpected failure"). A typed VIGIL_ERR_USAGE naming --report otherwise.
 * Returns true when it made the directory (so a run that writes no report can take it away).
 */
export function prepareReportDirectory(dir: string): boolean {
  const existed = existsSync(dir);
  try {
    makeDirectory(dir);
  } catch (cause) {
    const why = cause instanceof MakeDirError ? cause.message : String(cause);
    throw new VigilError('VIGIL_ERR_USAGE', `--report ${dir}: cannot make the directory (${why})`, {
      cause,
    });
  }
  const probe = join(dir, `.vigil-write-check-${process.pid}`);
  try {
    closeSync(openSync(probe, 'wx', 0o600));
    unlinkSync(probe);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'error';
    throw new VigilError('VIGIL_ERR_USAGE', `--report ${dir}: the directory is not writable (${code})`, {
      cause,
    });
  }
  return !existed;
}

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
  events: ReportEvent[];
  summaries: Summary[];
  /** Tracked objects (confirmed tracks only), each with its crop and its best keyframe's annotated snapshot. */
  objects: ReportObject[];
  /** Annotated snapshots: keyframes with their confirmed tracks' boxes and "label #id" drawn. */
  annotated: { keyframeId: string; file: string; width: number; height: number; tracks: number }[];
  /** Every keyframe the stream took, in order, with its time and reason. */
  keyframes: ReportKeyframe[];
  /** Every shot, in order (as published on vigil.<stream>.shot): span, transition, representative keyframe, what was seen. */
  shots: ShotRecord[];
  /** Language stages (absent without them): keyframe captions and transcribed speech. */
  captions?: Caption[];
  transcripts?: Transcript[];
  evidence: { keyframeId: string; file: string; width: number; height: number }[];
}

export type ReportEvent = VigilEvent & {
  evidenceImage: string | null;
  /** The evidence keyframe's annotated snapshot (boxes and labels drawn), when it had tracks. */
  annotatedImage?: string | null;
};

/** One tracked object as the report lists it (its latest record: the final one at the end). */
export interface ReportObject {
  id: string;
  trackId: number;
  label: string;
  /** Stream time, mm:ss. */
  start: string;
  end: string;
  startPtsNs: number;
  endPtsNs: number;
  dwellMs: number;
  peakScore: number;
  medianScore: number;
  entryEdge: ObjectRecord['entryEdge'];
  exitEdge: ObjectRecord['exitEdge'];
  final: boolean;
  reason: ObjectRecord['reason'] | null;
  zones: string[];
  best: ObjectRecord['best'];
  /** Crop of the best box (JPEG file in the report directory). */
  crop: string | null;
  /** Annotated snapshot of the best keyframe. */
  snapshot: string | null;
}

/** Annotated snapshots a report keeps at most (about 10-30 KB each). */
const MAX_ANNOTATED = 1000;

const safe = (id: string) => id.replace(/[^A-Za-z0-9_-]/g, '_');

/** Keeps what the report needs while the analysis runs (events and summaries bounded). */
export class ReportBuilder {
  private readonly summaries: Summary[] = [];
  private readonly events: ReportEvent[] = [];
  private readonly objects = new Map<
    string,
    { record: ObjectRecord; crop: string | null; cropKf: string | null }
  >();
  /** Annotated snapshots by keyframe id. */
  private readonly annotated = new Map<string, { file: string; tracks: number }>();
  /** Snapshots or crops not made: the keyframe's JPEG was gone. */
  missingImages = 0;
  /** Annotated snapshots not kept: the report holds at most MAX_ANNOTATED. */
  droppedImages = 0;
  private readonly keyframes: ReportKeyframe[] = [];
  private readonly images = new Map<string, EncodedJpeg>();
  /** The plain keyframe images events refer to (report.json's `evidence`). */
  private readonly eventFiles = new Set<string>();
  droppedEvents = 0;
  private readonly captions: Caption[] = [];
  private readonly transcripts: Transcript[] = [];
  private readonly shots: ShotRecord[] = [];

  addShot(r: ShotRecord): void {
    if (this.shots.length < this.maxItems) this.shots.push(r);
  }

  addCaption(c: Caption): void {
    if (this.captions.length < this.maxItems) this.captions.push(c);
  }

  addTranscript(t: Transcript): void {
    if (this.transcripts.length < this.maxItems) this.transcripts.push(t);
  }

  constructor(private readonly maxItems = 10_000) {}

  /** What was kept so far (for the report's history.sqlite). */
  contents(): {
    events: readonly ReportEvent[];
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

  /** A tracked keyframe: its annotated snapshot, drawn on its plain evidence JPEG. */
  addTracked(t: KeyframeTracks, plain: EncodedJpeg | undefined): void {
    if (t.tracks.length === 0 || this.annotated.has(t.keyframeId)) return;
    if (this.annotated.size >= Math.min(this.maxItems, MAX_ANNOTATED)) {
      this.droppedImages++;
      return;
    }
    if (!plain) {
      this.missingImages++;
      return;
    }
    const jpg = annotateJpeg(plain.data, t.tracks, { width: t.sourceWidth, height: t.sourceHeight });
    const file = `evidence/${safe(t.keyframeId)}.boxes.jpg`;
    this.images.set(file, jpg);
    this.annotated.set(t.keyframeId, { file, tracks: t.tracks.length });
  }

  /** An object record (the latest one per object is kept), with the crop of its best box. */
  addObject(r: ObjectRecord, bestPlain: EncodedJpeg | undefined): void {
    const prev = this.objects.get(r.id);
    if (prev === undefined && this.objects.size >= this.maxItems) return;
    let crop = prev?.crop ?? null;
    let cropKf = prev?.cropKf ?? null;
    if (r.best !== null && r.best.keyframeId !== cropKf) {
      if (bestPlain?.source) {
        if (crop !== null) this.images.delete(crop);
        crop = `evidence/${safe(r.best.keyframeId)}.track-${r.trackId}.jpg`;
        cropKf = r.best.keyframeId;
        this.images.set(crop, cropJpeg(bestPlain.data, r.best.box, bestPlain.source));
      } else this.missingImages++;
    }
    this.objects.set(r.id, { record: r, crop, cropKf });
  }

  addEvent(e: VigilEvent, jpeg: EncodedJpeg | undefined): void {
    if (this.events.length >= this.maxItems) {
      this.droppedEvents++;
      return;
    }
    const kf = e.evidence.keyframeId;
    let file: string | null = null;
    if (kf && jpeg) {
      file = `evidence/${safe(kf)}.jpg`;
      this.images.set(file, jpeg);
      this.eventFiles.add(file);
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
      events: this.events.map((e) => ({
        ...e,
        annotatedImage: e.evidence.keyframeId
          ? (this.annotated.get(e.evidence.keyframeId)?.file ?? null)
          : null,
      })),
      summaries: this.summaries,
      objects: [...this.objects.values()]
        .map(({ record: r, crop }) => ({
          id: r.id,
          trackId: r.trackId,
          label: r.label,
          start: clock(r.startPtsNs),
          end: clock(r.endPtsNs),
          startPtsNs: r.startPtsNs,
          endPtsNs: r.endPtsNs,
          dwellMs: r.dwellMs,
          peakScore: r.peakScore,
          medianScore: r.medianScore,
          entryEdge: r.entryEdge,
          exitEdge: r.exitEdge,
          final: r.final,
          reason: r.reason ?? null,
          zones: r.zones,
          best: r.best,
          crop,
          snapshot: r.best ? (this.annotated.get(r.best.keyframeId)?.file ?? null) : null,
        }))
        .sort((a, b) => a.startPtsNs - b.startPtsNs || a.trackId - b.trackId),
      annotated: [...this.annotated].map(([keyframeId, a]) => ({
        keyframeId,
        file: a.file,
        width: this.images.get(a.file)?.width ?? 0,
        height: this.images.get(a.file)?.height ?? 0,
        tracks: a.tracks,
      })),
      keyframes: this.keyframes,
      shots: this.shots,
      ...(this.captions.length > 0 ? { captions: this.captions } : {}),
      ...(this.transcripts.length > 0 ? { transcripts: this.transcripts } : {}),
      evidence: [...this.images]
        .filter(([file]) => this.eventFiles.has(file))
        .map(([file, j]) => ({
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
    makeDirectory(join(dir, 'evidence'));
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
