/**
 * Typed edge over gstreamer-superficial (patched in patches/: bounded bus polling, pull with timeout,
 * buffer PTS in the caps object, no leaked element references).
 */
import { createRequire } from 'node:module';

export interface GstCaps {
  name?: string;
  width?: number;
  height?: number;
  format?: string;
  framerate?: string;
  /** Buffer PTS in nanoseconds (added by Vigil's patch). */
  pts?: number;
  duration?: number;
  [key: string]: unknown;
}

export interface GstBusMessage {
  type: string;
  _src_element_name?: string;
  name?: string;
  message?: string;
  [key: string]: unknown;
}

export interface GstElement {
  [property: string]: unknown;
}

export interface GstAppSink extends GstElement {
  /** `buf` is a Buffer, `null` at EOS, `undefined` when `timeoutMs` passed without a sample. */
  pull(cb: (buf: Buffer | null | undefined, caps: GstCaps) => void, timeoutMs?: number): void;
}

export interface GstPipeline {
  play(): void;
  pause(): void;
  stop(): void;
  sendEOS(): void;
  findChild(name: string): GstElement | undefined;
  pollBus(cb: (msg: GstBusMessage) => void): void;
}

interface GstModule {
  Pipeline: new (description: string) => GstPipeline;
}

let cached: GstModule | undefined;

export function gst(): GstModule {
  cached ??= createRequire(import.meta.url)('gstreamer-superficial') as GstModule;
  return cached;
}
