/**
 * Builds the gst-launch description for a source. No user input ever goes into this string:
 * locations and credentials are set as element properties afterwards (see `sourceProperties`),
 * and the few words that do go in (test pattern, transport) come from validated closed sets.
 */
import type { SourceSpec } from './source.js';

export interface DescribeOptions {
  /** Width of the gray analysis frame; height follows the aspect ratio. Multiple of 4. */
  analysisWidth: number;
  /** Width of the RGB model frame; height follows the aspect ratio. Multiple of 4. */
  modelWidth: number;
  /** true: deliver at the stream's own pace (live); false: as fast as the machine decodes. */
  live: boolean;
  /** Appsink bound; older buffers are dropped in live mode, decoding waits in fast mode. */
  maxBuffers: number;
  rtspTransport: 'tcp' | 'udp';
  rtspLatencyMs: number;
}

export const ELEMENT = {
  source: 'src',
  analysis: 'analysis',
  model: 'model',
  probe: 'probe',
} as const;

function sourceHead(spec: SourceSpec, o: DescribeOptions): string {
  switch (spec.kind) {
    case 'file':
      return `filesrc name=${ELEMENT.source} ! decodebin`;
    case 'rtsp':
      return `rtspsrc name=${ELEMENT.source} protocols=${o.rtspTransport} latency=${Math.trunc(o.rtspLatencyMs)} ! decodebin`;
    case 'http':
      return `souphttpsrc name=${ELEMENT.source} ! decodebin`;
    case 'test':
      return `videotestsrc name=${ELEMENT.source} is-live=true pattern=${spec.pattern ?? 'smpte'} ! video/x-raw,width=1280,height=720,framerate=30/1`;
  }
}

export function describePipeline(spec: SourceSpec, o: DescribeOptions): string {
  const sync = o.live && spec.kind !== 'rtsp' && spec.kind !== 'test' ? 'true' : 'false';
  const drop = o.live ? 'true' : 'false';
  const sink = (name: string) =>
    `appsink name=${name} sync=${sync} max-buffers=${Math.trunc(o.maxBuffers)} drop=${drop} emit-signals=false`;
  const branchQueue = 'queue max-size-buffers=4 max-size-bytes=0 max-size-time=0';
  return [
    `${sourceHead(spec, o)} ! tee name=t`,
    // videoscale before videoconvert: scaling the small planar frame first is about twice as fast.
    `t. ! ${branchQueue} ! videoscale ! videoconvert ! video/x-raw,format=GRAY8,width=${Math.trunc(o.analysisWidth)},pixel-aspect-ratio=1/1 ! ${sink(ELEMENT.analysis)}`,
    `t. ! ${branchQueue} ! videoscale ! videoconvert ! video/x-raw,format=RGB,width=${Math.trunc(o.modelWidth)},pixel-aspect-ratio=1/1 ! ${sink(ELEMENT.model)}`,
    // Holds the last decoded frame so the source size can be read once; never blocks decoding.
    `t. ! queue leaky=downstream max-size-buffers=1 ! fakesink name=${ELEMENT.probe} sync=false async=false enable-last-sample=true`,
  ].join(' ');
}

/** Properties carrying user input, set on the source element after the pipeline is parsed. */
export function sourceProperties(spec: SourceSpec): Record<string, string> {
  switch (spec.kind) {
    case 'file':
      return { location: spec.location };
    case 'rtsp': {
      const props: Record<string, string> = { location: spec.location };
      if (spec.user !== undefined) props['user-id'] = spec.user;
      if (spec.password !== undefined) props['user-pw'] = spec.password;
      return props;
    }
    case 'http':
      return { location: spec.location };
    case 'test':
      return {};
  }
}
