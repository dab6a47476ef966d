/**
 * Evidence images over HTTP: `GET /v1/evidence/<name>` serves the keyframe JPEG an answer's
 * thumbnail names (`<stream>/<keyframe id>.jpg`, URL-encoded as one path segment), from the
 * JetStream object store the publisher writes or from a report's evidence directory.
 *
 * Authenticated like the rest of /v1 (bearer token); the name is checked against a strict pattern
 * before anything is read, so no path, bucket or subject can be named through it. Images over
 * `maxBytes` are refused rather than buffered.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NatsConnection } from '@nats-io/transport-node';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { authorized, ControlError, errorReply, type ControlReply } from './api.js';
import type { HttpMount } from './http.js';
import { VigilError } from '../core/errors.js';

export const EVIDENCE_PREFIX = '/v1/evidence/';

/** `<stream>/<keyframe id>.jpg`: a NATS-safe stream token, then letters, digits and `_ - : .`. */
const NAME = /^[A-Za-z0-9_-]{1,64}\/[A-Za-z0-9_:-][A-Za-z0-9_:.-]{0,199}\.jpg$/;

/** True when `name` is a well-formed evidence object name (no `..`, no second `/`). */
export function isEvidenceName(name: string): boolean {
  return NAME.test(name) && !name.includes('..');
}

/** Where the images come from: the bytes, or null when there is no such image. */
export interface EvidenceReader {
  read(name: string, maxBytes: number): Promise<Uint8Array | null>;
}

class TooLarge extends VigilError {
  constructor(bytes: number) {
    super('VIGIL_ERR_TOO_LARGE', `evidence image of ${bytes} bytes is over the limit`);
  }
}

/** The publisher's object-store bucket (opened lazily; absent bucket = no images). */
export function objectStoreEvidence(connection: NatsConnection, bucket: string): EvidenceReader {
  let store: Promise<ObjectStore | null> | undefined;
  const open = () => {
    store ??= new Objm(connection).open(bucket).catch(() => {
      store = undefined;
      return null;
    });
    return store;
  };
  return {
    read: async (name, maxBytes) => {
      const os = await open();
      if (!os) return null;
      const info = await os.info(name);
      if (!info || info.deleted) return null;
      if (info.size > maxBytes) throw new TooLarge(info.size);
      return os.getBlob(name);
    },
  };
}

/** A report directory's evidence files (the names `vigil analyze --report` writes; see cli/report.ts). */
export function reportDirEvidence(dir: string): EvidenceReader {
  return {
    read: async (name, maxBytes) => {
      const keyframe = name.slice(name.indexOf('/') + 1).replace(/\.jpg$/, '');
      const file = join(dir, 'evidence', `${keyframe.replace(/[^A-Za-z0-9_-]/g, '_')}.jpg`);
      const st = await stat(file).catch(() => null);
      if (!st?.isFile()) return null;
      if (st.size > maxBytes) throw new TooLarge(st.size);
      return readFile(file);
    },
  };
}

export interface EvidenceMountOptions {
  reader: EvidenceReader;
  /** The control API's bearer token; absent: open like the rest of /v1. */
  token?: string;
  /** Largest image served, bytes (default 8 MiB). */
  maxBytes?: number;
}

function sendJson(res: ServerResponse, reply: ControlReply): void {
  const body = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

/** Resolves the request to a reply: the image bytes, or a JSON error. */
export async function serveEvidence(
  o: EvidenceMountOptions,
  method: string,
  authorization: string | undefined,
  encodedName: string,
): Promise<{ image: Uint8Array } | ControlReply> {
  if (!authorized(o.token, authorization)) {
    return errorReply(new ControlError('VIGIL_ERR_UNAUTHORIZED', 'missing or wrong bearer token'));
  }
  if (method !== 'GET' && method !== 'HEAD') {
    return errorReply(new ControlError('VIGIL_ERR_METHOD', 'method not allowed here (allowed: GET)'));
  }
  let name: string;
  try {
    name = decodeURIComponent(encodedName);
  } catch {
    name = '';
  }
  if (!isEvidenceName(name)) {
    return errorReply(
      new ControlError('VIGIL_ERR_BAD_REQUEST', 'bad evidence name (expected <stream>/<keyframe id>.jpg)'),
    );
  }
  try {
    const image = await o.reader.read(name, o.maxBytes ?? 8 * 1024 * 1024);
    if (!image) {
      return errorReply(
        new VigilError('VIGIL_ERR_EVIDENCE_NOT_FOUND', 'no such evidence image (expired or never stored)'),
      );
    }
    return { image };
  } catch (err) {
    return errorReply(
      err instanceof VigilError
        ? err
        : new VigilError('VIGIL_ERR_EVIDENCE_UNAVAILABLE', 'the evidence store cannot be read'),
    );
  }
}

/** The route as a mount on the control server. */
export function createEvidenceMount(o: EvidenceMountOptions): HttpMount {
  return {
    handle(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
      if (!url.pathname.startsWith(EVIDENCE_PREFIX)) return false;
      const method = req.method ?? 'GET';
      serveEvidence(o, method, req.headers.authorization, url.pathname.slice(EVIDENCE_PREFIX.length)).then(
        (r) => {
          if (!('image' in r)) return sendJson(res, r);
          res.writeHead(200, {
            'content-type': 'image/jpeg',
            'content-length': r.image.byteLength,
            'cache-control': 'private, max-age=3600',
            'x-content-type-options': 'nosniff',
          });
          res.end(
            method === 'HEAD'
              ? undefined
              : Buffer.from(r.image.buffer, r.image.byteOffset, r.image.byteLength),
          );
        },
        () => sendJson(res, errorReply(new Error('evidence'))),
      );
      return true;
    },
  };
}
