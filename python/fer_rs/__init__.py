"""fer_rs: facial expression recognition from Python, with fer's Rust pipeline.

Three lines to a DataFrame::

    import fer_rs
    reader = fer_rs.Reader()                      # the shipped model
    df = reader.read_many(["data/"])              # one row per face, as `fer batch` writes

`Reader.read` takes one image (a path, or a numpy array as cv2 gives: grey, or
BGR) and returns its faces. `read_many` and `read_video` return a pandas (or
polars) DataFrame with the columns of `fer batch`'s CSV. `evaluate`, `train`
and `compare` return their reports. Errors are `FerError` subclasses whose
message names the file and the reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence, Union

import numpy as np

from . import _native
from ._native import (
    DatasetError,
    FerError,
    ImageError,
    ModelError,
    ParameterError,
    TrainingError,
)

__version__ = _native.__version__
__all__ = [
    "Reader",
    "imread",
    "evaluate",
    "train",
    "compare",
    "shipped_models",
    "model_kinds",
    "FerError",
    "ImageError",
    "ModelError",
    "DatasetError",
    "ParameterError",
    "TrainingError",
]

PathLike = Union[str, "os.PathLike[str]"]

#: The models inside the wheel, by the names `model=` takes.
_SHIPPED = {
    "default": "cnn-ferplus.json",
    "cnn-ferplus": "cnn-ferplus.json",
    "fer-default": "fer-default.safetensors",
    "mini-xception": "mini-xception.json",
    "faceapi-expression": "faceapi-expression.json",
    "deep-ensemble": "deep-ensemble.json",
    "deep-ensemble-fer": "deep-ensemble-fer.json",
}
_MODELS_DIR = Path(__file__).resolve().parent / "models"

#: Model kinds `train(model=...)` and `compare(models=...)` take.
model_kinds: list[str] = list(_native.model_kinds)

_OPTIONS = _native.option_names()


def shipped_models() -> dict[str, str]:
    """The shipped models' names and their files inside the package."""
    return {name: str(_MODELS_DIR / f) for name, f in _SHIPPED.items()}


def _model(model: Any) -> str:
    """A shipped model's file for its name (also inside `A@0.5+B@0.5`); a path as given."""
    if isinstance(model, os.PathLike):
        return os.fspath(model)
    if not isinstance(model, str):
        raise TypeError(f"model must be a name or a path, not {type(model).__name__}")
    if model in _SHIPPED:
        return str(_MODELS_DIR / _SHIPPED[model])
    if "@" in model and not os.path.exists(model):
        parts = []
        for part in model.split("+"):
            name, at, weight = part.partition("@")
            parts.append(_model(name.strip()) + at + weight)
        return "+".join(parts)
    return model


def _paths(paths: Union[PathLike, Iterable[PathLike]]) -> list[str]:
    if isinstance(paths, (str, os.PathLike)):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def _list(v: Union[None, str, Sequence[str]]) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [s for s in v.split(",") if s]
    return list(v)


def _threads(threads: int | None) -> int:
    if threads is None:
        return 0
    if threads < 0:
        raise ParameterError(f"invalid parameter `threads`: {threads} is negative")
    return threads


class _Progress:
    """A tqdm bar (the notebook one where it applies) fed by the native
    callback(done, total); nothing when disabled or without tqdm."""

    def __init__(self, enabled: bool, desc: str):
        self.bar = None
        self.last = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self.bar = tqdm(total=0, desc=desc, unit="file", leave=False)

    def __call__(self, done: int, total: int) -> None:
        if self.bar is not None and (done, total) != self.last:
            self.last = (done, total)
            if self.bar.total != total:
                self.bar.reset(total=total)
            self.bar.n = done
            self.bar.refresh()

    def callback(self):
        return self if self.bar is not None else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.close()


def _frame(columns: list, output: str):
    """A DataFrame from the native columns (name, kind, values, mask)."""
    if output == "pandas":
        import pandas as pd

        data = {}
        for name, kind, values, mask in columns:
            if kind == "int":
                data[name] = pd.arrays.IntegerArray(values, mask)
            elif kind == "bool":
                data[name] = pd.arrays.BooleanArray(values, mask)
            elif kind == "str":
                data[name] = pd.Series(values, dtype=object)
            elif kind == "points":
                data[name] = pd.Series(values, dtype=object)
            else:
                data[name] = values
        return pd.DataFrame(data)
    if output == "polars":
        import polars as pl

        series = []
        for name, kind, values, mask in columns:
            if kind in ("int", "bool"):
                s = pl.Series(name, values)
                if mask.any():
                    s = pl.select(
                        pl.when(pl.Series(mask)).then(None).otherwise(s).alias(name)
                    ).to_series()
            elif kind == "float":
                s = pl.Series(name, values, nan_to_null=True)
            elif kind == "points":
                s = pl.Series(name, [None if v is None else v.tolist() for v in values])
            else:
                s = pl.Series(name, values, dtype=pl.Utf8)
            series.append(s)
        return pl.DataFrame(series)
    raise ParameterError(f"invalid parameter `output`: `{output}` is not pandas or polars")


def _split_options(options: dict, parts: Sequence[str]) -> dict[str, dict]:
    """Sort keyword options into the recipe parts that take them; refuse the rest."""
    out: dict[str, dict] = {p: {} for p in parts}
    for key, value in options.items():
        for part in parts:
            if key in _OPTIONS[part]:
                out[part][key] = value
                break
        else:
            known = sorted(k for p in parts for k in _OPTIONS[p])
            raise TypeError(f"unknown option `{key}` (known: {', '.join(known)})")
    return out


def _recipe(data, dataset, split, classes, mirror, val_fraction, votes, stages, options, set_by=None):
    """What train and compare share, as the native side reads it: the recipe
    (JSON) and the detection options (a dict)."""
    parts = _split_options(options, ["detect", "network", "trees"])
    recipe = {
        "data": _paths(data),
        "dataset": _list(dataset),
        "split": _list(split),
        "classes": _list(classes),
        "stages": stages or {},
        "network": parts["network"],
        "trees": parts["trees"],
        "mirror": mirror,
        "val_fraction": val_fraction,
        "votes": os.fspath(votes) if votes is not None else None,
        "set_by": set_by,
    }
    return json.dumps(recipe), parts["detect"]


class Reader:
    """A model and its pipeline, reading the expression of every face.

    ``model`` is ``"default"`` (``"cnn-ferplus"``, our CNN of the FER+ votes),
    ``"fer-default"`` (the shipped feature model; both answer the same eight classes),
    ``"mini-xception"``, ``"faceapi-expression"``, ``"deep-ensemble"``,
    ``"deep-ensemble-fer"``, a path to a bundle from
    ``fer train``, a CNN from ``fer train-cnn``, an ONNX or ensemble sidecar, or a
    weighted ensemble ``"A@0.9+B@0.1"``. The other keyword arguments are the
    detection options of ``fer batch`` (``min_face`` is ``--min-face``, and so on;
    ``eyes=False`` is ``--no-eyes``, ``eye_finder="gradients"`` is
    ``--eye-finder gradients``); ``None`` keeps the model's own value.
    """

    def __init__(
        self,
        model: Any = "default",
        *,
        no_detect: bool = False,
        min_face: int | None = None,
        max_face: int | None = None,
        scale_factor: float | None = None,
        min_neighbors: int | None = None,
        detect_max_side: int | None = None,
        search: str | None = None,
        eyes: bool = True,
        eye_finder: str | None = None,
        max_pixels: int | None = None,
        device: str = "auto",
        fp16: bool = False,
        tta: str | None = None,
    ):
        detect = dict(
            no_detect=no_detect,
            min_face=min_face,
            max_face=max_face,
            scale_factor=scale_factor,
            min_neighbors=min_neighbors,
            detect_max_side=detect_max_side,
            search=search,
            eyes=eyes,
            eye_finder=eye_finder,
            max_pixels=max_pixels,
        )
        self.model = _model(model)
        self._native = _native.Reader(self.model, detect, device, fp16, tta)

    @property
    def classes(self) -> list[str]:
        """The model's classes, in the order of its probabilities."""
        return self._native.classes

    @property
    def pipeline(self) -> dict:
        """Every stage's settings, as the model has them with this reader's options."""
        return json.loads(self._native.pipeline)

    def read(self, image: Any, *, order: str = "bgr") -> list[dict]:
        """The faces of one image, largest first: a path, or a uint8 numpy array
        (height x width grey, or height x width x 3/4 colour in ``order``,
        ``"bgr"`` as cv2 gives or ``"rgb"``). Each face is a dict with ``box``
        (x, y, w, h), ``eyes_found``, ``label``, ``confidence``,
        ``probabilities`` (class -> p), ``landmarks`` (21 x 2 array, image
        coordinates) and ``times`` (stage -> milliseconds)."""
        if isinstance(image, (str, os.PathLike)):
            return self._native.read_path(os.fspath(image))
        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            raise ParameterError(
                f"invalid parameter `image`: expected a uint8 array, got {arr.dtype}"
            )
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        arr = np.ascontiguousarray(arr)
        if arr.ndim == 2:
            return self._native.read_grey(arr)
        if arr.ndim == 3:
            return self._native.read_colour(arr, order)
        raise ParameterError(
            f"invalid parameter `image`: expected 2 or 3 dimensions, got shape {arr.shape}"
        )

    def read_many(
        self,
        paths: Union[PathLike, Iterable[PathLike]],
        *,
        threads: int | None = None,
        landmarks: bool = False,
        every: int = 1,
        search_every: int | None = None,
        progress: bool = True,
        output: str = "pandas",
    ):
        """Every face of every image and video under ``paths`` (folders are
        searched recursively), read in parallel on ``threads`` threads (None:
        one per core) without holding the GIL. Returns a DataFrame (``output``:
        ``"pandas"`` or ``"polars"``) with the columns of ``fer batch``'s CSV, one
        row per face, per file without a face, and per file that failed (its
        ``error`` column says why), in input order. ``search_every`` is
        ``--search-every`` for videos (None: fer's default)."""
        native = [_paths(paths), _threads(threads), every, landmarks]
        with _Progress(progress, "fer_rs") as bar:
            if search_every is None:
                columns = self._native.read_many(*native, bar.callback())
            else:
                columns = self._native.read_many(*native, bar.callback(), search_every)
        return _frame(columns, output)

    def read_video(
        self,
        path: PathLike,
        *,
        every: int = 1,
        search_every: int | None = None,
        landmarks: bool = False,
        progress: bool = True,
        output: str = "pandas",
    ):
        """Every ``every``-th frame of a video, one row per face with its
        ``frame`` number and time ``t`` in seconds (see ``read_many``)."""
        return self.read_many(
            [path],
            threads=1,
            landmarks=landmarks,
            every=every,
            search_every=search_every,
            progress=progress,
            output=output,
        )


def imread(path: PathLike, *, colour: bool = False, max_pixels: int | None = None) -> np.ndarray:
    """Decode an image file as fer does: grey (height x width), or with
    ``colour`` BGR (height x width x 3), as uint8."""
    return _native.imread(os.fspath(path), colour, max_pixels)


def evaluate(
    data: Union[PathLike, Sequence[PathLike]],
    model: Any = "default",
    *,
    dataset: Union[None, str, Sequence[str]] = None,
    split: Union[None, str, Sequence[str]] = None,
    classes: Union[None, str, Sequence[str]] = None,
    threads: int | None = None,
    progress: bool = True,
    device: str = "auto",
    fp16: bool = False,
    tta: str | None = None,
    set_by: str | None = None,
    **detect: Any,
) -> dict:
    """A model's accuracy on labelled data (``fer eval --json``): folders of
    class folders or manifest CSVs, filtered by ``dataset``, ``split`` and
    ``classes``. Detection options as for ``Reader``. Returns the report as a dict
    (accuracy, macro_f1, confusion, per_class, ...). ``set_by="sequence"`` (or a
    manifest column) also scores whole sets of frames, under ``per_set``."""
    detect = _split_options(detect, ["detect"])["detect"]
    with _Progress(progress, "evaluate") as bar:
        text = _native.evaluate(
            _paths(data),
            _model(model),
            _list(dataset),
            _list(split),
            _list(classes),
            detect,
            device,
            fp16,
            tta,
            _threads(threads),
            bar.callback(),
            set_by,
        )
    return json.loads(text)


def train(
    data: Union[PathLike, Sequence[PathLike]],
    out: PathLike,
    model: str = "mlp",
    *,
    dataset: Union[None, str, Sequence[str]] = None,
    split: Union[None, str, Sequence[str]] = None,
    classes: Union[None, str, Sequence[str]] = None,
    mirror: bool = True,
    val_fraction: float = 0.1,
    votes: PathLike | None = None,
    stages: dict | None = None,
    threads: int | None = None,
    progress: bool = True,
    set_by: str | None = None,
    **options: Any,
) -> dict:
    """Train a model of kind ``model`` (see ``model_kinds``) and save its bundle
    at ``out`` (``fer train``). ``options`` are detection options (as for
    ``Reader``), network options (``hidden``, ``dropout``, ``learning_rate``,
    ``epochs``, ...) and tree options (``forest_trees``, ``depth``, ...);
    ``stages`` changes the pipeline, e.g. ``{"denoise": {"kernel": 5}}``.
    ``set_by="sequence"`` (or a manifest column) gives the set models
    (``set-max``, ``set-mean``, ``set-attention``) their sets of frames.
    Returns the bundle's header: kind, classes, pipeline and training record."""
    recipe, detect = _recipe(data, dataset, split, classes, mirror, val_fraction, votes, stages, options, set_by)
    with _Progress(progress, "train") as bar:
        text = _native.train(os.fspath(out), model, recipe, detect, _threads(threads), bar.callback())
    return json.loads(text)


def compare(
    data: Union[PathLike, Sequence[PathLike]],
    *,
    cv: int | None = None,
    test: Union[None, PathLike, Sequence[PathLike]] = None,
    test_split: Union[None, str, Sequence[str]] = None,
    models: Union[None, str, Sequence[str]] = None,
    deep: Union[None, str, Sequence[str]] = None,
    dataset: Union[None, str, Sequence[str]] = None,
    split: Union[None, str, Sequence[str]] = None,
    classes: Union[None, str, Sequence[str]] = None,
    mirror: bool = True,
    val_fraction: float = 0.1,
    votes: PathLike | None = None,
    stages: dict | None = None,
    device: str = "auto",
    fp16: bool = False,
    tta: str | None = None,
    threads: int | None = None,
    progress: bool = True,
    output: str = "pandas",
    cnn_epochs: int | None = None,
    set_by: str | None = None,
    **options: Any,
):
    """Model kinds side by side on the same folds (``fer compare``): ``cv=K``
    folds grouped by subject, or trained on ``data`` and tested on ``test``.
    ``deep`` adds pre-trained models as rows; ``cnn_epochs=N`` adds our CNN
    (``fer compare --cnn``), trained from scratch on every fold for N epochs.
    ``set_by="sequence"`` adds the set models and a ``set_accuracy`` column. Returns a DataFrame with one row
    per model (name, kind, accuracy, macro_f1, fold_accuracy, train_seconds,
    us_per_face, size_bytes); its ``attrs`` hold the protocol and the full
    reports (pandas only)."""
    recipe, detect = _recipe(data, dataset, split, classes, mirror, val_fraction, votes, stages, options, set_by)
    with _Progress(progress, "compare") as bar:
        text = _native.compare(
            recipe,
            cv,
            [] if test is None else _paths(test),
            _list(test_split),
            _list(models),
            [_model(d) for d in _list(deep)],
            detect,
            device,
            fp16,
            tta,
            _threads(threads),
            bar.callback(),
            cnn_epochs,
        )
    report = json.loads(text)
    rows = [{k: v for k, v in r.items() if k != "report"} for r in report["rows"]]
    if output == "polars":
        import polars as pl

        return pl.DataFrame(rows)
    import pandas as pd

    df = pd.DataFrame(rows)
    df.attrs["protocol"] = report["protocol"]
    df.attrs["reports"] = {r["name"]: r["report"] for r in report["rows"]}
    return df
