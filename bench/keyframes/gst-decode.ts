/**
 * Bench helper: GStreamer decoding a file and nothing else (`gst-launch-1.0 filesrc ! decodebin !
 * fakesink`): the ceiling for any pipeline built on GStreamer's decoders, Vigil's included. Timed by
 * gst-launch itself ("Execution ended after": from PLAYING, the first frame already decoded during
 * preroll, to the end of the stream), so it spans frames - 1 frames, as Vigil's steady figure does.
 */
import { spawnSync } from 'node:child_process';
import { executionSeconds } from '../lib/gst-launch.js';

export interface GstDecodeRun {
  /** Wall seconds from PLAYING to the end of the stream. */
  seconds: number;
}

export function gstDecodeTimed(path: string): GstDecodeRun {
  const res = spawnSync(
    'gst-launch-1.0',
    // One argument per word; the path is this bench's own cache file (no spaces).
    ['filesrc', `location=${path}`, '!', 'decodebin', '!', 'video/x-raw', '!', 'fakesink', 'sync=false'],
    { encoding: 'utf8', timeout: 300_000 },
  );
  if (res.status !== 0) throw new Error(`gst-launch failed: ${`${res.stdout}${res.stderr}`.slice(-500)}`);
  return { seconds: executionSeconds(res.stdout) };
}
