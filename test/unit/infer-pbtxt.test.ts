import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { parseModelConfig, parseTextProto } from '../../src/infer/pbtxt.js';

const TRITON_STYLE = `
# A config in the form Triton's docs use.
name: "yolov8n"
platform: "onnxruntime_onnx"
max_batch_size: 8
input [
  {
    name: "images"
    data_type: TYPE_UINT8
    format: FORMAT_NHWC
    dims: [ 640, 640, 3 ]
  }
]
output [
  {
    name: "output0"
    data_type: TYPE_FP32
    dims: [ 84, -1 ]
  }
]
dynamic_batching {
  preferred_batch_size: [ 2, 4 ]
  max_queue_delay_microseconds: 100
}
instance_group [ { count: 2, kind: KIND_CPU }, { count: 1 kind: KIND_CPU } ]
parameters { key: "vigil_input_transform" value: { string_value: "uint8_nhwc_to_float_nchw_div255" } }
version_policy: { latest { num_versions: 1 } }
`;

describe('config.pbtxt parsing', () => {
  it('reads the fields the server uses', () => {
    const c = parseModelConfig(TRITON_STYLE);
    expect(c).toEqual({
      name: 'yolov8n',
      platform: 'onnxruntime_onnx',
      maxBatchSize: 8,
      inputs: [{ name: 'images', datatype: 'UINT8', dims: [640, 640, 3], format: 'FORMAT_NHWC' }],
      outputs: [{ name: 'output0', datatype: 'FP32', dims: [84, -1], format: 'FORMAT_NONE' }],
      dynamicBatching: { maxQueueDelayMicroseconds: 100, preferredBatchSize: [2, 4] },
      instanceCount: 3,
      parameters: { vigil_input_transform: 'uint8_nhwc_to_float_nchw_div255' },
      versionPolicy: { kind: 'latest', numVersions: 1 },
    });
  });

  it('reads version_policy (latest N, all, specific; default latest 1) and reshape', () => {
    const base = 'name: "m"\n';
    expect(parseModelConfig(base).versionPolicy).toEqual({ kind: 'latest', numVersions: 1 });
    expect(parseModelConfig(base + 'version_policy: { latest: { num_versions: 2 } }').versionPolicy).toEqual({
      kind: 'latest',
      numVersions: 2,
    });
    expect(parseModelConfig(base + 'version_policy: { all { } }').versionPolicy).toEqual({ kind: 'all' });
    expect(parseModelConfig(base + 'version_policy { specific { versions: [1, 3] } }').versionPolicy).toEqual(
      {
        kind: 'specific',
        versions: [1, 3],
      },
    );
    expect(() => parseModelConfig(base + 'version_policy { all {} latest {} }')).toThrow(/exactly one of/);
    expect(() => parseModelConfig(base + 'version_policy { specific { } }')).toThrow(/at least one version/);
    expect(() => parseModelConfig(base + 'version_policy { latest { num_versions: 0 } }')).toThrow(/>= 1/);
    const c = parseModelConfig(
      base + 'input { name: "sr" data_type: TYPE_INT64 dims: [ 1 ] reshape: { shape: [ ] } }',
    );
    expect(c.inputs[0]!.reshape).toEqual([]);
  });

  it('accepts repeated blocks without brackets, scalar repeated dims, backend and no batching', () => {
    const c = parseModelConfig(`
      name: 'm'; backend: "onnxruntime"
      input { name: "a" data_type: TYPE_FP32 dims: 1 dims: 3 }
      input { name: "b" data_type: TYPE_INT64 dims: [2] }
      output { name: "y" data_type: TYPE_FP16 dims: [ 1 ] }`);
    expect(c.platform).toBe('onnxruntime');
    expect(c.maxBatchSize).toBe(0);
    expect(c.inputs.map((i) => [i.name, i.datatype, i.dims])).toEqual([
      ['a', 'FP32', [1, 3]],
      ['b', 'INT64', [2]],
    ]);
    expect(c.outputs[0]!.datatype).toBe('FP16');
    expect(c.dynamicBatching).toBeUndefined();
    expect(c.instanceCount).toBe(1);
  });

  it('parses generic text format: escapes, adjacent strings, negative and float numbers, booleans', () => {
    const t = parseTextProto(`a: "x\\"y" "z" b: -1.5e2 c: true d <e: 1> f: [1, 2]`);
    expect(t.get('a')).toEqual(['x"yz']);
    expect(t.get('b')).toEqual([-150]);
    expect(t.get('c')).toEqual([true]);
    expect((t.get('d')![0] as Map<string, unknown>).get('e')).toEqual([1]);
    expect(t.get('f')).toEqual([1, 2]);
  });

  it('rejects misspelt fields, bad types and syntax errors with the file and line', () => {
    expect(() => parseModelConfig('name: "m"\nmax_batch_sise: 4', 'repo/m/config.pbtxt')).toThrow(
      /repo\/m\/config.pbtxt: unknown or unsupported field 'max_batch_sise'/,
    );
    expect(() => parseModelConfig('input [{ name: "a" data_type: TYPE_WEIRD dims: [1] }]')).toThrow(
      /unsupported data_type TYPE_WEIRD/,
    );
    expect(() => parseModelConfig('input [{ name: "a" data_type: TYPE_FP32 }]')).toThrow(
      /'a': missing 'dims'/,
    );
    expect(() => parseModelConfig('input [{ name: "a" data_type: TYPE_FP32 dims: [0] }]')).toThrow(
      /dims must be positive/,
    );
    expect(() => parseModelConfig('max_batch_size: "8"')).toThrow(/expected an integer/);
    expect(() => parseModelConfig('name: "m"\n\ninput [ { name: "a" ', 'x.pbtxt')).toThrow(
      /x.pbtxt:3: missing '}'/,
    );
    expect(() => parseModelConfig('name "m"')).toThrow(ConfigError);
    expect(() => parseModelConfig('name: "unterminated')).toThrow(/unterminated string/);
  });
});
