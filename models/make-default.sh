#!/usr/bin/env bash
# Trains the shipped feature model (models/fer-default.safetensors, the default until
# 2026-12-03; the default now is cnn-ferplus, models/make-cnn-ferplus.sh) and writes the evaluation reports quoted in
# models/fer-default.md. Needs ../shared/data. Run from the repository root:
#   models/make-default.sh
# Takes about 40 minutes on 2 cores.
. models/lib.sh
M=$D/MANIFEST.csv

# (a) CK+ 8 classes, 10-fold cross-validation by subject (each fold trains its own model),
#     with fer train's defaults (mirrored training copies), and without mirroring.
$FER eval --cv 10 --group-by subject --no-detect \
    --data $D/ckplus48 $D/ckplus48-neutral --plot $OUT/ckplus-cv10.png | tee $OUT/ckplus-cv10.txt
$FER eval --cv 10 --group-by subject --no-detect --no-mirror \
    --data $D/ckplus48 $D/ckplus48-neutral --plot $OUT/ckplus-cv10-no-mirror.png | tee $OUT/ckplus-cv10-no-mirror.txt

# The shipped model: the recipe chosen by models/choose-default-recipe.sh on FER2013
# PublicTest (models/eval/default-recipe-candidates.md): the FER+ vote distribution of
# every FER2013 image as its target, no mirrored copies. Trained on every CK+ image
# (their labels) and the FER2013 Training and PublicTest images with FER+ votes
# (never PrivateTest).
$FER train --no-detect --no-mirror --votes $D/ferplus/votes.csv \
    --data $D/ckplus48 $D/ckplus48-neutral $M --dataset ferplus --split Training,PublicTest \
    --out models/fer-default.safetensors

# (b) FER2013 PrivateTest, the official test split, under FER2013's own labels and under
#     the FER+ majority (ties and unknown / not-a-face majorities left out).
$FER eval --model models/fer-default.safetensors --no-detect \
    --data $M --dataset fer2013 --split PrivateTest --plot $OUT/fer2013-privatetest.png \
    | tee $OUT/fer2013-privatetest.txt
$FER eval --model models/fer-default.safetensors --no-detect \
    --data $M --dataset ferplus --split PrivateTest --plot $OUT/ferplus-privatetest.png \
    | tee $OUT/ferplus-privatetest.txt

# (c) Yale happy/sad/surprised/normal on the full 320x243 frames, through face detection,
#     predictions restricted to those four classes.
$FER eval --model models/fer-default.safetensors \
    --data $D/yalefaces --classes happy,sad,surprise,neutral --plot $OUT/yale-4class.png \
    | tee $OUT/yale-4class.txt
