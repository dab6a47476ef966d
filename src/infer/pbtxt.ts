/**
 * A parser for the subset of protobuf text format that Triton's config.pbtxt uses, and the
 * mapping of its tree onto the model-config fields Vigil's server understands.
 *
 * Text format handled: `key: value`, `key { ... }`, `key: { ... }`, `key [ v, v ]`, `key: [ {..}, {..} ]`,
 * strings in double or single quotes with C escapes, numbers (incl. negative and floats), `true`/`false`,
 * bare enum identifiers, `#` comments, and optional `,`/`;` separators. Repeated keys accumulate.
 */
import { ConfigError } from '../core/errors.js';
import { datatypeFromConfig, type Datatype } from './tensor.js';

export type TextValue = string | number | boolean | TextMessage | { enum: string };
/** A message: each field name maps to all of its values in order (fields may repeat). */
export type TextMessage = Map<string, TextValue[]>;

class Lexer {
  private pos = 0;
  constructor(
    private readonly text: string,
    private readonly source: string,
  ) {}

  fail(message: string): never {
    const line = this.text.slice(0, this.pos).split('\n').length;
    throw new ConfigError(`${this.source}:${line}: ${message}`);
  }

  private skip(): void {
    for (;;) {
      const c = this.text[this.pos];
      if (c === undefined) return;
      if (c === '#') {
        const nl = this.text.indexOf('\n', this.pos);
        this.pos = nl < 0 ? this.text.length : nl + 1;
      } else if (/\s/.test(c)) {
        this.pos++;
      } else return;
    }
  }

  peek(): string | undefined {
    this.skip();
    return this.text[this.pos];
  }

  eat(ch: string): boolean {
    if (this.peek() === ch) {
      this.pos++;
      return true;
    }
    return false;
  }

  expect(ch: string): void {
    if (!this.eat(ch))
      this.fail(`expected '${ch}'${this.peek() ? ` but found '${this.peek()}'` : ' at end'}`);
  }

  identifier(): string {
    this.skip();
    const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(this.text.slice(this.pos));
    if (!m) this.fail(`expected a field name${this.peek() ? ` but found '${this.peek()}'` : ' at end'}`);
    this.pos += m[0].length;
    return m[0];
  }

  scalar(): TextValue {
    const c = this.peek();
    if (c === '"' || c === "'") return this.string(c);
    const rest = this.text.slice(this.pos);
    const num = /^[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\.\d+([eE][-+]?\d+)?|inf|nan)/.exec(rest);
    if (num) {
      this.pos += num[0].length;
      return Number(num[0]);
    }
    const id = this.identifier();
    if (id === 'true' || id === 'True') return true;
    if (id === 'false' || id === 'False') return false;
    return { enum: id };
  }

  private string(quote: string): string {
    this.pos++;
    let out = '';
    for (;;) {
      const c = this.text[this.pos++];
      if (c === undefined || c === '\n') this.fail('unterminated string');
      if (c === quote) break;
      if (c === '\\') {
        const e = this.text[this.pos++];
        const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'" };
        if (e !== undefined && e in map) out += map[e];
        else this.fail(`unsupported escape '\\${e ?? ''}'`);
      } else out += c;
    }
    // Adjacent string literals concatenate, as in protobuf text format.
    const next = this.peek();
    return next === '"' || next === "'" ? out + this.string(next) : out;
  }

  atEnd(): boolean {
    return this.peek() === undefined;
  }
}

function parseMessage(lx: Lexer, close: string | undefined): TextMessage {
  const msg: TextMessage = new Map();
  const add = (k: string, v: TextValue): void => {
    const list = msg.get(k);
    if (list) list.push(v);
    else msg.set(k, [v]);
  };
  for (;;) {
    if (close === undefined ? lx.atEnd() : lx.eat(close)) return msg;
    if (close !== undefined && lx.atEnd()) lx.fail(`missing '${close}'`);
    const key = lx.identifier();
    const colon = lx.eat(':');
    const c = lx.peek();
    if (c === '{' || c === '<') {
      lx.eat(c);
      add(key, parseMessage(lx, c === '{' ? '}' : '>'));
    } else if (c === '[') {
      lx.eat('[');
      if (!lx.eat(']')) {
        for (;;) {
          const e = lx.peek();
          if (e === '{') {
            lx.eat('{');
            add(key, parseMessage(lx, '}'));
          } else add(key, lx.scalar());
          if (lx.eat(']')) break;
          lx.expect(',');
        }
      }
    } else {
      if (!colon) lx.fail(`expected ':' after '${key}'`);
      add(key, lx.scalar());
    }
    if (!lx.eat(',')) lx.eat(';');
  }
}

/** Parses protobuf text format into a generic tree. `source` names the file in errors. */
export function parseTextProto(text: string, source = 'config.pbtxt'): TextMessage {
  return parseMessage(new Lexer(text, source), undefined);
}

// ---------------------------------------------------------------------------------------------
// Model config

export type TensorFormat = 'FORMAT_NONE' | 'FORMAT_NHWC' | 'FORMAT_NCHW';

export interface TensorConfig {
  name: string;
  datatype: Datatype;
  /** Dims without the batch dimension when maxBatchSize > 0; -1 = variable. */
  dims: number[];
  format: TensorFormat;
  /** Triton's `reshape { shape: [...] }`: the shape the model sees (without the batch dim); dims is the wire shape. */
  reshape?: number[];
}

/** Which versions of a model are served (Triton's version_policy; default: the latest one). */
export type VersionPolicy =
  { kind: 'latest'; numVersions: number } | { kind: 'all' } | { kind: 'specific'; versions: number[] };

export interface ModelConfig {
  name: string;
  /** `platform` or `backend` as written; we serve onnxruntime_onnx / onnxruntime only. */
  platform: string;
  /** 0 = the model does not batch: dims are the full shape. */
  maxBatchSize: number;
  inputs: TensorConfig[];
  outputs: TensorConfig[];
  /** Present when `dynamic_batching { }` is present. */
  dynamicBatching?: { maxQueueDelayMicroseconds: number; preferredBatchSize: number[] };
  /** Sum of instance_group counts (default 1). */
  instanceCount: number;
  /** `parameters { key: ... value: { string_value: ... } }`. */
  parameters: Record<string, string>;
  /** Absent in the file = Triton's default, `latest { num_versions: 1 }`. */
  versionPolicy: VersionPolicy;
}

/** Top-level Triton fields that we accept and ignore (they do not change what we serve). */
const IGNORED_FIELDS = new Set([
  'optimization',
  'model_warmup',
  'default_model_filename',
  'cc_model_filenames',
  'metric_tags',
  'model_transaction_policy',
  'response_cache',
  'runtime',
  'model_operations',
  'model_repository_agents',
]);

type Reader = {
  one(key: string): TextValue | undefined;
  all(key: string): TextValue[];
};

function reader(msg: TextMessage, where: string, allowed: readonly string[], ignored?: Set<string>): Reader {
  for (const key of msg.keys()) {
    if (!allowed.includes(key) && !ignored?.has(key)) {
      throw new ConfigError(
        `${where}: unknown or unsupported field '${key}' (supported: ${allowed.join(', ')})`,
      );
    }
  }
  return {
    one(key) {
      const v = msg.get(key);
      if (v && v.length > 1) throw new ConfigError(`${where}: field '${key}' given ${v.length} times`);
      return v?.[0];
    },
    all(key) {
      return msg.get(key) ?? [];
    },
  };
}

function asString(v: TextValue | undefined, where: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new ConfigError(`${where}: expected a string`);
  return v;
}

function asInt(v: TextValue | undefined, where: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ConfigError(`${where}: expected an integer`);
  return v;
}

function asEnum(v: TextValue | undefined, where: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v instanceof Map) throw new ConfigError(`${where}: expected an enum name`);
  return v.enum;
}

function asMessage(v: TextValue, where: string): TextMessage {
  if (!(v instanceof Map)) throw new ConfigError(`${where}: expected a message { ... }`);
  return v;
}

function tensorConfig(v: TextValue, where: string): TensorConfig {
  const r = reader(asMessage(v, where), where, [
    'name',
    'data_type',
    'dims',
    'format',
    'reshape',
    'optional',
    'label_filename',
    'is_shape_tensor',
    'allow_ragged_batch',
  ]);
  const name = asString(r.one('name'), `${where}.name`);
  if (!name) throw new ConfigError(`${where}: missing 'name'`);
  const where2 = `${where} '${name}'`;
  const dtEnum = asEnum(r.one('data_type'), `${where2}.data_type`);
  if (!dtEnum) throw new ConfigError(`${where2}: missing 'data_type'`);
  const datatype = datatypeFromConfig(dtEnum);
  if (!datatype) throw new ConfigError(`${where2}: unsupported data_type ${dtEnum}`);
  const dims = r.all('dims').map((d) => {
    const n = asInt(d, `${where2}.dims`);
    if (n === undefined || n === 0 || n < -1) throw new ConfigError(`${where2}: dims must be positive or -1`);
    return n;
  });
  if (dims.length === 0) throw new ConfigError(`${where2}: missing 'dims'`);
  const format = (asEnum(r.one('format'), `${where2}.format`) ?? 'FORMAT_NONE') as TensorFormat;
  if (!['FORMAT_NONE', 'FORMAT_NHWC', 'FORMAT_NCHW'].includes(format)) {
    throw new ConfigError(`${where2}: unsupported format ${String(format)}`);
  }
  let reshape: number[] | undefined;
  const rs = r.one('reshape');
  if (rs !== undefined) {
    const rr = reader(asMessage(rs, `${where2}.reshape`), `${where2}.reshape`, ['shape']);
    reshape = rr.all('shape').map((d) => {
      const n = asInt(d, `${where2}.reshape.shape`);
      if (n === undefined || n === 0 || n < -1)
        throw new ConfigError(`${where2}: reshape dims must be positive or -1`);
      return n;
    });
  }
  return { name, datatype, dims, format, ...(reshape ? { reshape } : {}) };
}

function versionPolicy(v: TextValue | undefined, source: string): VersionPolicy {
  if (v === undefined) return { kind: 'latest', numVersions: 1 };
  const where = `${source}: version_policy`;
  const r = reader(asMessage(v, where), where, ['latest', 'all', 'specific']);
  const given = ['latest', 'all', 'specific'].filter((k) => r.one(k) !== undefined);
  if (given.length !== 1) throw new ConfigError(`${where}: give exactly one of latest, all, specific`);
  if (given[0] === 'all') {
    reader(asMessage(r.one('all')!, `${where}.all`), `${where}.all`, []);
    return { kind: 'all' };
  }
  if (given[0] === 'latest') {
    const l = reader(asMessage(r.one('latest')!, `${where}.latest`), `${where}.latest`, ['num_versions']);
    const n = asInt(l.one('num_versions'), `${where}.latest.num_versions`) ?? 1;
    if (n < 1) throw new ConfigError(`${where}.latest: num_versions must be >= 1`);
    return { kind: 'latest', numVersions: n };
  }
  const sp = reader(asMessage(r.one('specific')!, `${where}.specific`), `${where}.specific`, ['versions']);
  const versions = sp.all('versions').map((x) => {
    const n = asInt(x, `${where}.specific.versions`);
    if (n === undefined || n < 1) throw new ConfigError(`${where}.specific: versions must be >= 1`);
    return n;
  });
  if (versions.length === 0) throw new ConfigError(`${where}.specific: list at least one version`);
  return { kind: 'specific', versions };
}

/** Maps a parsed config.pbtxt onto ModelConfig. Unknown fields are errors naming the file. */
export function modelConfigFromText(msg: TextMessage, source: string): ModelConfig {
  const r = reader(
    msg,
    source,
    [
      'name',
      'platform',
      'backend',
      'max_batch_size',
      'input',
      'output',
      'dynamic_batching',
      'instance_group',
      'parameters',
      'version_policy',
    ],
    IGNORED_FIELDS,
  );
  const name = asString(r.one('name'), `${source}: name`) ?? '';
  const platform =
    asString(r.one('platform'), `${source}: platform`) ?? asString(r.one('backend'), source) ?? '';
  const maxBatchSize = asInt(r.one('max_batch_size'), `${source}: max_batch_size`) ?? 0;
  if (maxBatchSize < 0) throw new ConfigError(`${source}: max_batch_size must be >= 0`);
  const inputs = r.all('input').map((v, i) => tensorConfig(v, `${source}: input[${i}]`));
  const outputs = r.all('output').map((v, i) => tensorConfig(v, `${source}: output[${i}]`));

  let dynamicBatching: ModelConfig['dynamicBatching'];
  const db = r.one('dynamic_batching');
  if (db !== undefined) {
    const where = `${source}: dynamic_batching`;
    const d = reader(asMessage(db, where), where, [
      'max_queue_delay_microseconds',
      'preferred_batch_size',
      'preserve_ordering',
      'priority_levels',
      'default_priority_level',
      'default_queue_policy',
      'priority_queue_policy',
    ]);
    dynamicBatching = {
      maxQueueDelayMicroseconds: asInt(d.one('max_queue_delay_microseconds'), where) ?? 0,
      preferredBatchSize: d.all('preferred_batch_size').map((v) => {
        const n = asInt(v, `${where}.preferred_batch_size`);
        if (n === undefined || n < 1) throw new ConfigError(`${where}: preferred_batch_size must be >= 1`);
        return n;
      }),
    };
  }

  let instanceCount = 0;
  for (const [i, g] of r.all('instance_group').entries()) {
    const where = `${source}: instance_group[${i}]`;
    const gr = reader(asMessage(g, where), where, ['name', 'count', 'kind', 'gpus', 'profile', 'passive']);
    const count = asInt(gr.one('count'), `${where}.count`) ?? 1;
    if (count < 1) throw new ConfigError(`${where}: count must be >= 1`);
    instanceCount += count;
  }

  const parameters: Record<string, string> = {};
  for (const [i, p] of r.all('parameters').entries()) {
    const where = `${source}: parameters[${i}]`;
    const pr = reader(asMessage(p, where), where, ['key', 'value']);
    const key = asString(pr.one('key'), `${where}.key`);
    const value = pr.one('value');
    if (!key || value === undefined) throw new ConfigError(`${where}: needs key and value`);
    const vr = reader(asMessage(value, `${where}.value`), `${where}.value`, ['string_value']);
    parameters[key] = asString(vr.one('string_value'), `${where}.value.string_value`) ?? '';
  }

  return {
    name,
    platform,
    maxBatchSize,
    inputs,
    outputs,
    ...(dynamicBatching ? { dynamicBatching } : {}),
    instanceCount: instanceCount || 1,
    parameters,
    versionPolicy: versionPolicy(r.one('version_policy'), source),
  };
}

export function parseModelConfig(text: string, source = 'config.pbtxt'): ModelConfig {
  return modelConfigFromText(parseTextProto(text, source), source);
}
