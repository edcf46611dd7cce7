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
