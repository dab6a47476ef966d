#!/usr/bin/env node
// Generates TypeScript types for proto/grpc_service.proto into src/infer/generated/ (committed).
// The options here must match the loader options in src/infer/proto.ts (PROTO_LOADER_OPTIONS).
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = join(root, 'src/infer/generated');
rmSync(outDir, { recursive: true, force: true });
execFileSync(
  join(root, 'node_modules/.bin/proto-loader-gen-types'),
  [
    '--keepCase',
    '--longs=String',
    '--enums=String',
    '--defaults',
    '--oneofs',
    '--grpcLib=@grpc/grpc-js',
    '--importFileExtension=.js',
    '-I',
    'proto',
    '-O',
    'src/infer/generated',
    'grpc_service.proto',
  ],
  { stdio: 'inherit', cwd: root },
);
console.log(`[gen-proto] wrote ${outDir}`);
