/**
 * How one ModelInfer call reaches a server. InferenceClient.infer builds an InferCall and hands it
 * to one InferTransport; the three implementations (unary, stream, shared memory) nest: shared
 * memory puts the inputs in a slot and sends the smaller message over the stream or unary one, the
 * stream one falls back to the unary one.
 */
import type { ModelInferRequest } from './generated/inference/ModelInferRequest.js';
import type { ModelInferResponse__Output } from './generated/inference/ModelInferResponse.js';

/** One ModelInfer call as the transports see it. */
export interface InferCall {
  /** `ModelInfer(<model>)`, for errors. */
  readonly what: string;
  /** Each input's bytes, in the order of inMessage.inputs. */
  readonly data: readonly ArrayBufferView[];
  /** Input bytes in all. */
  readonly bytes: number;
  /** The request with every input's bytes in the message. */
  readonly inMessage: ModelInferRequest;
  /** The whole call's deadline, ms (a transport tried first may use all of it). */
  readonly deadlineMs: number;
  /** Ms left of the deadline; throws VIGIL_ERR_INFER_DEADLINE once it has passed. */
  left(): number;
}

/** The message to send to address `index` (call.inMessage, or one naming inputs in shared memory). */
export type MessageFor = (index: number) => ModelInferRequest;

export interface InferTransport {
  /** Sends `call` (as `messageFor` builds it for the address picked; default call.inMessage). */
  send(call: InferCall, messageFor?: MessageFor): Promise<ModelInferResponse__Output>;
}
