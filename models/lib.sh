# Shared by the models/make-*.sh scripts (sourced, from the repository root): the data
# folder, the binary, where reports go, a work folder, the build, and the CK+ split.
set -euo pipefail
D=$(cd ../shared/data && pwd)
FER=target/release/fer
OUT=models/eval
# A work folder of your own is kept (WORK=dir models/make-….sh), so finished models are reused.
if [ -z "${WORK:-}" ]; then
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
fi
cargo build --release
mkdir -p "$OUT"

# The held-out CK+ subjects: those of the CK+48 rows of the manifest, sorted, every fifth.
ck_test_subjects() {
    awk -F, 'NR>1 && $1=="ckplus48" { print $5 }' "$D/MANIFEST.csv" | sort -u | awk 'NR%5==0'
}

# ck_split CSV: the CK+48 rows of the manifest with absolute paths, split=test for the
# held-out subjects and split=train for the others.
ck_split() {
    ck_test_subjects > "$WORK/test-subjects.txt"
    awk -F, -v OFS=, -v D="$D" 'NR==FNR { t[$1]=1; next } FNR==1 { print; next }
        $1=="ckplus48" { $2 = D "/" $2; $6 = ($5 in t) ? "test" : "train"; print }' \
        "$WORK/test-subjects.txt" "$D/MANIFEST.csv" > "$1"
}

# cnn_test_splits NAME DATASET: $WORK/cnn.safetensors on the manifest's PublicTest
# (validation, where mirror averaging is chosen) and PrivateTest rows of DATASET, with and
# without mirror averaging, into $OUT/NAME-{publictest,privatetest}-tta-{none,flip}.*
cnn_test_splits() {
    local split tta report
    for split in PublicTest PrivateTest; do
        for tta in none flip; do
            report="$OUT/$1-${split,,}-tta-$tta"
            $FER eval --no-detect --model "$WORK/cnn.safetensors" --data "$D/MANIFEST.csv" --dataset "$2" \
                --split $split --tta $tta --plot "$report.png" > "$report.txt"
        done
    done
}

# cnn_other_datasets NAME: $WORK/cnn.safetensors, mirror-averaged, on data it never saw:
# Yale's four classes on full frames through face detection (as models/make-default.sh
# measures the shipped model) and CK+48 without contempt, into $OUT/NAME-{yale-4class,ckplus48}.*
cnn_other_datasets() {
    $FER eval --model "$WORK/cnn.safetensors" --tta flip --data "$D/yalefaces" \
        --classes happy,sad,surprise,neutral --plot "$OUT/$1-yale-4class.png" \
        > "$OUT/$1-yale-4class.txt"
    $FER eval --no-detect --model "$WORK/cnn.safetensors" --tta flip --data "$D/ckplus48" \
        --classes angry,disgust,fear,happy,sad,surprise --plot "$OUT/$1-ckplus48.png" \
        > "$OUT/$1-ckplus48.txt"
}
