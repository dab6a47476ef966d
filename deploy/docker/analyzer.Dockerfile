# syntax=docker/dockerfile:1
# Vigil analyzer replica: GStreamer ingest + the analyzer (Node 20), onnxruntime-node included
# (the same node_modules as the inference server). Build from the repository root:
#   docker build -f deploy/docker/analyzer.Dockerfile -t vigil/analyzer:0.1.0 .
# Runs `node dist/cluster/main.js` (configured by VIGIL_* environment variables, see
# src/cluster/main.ts); serves /metrics, /healthz and /readyz on VIGIL_METRICS_PORT (9464).
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev pkg-config g++ make python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
COPY patches ./patches
# postinstall applies patches/ to gstreamer-superficial and builds it against these headers.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY proto ./proto
COPY schemas ./schemas
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE} AS runtime
# GStreamer 1.22 runtime: demuxers, decoders (libav), RTSP/HLS/v4l2 sources.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgstreamer1.0-0 libgstreamer-plugins-base1.0-0 \
      gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
      gstreamer1.0-plugins-ugly gstreamer1.0-libav ca-certificates tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/vigil
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY proto ./proto
COPY schemas ./schemas
COPY package.json ./
ENV NODE_ENV=production \
    UV_THREADPOOL_SIZE=64 \
    VIGIL_METRICS_HOST=0.0.0.0 \
    VIGIL_METRICS_PORT=9464
USER node
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9464/readyz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["tini", "--"]
CMD ["node", "dist/cluster/main.js"]
