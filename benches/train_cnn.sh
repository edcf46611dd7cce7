#!/usr/bin/env bash
# CPU training speed of `fer train-cnn` (BENCHMARKS.md, "Training the CNN"), whole
# process, three ways in PAIRS rounds of rotating order:
#   ours       what train-cnn does now: our convolution and GroupNorm ops
#              (src/model/conv3x3.rs, src/model/group_norm.rs) and the allocator
#              settings of keep_freed_memory (src/cli/train_cnn.rs);
#   candle     candle's own conv2d and GroupNorm (FER_CNN_CANDLE_OPS=1);
#   candle-glibc  candle's ops and glibc's allocator defaults
#              (FER_GLIBC_MALLOC_DEFAULTS=1 too): how train-cnn ran at first.
# Prints wall, user and system seconds, peak memory, training images per second and
# the last epoch's loss, and whether candle's two runs wrote the same bytes.
#
#   benches/train_cnn.sh [EPOCHS] [PAIRS]
#
# Trains on the CK+48 training split of models/make-cnn-ck.sh (825 crops, 48x48,
# --no-detect, the default network and schedule but EPOCHS epochs, 1 of warmup).
# Needs ../shared/data; builds the release binary if it is not there.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-3}
PAIRS=${2:-2}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The data folder, the binary (built if need be) and the CK+48 split of the models/ scripts.
. models/lib.sh
FER=$PWD/$FER
ck_split "$WORK/split.csv"
CROPS=$(awk -F, '$6=="train"' "$WORK/split.csv" | wc -l)

run() { # NAME, then env assignments
    local name=$1
    shift
    env "$@" /usr/bin/time -f "%e %U %S %M" -o "$WORK/$name.time" \
        "$FER" train-cnn --no-detect --data "$WORK/split.csv" --split train \
        --epochs "$EPOCHS" --warmup-epochs 1 --out "$WORK/$name.safetensors" 2> "$WORK/$name.log"
    read -r wall user sys kb < "$WORK/$name.time"
    loss=$(grep -o 'loss [0-9.]*' "$WORK/$name.log" | tail -1)
    awk -v n="$name" -v w="$wall" -v u="$user" -v s="$sys" -v kb="$kb" -v c="$CROPS" -v e="$EPOCHS" -v l="$loss" \
        'BEGIN { printf "%-15s %7.2f s wall %7.2f s user %6.2f s sys %5d MB peak %6.1f images/s  last %s\n", n, w, u, s, kb / 1024, c * e / w, l }'
}

ours() { run "ours$1" FER_CNN_CANDLE_OPS=0 FER_GLIBC_MALLOC_DEFAULTS=0; }
candle() { run "candle$1" FER_CNN_CANDLE_OPS=1 FER_GLIBC_MALLOC_DEFAULTS=0; }
candle_glibc() { run "candle-glibc$1" FER_CNN_CANDLE_OPS=1 FER_GLIBC_MALLOC_DEFAULTS=1; }

echo "train-cnn, $EPOCHS epochs over $CROPS CK+48 crops ($(nproc) cores)"
for i in $(seq "$PAIRS"); do
    case $((i % 3)) in
    1) ours "$i"; candle "$i"; candle_glibc "$i" ;;
    2) candle_glibc "$i"; ours "$i"; candle "$i" ;;
    0) candle "$i"; candle_glibc "$i"; ours "$i" ;;
    esac
    cmp -s "$WORK/candle$i.safetensors" "$WORK/candle-glibc$i.safetensors" &&
        echo "round $i: candle's two CNNs are the same bytes" || echo "round $i: candle's two CNNs DIFFER"
done
