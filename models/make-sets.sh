#!/usr/bin/env bash
# Set models against single frames on CK+ sequences (README, "Set models"): the MLP and
# the three set models on the same 10 folds by subject, each scored per frame and per
# sequence (--set-by sequence: the frames of a CK+ sequence, from the file names).
# Needs ../shared/data. Run from the repository root:
#   models/make-sets.sh
# Takes about 25 minutes on 2 cores (the --batch-size 16 run takes three quarters of it).
. models/lib.sh

$FER compare --cv 10 --group-by subject --no-detect --set-by sequence \
    --data $D/ckplus48 $D/ckplus48-neutral --models mlp,set-max,set-mean,set-attention \
    --json $OUT/compare-ckplus-cv10-sets.json --plot $OUT/compare-ckplus-cv10-sets.png > $OUT/compare-ckplus-cv10-sets.txt
# The same with 16 sets (or frames) per mini-batch instead of 64: the set models take
# a step per 64 sets, which is fewer steps per epoch than the MLP's step per 64 frames.
$FER compare --cv 10 --group-by subject --no-detect --set-by sequence --batch-size 16 \
    --data $D/ckplus48 $D/ckplus48-neutral --models mlp,set-max,set-mean,set-attention \
    --json $OUT/compare-ckplus-cv10-sets-batch16.json --plot $OUT/compare-ckplus-cv10-sets-batch16.png > $OUT/compare-ckplus-cv10-sets-batch16.txt
cat $OUT/compare-ckplus-cv10-sets*.txt
