// Original file: proto/grpc_service.proto

import type { Long } from '@grpc/proto-loader';

export interface ModelDynamicBatching {
  'preferred_batch_size'?: (number)[];
  'max_queue_delay_microseconds'?: (number | string | Long);
}

export interface ModelDynamicBatching__Output {
  'preferred_batch_size': (number)[];
  'max_queue_delay_microseconds': (string);
}
