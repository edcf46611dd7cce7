#!/usr/bin/env bash
# The check of linfa's PCA before the linfa baselines (README, "Model kinds"):
# first the number of components, chosen for logistic regression on FER2013's
# PublicTest (validation) split among 64, 128 and 256; then logistic regression
# with and without PCA (the chosen 256, compare::DEFAULT_PCA_COMPONENTS) on FER2013
# PrivateTest and on CK+ 10-fold by subject. (svm-pca is left out: on FER2013 it
# had not finished after 18 minutes.) Needs ../shared/data. Run from the
# repository root:
#   models/make-compare-pca.sh
# The FER2013 part takes about 15 minutes on 2 cores; the CK+ part had not
# finished after 20 minutes on 2026-12-03 (linfa's PCA fit runs on one core).
. models/lib.sh
FER2013=(--no-detect --no-mirror --no-class-balance
    --data $D/MANIFEST.csv --dataset fer2013 --split Training --test $D/MANIFEST.csv)

for n in 64 128 256; do
    models=logistic-pca
    if [ "$n" = 64 ]; then models=logistic,logistic-pca; fi
    $FER compare "${FER2013[@]}" --test-split PublicTest --models $models --pca $n \
        > $OUT/compare-fer2013-publictest-pca$n.txt
done

$FER compare "${FER2013[@]}" --test-split PrivateTest --models logistic,logistic-pca \
    --json $OUT/compare-fer2013-privatetest-pca.json > $OUT/compare-fer2013-privatetest-pca.txt
$FER compare --cv 10 --group-by subject --no-detect \
    --data $D/ckplus48 $D/ckplus48-neutral --models logistic,logistic-pca \
    --json $OUT/compare-ckplus-cv10-pca.json > $OUT/compare-ckplus-cv10-pca.txt
cat $OUT/compare-*pca*.txt
