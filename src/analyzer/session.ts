/**
 * One analysis session for the CLI (`demo`, `analyze`): starts what is not given (a local
 * nats-server, a local inference server), runs one stream end to end, prints what arrives on
 * NATS, and tears everything down in reverse order on completion, error or Ctrl-C.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import type { Subscription as RxSubscription } from 'rxjs';
import { Observable, Subject, tap } from 'rxjs';
import type {
  AudioChunk,
  Caption,
  Frame,
  Keyframe,
  Summary,
  Transcript,
  VigilEvent,
} from '../core/contracts.js';
import { probeDurationSeconds, ProgressBar } from '../cli/progress.js';
import { ReportBuilder } from '../cli/report.js';
import { VigilError } from '../core/errors.js';
import { DEFAULT_INGEST_OPTIONS, openFrames, type IngestOptions } from '../ingest/frames.js';
import type { SourceSpec } from '../ingest/source.js';
import {
  createDetector,
  createOcr,
  InferenceClient,
  loadOcrDictionary,
  startInferenceServer,
} from '../infer/index.js';
import { createPublisher, DEFAULT_PUBLISHER_OPTIONS } from '../publish/nats-publisher.js';
import { startNatsServer } from '../publish/nats-server.js';
import type { CloudEvent } from '../publish/cloudevents.js';
import { formatEvent, formatSummary } from '../cli/format.js';
import type { VigilConfig } from '../config/index.js';
import { startControlServer } from '../control/http.js';
import { serveControlOverNats } from '../control/nats.js';
import type { NatsClientOptions } from '../publish/connection.js';
import { JpegCache } from '../publish/evidence.js';
import type { Publisher } from '../publish/nats-publisher.js';
import { createWebView } from '../web/server.js';
import {
  AnalyzerMetrics,
  instrumentManagerDeps,
  metricsMount,
  observeManager,
} from '../observability/index.js';
import { analyzeWith, type OcrLike } from './analyze.js';
import { createManager, type Manager } from './manager.js';
import { AudioPacer, vadProvider, vadSamples } from './speech.js';
import { newCounters, streamPipeline } from './stream-runner.js';
import { createLanguageStages } from './language.js';
import type { LanguageModelsConfig } from '../config/language-models.js';

export interface RunAnalysisOptions {
  source: SourceSpec;
  streamId: string;
  live: boolean;
  windowMs: number;
  natsUrl: string | undefined;
  inferAddress: string | undefined;
  modelRepository: string;
  json: boolean;
  /** Where lines go (stdout by default); tests capture them. */
  print?: (line: string) => void;
  /** Resolves to stop early (Ctrl-C by default). */
  stopSignal?: Promise<void>;
  /** Show a progress bar on stderr (files: by media duration). */
  progress?: boolean;
  /** Write report.json, report.md and evidence/*.jpg into this directory at the end. */
  reportDir?: string;
  /** Print summaries and events as they arrive (default true). */
  printMessages?: boolean;
  /** On-screen text on every analysed keyframe (PaddleOCR, ~0.5 s per keyframe on CPU; default false). */
  ocr?: boolean;
  /** The recognition model's dictionary (default: `<modelRepository>/ppocr_rec/1/ppocr_keys_v1.txt`). */
  ocrDictionary?: string;
  /** Voice activity on the source's audio when `silero_vad` is served (default true; RTSP: false). */
  vad?: boolean;
  /** Language stages (captions, model summaries, speech to text); absent or empty: none. */
  language?: LanguageModelsConfig;
}

/** Where the OCR dictionary lives in a model repository made by scripts/prepare-model-repo.mjs. */
export function defaultOcrDictionary(modelRepository: string): string {
  return join(modelRepository, 'ppocr_rec', '1', 'ppocr_keys_v1.txt');
}

/** The OCR stage over the inference client, or a clear VIGIL_ERR_CONFIG when its dictionary is missing. */
export function ocrStage(client: InferenceClient, dictionaryFile: string): OcrLike {
  if (!existsSync(dictionaryFile)) {
    throw new VigilError(
      'VIGIL_ERR_CONFIG',
      `OCR dictionary ${dictionaryFile} not found: run 'bash scripts/setup.sh' (it writes models/repo/ppocr_rec/1/ppocr_keys_v1.txt) or set inference.ocrDictionary`,
    );
  }
  return createOcr({ client, dictionary: loadOcrDictionary(dictionaryFile) });
}

/**
 * One pipeline run (no reconnect: a CLI session ends with its source) as frames, plus its audio
 * chunks when `options.audio` is set. Subscribing to the frames starts the pipeline (subscribe to
 * the audio first); unsubscribing stops it. Errors are the ingest's typed SourceErrors.
 */
export function openFramesWithAudio(
  spec: SourceSpec,
  options: IngestOptions,
): { frames: Observable<Frame>; audio: Observable<AudioChunk> } {
  const audio = new Subject<AudioChunk>();
  // The audio ends with the run, before the frames do (consumers of both see audio end first).
  const frames = new Observable<Frame>((subscriber) => {
    const run = openFrames(spec, options, undefined, (chunk) => audio.next(chunk)).subscribe({
      next: (frame) => subscriber.next(frame),
      error: (err: unknown) => {
        audio.complete();
        subscriber.error(err);
      },
      complete: () => {
        audio.complete();
        subscriber.complete();
      },
    });
    return () => run.unsubscribe();
  });
  return { frames, audio: audio.asObservable() };
}

type Cleanup = () => Promise<unknown>;

export async function runAnalysis(o: RunAnalysisOptions): Promise<number> {
  const print = o.print ?? ((line: string) => console.log(line));
  const cleanups: Cleanup[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
    cleanups.length = 0;
  };
  let interrupted = false;
  let removeSignals = () => {};
  const stopSignal =
    o.stopSignal ??
    new Promise<void>((resolve) => {
      const onSignal = () => {
        interrupted = true;
        resolve();
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      removeSignals = () => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      };
    });
  try {
    let natsUrl = o.natsUrl;
    if (!natsUrl) {
      const nats = await startNatsServer();
      cleanups.push(() => nats.stop());
      natsUrl = nats.url;
      console.error(`vigil: started nats-server at ${natsUrl}`);
    }
    let inferAddress = o.inferAddress;
    if (!inferAddress) {
      if (!existsSync(o.modelRepository)) {
        throw new VigilError(
          'VIGIL_ERR_CONFIG',
          `model repository ${o.modelRepository} not found: run 'bash scripts/setup.sh' first, or pass --infer HOST:PORT`,
        );
      }
      const server = await startInferenceServer({
        modelRepository: o.modelRepository,
        host: '127.0.0.1',
        port: 0,
      });
      cleanups.push(() => server.close());
      inferAddress = `127.0.0.1:${server.port}`;
      console.error(`vigil: started inference server at ${inferAddress}`);
    }

    const publisher = await createPublisher({ ...DEFAULT_PUBLISHER_OPTIONS, servers: natsUrl });
    cleanups.push(() => publisher.close());
    const printer = await startPrinter(
      natsUrl,
      o.streamId,
      o.json,
      o.printMessages === false ? () => undefined : print,
    );
    cleanups.push(() => printer.close());

    const client = new InferenceClient({ addresses: [inferAddress] });
    cleanups.push(async () => client.close());
    const detector = createDetector({ client, model: 'yolov8n' });
    const ocr = o.ocr
      ? ocrStage(client, o.ocrDictionary ?? defaultOcrDictionary(o.modelRepository))
      : undefined;
    // Speech events when the source has audio and the VAD model is served (asked once).
    // RTSP audio is opt-in (vad: true): a camera without audio would get no video (see manager.ts).
    const vadWanted = o.vad ?? o.source.kind !== 'rtsp';
    let vad = vadWanted ? vadProvider(client) : undefined;
    if (vad && !(await vad.ready())) {
      console.error(`vigil: speech detection off (model ${vad.model} not served)`);
      vad = undefined;
    }

    const counters = newCounters();
    // --- language stages (issue 20) ---
    const language = o.language ? createLanguageStages(o.language) : null;
    if (language) {
      cleanups.push(() => language.close());
      for (const line of language.describe()) console.error(`vigil: ${line}`);
    }
    // --- end language stages ---
    // Live sources drop the oldest keyframe when inference is behind; files wait for it instead.
    const inferQueue = 4;
    const pressure = { pending: 0 };
    // The same for audio: live sources drop the oldest chunk when the VAD is behind; files pause.
    const vadQueue = o.live ? 64 : 256;
    const audioPressure = { pending: 0 };
    const pacer = vad && !o.live ? new AudioPacer() : undefined;
    let lastPtsNs = 0;
    const opened = openFramesWithAudio(o.source, {
      ...DEFAULT_INGEST_OPTIONS,
      streamId: o.streamId,
      live: o.live,
      ...(vad ? { audio: true } : {}),
      shouldPause: () =>
        pressure.pending >= inferQueue || audioPressure.pending >= vadQueue / 2 || pacer?.ahead === true,
    });
    const frames = opened.frames.pipe(
      tap((f) => {
        lastPtsNs = f.ptsNs;
        pacer?.video(f.ptsNs);
        bar?.update(f.ptsNs / 1e9, `${counters.keyframes} keyframes, ${counters.events} events`);
      }),
    );
    const mediaSeconds = o.source.kind === 'file' ? await probeDurationSeconds(o.source.location) : null;
    const bar = o.progress ? new ProgressBar(mediaSeconds) : undefined;
    const jpegs = o.reportDir ? new JpegCache(512) : undefined;
    const report = o.reportDir ? new ReportBuilder() : undefined;
    console.error(
      `vigil: analyzing ${o.source.display} as stream "${o.streamId}" (${o.live ? 'live' : 'fast'})`,
    );
    const started = Date.now();
    const finished = new Promise<void>((resolve, reject) => {
      const sub: RxSubscription = streamPipeline(
        {
          streamId: o.streamId,
          frames,
          analyze: analyzeWith(detector, 'yolov8n', { health: client, ...(ocr ? { ocr } : {}) }),
          sink: publisher,
          windowMs: o.windowMs,
          ...(vad
            ? {
                vad: vadSamples(opened.audio, {
                  provider: vad,
                  streamId: o.streamId,
                  counters,
                  maxQueue: vadQueue,
                  ...(pacer ? { pressure: audioPressure, pacer } : {}),
                }),
              }
            : {}),
          // A few frames may still be in flight when the pause starts: leave them room.
          inferQueue: o.live ? inferQueue : inferQueue + 16,
          pressure,
          live: o.live,
          ...(language ? { ...language.forStream(o.streamId), ...(vad ? { audio: opened.audio } : {}) } : {}),
          ...(language && report
            ? {
                onCaption: (c: Caption) => report.addCaption(c),
                onTranscript: (t: Transcript) => report.addTranscript(t),
              }
            : {}),
          ...(jpegs && report
            ? {
                onAnalysed: (kf: Keyframe) => void jpegs.put(kf),
                onSummary: (sm: Summary) => report.addSummary(sm),
                onEvent: (e: VigilEvent) =>
                  report.addEvent(e, e.evidence.keyframeId ? jpegs.get(e.evidence.keyframeId) : undefined),
              }
            : {}),
        },
        counters,
      ).subscribe({ error: reject, complete: resolve });
      cleanups.push(async () => sub.unsubscribe());
      void stopSignal.then(() => {
        sub.unsubscribe();
        resolve();
      });
    });
    await finished.finally(() => {
      if (!interrupted && mediaSeconds !== null) {
        bar?.update(mediaSeconds, `${counters.keyframes} keyframes, ${counters.events} events`, true);
      }
      bar?.done();
    });
    // Wait for every durable publish to be acked; a round trip on the printer's connection delivers the rest.
    await publisher.flush();
    await printer.flush();
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    console.error(
      `vigil: ${interrupted ? 'interrupted' : 'done'} after ${secs} s: ${counters.frames} frames, ${counters.keyframes} keyframes, ` +
        `${counters.analysed} analysed, ${counters.summaries} summaries, ${counters.events} events` +
        (counters.inferFailed ? `, ${counters.inferFailed} analyses unavailable` : '') +
        (counters.inferDropped ? `, ${counters.inferDropped} keyframes dropped (inference behind)` : '') +
        (counters.vadWindows ? `, ${counters.vadWindows} VAD windows` : '') +
        (counters.vadDropped ? `, ${counters.vadDropped} audio chunks dropped (VAD behind)` : '') +
        (counters.vadFailed ? `, ${counters.vadFailed} VAD calls failed` : ''),
    );
    if (report && o.reportDir) {
      const written = report.write(o.reportDir, {
        streamId: o.streamId,
        source: o.source.display,
        startedAt: new Date(started).toISOString(),
        wallSeconds: (Date.now() - started) / 1000,
        mediaSeconds: mediaSeconds ?? lastPtsNs / 1e9,
        counters: { ...counters },
      });
      console.error(`vigil: report written to ${written.json} and ${written.markdown}`);
    }
    // Ctrl-C is how a live stream ends (0); a file cut short is reported as interrupted (130).
    return interrupted && !o.live ? 130 : 0;
  } finally {
    removeSignals();
    await cleanup();
  }
}

/** Reads the TLS files of `inference.tls` for the gRPC client (mTLS when a cert and key are given). */
function inferenceTls(t: VigilConfig['inference']['tls']) {
  if (!t) return {};
  return {
    tls: {
      ...(t.caFile ? { rootCerts: readFileSync(t.caFile) } : {}),
      ...(t.certFile && t.keyFile
        ? { certChain: readFileSync(t.certFile), privateKey: readFileSync(t.keyFile) }
        : {}),
      ...(t.serverName ? { serverName: t.serverName } : {}),
    },
  };
}

interface Printer {
  flush(): Promise<void>;
  close(): Promise<void>;
}

async function startPrinter(
  url: string,
  streamId: string,
  json: boolean,
  print: (line: string) => void,
): Promise<Printer> {
  const nc: NatsConnection = await connect({ servers: url, name: 'vigil-cli-printer' });
  const subs: Subscription[] = [`vigil.${streamId}.summary.>`, `vigil.${streamId}.event.>`].map((subject) =>
    nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        if (json) return print(msg.string());
        try {
          const ce = msg.json<CloudEvent<Summary | VigilEvent>>();
          print(
            ce.type.startsWith('io.vigil.summary')
              ? formatSummary(ce.data as Summary)
              : formatEvent(ce.data as VigilEvent),
          );
        } catch {
          print(msg.string());
        }
      },
    }),
  );
  let closing: Promise<void> | undefined;
  return {
    flush: () => nc.flush(),
    close: () => {
      closing ??= (async () => {
        for (const s of subs) s.unsubscribe();
        await nc.drain().catch(() => nc.close());
      })();
      return closing;
    },
  };
}

/** A running analyzer service (`vigil run`): manager + publisher + control API + web view. */
export interface Service {
  manager: Manager;
  publisher: Publisher;
  /** Base URL of the HTTP control API and the web view. */
  controlUrl: string;
  natsUrl: string;
  inferAddress: string;
  /** Stops everything in reverse order; idempotent. */
  close(): Promise<void>;
}

/**
 * Starts the analyzer as a service from a validated config: a local nats-server and inference
 * server when none are configured, the publisher, the stream manager with the configured streams,
 * the HTTP control API with the web view, and the control API over NATS.
 */
export async function startService(
  config: VigilConfig,
  log: (line: string) => void = (l) => console.error(l),
): Promise<Service> {
  const cleanups: Cleanup[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
    cleanups.length = 0;
  };
  try {
    let servers = config.nats.servers;
    if (!servers) {
      const nats = await startNatsServer();
      cleanups.push(() => nats.stop());
      servers = [nats.url];
      log(`vigil: started nats-server at ${nats.url}`);
    }
    let inferAddress = config.inference.address;
    if (!inferAddress) {
      if (!existsSync(config.inference.modelRepository)) {
        throw new VigilError(
          'VIGIL_ERR_CONFIG',
          `model repository ${config.inference.modelRepository} not found: run 'bash scripts/setup.sh' first, or set inference.address`,
        );
      }
      const server = await startInferenceServer({
        modelRepository: config.inference.modelRepository,
        host: '127.0.0.1',
        port: 0,
      });
      cleanups.push(() => server.close());
      inferAddress = `127.0.0.1:${server.port}`;
      log(`vigil: started inference server at ${inferAddress}`);
    }
    const natsClient: NatsClientOptions = { servers };
    for (const key of ['user', 'token', 'nkeySeed', 'nkeySeedFile', 'tls'] as const) {
      if (config.nats[key] !== undefined)
        (natsClient as unknown as Record<string, unknown>)[key] = config.nats[key];
    }
    if (config.nats.password !== undefined) natsClient.pass = config.nats.password;
    const jpegCache = new JpegCache(256);
    const publisher = await createPublisher({
      ...natsClient,
      jetstreamName: config.nats.jetstream.stream,
      maxAgeMs: config.nats.jetstream.maxAgeMs,
      maxBytes: config.nats.jetstream.maxBytes,
      maxPending: config.nats.retry.maxPending,
      ackTimeoutMs: config.nats.retry.ackTimeoutMs,
      evidence: config.nats.evidence,
      jpegCache,
    });
    cleanups.push(() => publisher.close());
    // One process-wide registry: per stream, per stage, publishing, process; served on /metrics.
    const metrics = new AnalyzerMetrics();
    metrics.observePublisher(publisher);
    // The gRPC client rotates over every configured inference server (or the local one).
    const addresses = config.inference.addresses.length > 0 ? config.inference.addresses : [inferAddress];
    const client = new InferenceClient({
      addresses,
      sharedMemory: config.inference.sharedMemory,
      streamInfer: config.inference.streamInfer,
      ...inferenceTls(config.inference.tls),
    });
    cleanups.push(async () => client.close());
    const model = config.inference.model;
    const ocr = config.inference.ocr
      ? ocrStage(
          client,
          config.inference.ocrDictionary ?? defaultOcrDictionary(config.inference.modelRepository),
        )
      : undefined;
    // Speech events for streams with audio; asked once whether the VAD model is served (lazily, per stream).
    const vad = config.inference.vad ? vadProvider(client) : undefined;
    const manager = createManager(
      instrumentManagerDeps(
        {
          analyze: analyzeWith(createDetector({ client, model }), model, {
            health: client,
            ...(ocr ? { ocr } : {}),
          }),
          ...(vad ? { vad } : {}),
          sink: publisher,
          maxStreams: config.analyzer.maxStreams,
          windowMs: config.analyzer.windowMs,
          ...(config.analyzer.maxKeyframeAgeMs !== undefined
            ? { maxKeyframeAgeMs: config.analyzer.maxKeyframeAgeMs }
            : {}),
          ...(config.analyzer.maxInferInFlight !== undefined
            ? { maxInferInFlight: config.analyzer.maxInferInFlight }
            : {}),
        },
        metrics,
      ),
    );
    observeManager(manager, metrics);
    cleanups.push(() => manager.close());
    const ready = async () => {
      const natsUp = !publisher.connection.isClosed() && publisher.connection.info !== undefined;
      const inferUp = await client.serverReady().catch(() => false);
      return { ready: natsUp && inferUp, checks: { nats: natsUp, inference: inferUp } };
    };
    const token = config.control.token;
    const mounts = [
      metricsMount(metrics),
      ...(config.web.enabled ? [createWebView({ manager, jpegCache, ...(token ? { token } : {}) })] : []),
    ];
    const control = await startControlServer({
      manager,
      ready,
      host: config.control.host,
      port: config.control.port,
      ...(token ? { token } : {}),
      mounts,
    });
    cleanups.push(() => control.close());
    log(
      `vigil: control API${config.web.enabled ? ' and live view' : ''} at ${control.url} (metrics: ${control.url}/metrics)`,
    );
    if (config.control.nats) {
      const ctl = serveControlOverNats({
        manager,
        ready,
        connection: publisher.connection,
        ...(token ? { token } : {}),
      });
      cleanups.push(() => ctl.close());
    }
    for (const def of config.streams) {
      const info = await manager.attach(def);
      log(`vigil: attached ${info.id} (${info.source})`);
    }
    let closing: Promise<void> | undefined;
    return {
      manager,
      publisher,
      controlUrl: control.url,
      natsUrl: servers[0]!,
      inferAddress,
      close: () => {
        closing ??= cleanup();
        return closing;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
