#!/usr/bin/env bash
# Runs the CK+ 10-fold comparison of every model kind again and compares each kind's
# accuracy and macro-F1 with the committed models/eval/compare-ckplus-cv10.json: the
# figures must not move when the learners' code is reorganised. Needs ../shared/data.
# Takes about 50 minutes on 2 cores. Run from the repository root:
#   models/check-kinds-unchanged.sh
source "$(dirname "$0")/lib.sh"
# The new run is kept beside the committed one.
NOW=models/eval/check
mkdir -p "$NOW"
$FER compare --cv 10 --group-by subject --no-detect \
    --data $D/ckplus48 $D/ckplus48-neutral \
    --json "$NOW/now.json" --plot "$NOW/now.png" > "$NOW/now.txt"
python3 - models/eval/compare-ckplus-cv10.json "$NOW/now.json" <<'PY' | tee "$NOW/now-vs-committed.txt"
import json, sys
before, now = (json.load(open(p)) for p in sys.argv[1:3])
rows = {r["name"]: r for r in now["rows"]}
changed = 0
for r in before["rows"]:
    n = rows.get(r["name"])
    same = n is not None and n["accuracy"] == r["accuracy"] and n["macro_f1"] == r["macro_f1"]
    changed += not same
    print(f'{r["name"]:22} committed {100*r["accuracy"]:6.2f}%  now {100*n["accuracy"] if n else float("nan"):6.2f}%  {"same" if same else "CHANGED"}')
sys.exit(1 if changed else 0)
PY
