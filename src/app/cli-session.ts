/**
 * One analysis session for the CLI (`vigil analyze`, `vigil demo`): the same analyzer as
 * `vigil run` (src/app/service.ts, without the control surfaces), with ONE stream attached to its
 * manager as a one-shot source (no reconnect). What the user sees (lines, progress bar, report)
 * comes from the manager's updates (src/cli/analysis-view.ts). Everything closes in reverse order on
 * completion, error or Ctrl-C.
 *
 * Exit codes: 0 when the stream completed (or a live stream was stopped by Ctrl-C); 130 when a
 * file was interrupted; a failed stream throws its typed error (the CLI maps its code).
 */
import { rmdirSync } from 'node:fs';
import { formatModelTotals } from '../observability/metrics.js';
import { parseConfig, type VigilConfig } from '../config/index.js';
import { isErrorCode, VigilError } from '../core/errors.js';
import { parseSource } from '../ingest/source.js';
import type { StreamDefinition, StreamInfo } from '../analyzer/manager.js';
import { AnalysisView, sessionLine } from '../cli/analysis-view.js';
import { probeDurationSeconds } from '../cli/progress.js';
import { prepareReportDirectory } from '../cli/report.js';
import { CleanupStack } from './cleanup.js';
import { startService, type NatsSettings } from './service.js';
import { writeReportHistory } from '../history/index.js';
import type { LanguageModelsConfig } from '../config/language-models.js';

/** The NATS settings of a session, as `nats:` in the config (servers null: a local nats-server). */
export type SessionNats = NatsSettings;

export interface RunAnalysisOptions {
  /** A file path or a URL (rtsp://, http(s)://, test:…), as `vigil analyze` takes it. */
  source: string;
  streamId: string;
  live: boolean;
  windowMs: number;
  /**
   * The analyzer's settings (NATS, inference) as `vigil run` reads them; default: the config
   * defaults with the environment's VIGIL_NATS_* (a local nats-server and inference server).
   */
  config?: VigilConfig;
  /** NATS servers and credentials over the config's; `servers: null` starts a local nats-server. */
  nats?: Partial<SessionNats>;
  /** An inference server (host:port) instead of the config's (default: start one). */
  inferAddress?: string;
  /** The model repository a local inference server serves (default: the config's). */
  modelRepository?: string;
  json: boolean;
  /** Where lines go (stdout by default); tests capture them. */
  print?: (line: string) => void;
  /** Where status lines go (stderr by default). */
  log?: (line: string) => void;
  /** Resolves to stop early (Ctrl-C / SIGTERM by default). */
  stopSignal?: Promise<void>;
  /** Show a progress bar on stderr (files: by media duration). */
  progress?: boolean;
  /** Write report.json, report.md, report.html and evidence/*.jpg into this directory at the end. */
  reportDir?: string;
  /** Print summaries and events as they arrive (default true). */
  printMessages?: boolean;
  /** On-screen text on every analysed keyframe (PaddleOCR, ~0.5 s per keyframe on CPU; default false). */
  ocr?: boolean;
  /** The recognition model's dictionary (default: `<modelRepository>/ppocr_rec/1/ppocr_keys_v1.txt`). */
  ocrDictionary?: string;
  /** Voice activity on the source's audio (absent: on, except RTSP where it must be asked for). */
  vad?: boolean;
  /** Language stages (captions, model summaries, speech to text); absent or empty: none. */
  language?: LanguageModelsConfig;
}

/** The analyzer's config for a session: the given (or default) config with the session's overrides. */
export function sessionConfig(o: RunAnalysisOptions): VigilConfig {
  const base = o.config ?? parseConfig('{}', 'command line', process.env);
  const nats = { ...base.nats };
  if (o.nats) {
    for (const [key, value] of Object.entries(o.nats)) {
      if (value !== undefined) (nats as Record<string, unknown>)[key] = value;
    }
  }
  const inference = { ...base.inference };
  if (o.inferAddress) {
    inference.address = o.inferAddress;
    inference.addresses = [o.inferAddress];
  }
  if (o.modelRepository) inference.modelRepository = o.modelRepository;
  if (o.ocr !== undefined) inference.ocr = o.ocr;
  if (o.ocrDictionary) inference.ocrDictionary = o.ocrDictionary;
  return {
    ...base,
    nats,
    inference,
    analyzer: { ...base.analyzer, maxStreams: 1, windowMs: o.windowMs },
    streams: [],
  };
}

/** SIGINT / SIGTERM as a promise, with a way to remove the handlers. */
function signals(): { promise: Promise<void>; remove: () => void } {
  let remove = () => {};
  const promise = new Promise<void>((resolve) => {
    const onSignal = () => resolve();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    remove = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
  });
  return { promise, remove };
}

/** The typed error of a failed stream (its code and redacted message). */
function streamError(info: StreamInfo): VigilError {
  const e = info.error ?? { code: 'VIGIL_ERR_STREAM', message: `stream ${info.id} failed` };
  return new VigilError(isErrorCode(e.code) ? e.code : 'VIGIL_ERR_STREAM', e.message);
}

export async function runAnalysis(o: RunAnalysisOptions): Promise<number> {
  const log = o.log ?? ((line: string) => console.error(line));
  const stack = new CleanupStack();
  try {
    const stop = o.stopSignal ? { promise: o.stopSignal, remove: () => {} } : signals();
    stack.push('signal handlers', stop.remove);
    // A bad source or report directory fails here, before anything starts.
    const spec = parseSource(o.source);
    if (o.reportDir !== undefined && prepareReportDirectory(o.reportDir)) {
      // A run that fails before its report leaves no empty directory behind (rmdir: only if empty).
      const dir = o.reportDir;
      stack.push('empty report directory', () => {
        try {
          rmdirSync(dir);
        } catch {
          // Not empty: the report is in it.
        }
      });
    }
    const service = await startService(sessionConfig(o), log, {
      serve: false,
      inferHint: 'pass --infer HOST:PORT',
      ...(o.language ? { language: o.language } : {}),
    });
    stack.push('analyzer', () => service.close());
    const manager = service.manager;
    const mediaSeconds = spec.kind === 'file' ? await probeDurationSeconds(spec.location) : null;
    const view = new AnalysisView({
      streamId: o.streamId,
      ...(o.printMessages === false ? {} : { print: o.print ?? ((line: string) => console.log(line)) }),
      json: o.json,
      ...(o.progress ? { progress: { totalSeconds: mediaSeconds } } : {}),
      report: o.reportDir !== undefined,
    });
    let resolveEnded!: (info: StreamInfo) => void;
    const ended = new Promise<StreamInfo>((resolve) => (resolveEnded = resolve));
    stack.push(
      'view',
      manager.onUpdate((u) => {
        view.onUpdate(u);
        if (u.type === 'state' && u.info.id === o.streamId && ['completed', 'failed'].includes(u.info.state))
          resolveEnded(u.info);
      }),
    );
    const def: StreamDefinition = {
      id: o.streamId,
      url: o.source,
      live: o.live,
      windowMs: o.windowMs,
      oneShot: true,
      // Left out, the manager's default applies: on, except RTSP (asking a camera without audio
      // for its audio keeps rtspsrc from delivering video at all).
      ...(o.vad === undefined ? {} : { audio: { vad: o.vad } }),
    };
    log(`vigil: analyzing ${spec.display} as stream "${o.streamId}" (${o.live ? 'live' : 'fast'})`);
    const started = Date.now();
    await manager.attach(def);
    const outcome = await Promise.race([ended, stop.promise.then(() => null)]);
    const info = outcome ?? (await manager.detach(o.streamId));
    // Stopped by the signal (a stream that ended meanwhile counts as ended).
    const interrupted = info.state === 'stopped';
    view.finish(info.state === 'completed');
    if (info.state === 'failed') throw streamError(info);
    // Every durable publish acked before the summary line (nothing published is lost on exit).
    await service.publisher.flush();
    log(sessionLine(info, interrupted, Date.now() - started));
    // Language-model calls (vigil_model_* on the service's registry), one line per model.
    const models = service.metrics.languageModels.totalsByModel();
    for (const m of models) log(`vigil: model ${formatModelTotals(m)}`);
    if (o.reportDir) {
      const written = view.writeReport(o.reportDir, info, {
        source: spec.display,
        startedAt: started,
        mediaSeconds,
        models,
      });
      if (written)
        log(
          `vigil: report written to ${written.json} and ${written.markdown} (open ${written.html} in a browser)`,
        );
      const contents = view.reportContents();
      if (contents) {
        const history = await writeReportHistory(o.reportDir, contents.events, contents.summaries);
        log(`vigil: history index written to ${history} (vigil ask --history ${o.reportDir} "…")`);
      }
    }
    // Ctrl-C is how a live stream ends (0); a file cut short is reported as interrupted (130).
    return interrupted && !o.live ? 130 : 0;
  } finally {
    await stack.close();
  }
}
