/**
 * Player time: stream time starts at the first frame, so the first frame of a file is 0.000 as a
 * player shows it (GStreamer's first PTS of a file with B-frames is e.g. 0.080). Only the stream's
 * first frame sets the base: the source already keeps stream time monotonic across its runs (a
 * reconnect restarts PTS; StreamSource offsets each run by where the last ended plus the outage),
 * and rebasing each run on its own first frame would start time again near 0 after every
 * reconnect, so windows would stop closing (#22 item 2). The frame is changed in place (copying
 * it would read its lazily converted model pixels); PTS never goes below 0.
 */
import { defer, map, type OperatorFunction } from 'rxjs';
import type { Frame } from '../core/contracts.js';

export function rebaseStreamTime(): OperatorFunction<Frame, Frame> {
  return (source) =>
    defer(() => {
      let firstPtsNs: number | undefined;
      return source.pipe(
        map((frame) => {
          firstPtsNs ??= frame.ptsNs;
          frame.ptsNs = Math.max(0, frame.ptsNs - firstPtsNs);
          return frame;
        }),
      );
    });
}
