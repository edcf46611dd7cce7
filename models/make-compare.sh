#!/usr/bin/env bash
# Compares every model kind (fer compare) on CK+ and FER2013 and writes the tables
# quoted in README.md ("Model kinds"). Needs ../shared/data. Run from the repository
# root:
#   models/make-compare.sh
# Takes about an hour on 2 cores (boosting and the forest on FER2013 dominate).
. models/lib.sh

# CK+48 + neutral, 8 classes, 10-fold cross-validation by subject, fer train defaults
# (mirrored training copies, class-balanced loss for the networks).
$FER compare --cv 10 --group-by subject --no-detect \
    --data $D/ckplus48 $D/ckplus48-neutral \
    --json $OUT/compare-ckplus-cv10.json --plot $OUT/compare-ckplus-cv10.png > $OUT/compare-ckplus-cv10.txt

# FER2013: trained on the official Training split, tested on PrivateTest, with the
# shipped model's recipe (no mirroring, plain cross-entropy).
$FER compare --no-detect --no-mirror --no-class-balance \
    --data $D/MANIFEST.csv --dataset fer2013 --split Training \
    --test $D/MANIFEST.csv --test-split PrivateTest \
    --json $OUT/compare-fer2013-privatetest.json --plot $OUT/compare-fer2013-privatetest.png > $OUT/compare-fer2013-privatetest.txt
# The shipped mini-Xception on the same test images (with the soft tree for reference).
$FER compare --cv 10 --group-by subject --no-detect \
    --data $D/ckplus48 $D/ckplus48-neutral --models soft-tree --deep mini-xception \
    --json $OUT/compare-ckplus-cv10-deep.json --plot $OUT/compare-ckplus-cv10-deep.png > $OUT/compare-ckplus-cv10-deep.txt
$FER compare --no-detect --no-mirror --no-class-balance \
    --data $D/MANIFEST.csv --dataset fer2013 --split Training \
    --test $D/MANIFEST.csv --test-split PrivateTest --models soft-tree --deep mini-xception \
    --json $OUT/compare-fer2013-privatetest-deep.json --plot $OUT/compare-fer2013-privatetest-deep.png > $OUT/compare-fer2013-privatetest-deep.txt
cat $OUT/compare-*.txt
