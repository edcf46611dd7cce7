#!/usr/bin/env bash
# Trains our CNN (fer train-cnn, the default network and 60-epoch schedule) on the
# sharp FER2013 Training split, with PublicTest as validation crops (their accuracy is
# recorded after every epoch; it never steers training), then evaluates it on
# PrivateTest and draws its curves. Needs ../shared/data. Run from the repository root:
#   models/make-cnn-fer2013.sh
# About 2.5 minutes an epoch on 2 cores, so about 2.5 hours in all: the run checkpoints
# after every epoch into WORK (kept, default ~/.cache/fer/cnn-fer2013), and running
# the script again goes on from the last finished epoch.
WORK=${WORK:-$HOME/.cache/fer/cnn-fer2013}
mkdir -p "$WORK"
. models/lib.sh

$FER train-cnn --no-detect --data "$D/MANIFEST.csv" --dataset fer2013 \
    --split Training --validation-split PublicTest \
    --out "$WORK/cnn.safetensors" --checkpoint "$WORK/cnn.checkpoint" --resume
$FER eval --no-detect --model "$WORK/cnn.safetensors" --data "$D/MANIFEST.csv" --dataset fer2013 \
    --split PrivateTest --plot "$OUT/cnn-fer2013-privatetest.png" > "$OUT/cnn-fer2013-privatetest.txt"
$FER plot "$WORK/cnn.safetensors" --out "$OUT/cnn-fer2013-curves.png"
