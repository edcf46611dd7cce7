"""train, evaluate and compare give the reports the CLI gives for the same options."""

import json
import subprocess

import pytest

import fer_rs

CLASSES = ["happy", "surprise"]


def cli(fer_bin, *args):
    done = subprocess.run([str(fer_bin), *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_train_then_evaluate_matches_the_cli(fer_bin, shared, tmp_path):
    data = shared / "ckplus48"
    ours = tmp_path / "py.safetensors"
    header = fer_rs.train(data, ours, "mlp", classes=CLASSES, no_detect=True, epochs=4, hidden=[32], progress=False)
    assert header["kind"] == "mlp" and header["classes"] == CLASSES
    theirs = tmp_path / "cli.safetensors"
    cli(fer_bin, "train", "--data", data, "--classes", ",".join(CLASSES), "--no-detect", "--epochs", 4, "--hidden", 32, "--out", theirs)
    report = fer_rs.evaluate(data, ours, classes=CLASSES, no_detect=True, progress=False)
    cli_report = json.loads(cli(fer_bin, "eval", "--data", data, "--classes", ",".join(CLASSES), "--no-detect", "--model", theirs, "--json", "--plot", tmp_path / "c.png"))
    assert report["samples"] == cli_report["samples"] == 456
    assert report["confusion"] == cli_report["confusion"]
    assert report["accuracy"] == cli_report["accuracy"] > 0.8


def test_compare_gives_one_row_per_model(shared):
    df = fer_rs.compare(shared / "ckplus48", cv=2, models=["mlp", "logistic"], classes=CLASSES, no_detect=True, epochs=4, progress=False)
    assert list(df["name"]) == ["mlp", "logistic"]
    assert {"accuracy", "macro_f1", "fold_accuracy", "train_seconds", "us_per_face", "size_bytes"} <= set(df.columns)
    assert (df["accuracy"] > 0.7).all()
    assert "2-fold cross-validation" in df.attrs["protocol"]
    assert set(df.attrs["reports"]) == {"mlp", "logistic"}


def test_compare_trains_our_cnn_on_every_fold_when_asked(shared):
    df = fer_rs.compare(shared / "ckplus48", cv=2, models=["mlp"], classes=CLASSES, no_detect=True, epochs=4, cnn_epochs=2, progress=False)
    assert list(df["name"]) == ["mlp", "cnn"]
    cnn = df.set_index("name").loc["cnn"]
    assert cnn["kind"] == "cnn" and len(cnn["fold_accuracy"]) == 2
    assert cnn["train_seconds"] > 0 and cnn["size_bytes"] > 0
    assert df.attrs["reports"]["cnn"]["samples"] == df.attrs["reports"]["mlp"]["samples"]


def test_set_models_learn_and_are_scored_on_whole_sets(shared, tmp_path):
    out = tmp_path / "sets.safetensors"
    header = fer_rs.train(shared / "ckplus48", out, "set-mean", classes=CLASSES, no_detect=True, epochs=4, set_by="sequence", progress=False)
    assert header["kind"] == "set-mean"
    report = fer_rs.evaluate(shared / "ckplus48", out, classes=CLASSES, no_detect=True, set_by="sequence", progress=False)
    per_set = report["per_set"]
    # CK+48 keeps the last frames of each sequence: far fewer sets than frames.
    assert 0 < per_set["sets"] < report["samples"] / 2
    assert "learned pooling" in per_set["pooling"] and per_set["accuracy"] > 0.7
    assert "per_set" not in fer_rs.evaluate(shared / "ckplus48", out, classes=CLASSES, no_detect=True, progress=False)
    # A per-frame kind would learn the same without sets: refused, with the reason.
    with pytest.raises(fer_rs.ParameterError, match="frame by frame"):
        fer_rs.train(shared / "ckplus48", tmp_path / "m.safetensors", "mlp", classes=CLASSES, no_detect=True, set_by="sequence", progress=False)


def test_one_class_is_a_training_error(shared, tmp_path):
    with pytest.raises(fer_rs.TrainingError):
        fer_rs.train(shared / "ckplus48", tmp_path / "m.safetensors", classes=["happy"], no_detect=True, epochs=1, progress=False)
