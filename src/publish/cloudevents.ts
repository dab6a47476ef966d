/** CloudEvents 1.0 JSON envelopes for everything Vigil publishes (schemas/ holds their JSON Schemas). */

export interface CloudEvent<T> {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  time: string;
  subject: string;
  datacontenttype: 'application/json';
  dataschema?: string;
  data: T;
}

/** The kinds published today, each with a JSON Schema in schemas/ (a subset of the subject kinds). */
export const MESSAGE_KINDS = [
  'summary',
  'event',
  'detections',
  'keyframe',
  'status',
  'object',
  'shot',
  'caption',
  'transcript',
] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

export function envelope<T>(
  kind: MessageKind,
  streamId: string,
  id: string,
  timeMs: number,
  data: T,
  subtype?: string,
): CloudEvent<T> {
  return {
    specversion: '1.0',
    id,
    source: `/vigil/streams/${streamId}`,
    type: `io.vigil.${kind}${subtype ? `.${subtype}` : ''}`,
    time: new Date(timeMs).toISOString(),
    subject: streamId,
    datacontenttype: 'application/json',
    dataschema: `https://vigil.dev/schemas/${kind}.schema.json`,
    data,
  };
}
