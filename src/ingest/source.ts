/**
 * Parses and validates a source before any pipeline is built. The result never leaks credentials:
 * `display` is the redacted form used in logs, errors, metrics and events.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SourceError } from '../core/errors.js';

/** videotestsrc's patterns (`test:<pattern>`), the closed set allowed into a pipeline description. */
const PATTERNS = new Set([
  'smpte',
  'snow',
  'black',
  'white',
  'red',
  'green',
  'blue',
  'checkers-1',
  'checkers-2',
  'checkers-4',
  'checkers-8',
  'circular',
  'blink',
  'smpte75',
  'zone-plate',
  'gamut',
  'chroma-zone-plate',
  'solid-color',
  'ball',
  'smpte100',
  'bar',
  'pinwheel',
  'spokes',
  'gradient',
  'colors',
  'smpte-rp-219',
]);

/** Whether a `test:` pattern names one of videotestsrc's patterns. */
export function isTestPattern(name: string): boolean {
  return PATTERNS.has(name);
}

export type SourceKind = 'file' | 'rtsp' | 'http' | 'v4l2' | 'test';

export interface SourceSpec {
  kind: SourceKind;
  /** What the GStreamer source element is given (a path for files, a URI otherwise). Never logged. */
  location: string;
  /** Redacted, safe to print. */
  display: string;
  /** Credentials split out of the URL (rtsp); never logged. */
  user?: string;
  password?: string;
  /** For `test:` sources: videotestsrc pattern. */
  pattern?: string;
  /** For `test:` sources: frame size and rate (validated integers). */
  test?: { width: number; height: number; fps: number };
  /** rtsps: (TLS) rather than rtsp:. */
  tls?: boolean;
  /** http(s) URL whose path ends in .m3u8 (HLS); decodebin picks hlsdemux by content either way. */
  hls?: boolean;
}

/** Device nodes v4l2 sources may name: /dev/videoN or a stable /dev/v4l/by-id|by-path link. */
const V4L2_DEVICE = /^\/dev\/(video\d{1,3}|v4l\/by-(id|path)\/[A-Za-z0-9._:-]{1,200})$/;

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** Replaces the password (and user) of a URL-like string with `***`; works on unparsable input too. */
export function redact(input: string): string {
  return input.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@\s]*)@/i, (_m, scheme: string, cred: string) => {
    const user = cred.split(':')[0] ?? '';
    return `${scheme}${user ? `${decodeURIComponentSafe(user)}:***` : '***'}@`;
  });
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export function parseSource(input: string): SourceSpec {
  if (typeof input !== 'string' || input.trim() === '') {
    throw new SourceError('VIGIL_ERR_SOURCE_URL', '(empty)', 'source is empty: give a file path or a URL');
  }
  const display = redact(input);
  if (CONTROL_CHARS.test(input)) {
    throw new SourceError(
      'VIGIL_ERR_SOURCE_URL',
      display,
      `source ${JSON.stringify(display)} contains control characters`,
    );
  }
  const schemeMatch = /^([a-z][a-z0-9+.-]*):/i.exec(input);
  // A bare path (or a Windows-less relative path) is a file.
  if (!schemeMatch || input.startsWith('/') || input.startsWith('.')) {
    return fileSource(resolve(input), display);
  }
  const scheme = (schemeMatch[1] ?? '').toLowerCase();
  switch (scheme) {
    case 'file': {
      let path: string;
      try {
        path = fileURLToPath(input);
      } catch (cause) {
        throw new SourceError('VIGIL_ERR_SOURCE_URL', display, `source ${display} is not a valid file URL`, {
          cause,
        });
      }
      return fileSource(path, display);
    }
    case 'rtsp':
    case 'rtsps':
    case 'rtspt': {
      const url = parseUrl(input, display);
      const spec: SourceSpec = {
        kind: 'rtsp',
        location: `${url.protocol}//${url.host}${url.pathname}${url.search}`,
        display: redact(input),
      };
      if (scheme === 'rtsps') spec.tls = true;
      if (url.username) spec.user = decodeURIComponentSafe(url.username);
      if (url.password) spec.password = decodeURIComponentSafe(url.password);
      return spec;
    }
    case 'http':
    case 'https': {
      const url = parseUrl(input, display);
      const spec: SourceSpec = { kind: 'http', location: url.href, display };
      if (/\.m3u8$/i.test(url.pathname)) spec.hls = true;
      return spec;
    }
    case 'v4l2': {
      // v4l2:///dev/video0 (or v4l2:/dev/video0): a local capture device, validated by form only.
      const path = input.replace(/^v4l2:(\/\/)?/i, '');
      if (!V4L2_DEVICE.test(path)) {
        throw new SourceError(
          'VIGIL_ERR_SOURCE_URL',
          display,
          `source ${display}: a v4l2 source names a device node, e.g. v4l2:///dev/video0`,
        );
      }
      return { kind: 'v4l2', location: path, display };
    }
    case 'test': {
      // test:<pattern>[?width=W&height=H&fps=F], e.g. test:ball, test:smpte?width=320&height=240.
      const [patternPart = '', query = ''] = input.slice(5).split('?', 2);
      const pattern = patternPart || 'smpte';
      if (!isTestPattern(pattern)) {
        throw new SourceError(
          'VIGIL_ERR_SOURCE_URL',
          display,
          `test source pattern ${JSON.stringify(pattern)} is not a videotestsrc pattern name`,
        );
      }
      const size = { width: 1280, height: 720, fps: 30 };
      const limits = { width: [16, 3840], height: [16, 2160], fps: [1, 120] } as const;
      for (const [key, value] of new URLSearchParams(query)) {
        if (!(key in limits) || !/^\d{1,4}$/.test(value)) {
          throw new SourceError(
            'VIGIL_ERR_SOURCE_URL',
            display,
            `test source: bad parameter ${JSON.stringify(key)}`,
          );
        }
        const [lo, hi] = limits[key as keyof typeof limits];
        const n = Number(value);
        if (n < lo || n > hi) {
          throw new SourceError(
            'VIGIL_ERR_SOURCE_URL',
            display,
            `test source: ${key} must be in ${lo}..${hi}`,
          );
        }
        size[key as keyof typeof size] = n;
      }
      return { kind: 'test', location: pattern, display, pattern, test: size };
    }
    default:
      throw new SourceError(
        'VIGIL_ERR_SOURCE_SCHEME',
        display,
        `source ${display}: unsupported scheme "${scheme}:" (supported: file path, file:, rtsp:, rtsps:, http:, https:, v4l2:, test:)`,
      );
  }
}

function parseUrl(input: string, display: string): URL {
  let url: URL;
  try {
    url = new URL(input);
  } catch (cause) {
    throw new SourceError('VIGIL_ERR_SOURCE_URL', display, `source ${display} is not a valid URL`, { cause });
  }
  if (!url.hostname) {
    throw new SourceError('VIGIL_ERR_SOURCE_URL', display, `source ${display} has no host`);
  }
  // Characters that mean something to gst-launch syntax have no business in a camera URL's host.
  if (/[\s!"'`;|<>\\]/.test(url.hostname)) {
    throw new SourceError('VIGIL_ERR_SOURCE_URL', display, `source ${display} has an invalid host`);
  }
  return url;
}

function fileSource(path: string, display: string): SourceSpec {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    throw new SourceError('VIGIL_ERR_SOURCE_NOT_FOUND', display, `source ${display}: no such file`);
  }
  if (!stat.isFile()) {
    throw new SourceError('VIGIL_ERR_SOURCE_NOT_FOUND', display, `source ${display} is not a regular file`);
  }
  if (stat.size === 0 && /\.m3u8$/i.test(path)) {
    throw new SourceError(
      'VIGIL_ERR_SOURCE_PLAYLIST',
      display,
      `source ${display}: empty HLS playlist (0 bytes)`,
    );
  }
  if (stat.size === 0) {
    throw new SourceError('VIGIL_ERR_SOURCE_DECODE', display, `source ${display} is empty (0 bytes)`);
  }
  return { kind: 'file', location: path, display };
}
