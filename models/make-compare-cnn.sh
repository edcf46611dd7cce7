#!/usr/bin/env bash
# Our CNN as a row of fer compare on CK+ (CK+48 + neutral, 8 classes, 10-fold
# cross-validation by subject, the folds of models/make-compare.sh), beside the MLP:
# a CNN trained from scratch on every fold (--cnn), for 20 epochs instead of
# train-cnn's 60 so that the ten trainings fit in under two hours on 2 cores.
# Writes the report quoted in README.md ("fer compare"). Needs ../shared/data. Run
# from the repository root:
#   models/make-compare-cnn.sh
. models/lib.sh

$FER compare --cv 10 --group-by subject --no-detect \
    --data $D/ckplus48 $D/ckplus48-neutral --models mlp --cnn --cnn-epochs 20 \
    --json $OUT/compare-ckplus-cv10-cnn.json --plot $OUT/compare-ckplus-cv10-cnn.png > $OUT/compare-ckplus-cv10-cnn.txt
cat $OUT/compare-ckplus-cv10-cnn.txt
