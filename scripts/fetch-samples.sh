#!/usr/bin/env bash
# Extracts real sample media out of Debian packages (apt-get download + dpkg-deb -x), without installing them.
# Idempotent: files already in samples/ are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLES_DIR="${VIGIL_SAMPLES_DIR:-samples}"
mkdir -p "$SAMPLES_DIR"
tmp="$(mktemp -d)"
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT

# extract <debian-package> <file-name-to-find> <destination>
extract() {
  local pkg="$1" name="$2" dest="$3"
  if [ -s "$dest" ]; then return 0; fi
  local dir="$tmp/$pkg"
  if [ ! -d "$dir/x" ]; then
    mkdir -p "$dir" && chmod 755 "$dir"
    echo "[vigil setup] apt-get download $pkg" >&2
    (cd "$dir" && apt-get download "$pkg" >/dev/null 2>&1 || { apt-get update -qq && apt-get download "$pkg" >/dev/null; })
    dpkg-deb -x "$dir"/*.deb "$dir/x"
  fi
  local found
  found="$(find "$dir/x" -name "$name" -type f | head -n 1)"
  if [ -z "$found" ]; then
    echo "[vigil setup] $name not found in $pkg" >&2
    return 1
  fi
  cp "$found" "$dest.tmp" && mv "$dest.tmp" "$dest"
  echo "[vigil setup] $dest" >&2
}

# 80 s of pedestrians, 768x576: the demo feed and the end-to-end test clip.
extract opencv-doc vtest.avi "$SAMPLES_DIR/vtest.avi"
# Still photos with known content for detector tests.
extract darknet person.jpg "$SAMPLES_DIR/person.jpg"
extract darknet dog.jpg "$SAMPLES_DIR/dog.jpg"
extract darknet horses.jpg "$SAMPLES_DIR/horses.jpg"
