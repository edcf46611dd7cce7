#!/usr/bin/env bash
# Trains our CNN (fer train-cnn, the default network and 60-epoch schedule) on the FER+
# crowd votes of the sharp FER2013 Training images: each crop learns its image's vote
# distribution over FER+'s 8 expressions (fer train-cnn --votes), with the FER+ majority
# of PublicTest as validation crops (recorded after every epoch, never steering
# training). Then evaluates it on PrivateTest under the FER+ majority and under
# FER2013's own labels (predictions restricted to FER2013's 7 classes), and draws its
# curves. Needs ../shared/data. Run from the repository root:
#   models/make-cnn-ferplus.sh
# About as long as models/make-cnn-fer2013.sh (2.5 to 4 hours on 2 cores): the run
# checkpoints after every epoch into WORK (kept, default ~/.cache/fer/cnn-ferplus), and
# running the script again goes on from the last finished epoch (once the CNN is
# written, it only evaluates).
WORK=${WORK:-$HOME/.cache/fer/cnn-ferplus}
mkdir -p "$WORK"
. models/lib.sh

# A finished CNN is kept: delete it to train again.
[ -f "$WORK/cnn.safetensors" ] || $FER train-cnn --no-detect --data "$D/MANIFEST.csv" --dataset ferplus --votes "$D/ferplus/votes.csv" \
    --split Training --validation-split PublicTest \
    --out "$WORK/cnn.safetensors" --checkpoint "$WORK/cnn.checkpoint" --resume
$FER eval --no-detect --model "$WORK/cnn.safetensors" --data "$D/MANIFEST.csv" --dataset ferplus \
    --split PrivateTest --plot "$OUT/cnn-ferplus-privatetest.png" > "$OUT/cnn-ferplus-privatetest.txt"
$FER eval --no-detect --model "$WORK/cnn.safetensors" --data "$D/MANIFEST.csv" --dataset fer2013 \
    --split PrivateTest --classes angry,disgust,fear,happy,sad,surprise,neutral \
    --plot "$OUT/cnn-ferplus-fer2013-privatetest.png" > "$OUT/cnn-ferplus-fer2013-privatetest.txt"
$FER plot "$WORK/cnn.safetensors" --out "$OUT/cnn-ferplus-curves.png"
