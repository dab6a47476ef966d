/**
 * A small structural validator for configuration: every error names the key path
 * (`streams[1].keyframes.maxIntervalMs`), what was expected and what was found; unknown keys are
 * errors. Pure functions, no I/O.
 */

export type Spec = SpecKind & {
  /** What the option does, for the configuration reference (docs/). */
  doc?: string;
  /** The default when the key is absent (a value, or a sentence such as "analyzer.windowMs"). */
  default?: unknown;
  /**
   * A further check once the shape is right (e.g. the stream stage's own option parser): throws
   * an Error whose message is reported under this key's path.
   */
  check?: (value: never) => unknown;
};

/** A field of an object: a spec that may be required. */
export type Field = Spec & { required?: boolean };

type SpecKind =
  | { kind: 'string'; min?: number; pattern?: RegExp; hint?: string }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'number'; min: number; max: number }
  | { kind: 'bool' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'array'; items: Spec; max: number }
  /** A string or a list of strings (e.g. NATS servers). */
  | { kind: 'strings'; max: number }
  /** A plain object whose keys are checked by `check` (the stream stage's option parsers). */
  | { kind: 'map'; orList?: boolean }
  | { kind: 'object'; fields: Record<string, Field> }
  /** false, or an object matching `spec`. */
  | { kind: 'off-or'; spec: Spec };

export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  return `${typeof v} ${String(v)}`;
}

function expectedOf(spec: Spec): string {
  switch (spec.kind) {
    case 'string':
      return spec.hint ?? (spec.min ? 'a non-empty string' : 'a string');
    case 'int':
      return `an integer from ${spec.min} to ${spec.max}`;
    case 'number':
      return `a number from ${spec.min} to ${spec.max}`;
    case 'bool':
      return 'true or false';
    case 'enum':
      return `one of ${spec.values.join(', ')}`;
    case 'array':
      return `a list of at most ${spec.max} items`;
    case 'strings':
      return 'a string or a list of strings';
    case 'map':
    case 'object':
      return 'a mapping';
    case 'off-or':
      return `false or ${expectedOf(spec.spec)}`;
  }
}

const join = (path: string, key: string) => (path ? `${path}.${key}` : key);

/** Returns a list of `path: expected X, got Y` messages (empty when valid). */
export function validate(value: unknown, spec: Spec, path = ''): string[] {
  const errors = validateShape(value, spec, path);
  if (errors.length > 0 || !spec.check) return errors;
  try {
    spec.check(value as never);
    return [];
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // A stage parser that names its own key (`detect.fps must be …`) continues the path, not repeats it.
    const key = path.slice(path.lastIndexOf('.') + 1);
    if (key !== '' && message.startsWith(`${key}.`)) return [`${path}${message.slice(key.length)}`];
    return [`${path || '(top level)'}: ${message}`];
  }
}

function validateShape(value: unknown, spec: Spec, path: string): string[] {
  const fail = (what = expectedOf(spec)) => [
    `${path || '(top level)'}: expected ${what}, got ${describeValue(value)}`,
  ];
  switch (spec.kind) {
    case 'string':
      if (typeof value !== 'string' || value.length < (spec.min ?? 0)) return fail();
      if (spec.pattern && !spec.pattern.test(value)) return fail();
      return [];
    case 'int':
      return typeof value === 'number' && Number.isInteger(value) && value >= spec.min && value <= spec.max
        ? []
        : fail();
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) && value >= spec.min && value <= spec.max
        ? []
        : fail();
    case 'bool':
      return typeof value === 'boolean' ? [] : fail();
    case 'enum':
      return typeof value === 'string' && spec.values.includes(value) ? [] : fail();
    case 'strings':
      if (typeof value === 'string' && value.length > 0) return [];
      if (
        Array.isArray(value) &&
        value.length > 0 &&
        value.length <= spec.max &&
        value.every((v) => typeof v === 'string' && v.length > 0)
      )
        return [];
      return fail();
    case 'array':
      if (!Array.isArray(value) || value.length > spec.max) return fail();
      return value.flatMap((v, i) => validate(v, spec.items, `${path}[${i}]`));
    case 'map':
      return isMapping(value) || (spec.orList === true && Array.isArray(value)) ? [] : fail();
    case 'off-or':
      if (value === false) return [];
      // Neither false nor the right shape: say that both would do.
      if (!isMapping(value) && (spec.spec.kind === 'map' || spec.spec.kind === 'object')) return fail();
      return validate(value, spec.spec, path);
    case 'object': {
      if (!isMapping(value)) return fail();
      const errors: string[] = [];
      const known = Object.keys(spec.fields);
      for (const key of Object.keys(value)) {
        if (!known.includes(key)) {
          errors.push(`${join(path, key)}: unknown key (expected one of: ${known.join(', ')})`);
        }
      }
      for (const [key, field] of Object.entries(spec.fields)) {
        const v = value[key];
        if (v === undefined || v === null) {
          if (field.required) errors.push(`${join(path, key)}: required, expected ${expectedOf(field)}`);
          continue;
        }
        errors.push(...validate(v, field, join(path, key)));
      }
      return errors;
    }
  }
}

export function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
