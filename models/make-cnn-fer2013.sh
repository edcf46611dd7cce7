#!/usr/bin/env bash
# Trains our CNN (fer train-cnn, the default network and 60-epoch schedule) on the
# sharp FER2013 Training split, with PublicTest as validation crops (their accuracy is
# recorded after every epoch; it never steers training), then evaluates it on
# PrivateTest (with and without mirror averaging), on Yale and on CK+48, draws its
# curves, and weighs it against the shipped deep models (weights chosen on PublicTest).
# Needs ../shared/data. Run from the repository root:
#   models/make-cnn-fer2013.sh
# About 2.5 minutes an epoch on 2 cores, so about 2.5 hours in all: the run checkpoints
# after every epoch into WORK (kept, default ~/.cache/fer/cnn-fer2013), and running
# the script again goes on from the last finished epoch (once the CNN is written, it
# only evaluates).
WORK=${WORK:-$HOME/.cache/fer/cnn-fer2013}
mkdir -p "$WORK"
. models/lib.sh

# A finished CNN is kept: delete it to train again.
[ -f "$WORK/cnn.safetensors" ] || $FER train-cnn --no-detect --data "$D/MANIFEST.csv" --dataset fer2013 \
    --split Training --validation-split PublicTest \
    --out "$WORK/cnn.safetensors" --checkpoint "$WORK/cnn.checkpoint" --resume
# Mirror averaging (--tta flip) is chosen on PublicTest (validation), and PrivateTest is
# reported both ways.
cnn_test_splits cnn-fer2013 fer2013
# Across datasets, never trained on (contempt dropped from CK+48: FER2013 has no such class).
cnn_other_datasets cnn-fer2013
$FER plot "$WORK/cnn.safetensors" --out "$OUT/cnn-fer2013-curves.png"
# Beside the shipped deep models: the weights of a mean of our CNN's, the mini-Xception's
# and face-api.js's mirror-averaged probabilities, chosen on PublicTest; then PrivateTest.
for m in "$WORK/cnn.safetensors" mini-xception faceapi-expression; do
    $FER batch --no-detect --model "$m" --tta flip "$D/fer2013/test" --out "$WORK/$(basename "$m" .safetensors).csv" 2>/dev/null
done
python3 models/choose-mixture-weights.py "$WORK"/{cnn,mini-xception,faceapi-expression}.csv \
    > "$OUT/cnn-fer2013-mixture.md"
