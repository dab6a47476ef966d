/** ModelInfer as a unary call (with the channels' retries): the transport that always answers. */
import type { Channels, Unary } from './channels.js';
import type { ModelInferRequest } from './generated/inference/ModelInferRequest.js';
import type { ModelInferResponse__Output } from './generated/inference/ModelInferResponse.js';
import type { InferCall, InferTransport, MessageFor } from './transport.js';

export class UnaryTransport implements InferTransport {
  constructor(private readonly channels: Channels) {}

  send(call: InferCall, messageFor?: MessageFor): Promise<ModelInferResponse__Output> {
    return this.channels.call(
      call.what,
      (c) => c.ModelInfer as Unary<ModelInferRequest, ModelInferResponse__Output>,
      messageFor ?? call.inMessage,
      call.left(),
    );
  }
}
