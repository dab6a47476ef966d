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
