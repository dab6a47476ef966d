/**
 * Loads proto/grpc_service.proto (KServe v2 / Open Inference Protocol) for grpc-js.
 * The loader options must match those in scripts/gen-proto.mjs, which generated ./generated/.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/grpc_service.js';

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Finds proto/grpc_service.proto walking up from this module (works from src/ and from dist/). */
function findProto(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'proto', 'grpc_service.proto');
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error('proto/grpc_service.proto not found above ' + fileURLToPath(import.meta.url));
}

let cached: ProtoGrpcType | undefined;

export function loadInferenceProto(): ProtoGrpcType {
  if (!cached) {
    const definition = protoLoader.loadSync(findProto(), PROTO_LOADER_OPTIONS);
    cached = grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType;
  }
  return cached;
}
