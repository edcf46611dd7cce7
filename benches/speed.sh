#!/usr/bin/env bash
# The speed figures of BENCHMARKS.md ("Speed against the Python fer package and bare
# Haar", "Searching less on video"), side by side in one run:
#   1. whole process on the 492 Yale frames (three copies, as PNG): `fer batch`
#      pinned to one core (the default model, cnn-ferplus, and the feature model
#      models/fer-default.safetensors), the Python `fer` package's two-line use
#      pinned to the same core, and `fer batch` on all cores; best of ROUNDS;
#   2. `fer bench` (the pipeline against one bare full-resolution Haar search) on the
#      Yale frames and the group photos, at 1 and 2 threads, with each of the two;
#   3. `fer live` pinned to one core on the 640x480 one-face video
#      (examples/one_face_video.rs) at --min-face 30, with a full search on every
#      frame and with the default --search-every, and the feature model at the default;
#   4. the same on ../shared/data/video/Megamind.avi at the live defaults, and how
#      far the tracked search's timeline is from the full search's.
#
#   benches/speed.sh            # ROUNDS=3 by default
#
# Needs ../shared/data, a release build with examples (cargo build --release
# --examples) and, for 1., PyPI on the first run (benches/python-venv.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
FER=$PWD/target/release/fer
DATA=$PWD/../shared/data
[ -x "$FER" ] && [ -x target/release/examples/one_face_video ] ||
    { echo "build first: cargo build --release --examples" >&2; exit 2; }
. benches/python-venv.sh
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "# 1. whole process, 492 Yale frames, best of $ROUNDS (seconds)"
"$VENV/bin/python" - "$FRAMES" "$ROUNDS" "$FER" "$WORK" "$(nproc)" <<'PY'
import json, subprocess, sys, time
frames, rounds, fer, work, cores = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def best(cmd, pin=True):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        subprocess.run((["taskset", "-c", "0"] if pin else []) + cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    return min(times)
ours = best([fer, "batch", frames, "--threads", "1", "--out", f"{work}/rows.csv"])
features = best([fer, "batch", frames, "--threads", "1", "--model", "models/fer-default.safetensors",
                 "--out", f"{work}/rows.csv"])
theirs = best([sys.executable, "-c",
               "import os, cv2; from fer.fer import FER; d = FER(); "
               f"[d.detect_emotions(cv2.imread(os.path.join({frames!r}, f))) for f in sorted(os.listdir({frames!r}))]"])
all_cores = best([fer, "batch", frames, "--out", f"{work}/rows.csv"], pin=False)
print(json.dumps({"fer_batch_1_core_s": round(ours, 3), "fer_package_1_core_s": round(theirs, 3),
                  "fer_package_over_fer_batch": round(theirs / ours, 2),
                  "fer_batch_feature_model_1_core_s": round(features, 3),
                  "fer_package_over_fer_batch_feature_model": round(theirs / features, 2),
                  f"fer_batch_{cores}_cores_s": round(all_cores, 3)}))
PY

echo "# 2. fer bench: pipeline against one bare Haar search"
for model in cnn-ferplus models/fer-default.safetensors; do
for dir in yalefaces detection/dlib-faces; do
    "$FER" bench "$DATA/$dir" --model "$model" --repeat 2 --json 2>/dev/null |
        "$VENV/bin/python" -c "
import json, sys
r = json.load(sys.stdin)
for t in r['throughput']:
    print(json.dumps({'model': '$model', 'frames': '$dir', 'threads': t['threads'], 'pipeline_images_per_s': round(t['images_per_s'], 1),
                      'bare_haar_images_per_s': round(t['bare_haar_images_per_s'], 1), 'ratio': round(t['ratio_to_bare_haar'], 2)}))"
done
done

echo "# 3. fer live, one core, 640x480 one-face video, --min-face 30"
target/release/examples/one_face_video "$WORK/one-face.avi" 2>/dev/null
for run in "cnn-ferplus 1" "cnn-ferplus default" "models/fer-default.safetensors default"; do
    read -r model every <<< "$run"
    opt=(--model "$model"); [ "$every" = default ] || opt+=(--search-every "$every")
    taskset -c 0 "$FER" live --source "$WORK/one-face.avi" --plain --json --min-face 30 "${opt[@]}" 2>/dev/null |
        "$VENV/bin/python" -c "import json,sys; r=json.load(sys.stdin); print(json.dumps({'model': '$model', 'search_every': '$every', 'fps': round(r['fps'], 1), 'p50_ms': round(r['latency_p50_ms'], 1), 'p95_ms': round(r['latency_p95_ms'], 1), 'tracks': len(r['tracks'])}))"
done

echo "# 4. fer live, one core, Megamind.avi at the live defaults: full search on every frame against the default"
for every in 1 default; do
    opt=(); [ "$every" = default ] || opt=(--search-every "$every")
    taskset -c 0 "$FER" live --source "$DATA/video/Megamind.avi" --plain --json --jsonl "$WORK/m-$every.jsonl" "${opt[@]}" 2>/dev/null |
        "$VENV/bin/python" -c "import json,sys; r=json.load(sys.stdin); print(json.dumps({'search_every': '$every', 'fps': round(r['fps'], 1), 'p50_ms': round(r['latency_p50_ms'], 1), 'p95_ms': round(r['latency_p95_ms'], 1), 'tracks': len(r['tracks'])}))"
done
"$VENV/bin/python" benches/compare_timelines.py "$WORK/m-1.jsonl" "$WORK/m-default.jsonl"
