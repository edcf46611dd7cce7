#!/usr/bin/env bash
# The cross-dataset protocol: MLPs trained on combinations of annotation sources,
# each tested on data it never saw. Sources (all from ../shared/data/MANIFEST.csv):
#   fer2013  FER2013 Training, its own labels (7 classes, no contempt)
#   ferplus  the same images, FER+ majority labels (8 classes)
#   ckplus   CK+48 and its neutral frames (8 classes), four fifths of the subjects
#            (subjects sorted, every fifth held out, as in models/make-cnn-ck.sh)
# Models: each source alone, the naive merge of all three (cross-entropy, a class a
# source does not annotate taught as absent), the merge with --partial-labels, and
# the merge with --latent-truth. Tests: FER2013 PrivateTest under both annotations,
# the held-out fifth of the CK+ subjects, and the Yale faces (4 classes, full frames
# through detection), none of them trained on.
# Every model: fer train defaults but --no-mirror --no-class-balance (the partial and
# latent objectives have no class weights; mirroring would double the hours).
# Writes models/eval/cross-dataset.md and the reports models/eval/cross-*.txt.
# Needs ../shared/data. Run from the repository root:
#   models/make-cross-dataset.sh
# Takes about 1.5 hours on 2 cores.
. models/lib.sh

# One manifest with absolute paths: fer2013 and ferplus as they are, CK+ renamed
# `ckplus` with split Training / Test by subject.
CSV=$WORK/cross.csv
ck_test_subjects > "$WORK/test-subjects.txt"
awk -F, -v OFS=, -v D="$D" 'NR==FNR { t[$1]=1; next }
    FNR==1 { print; next }
    $1=="fer2013" || $1=="ferplus" { $2 = D "/" $2; print }
    $1=="ckplus48" || $1=="ckplus48-neutral" {
        # neutral frames carry their subject in the file name (S010_...)
        s = $5; if (s == "") { n = split($2, p, "/"); s = substr(p[n], 1, 4) }
        $1 = "ckplus"; $2 = D "/" $2; $5 = s; $6 = (s in t) ? "Test" : "Training"; print }' \
    "$WORK/test-subjects.txt" "$D/MANIFEST.csv" > "$CSV"

RECIPE="--no-mirror --no-class-balance"
MODELS=(
    "fer2013|--dataset fer2013"
    "ferplus|--dataset ferplus"
    "ckplus|--dataset ckplus"
    "naive-merge|--dataset fer2013,ferplus,ckplus"
    "partial-labels|--dataset fer2013,ferplus,ckplus --partial-labels"
    "latent-truth|--dataset fer2013,ferplus,ckplus --latent-truth"
)
accuracy() { grep -m1 '^accuracy' "$1" | sed -E 's/accuracy: //'; }
TABLE=$OUT/cross-dataset.md
{
    echo "| trained on | FER2013 PrivateTest, FER2013 labels | FER2013 PrivateTest, FER+ majority | CK+ held-out subjects | Yale, 4 classes, full frames |"
    echo "|---|---|---|---|---|"
} > "$TABLE"
# Train (the merges first: they take longest); a model already in $WORK is kept.
for m in "${MODELS[@]:3}" "${MODELS[@]:0:3}"; do
    name=${m%%|*}
    opts=${m#*|}
    model=$WORK/$name.safetensors
    # shellcheck disable=SC2086
    [ -f "$model" ] || $FER train --no-detect $RECIPE --data "$CSV" --split Training $opts --out "$model"
done
for m in "${MODELS[@]}"; do
    name=${m%%|*}
    opts=${m#*|}
    model=$WORK/$name.safetensors
    row="| $name (\`$opts\`)"
    for t in "fer2013|--no-detect --data $CSV --dataset fer2013 --split PrivateTest" \
             "ferplus|--no-detect --data $CSV --dataset ferplus --split PrivateTest" \
             "ckplus|--no-detect --data $CSV --dataset ckplus --split Test" \
             "yale|--data $D/yalefaces --classes happy,sad,surprise,neutral"; do
        test_name=${t%%|*}
        report=$OUT/cross-$name-on-$test_name.txt
        # shellcheck disable=SC2086
        $FER eval --model "$model" ${t#*|} --plot "$OUT/cross-$name-on-$test_name.png" > "$report"
        row="$row | $(accuracy "$report")"
    done
    echo "$row |" | tee -a "$TABLE"
done
cat "$TABLE"
