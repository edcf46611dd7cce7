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
# Needs ../shared/data and a release build (cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
FER=$PWD/target/release/fer
D=$(cd ../shared/data && pwd)
EPOCHS=${1:-3}
PAIRS=${2:-2}
[ -x "$FER" ] || { echo "build first: cargo build --release" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The CK+48 split of models/lib.sh, without its build step.
awk -F, 'NR>1 && $1=="ckplus48" { print $5 }' "$D/MANIFEST.csv" | sort -u | awk 'NR%5==0' > "$WORK/test-subjects.txt"
awk -F, -v OFS=, -v D="$D" 'NR==FNR { t[$1]=1; next } FNR==1 { print; next }
    $1=="ckplus48" { $2 = D "/" $2; $6 = ($5 in t) ? "test" : "train"; print }' \
    "$WORK/test-subjects.txt" "$D/MANIFEST.csv" > "$WORK/split.csv"
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
