#!/usr/bin/env bash
# fer_rs (the Python module) against the Python `fer` package and against
# `fer batch`, on the 492 frames of three copies of ../shared/data/yalefaces
# (written as PNG, which cv2.imread reads: it does not read GIF). Prints JSON
# lines; BENCHMARKS.md ("From Python") quotes a run. Needs PyPI for the first run
# (a venv in target/bench-python with fer==25.10.3, tensorflow-cpu and
# opencv-python-headless 4.x, the package's own README's set-up) and 2+ cores.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
. benches/python-venv.sh
PATH="$PWD/$VENV/bin:$PATH" python/build-wheel --out target/bench-python/wheels >/dev/null 2>&1
"$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps target/bench-python/wheels/fer_rs-*.whl
cargo build --release --bin fer 2>/dev/null
echo "# import times (best of 5 fresh processes, seconds; python alone subtracted)"
for module in fer_rs fer.fer; do
    "$VENV/bin/python" - "$module" <<'PY'
import json, subprocess, sys, time
def best(code):
    times = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return min(times)
bare = best("pass")
print(json.dumps({"import": sys.argv[1], "seconds": round(best(f"import {sys.argv[1]}") - bare, 3)}))
PY
done
echo "# one core: both pinned with taskset -c 0 (fer_rs threads=1)"
taskset -c 0 "$VENV/bin/python" benches/python_vs_fer.py "$FRAMES" 1 "$ROUNDS" 2>/dev/null
echo "# one core, fer_rs at the fer package's own minimum face (50 px) and without the eye search"
taskset -c 0 "$VENV/bin/python" benches/python_vs_fer.py "$FRAMES" 1 "$ROUNDS" '{"min_face": 50}' 2>/dev/null
taskset -c 0 "$VENV/bin/python" benches/python_vs_fer.py "$FRAMES" 1 "$ROUNDS" '{"eyes": false}' 2>/dev/null
echo "# all cores: fer_rs threads=$(nproc) (the fer package has no threads to set)"
"$VENV/bin/python" benches/python_vs_fer.py "$FRAMES" "$(nproc)" "$ROUNDS" 2>/dev/null
echo "# whole processes pinned to one core, best of $ROUNDS: fer batch --threads 1, read_many(threads=1), the fer package's loop"
"$VENV/bin/python" - "$FRAMES" "$ROUNDS" <<'PY'
import json, subprocess, sys, time
frames, rounds = sys.argv[1], int(sys.argv[2])
def best(cmd):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        subprocess.run(["taskset", "-c", "0", *cmd], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return min(times)
cli = best(["target/release/fer", "batch", frames, "--threads", "1", "--out", "target/bench-python/rows.csv"])
ours = best([sys.executable, "-c",
             f"import fer_rs; fer_rs.Reader().read_many([{frames!r}], threads=1, progress=False)"])
theirs = best([sys.executable, "-c",
               "import os, cv2; from fer.fer import FER; d = FER(); "
               f"[d.detect_emotions(cv2.imread(os.path.join({frames!r}, f))) for f in sorted(os.listdir({frames!r}))]"])
print(json.dumps({"fer_batch_s": round(cli, 3), "read_many_s": round(ours, 3), "fer_package_s": round(theirs, 3),
                  "read_many_over_fer_batch": round(ours / cli, 3), "fer_package_over_read_many": round(theirs / ours, 2)}))
PY
