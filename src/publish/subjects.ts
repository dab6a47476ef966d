/** NATS subjects (see README): one token per stream id, so ids are validated to NATS-safe tokens. */
import { ConfigError } from '../core/errors.js';

const STREAM_ID = /^[A-Za-z0-9_-]{1,64}$/;
const TYPE_TOKEN = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

export function validateStreamId(id: string): string {
  if (typeof id !== 'string' || !STREAM_ID.test(id)) {
    throw new ConfigError(
      `stream id ${JSON.stringify(id)} is not a NATS-safe token: use 1-64 letters, digits, '_' or '-'`,
    );
  }
  return id;
}

export const subjects = {
  keyframe: (stream: string) => `vigil.${validateStreamId(stream)}.keyframe`,
  detections: (stream: string) => `vigil.${validateStreamId(stream)}.detections`,
  status: (stream: string) => `vigil.${validateStreamId(stream)}.status`,
  caption: (stream: string) => `vigil.${validateStreamId(stream)}.caption`,
  transcript: (stream: string) => `vigil.${validateStreamId(stream)}.transcript`,
  summary: (stream: string, level: string) => `vigil.${validateStreamId(stream)}.summary.${checkType(level)}`,
  event: (stream: string, type: string) => `vigil.${validateStreamId(stream)}.event.${checkType(type)}`,
};

function checkType(type: string): string {
  if (!TYPE_TOKEN.test(type))
    throw new ConfigError(`message type ${JSON.stringify(type)} is not a valid subject suffix`);
  return type;
}
