"""What the models/choose-*.py scripts share: reading `fer batch --format csv` output.

Python standard library only.
"""
import csv

# FER2013's classes, in its order: the classes the mixtures are weighed over.
CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def read(path):
    """file -> probabilities over CLASSES, from a fer batch CSV (first face of each file;
    a class the model lacks reads 0)."""
    out = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["status"] == "ok" and row["file"] not in out:
                out[row["file"]] = [float(row.get("p_" + c) or 0.0) for c in CLASSES]
    return out
