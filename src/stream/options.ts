/** Internal: validation helpers shared by the stream stage's option parsers. Not exported publicly. */
import { ConfigError } from '../core/errors.js';

/** Throws a ConfigError for keys of `input` not in `known` (a misspelt key must not be silently ignored). */
export function rejectUnknownKeys(component: string, input: object, known: readonly string[]): void {
  for (const key of Object.keys(input)) {
    if (!known.includes(key)) {
      throw new ConfigError(`${component}: unknown option '${key}' (known: ${known.join(', ')})`);
    }
  }
}

/** A finite number within [min, max]; `integer` additionally requires an integer. */
export function checkNumber(
  component: string,
  name: string,
  value: unknown,
  range: { min: number; max?: number; integer?: boolean; exclusiveMin?: boolean },
): number {
  const max = range.max ?? Number.MAX_SAFE_INTEGER;
  const lowOk =
    typeof value === 'number' && (range.exclusiveMin === true ? value > range.min : value >= range.min);
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    !lowOk ||
    value > max ||
    (range.integer === true && !Number.isInteger(value))
  ) {
    const kind = range.integer === true ? 'an integer' : 'a number';
    const low = range.exclusiveMin === true ? `> ${range.min}` : `>= ${range.min}`;
    const high = range.max === undefined ? '' : ` and <= ${range.max}`;
    throw new ConfigError(`${component}: ${name} must be ${kind} ${low}${high}, got ${String(value)}`);
  }
  return value;
}

const RUN_ID = /^[A-Za-z0-9_-]{1,16}$/;

/**
 * Optional run id, used in every id the stage produces so ids stay unique across re-attaches of the
 * same stream (JetStream de-duplicates by message id): 1-16 of `A-Z a-z 0-9 _ -`.
 */
export function checkRunId(component: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !RUN_ID.test(value)) {
    throw new ConfigError(
      `${component}: runId must be 1-16 letters, digits, '_' or '-', got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** `streamId` or `streamId:runId`: the prefix of every id (keyframes, events, summaries). */
export function idPrefix(streamId: string, runId: string | undefined): string {
  return runId === undefined ? streamId : `${streamId}:${runId}`;
}

/** A bounded array of strings (each of bounded length) or undefined. */
export function checkStringArray(component: string, name: string, value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new ConfigError(`${component}: ${name} must be an array of strings`);
  }
  return value as string[];
}

export function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
