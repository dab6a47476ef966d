/** Validates published messages against the JSON Schemas in schemas/ (used by tests and `vigil tail`). */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { MessageKind } from './cloudevents.js';

const SCHEMA_DIR = fileURLToPath(new URL('../../schemas/', import.meta.url));
const validators = new Map<string, ValidateFunction>();
const ajv = new Ajv({ allErrors: true, strict: false });
// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (
  a: Ajv,
) => Ajv;
addFormats(ajv);

export function schemaValidator(kind: MessageKind): ValidateFunction {
  let v = validators.get(kind);
  if (!v) {
    const schema = JSON.parse(readFileSync(`${SCHEMA_DIR}${kind}.schema.json`, 'utf8')) as object;
    v = ajv.compile(schema);
    validators.set(kind, v);
  }
  return v;
}

/** Returns null when valid, else a readable list of what is wrong. */
export function validateMessage(kind: MessageKind, message: unknown): string | null {
  const v = schemaValidator(kind);
  return v(message)
    ? null
    : (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ');
}

/** The message kind a subject carries (`vigil.<stream>.<kind>[.…]`), or null for other subjects. */
export function kindOfSubject(subject: string): MessageKind | null {
  const kind = subject.split('.')[2];
  return kind === 'summary' ||
    kind === 'event' ||
    kind === 'detections' ||
    kind === 'keyframe' ||
    kind === 'status' ||
    kind === 'caption' ||
    kind === 'transcript'
    ? kind
    : null;
}
