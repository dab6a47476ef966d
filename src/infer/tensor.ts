/**
 * Tensor datatypes across the three vocabularies we meet: KServe v2 datatype strings (the wire),
 * Triton model-config enums (config.pbtxt) and onnxruntime tensor types; plus conversions between
 * raw little-endian bytes, typed `contents` and typed arrays.
 */
import type {
  InferTensorContents,
  InferTensorContents__Output,
} from './generated/inference/InferTensorContents.js';

export type Datatype =
  | 'BOOL'
  | 'UINT8'
  | 'UINT16'
  | 'UINT32'
  | 'UINT64'
  | 'INT8'
  | 'INT16'
  | 'INT32'
  | 'INT64'
  | 'FP16'
  | 'FP32'
  | 'FP64'
  | 'BYTES';

export type OrtType =
  | 'bool'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'float16'
  | 'float32'
  | 'float64'
  | 'string';

interface TypeInfo {
  ort: OrtType;
  config: string;
  /** Bytes per element; 0 for BYTES (variable). */
  size: number;
}

const TYPES: Record<Datatype, TypeInfo> = {
  BOOL: { ort: 'bool', config: 'TYPE_BOOL', size: 1 },
  UINT8: { ort: 'uint8', config: 'TYPE_UINT8', size: 1 },
  UINT16: { ort: 'uint16', config: 'TYPE_UINT16', size: 2 },
  UINT32: { ort: 'uint32', config: 'TYPE_UINT32', size: 4 },
  UINT64: { ort: 'uint64', config: 'TYPE_UINT64', size: 8 },
  INT8: { ort: 'int8', config: 'TYPE_INT8', size: 1 },
  INT16: { ort: 'int16', config: 'TYPE_INT16', size: 2 },
  INT32: { ort: 'int32', config: 'TYPE_INT32', size: 4 },
  INT64: { ort: 'int64', config: 'TYPE_INT64', size: 8 },
  FP16: { ort: 'float16', config: 'TYPE_FP16', size: 2 },
  FP32: { ort: 'float32', config: 'TYPE_FP32', size: 4 },
  FP64: { ort: 'float64', config: 'TYPE_FP64', size: 8 },
  BYTES: { ort: 'string', config: 'TYPE_STRING', size: 0 },
};

export function isDatatype(s: string): s is Datatype {
  return Object.prototype.hasOwnProperty.call(TYPES, s);
}

export function elementSize(dt: Datatype): number {
  return TYPES[dt].size;
}

export function datatypeToOrt(dt: Datatype): OrtType {
  return TYPES[dt].ort;
}

export function datatypeFromOrt(t: string): Datatype | undefined {
  return (Object.keys(TYPES) as Datatype[]).find((k) => TYPES[k].ort === t);
}

/** `TYPE_FP32` → `FP32`; undefined for enums we do not serve. */
export function datatypeFromConfig(t: string): Datatype | undefined {
  return (Object.keys(TYPES) as Datatype[]).find((k) => TYPES[k].config === t);
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export type NumericArray =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | BigUint64Array
  | BigInt64Array
  | Float32Array
  | Float64Array;

/**
 * Raw bytes (any alignment) → a typed array for onnxruntime: a fresh copy, or with `owned` (the
 * caller gives up `raw`, e.g. bytes just read from shared memory) `raw`'s own buffer when `raw`
 * spans all of it.
 */
export function rawToTyped(dt: Datatype, raw: Uint8Array, owned = false): NumericArray {
  let copy: Uint8Array;
  if (owned && raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength) {
    copy = new Uint8Array(raw.buffer);
  } else {
    copy = new Uint8Array(raw.byteLength);
    copy.set(raw);
  }
  const b = copy.buffer;
  switch (dt) {
    case 'BOOL':
    case 'UINT8':
      return copy;
    case 'INT8':
      return new Int8Array(b);
    case 'UINT16':
    case 'FP16':
      return new Uint16Array(b);
    case 'INT16':
      return new Int16Array(b);
    case 'UINT32':
      return new Uint32Array(b);
    case 'INT32':
      return new Int32Array(b);
    case 'UINT64':
      return new BigUint64Array(b);
    case 'INT64':
      return new BigInt64Array(b);
    case 'FP32':
      return new Float32Array(b);
    case 'FP64':
      return new Float64Array(b);
    case 'BYTES':
      throw new Error('BYTES tensors have no fixed-size raw form');
  }
}

/** A view of a typed array's bytes (no copy). */
export function typedToBytes(a: ArrayBufferView): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** The repeated field of InferTensorContents that carries `dt`, per the KServe v2 spec. */
export function contentsField(dt: Datatype): keyof InferTensorContents__Output {
  switch (dt) {
    case 'BOOL':
      return 'bool_contents';
    case 'INT8':
    case 'INT16':
    case 'INT32':
      return 'int_contents';
    case 'INT64':
      return 'int64_contents';
    case 'UINT8':
    case 'UINT16':
    case 'UINT32':
      return 'uint_contents';
    case 'UINT64':
      return 'uint64_contents';
    case 'FP32':
      return 'fp32_contents';
    case 'FP64':
      return 'fp64_contents';
    case 'BYTES':
    case 'FP16':
      return 'bytes_contents';
  }
}

/** Typed `contents` → a typed array; `undefined` when the datatype has no typed form (FP16, BYTES). */
export function contentsToTyped(dt: Datatype, c: InferTensorContents__Output): NumericArray | undefined {
  switch (dt) {
    case 'BOOL':
      return Uint8Array.from(c.bool_contents, (v) => (v ? 1 : 0));
    case 'INT8':
      return Int8Array.from(c.int_contents);
    case 'INT16':
      return Int16Array.from(c.int_contents);
    case 'INT32':
      return Int32Array.from(c.int_contents);
    case 'INT64':
      return BigInt64Array.from(c.int64_contents, (v) => BigInt(v));
    case 'UINT8':
      return Uint8Array.from(c.uint_contents);
    case 'UINT16':
      return Uint16Array.from(c.uint_contents);
    case 'UINT32':
      return Uint32Array.from(c.uint_contents);
    case 'UINT64':
      return BigUint64Array.from(c.uint64_contents, (v) => BigInt(v));
    case 'FP32':
      return Float32Array.from(c.fp32_contents);
    case 'FP64':
      return Float64Array.from(c.fp64_contents);
    case 'FP16':
    case 'BYTES':
      return undefined;
  }
}

/** Number of elements carried by the datatype's field in `contents`. */
export function contentsLength(dt: Datatype, c: InferTensorContents__Output): number {
  const field = c[contentsField(dt)] as unknown[] | undefined;
  return field?.length ?? 0;
}

/** Raw bytes → typed `contents` (for responses to clients that want typed data, and tests). */
export function rawToContents(dt: Datatype, raw: Uint8Array): InferTensorContents {
  const t = rawToTyped(dt, raw);
  const field = contentsField(dt);
  if (dt === 'BOOL') return { bool_contents: Array.from(t as Uint8Array, (v) => v !== 0) };
  if (dt === 'INT64' || dt === 'UINT64')
    return { [field]: Array.from(t as BigInt64Array, (v) => v.toString()) };
  return { [field]: Array.from(t as Float32Array) };
}

/** BYTES elements → KServe v2 raw form: each element as a 4-byte little-endian length, then its bytes. */
export function serializeBytes(elements: readonly Uint8Array[]): Buffer {
  const total = elements.reduce((n, e) => n + 4 + e.byteLength, 0);
  const out = Buffer.alloc(total);
  let off = 0;
  for (const e of elements) {
    out.writeUInt32LE(e.byteLength, off);
    out.set(e, off + 4);
    off += 4 + e.byteLength;
  }
  return out;
}

/** KServe v2 raw BYTES → elements; throws when the lengths do not add up to the buffer. */
export function deserializeBytes(raw: Uint8Array): Buffer[] {
  const buf = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
  const out: Buffer[] = [];
  let off = 0;
  while (off < buf.byteLength) {
    if (off + 4 > buf.byteLength) throw new RangeError('truncated BYTES element length');
    const len = buf.readUInt32LE(off);
    if (off + 4 + len > buf.byteLength) throw new RangeError('BYTES element runs past the buffer');
    out.push(buf.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  return out;
}
