"""Reader.read on one image: paths and numpy arrays give the same faces."""

import numpy as np
import pytest

import fer_rs


def same_faces(a, b):
    assert len(a) == len(b)
    for fa, fb in zip(a, b):
        assert fa["box"] == fb["box"]
        assert fa["label"] == fb["label"]
        assert fa["probabilities"] == fb["probabilities"]
        np.testing.assert_array_equal(fa["landmarks"], fb["landmarks"])


def test_a_face_has_every_field(reader, repo):
    faces = reader.read(repo / "data" / "justin.jpg")
    assert len(faces) == 1
    face = faces[0]
    assert set(face) == {"box", "eyes_found", "label", "confidence", "probabilities", "landmarks", "times"}
    assert list(face["probabilities"]) == reader.classes
    assert face["label"] == max(face["probabilities"], key=face["probabilities"].get)
    assert abs(sum(face["probabilities"].values()) - 1) < 1e-4
    assert face["landmarks"].shape == (21, 2)
    x, y, w, h = face["box"]
    assert w > 50 and h > 50
    assert list(face["times"]) == ["decode", "denoise", "detect", "align", "clahe", "landmarks", "features", "classify"]


def test_grey_bgr_and_rgb_arrays_read_as_the_file(reader, repo):
    path = repo / "data" / "justin.jpg"
    from_file = reader.read(str(path))
    grey = fer_rs.imread(path)
    bgr = fer_rs.imread(path, colour=True)
    assert grey.ndim == 2 and bgr.shape == grey.shape + (3,) and bgr.dtype == np.uint8
    same_faces(reader.read(grey), from_file)
    same_faces(reader.read(bgr), from_file)
    same_faces(reader.read(bgr[:, :, ::-1], order="rgb"), from_file)
    bgra = np.dstack([bgr, np.full(grey.shape, 255, np.uint8)])
    same_faces(reader.read(bgra), from_file)


def test_an_image_without_a_face_has_no_faces(reader, repo):
    assert reader.read(repo / "data" / "no-faces.jpg") == []


def test_arrays_that_are_not_images_are_refused(reader):
    with pytest.raises(fer_rs.ParameterError, match="uint8"):
        reader.read(np.zeros((10, 10), np.float32))
    with pytest.raises(fer_rs.ParameterError, match="dimensions"):
        reader.read(np.zeros((2, 2, 2, 2), np.uint8))
    with pytest.raises(fer_rs.ParameterError, match="channels"):
        reader.read(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(fer_rs.ParameterError, match="bgr or rgb"):
        reader.read(np.zeros((10, 10, 3), np.uint8), order="hsv")


def test_options_reach_the_pipeline(repo):
    r = fer_rs.Reader(min_face=50, eyes=False, search="full")
    p = r.pipeline
    assert p["detect"]["min_size"] == 50 and p["detect"]["eyes"] is False
    # A whole image read as one face.
    faces = fer_rs.Reader(no_detect=True).read(repo / "data" / "no-faces.jpg")
    assert len(faces) == 1


def test_shipped_deep_models_load_from_the_package(repo):
    for name in ("mini-xception", "faceapi-expression", "deep-ensemble", "deep-ensemble-fer", "cnn-ferplus", "fer-default"):
        r = fer_rs.Reader(name, device="cpu")
        assert fer_rs.shipped_models()[name].startswith(str(fer_rs._MODELS_DIR))
        faces = r.read(repo / "data" / "justin.jpg")
        assert faces and faces[0]["label"] in r.classes


def test_the_default_is_the_ferplus_cnn_and_the_feature_model_keeps_a_name(reader, repo):
    # The default model reads the face box, so it skips the eye search.
    face = reader.read(repo / "data" / "justin.jpg")[0]
    assert face["label"] == "happy" and face["eyes_found"] is False
    assert fer_rs.shipped_models()["default"] == fer_rs.shipped_models()["cnn-ferplus"]
    features = fer_rs.Reader("fer-default").read(repo / "data" / "justin.jpg")[0]
    assert features["eyes_found"] is True and features["box"] == face["box"]
