#!/usr/bin/env bash
# Chooses the shipped deep ensembles' weights on validation data (FER2013 PublicTest
# and four fifths of the CK+48 subjects), writes models/deep-ensemble.json and
# models/deep-ensemble-fer.json, and evaluates the deep models alone and together on
# data never used to choose: FER2013 PrivateTest under its own labels and under the
# FER+ majority, the held-out fifth of the CK+48 subjects, and the Yale faces.
# Writes the reports quoted in models/deep-ensemble.md. Needs ../shared/data and
# python3. Run from the repository root:
#   models/make-deep-ensemble.sh
# Takes about 10 minutes on 2 cores.
. models/lib.sh

# 1. Per-image probabilities of each model, plain and mirror-averaged.
for m in mini-xception faceapi-expression; do
    for tta in none flip; do
        $FER batch --no-detect --model $m --tta $tta "$D/fer2013/test" --out "$WORK/$m-$tta-fer2013.csv" 2>/dev/null
        $FER batch --no-detect --model $m --tta $tta "$D/ckplus48" --out "$WORK/$m-$tta-ckplus48.csv" 2>/dev/null
    done
done

# 2. The weights, on validation data only.
python3 models/choose-ensemble-weights.py "$WORK" | tee "$OUT/deep-ensemble-weights.md"
write_sidecar() { # name, how the weight was chosen
    local tta w
    read -r tta w < <(grep "^chosen $1:" "$OUT/deep-ensemble-weights.md" |
        sed -E 's/.*tta=([a-z]+) weight=([0-9.]+).*/\1 \2/')
    python3 - "$1" "$tta" "$w" "$2" <<'PY'
import json, sys
name, tta, w, how = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
spec = {
    "format": "fer-ensemble",
    "members": [{"model": "mini-xception.json", "weight": round(w, 2)},
                {"model": "faceapi-expression.json", "weight": round(1 - w, 2)}],
    "tta": tta,
    "description": "weighted mean of the mini-Xception and face-api.js expression models; "
                   "weight and tta chosen by models/make-deep-ensemble.sh on " + how,
}
with open(f"models/{name}.json", "w") as f:
    json.dump(spec, f, indent=2)
    f.write("\n")
PY
    cat "models/$1.json"
}
write_sidecar deep-ensemble "the mean of FER2013 PublicTest and CK+48 validation-subject accuracy"
write_sidecar deep-ensemble-fer "FER2013 PublicTest accuracy alone"

# 3. Test data never used to choose: the CK+48 split of models/make-cnn-ck.sh.
ck_split "$WORK/ck-split.csv"

tta_of() { python3 -c "import json; print(json.load(open('models/$1.json'))['tta'])"; }
evaluate() { # report name, model, tta, then the data arguments
    local name=$1 model=$2 tta=$3
    shift 3
    $FER eval --model "$model" --tta "$tta" "$@" --plot "$OUT/$name.png" > "$OUT/$name.txt" 2>/dev/null
    echo "$name: $(grep -m1 '^accuracy' "$OUT/$name.txt")"
}
for spec in "mini-xception none" "mini-xception flip" "faceapi-expression none" "faceapi-expression flip" \
    "deep-ensemble $(tta_of deep-ensemble)" "deep-ensemble-fer $(tta_of deep-ensemble-fer)"; do
    set -- $spec
    evaluate "$1-$2-fer2013-privatetest" "$1" "$2" --no-detect --data "$D/MANIFEST.csv" --dataset fer2013 --split PrivateTest
    evaluate "$1-$2-ferplus-privatetest" "$1" "$2" --no-detect --data "$D/MANIFEST.csv" --dataset ferplus --split PrivateTest
    evaluate "$1-$2-ck-heldout-subjects" "$1" "$2" --no-detect --data "$WORK/ck-split.csv" --split test
    evaluate "$1-$2-yale-4class" "$1" "$2" --data "$D/yalefaces" --classes happy,sad,surprise,neutral
done
