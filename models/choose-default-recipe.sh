#!/usr/bin/env bash
# Chooses the shipped default model's training recipe on validation data: each
# candidate is trained on FER2013 Training alone and read on PublicTest (never
# PrivateTest) under both annotations, the FER2013 labels and the FER+ majority.
# The criterion, fixed before any result was seen: the mean of the two PublicTest
# accuracies. Writes models/eval/default-recipe-candidates.md.
# Needs ../shared/data. Run from the repository root:
#   models/choose-default-recipe.sh [NAME...]     (all candidates when none is named)
# With WORK=dir, models already trained there are reused.
# Takes about 10 minutes per candidate on 2 cores.
. models/lib.sh
TABLE=$OUT/default-recipe-candidates.md

# name | training options (data selection included)
# Mirrored copies double the training time (about 30 minutes a candidate here), so
# every candidate is trained without them.
CANDIDATES=(
    "labels|--dataset fer2013 --no-mirror --no-class-balance"
    "votes|--dataset ferplus --no-mirror --votes $D/ferplus/votes.csv"
    "distilled|--dataset fer2013 --no-mirror --distill deep --teacher deep-ensemble-fer --temperature 2"
)

accuracy() { grep -m1 '^accuracy' "$1" | sed -E 's/accuracy: //'; }

[ -f "$TABLE" ] || {
    echo "| candidate | training options | PublicTest, FER2013 labels | PublicTest, FER+ majority | mean |"
    echo "|---|---|---|---|---|"
} > "$TABLE"
for c in "${CANDIDATES[@]}"; do
    name=${c%%|*}
    opts=${c#*|}
    if [ $# -gt 0 ] && [[ ! " $* " =~ " $name " ]]; then continue; fi
    # shellcheck disable=SC2086
    [ -f "$WORK/$name.safetensors" ] ||
        $FER train --no-detect --data $D/MANIFEST.csv --split Training $opts --out "$WORK/$name.safetensors"
    $FER eval --no-detect --model "$WORK/$name.safetensors" --data $D/MANIFEST.csv --dataset fer2013 \
        --split PublicTest --plot "$WORK/$name-fer.png" > "$WORK/$name-fer2013-publictest.txt"
    $FER eval --no-detect --model "$WORK/$name.safetensors" --data $D/MANIFEST.csv --dataset ferplus \
        --split PublicTest --plot "$WORK/$name-ferplus.png" > "$WORK/$name-ferplus-publictest.txt"
    a=$(accuracy "$WORK/$name-fer2013-publictest.txt")
    b=$(accuracy "$WORK/$name-ferplus-publictest.txt")
    mean=$(python3 -c "print(f'{(${a%\%} + ${b%\%}) / 2:.2f}%')")
    echo "| $name | \`${opts//$D/../shared/data}\` | $a | $b | $mean |" | tee -a "$TABLE"
done
cat "$TABLE"
