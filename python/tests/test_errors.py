"""Errors are Python exceptions of fer_rs's classes, naming the file and the reason."""

import pytest

import fer_rs


def test_exception_classes_share_a_base():
    for cls in (fer_rs.ImageError, fer_rs.ModelError, fer_rs.DatasetError, fer_rs.ParameterError, fer_rs.TrainingError):
        assert issubclass(cls, fer_rs.FerError)
    assert issubclass(fer_rs.FerError, Exception)


def test_a_missing_model_names_its_file(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(fer_rs.ModelError, match="nope.safetensors"):
        fer_rs.Reader(missing)


def test_a_corrupt_model_is_refused(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(fer_rs.ModelError, match="bad.safetensors"):
        fer_rs.Reader(bad)


def test_bad_images_name_the_file_and_the_reason(reader, tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(fer_rs.ImageError, match=r"empty\.jpg.*empty file"):
        reader.read(empty)
    text = tmp_path / "text.png"
    text.write_text("hello")
    with pytest.raises(fer_rs.ImageError, match=r"text\.png.*not a recognised image format"):
        reader.read(text)
    with pytest.raises(fer_rs.ImageError, match="missing.png"):
        reader.read(tmp_path / "missing.png")


def test_the_pixel_limit_is_a_too_large_image_error(reader, repo):
    small = fer_rs.Reader(max_pixels=1000)
    with pytest.raises(fer_rs.ImageError, match="over the limit of 1000 pixels"):
        small.read(repo / "data" / "justin.jpg")


def test_out_of_range_options_are_parameter_errors():
    with pytest.raises(fer_rs.ParameterError, match="min_size|min_face"):
        fer_rs.Reader(min_face=-3)
    with pytest.raises(fer_rs.ParameterError, match="search"):
        fer_rs.Reader(search="sideways")
    with pytest.raises(fer_rs.FerError):
        fer_rs.Reader(device="tpu")
    with pytest.raises(fer_rs.ParameterError, match="threads"):
        fer_rs.Reader().read_many([], threads=-1)


def test_unknown_options_are_type_errors_that_list_the_known_ones(tmp_path):
    with pytest.raises(TypeError, match="epoks.*epochs"):
        fer_rs.train(tmp_path, tmp_path / "m.safetensors", epoks=3)
    with pytest.raises(TypeError):
        fer_rs.Reader(min_fac=3)
    with pytest.raises(TypeError, match="denoise.kernal"):
        fer_rs.train(tmp_path, tmp_path / "m.safetensors", stages={"denoise": {"kernal": 5}})


def test_unusable_data_is_a_dataset_error(tmp_path):
    with pytest.raises(fer_rs.DatasetError, match="nothing.txt"):
        fer_rs.evaluate(tmp_path / "nothing.txt", progress=False)


def test_imread_errors(tmp_path, repo):
    with pytest.raises(fer_rs.ImageError, match="missing.png"):
        fer_rs.imread(tmp_path / "missing.png")
    with pytest.raises(fer_rs.ParameterError, match="max_pixels"):
        fer_rs.imread(repo / "data" / "justin.jpg", max_pixels=0)
    with pytest.raises(fer_rs.ParameterError, match="at least one file"):
        fer_rs.Reader().read_many([], progress=False)
