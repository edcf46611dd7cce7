#!/usr/bin/env bash
# CPU training speed of `fer train-cnn` (BENCHMARKS.md, "Training the CNN"): the
# same short run with the allocator settings train-cnn makes (see keep_freed_memory
# in src/cli/train_cnn.rs) and with glibc's defaults (FER_GLIBC_MALLOC_DEFAULTS=1),
# in PAIRS pairs of alternating order; wall, user and system seconds, peak memory,
# training images per second, and whether the two CNNs are the same bytes.
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
    awk -v n="$name" -v w="$wall" -v u="$user" -v s="$sys" -v kb="$kb" -v c="$CROPS" -v e="$EPOCHS" \
        'BEGIN { printf "%-9s %7.2f s wall %7.2f s user %6.2f s sys %5d MB peak %6.1f images/s\n", n, w, u, s, kb / 1024, c * e / w }'
}

echo "train-cnn, $EPOCHS epochs over $CROPS CK+48 crops ($(nproc) cores)"
for i in $(seq "$PAIRS"); do
    if [ $((i % 2)) -eq 1 ]; then
        run "tuned$i" FER_GLIBC_MALLOC_DEFAULTS=0
        run "default$i" FER_GLIBC_MALLOC_DEFAULTS=1
    else
        run "default$i" FER_GLIBC_MALLOC_DEFAULTS=1
        run "tuned$i" FER_GLIBC_MALLOC_DEFAULTS=0
    fi
    cmp -s "$WORK/tuned$i.safetensors" "$WORK/default$i.safetensors" &&
        echo "pair $i: the two CNNs are the same bytes" || echo "pair $i: the CNNs DIFFER"
done
