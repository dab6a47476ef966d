/** What benches read from gst-launch-1.0's own output. */

/** "Execution ended after 0:00:00.812345678" (gst-launch without -q), in seconds. */
export function executionSeconds(out: string): number {
  const m = /Execution ended after (\d+):(\d\d):(\d\d)\.(\d{9})/.exec(out);
  if (!m) throw new Error('gst-launch printed no execution time');
  return (Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3]) + Number(m[4]) / 1e9;
}
