// Original file: proto/grpc_service.proto

import type { Long } from '@grpc/proto-loader';

export interface ModelTensorReshape {
  'shape'?: (number | string | Long)[];
}

export interface ModelTensorReshape__Output {
  'shape': (string)[];
}
