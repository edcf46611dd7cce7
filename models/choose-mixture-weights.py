#!/usr/bin/env python3
"""Chooses the weights of a weighted mean of several models' probabilities on FER2013
PublicTest (validation), never on PrivateTest.

Reads the per-image probabilities that `fer batch --no-detect --format csv` wrote for
each model over ../shared/data/fer2013/test, tries every weight vector on a grid of
step 0.05 (weights summing to 1), and prints the best ten by PublicTest accuracy and
one `chosen: w1 w2 ...` line (ties go to the earlier grid point, which favours the
earlier models). Then, once chosen, PrivateTest accuracy of the chosen mixture and of
each model alone. (`fer eval` cannot read such a mixture when its members were made
for different pipeline settings, as our CNN and the ONNX models are.) models/make-cnn-fer2013.sh uses it to weigh our CNN against the
shipped deep models. Python standard library only.

usage: choose-mixture-weights.py MODEL1.csv MODEL2.csv [...]
"""
import os
import sys

from fer_batch_csv import CLASSES, read

STEPS = 20


def grid(k, steps):
    """Every k-vector of multiples of 1/STEPS, each at least 0, summing to steps/STEPS."""
    if k == 1:
        yield (steps / STEPS,)
        return
    for i in range(steps, -1, -1):
        for rest in grid(k - 1, steps - i):
            yield (i / STEPS,) + rest


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    models = [read(p) for p in sys.argv[1:]]

    def part(prefix):
        return [f for f in models[0] if os.path.basename(f).startswith(prefix)
                and all(f in m for m in models)]

    def accuracy(files, w):
        hits = 0
        for f in files:
            p = [sum(wi * m[f][c] for wi, m in zip(w, models)) for c in range(len(CLASSES))]
            hits += CLASSES[max(range(len(p)), key=p.__getitem__)] == os.path.basename(os.path.dirname(f))
        return hits / len(files)

    files = part("PublicTest_")
    scored = [(accuracy(files, w), w) for w in grid(len(models), STEPS)]
    best = max(scored, key=lambda s: s[0])  # max keeps the first of equals
    names = [os.path.basename(p) for p in sys.argv[1:]]
    print(f"{len(files)} PublicTest images; weights of {', '.join(names)}")
    print("| weights | PublicTest |\n|---|---|")
    for acc, w in sorted(scored, key=lambda s: -s[0])[:10]:
        print(f"| {' '.join(f'{x:.2f}' for x in w)} | {100 * acc:.2f}% |")
    print("chosen: " + " ".join(f"{x:.2f}" for x in best[1]))
    test = part("PrivateTest_")
    print(f"\n{len(test)} PrivateTest images (the official test split, never used to choose):")
    print(f"- the chosen mixture: {100 * accuracy(test, best[1]):.2f}%")
    for i, name in enumerate(names):
        alone = tuple(float(i == j) for j in range(len(models)))
        print(f"- {name} alone: {100 * accuracy(test, alone):.2f}%")


if __name__ == "__main__":
    main()
