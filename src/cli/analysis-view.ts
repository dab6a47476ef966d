/**
 * What `vigil analyze` and `vigil demo` show of their one stream, driven by the manager's updates:
 * summaries and events as lines (or their CloudEvents as JSON), the progress bar, and the report
 * (every keyframe with its time and reason, the events with their evidence images, the summaries).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ManagerUpdate, StreamInfo } from '../analyzer/manager.js';
import { envelope } from '../publish/cloudevents.js';
import { JpegCache } from '../publish/evidence.js';
import { formatCaption, formatEvent, formatSummary, formatTranscript } from './format.js';
import { ProgressBar } from './progress.js';
import type { ModelCallTotals } from '../observability/metrics.js';
import { ReportBuilder, type AnalysisReport } from './report.js';
import { renderHtml } from './report-html.js';

export interface AnalysisViewOptions {
  streamId: string;
  /** Where summary and event lines go; absent: not printed (--quiet). */
  print?: (line: string) => void;
  /** Print each message as its CloudEvents JSON instead of a line. */
  json: boolean;
  /** Show a progress bar on stderr over this many media seconds (null: unknown length). */
  progress?: { totalSeconds: number | null };
  /** Collect a report (evidence images kept for the events' keyframes). */
  report: boolean;
}

export class AnalysisView {
  private readonly bar: ProgressBar | undefined;
  private readonly report: ReportBuilder | undefined;
  private readonly jpegs: JpegCache | undefined;
  private lastPtsNs = 0;
  private keyframes = 0;
  private events = 0;

  constructor(private readonly o: AnalysisViewOptions) {
    this.bar = o.progress ? new ProgressBar(o.progress.totalSeconds) : undefined;
    this.report = o.report ? new ReportBuilder() : undefined;
    this.jpegs = o.report ? new JpegCache(512) : undefined;
  }

  /** Stream time of the latest analysed keyframe, seconds. */
  get mediaSeconds(): number {
    return this.lastPtsNs / 1e9;
  }

  /** A manager listener: only this view's stream counts. */
  readonly onUpdate = (u: ManagerUpdate): void => {
    switch (u.type) {
      case 'keyframe':
        if (u.streamId !== this.o.streamId) return;
        this.keyframes++;
        this.lastPtsNs = Math.max(this.lastPtsNs, u.keyframe.frame.ptsNs);
        // The pixels are only valid during this call: the evidence JPEG is made now.
        if (this.jpegs) this.jpegs.put(u.keyframe);
        this.report?.addKeyframe(u.keyframe, u.analysis);
        this.drawProgress();
        return;
      case 'summary':
        if (u.streamId !== this.o.streamId) return;
        this.report?.addSummary(u.summary);
        this.print(
          () => formatSummary(u.summary),
          () =>
            envelope('summary', u.streamId, u.summary.id, u.summary.endTimeMs, u.summary, u.summary.level),
        );
        return;
      case 'event': {
        if (u.streamId !== this.o.streamId) return;
        this.events++;
        const e = u.event;
        this.report?.addEvent(e, e.evidence.keyframeId ? this.jpegs?.get(e.evidence.keyframeId) : undefined);
        this.print(
          () => formatEvent(e),
          () => envelope('event', u.streamId, e.id, e.timeMs, e, e.type),
        );
        return;
      }
      case 'tracked':
        if (u.streamId === this.o.streamId && this.jpegs)
          this.report?.addTracked(u.tracks, this.jpegs.get(u.tracks.keyframeId));
        return;
      case 'object':
        if (u.streamId === this.o.streamId && this.jpegs)
          this.report?.addObject(
            u.record,
            u.record.best ? this.jpegs.get(u.record.best.keyframeId) : undefined,
          );
        return;
      case 'shot':
        if (u.streamId === this.o.streamId) this.report?.addShot(u.shot);
        return;
      case 'caption': {
        if (u.streamId !== this.o.streamId) return;
        const c = u.caption;
        this.report?.addCaption(c);
        this.print(
          () => formatCaption(c),
          () => envelope('caption', u.streamId, c.id, c.timeMs, c),
        );
        return;
      }
      case 'transcript': {
        if (u.streamId !== this.o.streamId) return;
        const t = u.transcript;
        this.report?.addTranscript(t);
        this.print(
          () => formatTranscript(t),
          () => envelope('transcript', u.streamId, t.id, t.timeMs, t),
        );
        return;
      }
      default:
        return;
    }
  };

  /** The bar at its end (a file analysed to the end), then the line ended. */
  finish(completed: boolean): void {
    const total = this.o.progress?.totalSeconds;
    if (completed && total !== null && total !== undefined) this.drawProgress(total, true);
    this.bar?.done();
  }

  /** Writes report.json, report.md and evidence/ into dir (when collecting a report). */
  writeReport(
    dir: string,
    info: StreamInfo,
    meta: {
      source: string;
      startedAt: number;
      mediaSeconds: number | null;
      models?: ModelCallTotals[];
    },
  ): { json: string; markdown: string; html: string; report: AnalysisReport } | undefined {
    const written = this.report?.write(dir, {
      streamId: info.id,
      source: meta.source,
      startedAt: new Date(meta.startedAt).toISOString(),
      wallSeconds: (Date.now() - meta.startedAt) / 1000,
      mediaSeconds: meta.mediaSeconds ?? this.mediaSeconds,
      counters: { ...info.counters },
      ...(meta.models && meta.models.length > 0 ? { models: meta.models } : {}),
    });
    if (written === undefined) return undefined;
    // report.html: the same report for a person, self-contained (opens offline from disk).
    const html = join(dir, 'report.html');
    writeFileSync(html, renderHtml(written.report));
    return { ...written, html };
  }

  /** The events and summaries collected for the report (for its history index). */
  reportContents(): ReturnType<ReportBuilder['contents']> | undefined {
    return this.report?.contents();
  }

  private drawProgress(seconds = this.mediaSeconds, force = false): void {
    this.bar?.update(seconds, `${this.keyframes} keyframes, ${this.events} events`, force);
  }

  private print(line: () => string, json: () => unknown): void {
    if (!this.o.print) return;
    this.o.print(this.o.json ? JSON.stringify(json()) : line());
  }
}

/** The closing line of a session: what the stream did (counters of its final info). */
export function sessionLine(info: StreamInfo, interrupted: boolean, wallMs: number): string {
  const c = info.counters;
  return (
    `vigil: ${interrupted ? 'interrupted' : 'done'} after ${(wallMs / 1000).toFixed(1)} s: ${c.frames} frames, ${c.keyframes} keyframes, ` +
    `${c.analysed} analysed, ${c.summaries} summaries, ${c.events} events` +
    (c.inferFailed ? `, ${c.inferFailed} analyses unavailable` : '') +
    (c.inferDropped ? `, ${c.inferDropped} keyframes dropped (inference behind)` : '') +
    (c.vadWindows ? `, ${c.vadWindows} VAD windows` : '') +
    (c.vadDropped ? `, ${c.vadDropped} audio chunks dropped (VAD behind)` : '') +
    (c.vadFailed ? `, ${c.vadFailed} VAD calls failed` : '')
  );
}
