#!/usr/bin/env python3
"""Chooses the weight of the shipped deep ensemble (models/deep-ensemble.json) on
validation data only, never on FER2013 PrivateTest.

Reads the per-image probabilities that `fer batch --no-detect --format csv` wrote
for each deep model, with and without `--tta flip` (models/make-deep-ensemble.sh
makes them), and for each weight w of the mini-Xception (1 - w for face-api.js):

  - FER2013 PublicTest accuracy (3,589 images, 7 classes), and
  - CK+48 accuracy on the validation subjects (7 classes: neither model has
    contempt; subjects sorted, every fifth is the held-out test part, as in
    models/make-cnn-ck.sh, and the other four fifths are the validation part).

Two criteria, each choosing a shipped ensemble (ties go to the larger
mini-Xception weight):
  - `deep-ensemble`: the mean of the two validation accuracies (fixed before any
    result was seen);
  - `deep-ensemble-fer`: PublicTest alone (added after the grid showed that CK+
    pulls the weight towards face-api.js, whose unnamed training data may include
    CK+ images; still chosen on validation data only).
Prints the grid as a Markdown table and one `chosen NAME: tta=T weight=W ...` line
per ensemble at the end.
Python standard library only.

usage: choose-ensemble-weights.py CSV_DIR
  CSV_DIR holds {mini-xception,faceapi-expression}-{none,flip}-{fer2013,ckplus48}.csv
"""
import os
import sys

from fer_batch_csv import CLASSES, read

CK_FOLDERS = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy",
              "sadness": "sad", "surprise": "surprise"}
STEP = 0.05


def truth_fer(path):
    name = os.path.basename(path)
    if not name.startswith("PublicTest_"):
        return None
    return os.path.basename(os.path.dirname(path))


def ck_subjects(files):
    subjects = sorted({os.path.basename(f)[:4] for f in files})
    held_out = {s for i, s in enumerate(subjects, 1) if i % 5 == 0}
    return held_out


def truth_ck(path, held_out):
    label = CK_FOLDERS.get(os.path.basename(os.path.dirname(path)))
    if label is None or os.path.basename(path)[:4] in held_out:
        return None
    return label


def accuracy(a, b, w, truth):
    hits = n = 0
    for f, label in truth.items():
        if f not in a or f not in b:
            continue
        p = [w * x + (1 - w) * y for x, y in zip(a[f], b[f])]
        hits += CLASSES[max(range(len(p)), key=p.__getitem__)] == label
        n += 1
    return hits / max(n, 1), n


def main():
    d = sys.argv[1]
    best = {}
    print("| tta | mini-Xception weight | PublicTest | CK+ validation subjects | mean |")
    print("|---|---|---|---|---|")
    for tta in ["none", "flip"]:
        fer = {m: read(f"{d}/{m}-{tta}-fer2013.csv") for m in ["mini-xception", "faceapi-expression"]}
        ck = {m: read(f"{d}/{m}-{tta}-ckplus48.csv") for m in ["mini-xception", "faceapi-expression"]}
        fer_truth = {f: t for f in fer["mini-xception"] if (t := truth_fer(f))}
        held_out = ck_subjects(ck["mini-xception"].keys())
        ck_truth = {f: t for f in ck["mini-xception"] if (t := truth_ck(f, held_out))}
        steps = int(round(1 / STEP))
        for i in range(steps + 1):
            w = round(i * STEP, 2)
            pub, n_pub = accuracy(fer["mini-xception"], fer["faceapi-expression"], w, fer_truth)
            ckv, n_ck = accuracy(ck["mini-xception"], ck["faceapi-expression"], w, ck_truth)
            mean = (pub + ckv) / 2
            print(f"| {tta} | {w:.2f} | {100 * pub:.2f}% | {100 * ckv:.2f}% | {100 * mean:.2f}% |")
            for name, score in [("deep-ensemble", mean), ("deep-ensemble-fer", pub)]:
                key = (score, w)
                if name not in best or key > best[name][0]:
                    best[name] = (key, tta, w, pub, ckv)
    print(f"\n{n_pub} PublicTest images, {n_ck} CK+ validation images\n")
    for name, (_, tta, w, pub, ckv) in best.items():
        print(f"chosen {name}: tta={tta} weight={w:.2f} PublicTest={100 * pub:.2f}% CK+val={100 * ckv:.2f}%")


if __name__ == "__main__":
    main()
