"""fer_rs against the Python `fer` package, side by side in one process.

Run by benches/python_vs_fer.sh (which builds the environment and the frames):
    python benches/python_vs_fer.py FRAMES_DIR THREADS ROUNDS [READER_OPTIONS_JSON]

Times, on every image file of FRAMES_DIR: fer_rs's `Reader().read_many` with
`threads=THREADS`, and the `fer` package's documented loop (`FER()` then
`detect_emotions(cv2.imread(path))` per file; it has no threads of its own to
set). The two alternate, ROUNDS times each, after one warm-up call each; the
best round of each is printed as a JSON line, with the faces each found.
READER_OPTIONS_JSON (e.g. '{"min_face": 50}') is passed to `fer_rs.Reader`.
"""

import json
import os
import sys
import time

frames_dir, threads, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
reader_options = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
paths = sorted(os.path.join(frames_dir, f) for f in os.listdir(frames_dir))

import cv2  # noqa: E402
import fer_rs  # noqa: E402
from fer.fer import FER  # noqa: E402

reader = fer_rs.Reader(**reader_options)
detector = FER()


def ours():
    df = reader.read_many(paths, threads=threads, progress=False)
    return int((df["status"] == "ok").sum())


def theirs():
    return sum(len(detector.detect_emotions(cv2.imread(p))) for p in paths)


ours(), theirs()  # warm-up: cascades, the TFLite interpreter, the page cache
best = {"fer_rs": float("inf"), "fer": float("inf")}
faces = {}
for _ in range(rounds):
    for name, run in (("fer_rs", ours), ("fer", theirs)):
        t = time.perf_counter()
        faces[name] = run()
        best[name] = min(best[name], time.perf_counter() - t)
print(json.dumps({
    "images": len(paths),
    "threads": threads,
    "reader_options": reader_options,
    "fer_rs_s": round(best["fer_rs"], 3),
    "fer_s": round(best["fer"], 3),
    "speedup": round(best["fer"] / best["fer_rs"], 2),
    "fer_rs_faces": faces["fer_rs"],
    "fer_faces": faces["fer"],
}))
