/**
 * Player time: stream time starts at the first frame, so the first frame of a file is 0.000 as a
 * player shows it (GStreamer's first PTS of a file with B-frames is e.g. 0.080). Every run of the
 * source (a reconnect restarts PTS) is rebased on its own first frame. The frame is changed in
 * place (copying it would read its lazily converted model pixels); PTS never goes below 0.
 */
import { defer, map, type OperatorFunction } from 'rxjs';
import type { Frame } from '../core/contracts.js';

export function rebaseStreamTime(): OperatorFunction<Frame, Frame> {
  return (source) =>
    defer(() => {
      let run: number | undefined | null = null;
      let firstPtsNs = 0;
      return source.pipe(
        map((frame) => {
          if (run === null || frame.runId !== run) {
            run = frame.runId;
            firstPtsNs = frame.ptsNs;
          }
          frame.ptsNs = Math.max(0, frame.ptsNs - firstPtsNs);
          return frame;
        }),
      );
    });
}
