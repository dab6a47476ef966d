/**
 * Live web view, mounted on the control HTTP server: `GET /` serves the page, `/ws` pushes
 * everything (stream info, stats about once a second, the latest keyframe as JPEG with its boxes,
 * summaries, events, and with language models the captions and transcripts). A new client gets a snapshot first. Slow clients are skipped for keyframes
 * (bounded send buffer, counted) rather than slowing the analyzer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Manager, ManagerUpdate } from '../analyzer/manager.js';
import type { Caption, Summary, Transcript, VigilEvent } from '../core/contracts.js';
import { authorized } from '../control/api.js';
import type { HttpMount } from '../control/http.js';
import { JpegCache } from '../publish/evidence.js';
import { PAGE_HTML } from './page.js';
import { describeEvent } from './sentences.js';

export interface WebViewOptions {
  manager: Manager;
  /** Shared with the publisher so each keyframe is encoded once. */
  jpegCache?: JpegCache;
  /** When set, the page and the socket need `?token=` (the control API's bearer token). */
  token?: string;
  /** Skip keyframes for a client whose unsent data exceeds this, bytes (default 2 MiB). */
  maxBufferedBytes?: number;
  /** Events kept for new clients' snapshot (default 100). */
  maxEvents?: number;
}

export interface WebView extends HttpMount {
  readonly clients: number;
  /** Keyframe messages not sent to a slow client. */
  readonly skipped: number;
  close(): Promise<void>;
}

interface KeyframeMessage {
  type: 'keyframe';
  streamId: string;
  keyframeId: string;
  ptsNs: number;
  sourceWidth: number;
  sourceHeight: number;
  width: number;
  height: number;
  jpeg: string;
  detections: { label: string; score: number; box: { x: number; y: number; w: number; h: number } }[];
}

/** An event as the page shows it: a sentence and its keyframe's thumbnail (base64 JPEG). */
type ShownEvent = VigilEvent & { sentence: string; thumb: string | null };

export function createWebView(o: WebViewOptions): WebView {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  const jpegs = o.jpegCache ?? new JpegCache();
  const maxBuffered = o.maxBufferedBytes ?? 2 * 1024 * 1024;
  const maxEvents = o.maxEvents ?? 100;
  const latestKeyframe = new Map<string, KeyframeMessage>();
  const latestSummary = new Map<string, Summary>();
  const events: ShownEvent[] = [];
  /** Small thumbnails of recent keyframes, for the event list (bounded LRU). */
  const thumbs = new JpegCache(256, { maxWidth: 96, quality: 60 });
  const shown = (e: VigilEvent): ShownEvent => {
    const t = e.evidence.keyframeId === null ? undefined : thumbs.get(e.evidence.keyframeId);
    return { ...e, sentence: describeEvent(e), thumb: t ? Buffer.from(t.data).toString('base64') : null };
  };
  const language = languageView();
  let skipped = 0;
  let closing: Promise<void> | undefined;

  const broadcast = (msg: object, droppable = false) => {
    if (wss.clients.size === 0) return;
    const text = JSON.stringify(msg);
    for (const ws of wss.clients) {
      if (ws.readyState !== ws.OPEN) continue;
      if (droppable && ws.bufferedAmount > maxBuffered) {
        skipped++;
        continue;
      }
      ws.send(text);
    }
  };

  const onUpdate = (u: ManagerUpdate) => {
    switch (u.type) {
      case 'attached':
      case 'state':
        return broadcast({ type: 'stream', info: u.info });
      case 'detached':
        latestKeyframe.delete(u.info.id);
        latestSummary.delete(u.info.id);
        language.forget(u.info.id);
        return broadcast({ type: 'detached', id: u.info.id });
      case 'stats':
        return broadcast({ type: 'stats', streams: u.streams });
      case 'keyframe': {
        const jpg = jpegs.put(u.keyframe);
        thumbs.put(u.keyframe);
        if (!jpg) return;
        const msg: KeyframeMessage = {
          type: 'keyframe',
          streamId: u.streamId,
          keyframeId: u.keyframe.id,
          ptsNs: u.keyframe.frame.ptsNs,
          sourceWidth: u.keyframe.frame.sourceWidth,
          sourceHeight: u.keyframe.frame.sourceHeight,
          width: jpg.width,
          height: jpg.height,
          jpeg: Buffer.from(jpg.data).toString('base64'),
          detections: u.analysis.detections.map((d) => ({ label: d.label, score: d.score, box: d.box })),
        };
        latestKeyframe.set(u.streamId, msg);
        return broadcast(msg, true);
      }
      case 'summary':
        latestSummary.set(u.streamId, u.summary);
        return broadcast({ type: 'summary', summary: u.summary });
      case 'event': {
        const e = shown(u.event);
        events.push(e);
        if (events.length > maxEvents) events.shift();
        return broadcast({ type: 'event', event: e });
      }
      case 'caption':
      case 'transcript':
        return language.update(u, broadcast);
    }
  };
  const unsubscribe = o.manager.onUpdate(onUpdate);

  wss.on('connection', (ws: WebSocket) => {
    ws.on('error', () => ws.terminate());
    // Clients only listen; anything they send is ignored.
    const ids = new Set(o.manager.list().map((s) => s.id));
    ws.send(
      JSON.stringify({
        type: 'snapshot',
        streams: o.manager.list(),
        keyframes: [...latestKeyframe.values()].filter((k) => ids.has(k.streamId)),
        summaries: [...latestSummary.values()].filter((s) => ids.has(s.streamId)),
        events,
        ...language.snapshot(ids),
      }),
    );
  });

  const allowed = (req: IncomingMessage, url: URL) =>
    o.token === undefined ||
    authorized(o.token, req.headers.authorization) ||
    authorized(o.token, `Bearer ${url.searchParams.get('token') ?? ''}`);

  return {
    get clients() {
      return wss.clients.size;
    },
    get skipped() {
      return skipped;
    },
    handle: (req: IncomingMessage, res: ServerResponse, url: URL) => {
      if (url.pathname !== '/' && url.pathname !== '/index.html') return false;
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      if (!allowed(req, url)) {
        res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('Unauthorized: open the page with ?token=<control token>\n');
        return true;
      }
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy':
          "default-src 'none'; img-src data: blob:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'",
      });
      res.end(req.method === 'HEAD' ? undefined : PAGE_HTML);
      return true;
    },
    upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer, url: URL) => {
      if (url.pathname !== '/ws') return false;
      if (!allowed(req, url)) {
        socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
        return true;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
      return true;
    },
    close: () => {
      closing ??= (async () => {
        unsubscribe();
        for (const ws of wss.clients) ws.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      })();
      return closing;
    },
  };
}

// --- Language stages: captions and transcripts (only streams with those models have any) ---

/** Transcripts kept per stream for a new client's snapshot. */
const SNAPSHOT_TRANSCRIPTS = 5;

/** The latest caption and the last few transcripts per stream, and their live messages. */
function languageView() {
  const captions = new Map<string, Caption>();
  const transcripts = new Map<string, Transcript[]>();
  return {
    update(
      u: Extract<ManagerUpdate, { type: 'caption' | 'transcript' }>,
      broadcast: (msg: object) => void,
    ): void {
      if (u.type === 'caption') {
        captions.set(u.streamId, u.caption);
        broadcast({ type: 'caption', caption: u.caption });
        return;
      }
      const list = transcripts.get(u.streamId) ?? [];
      list.push(u.transcript);
      if (list.length > SNAPSHOT_TRANSCRIPTS) list.shift();
      transcripts.set(u.streamId, list);
      broadcast({ type: 'transcript', transcript: u.transcript });
    },
    forget(streamId: string): void {
      captions.delete(streamId);
      transcripts.delete(streamId);
    },
    snapshot(ids: Set<string>): { captions: Caption[]; transcripts: Transcript[] } {
      return {
        captions: [...captions.values()].filter((c) => ids.has(c.streamId)),
        transcripts: [...transcripts.values()].flat().filter((t) => ids.has(t.streamId)),
      };
    },
  };
}
