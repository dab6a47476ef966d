/**
 * Object detection over the inference client: letterbox the keyframe's model-size RGB image,
 * send it as the model declares (UINT8 NHWC when served with Vigil's input transform, FP32 NCHW
 * RGB/255 as a plain YOLOv8 ONNX on Triton), ask for Vigil's reduced `candidates` output when the
 * model declares it (else the raw output0, decoded here), NMS locally, map boxes to source pixels.
 */
import type { Detection, Image } from '../core/contracts.js';
import { ConfigError, InferenceError } from '../core/errors.js';
import { asFloat32, type InferenceClient, type ModelMetadata, type Tensor } from './client.js';
import { COCO_LABELS, letterbox, postprocess, postprocessCandidates } from './yolo.js';

export interface DetectorOptions {
  client: InferenceClient;
  /** Model name in the server's repository. Default 'yolov8n'. */
  model?: string;
  /** Model version; default the server's latest. */
  version?: string;
  /** Minimum class score kept. Default 0.25. */
  scoreThreshold?: number;
  /** Same-class boxes overlapping more than this are suppressed. Default 0.45. */
  iouThreshold?: number;
  /** Most detections per image. Default 100. */
  maxDetections?: number;
  /** Class names by id. Default COCO-80. */
  labels?: readonly string[];
}

export interface DetectResult {
  detections: Detection[];
  model: { name: string; version: string };
  /** Wall time of the ModelInfer call (queue + compute + transfer), ms. */
  inferenceMs: number;
}

export interface Detector {
  detect(image: Image, sourceWidth: number, sourceHeight: number): Promise<DetectResult>;
}

/** How the model wants its input, derived from ModelMetadata. */
export interface InputLayout {
  input: string;
  output: string;
  kind: 'uint8-nhwc' | 'fp32-nchw';
  /** Square input side (640 for YOLOv8n). */
  size: number;
  /** True when the model has a batch dimension (shape starts with -1 or 1). */
  batched: boolean;
  /** Vigil's server-side reduced output (`candidates` [.., K, 6]), when the model declares it. */
  candidates?: string;
}

export function inputLayout(meta: ModelMetadata): InputLayout {
  const layout = baseLayout(meta);
  const c = meta.outputs.find(
    (o) => o.name === 'candidates' && o.datatype === 'FP32' && o.shape.at(-1) === 6,
  );
  return c ? { ...layout, candidates: c.name } : layout;
}

const IMAGE_LAYOUTS = [
  { kind: 'uint8-nhwc', datatype: 'UINT8', channelAxis: -1, heightAxis: -3, widthAxis: -2 },
  { kind: 'fp32-nchw', datatype: 'FP32', channelAxis: -3, heightAxis: -2, widthAxis: -1 },
] as const;

function baseLayout(meta: ModelMetadata): InputLayout {
  const input = meta.inputs[0];
  const output = meta.outputs.find((o) => o.name !== 'candidates') ?? meta.outputs[0];
  if (meta.inputs.length !== 1 || !input || !output) {
    throw new InferenceError(
      'VIGIL_ERR_INFER_MODEL',
      `model '${meta.name}': expected one input and an output`,
    );
  }
  const shape = input.shape;
  const fixed = (d: number | undefined): number => (d !== undefined && d > 0 ? d : NaN);
  // Square image inputs, with or without a batch dimension, in either tensor layout.
  for (const layout of IMAGE_LAYOUTS) {
    if (input.datatype !== layout.datatype || (shape.length !== 3 && shape.length !== 4)) continue;
    if (shape.at(layout.channelAxis) !== 3) continue;
    const h = fixed(shape.at(layout.heightAxis));
    const w = fixed(shape.at(layout.widthAxis));
    if (h === w) {
      return {
        input: input.name,
        output: output.name,
        kind: layout.kind,
        size: h,
        batched: shape.length === 4,
      };
    }
  }
  throw new InferenceError(
    'VIGIL_ERR_INFER_MODEL',
    `model '${meta.name}': input '${input.name}' ${input.datatype} [${shape}] is neither UINT8 [N,S,S,3] nor FP32 [N,3,S,S]`,
  );
}

/** RGB HWC uint8 → FP32 CHW / 255. */
export function hwcToChwFloat(data: Uint8Array, size: number): Float32Array {
  const plane = size * size;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    out[p] = data[p * 3]! / 255;
    out[plane + p] = data[p * 3 + 1]! / 255;
    out[2 * plane + p] = data[p * 3 + 2]! / 255;
  }
  return out;
}

export function createDetector(options: DetectorOptions): Detector {
  const known = ['client', 'model', 'version', 'scoreThreshold', 'iouThreshold', 'maxDetections', 'labels'];
  for (const k of Object.keys(options)) {
    if (!known.includes(k))
      throw new ConfigError(`detector: unknown option '${k}' (known: ${known.join(', ')})`);
  }
  const { client } = options;
  const model = options.model ?? 'yolov8n';
  const version = options.version ?? '';
  const scoreThreshold = options.scoreThreshold ?? 0.25;
  const iouThreshold = options.iouThreshold ?? 0.45;
  const maxDetections = options.maxDetections ?? 100;
  const labels = options.labels ?? COCO_LABELS;
  for (const [k, v] of [
    ['scoreThreshold', scoreThreshold],
    ['iouThreshold', iouThreshold],
  ] as const) {
    if (!(v >= 0 && v <= 1)) throw new ConfigError(`detector: ${k} must be within 0..1, got ${v}`);
  }

  let layout: Promise<InputLayout> | undefined;
  const getLayout = (): Promise<InputLayout> => {
    if (!layout) {
      layout = client.modelMetadata(model, version).then(inputLayout);
      // A failed lookup (server down) is retried on the next call.
      layout.catch(() => (layout = undefined));
    }
    return layout;
  };

  return {
    async detect(image, sourceWidth, sourceHeight) {
      if (image.format !== 'RGB') {
        throw new InferenceError(
          'VIGIL_ERR_INFER_INVALID_ARGUMENT',
          `detector needs an RGB image, got ${image.format}`,
        );
      }
      const l = await getLayout();
      const lb = letterbox(image.data, image.width, image.height, l.size);
      const tensor: Tensor =
        l.kind === 'uint8-nhwc'
          ? { name: l.input, datatype: 'UINT8', shape: [l.size, l.size, 3], data: lb.data }
          : {
              name: l.input,
              datatype: 'FP32',
              shape: [3, l.size, l.size],
              data: hwcToChwFloat(lb.data, l.size),
            };
      if (l.batched) tensor.shape = [1, ...tensor.shape];
      if (tensor.data.byteLength > client.maxMessageBytes) {
        throw new ConfigError(
          `detector: ${l.kind} input of ${tensor.data.byteLength} bytes exceeds the client's maxMessageBytes ${client.maxMessageBytes}`,
        );
      }
      const t0 = performance.now();
      if (l.candidates) {
        const res = await client.infer({ model, version, inputs: [tensor], outputs: [l.candidates] });
        const inferenceMs = performance.now() - t0;
        const out = res.outputs.find((o) => o.name === l.candidates);
        if (!out || out.shape.at(-1) !== 6) {
          throw new InferenceError(
            'VIGIL_ERR_INFER_BAD_RESPONSE',
            `model '${model}' returned no [.., K, 6] candidates`,
          );
        }
        const detections = postprocessCandidates(
          asFloat32(out),
          lb,
          image.width,
          image.height,
          sourceWidth,
          sourceHeight,
          {
            scoreThreshold,
            iouThreshold,
            maxDetections,
            labels,
          },
        );
        return { detections, model: { name: res.model || model, version: res.version }, inferenceMs };
      }
      const res = await client.infer({ model, version, inputs: [tensor], outputs: [l.output] });
      const inferenceMs = performance.now() - t0;
      const out = res.outputs.find((o) => o.name === l.output);
      if (!out)
        throw new InferenceError(
          'VIGIL_ERR_INFER_BAD_RESPONSE',
          `model '${model}' returned no '${l.output}'`,
        );
      // [1, 4 + classes, anchors] or [4 + classes, anchors].
      const dims = out.shape.length === 3 ? out.shape.slice(1) : out.shape;
      if (dims.length !== 2 || dims[0]! <= 4) {
        throw new InferenceError(
          'VIGIL_ERR_INFER_BAD_RESPONSE',
          `'${l.output}' shape [${out.shape}] is not [1, 4+C, A]`,
        );
      }
      const detections = postprocess(
        asFloat32(out),
        lb,
        image.width,
        image.height,
        sourceWidth,
        sourceHeight,
        {
          numAnchors: dims[1]!,
          numClasses: dims[0]! - 4,
          scoreThreshold,
          iouThreshold,
          maxDetections,
          labels,
        },
      );
      return { detections, model: { name: res.model || model, version: res.version }, inferenceMs };
    },
  };
}
