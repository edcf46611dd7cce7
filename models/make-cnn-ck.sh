#!/usr/bin/env bash
# Trains our CNN (fer train-cnn) on 80% of the CK+48 subjects and evaluates it on the
# other 20%, beside the MLP and the soft tree on labels and distilled from the CNN.
# Writes the reports quoted in README.md ("fer train-cnn"). Needs ../shared/data. Run
# from the repository root:
#   models/make-cnn-ck.sh
# Takes under half an hour on 2 cores (three CNN trainings).
. models/lib.sh

# The CK+48 rows of the manifest; subjects sorted, every fifth held out (split=test).
ck_split "$WORK/ck-split.csv"
SPLIT="$WORK/ck-split.csv"

evaluate() { # model, report name
    $FER eval --no-detect --model "$1" --data "$SPLIT" --split test --plot "$OUT/$2.png" > "$OUT/$2.txt"
}
$FER train-cnn --no-detect --data "$SPLIT" --split train --out "$WORK/cnn.safetensors"
evaluate "$WORK/cnn.safetensors" cnn-ck-heldout-subjects
$FER train-cnn --no-detect --data "$SPLIT" --split train --out "$WORK/cnn-git.safetensors" --git-loss 0.01,0.01
evaluate "$WORK/cnn-git.safetensors" cnn-git-ck-heldout-subjects
$FER train-cnn --no-detect --data "$SPLIT" --split train --out "$WORK/cnn-balanced.safetensors" --class-balance
evaluate "$WORK/cnn-balanced.safetensors" cnn-balanced-ck-heldout-subjects
for kind in mlp soft-tree; do
    $FER train --no-detect --data "$SPLIT" --split train --model $kind --out "$WORK/$kind.safetensors"
    evaluate "$WORK/$kind.safetensors" $kind-ck-heldout-subjects
    $FER train --no-detect --data "$SPLIT" --split train --model $kind --out "$WORK/$kind-distilled.safetensors" \
        --distill deep --teacher "$WORK/cnn.safetensors"
    evaluate "$WORK/$kind-distilled.safetensors" $kind-distilled-from-cnn-ck-heldout-subjects
done
