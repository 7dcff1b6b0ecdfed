"""Tests of `autoarch.export`: each format served in a fresh process, and safe paths."""

import os
import subprocess
import sys
import textwrap
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.lite.python import lite

from autoarch.darts import DARTS_V2, build_network
from autoarch.export import (
    EXPORT_FORMATS,
    check_export_path,
    export_keras,
    export_model,
    export_saved_model,
    export_tflite,
    read_keras_metadata,
)

# Keras's model.save under numpy 2 (as in test_network.py).
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SHAPE = (8, 8, 1)
METADATA = {"classes": list(range(10)), "genotype": DARTS_V2.to_json(), "score": 0.5}


def _run_fresh(code, *args, cwd):
    """Run ``code`` in a new Python process; fail with its stderr if it fails."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip().endswith("ok"), result.stdout[-2000:]


def _snapshot(path):
    """Every file under ``path`` (or ``path`` itself) mapped to its bytes."""
    if os.path.isfile(path):
        with open(path, "rb") as file:
            return {"": file.read()}
    contents = {}
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            with open(full, "rb") as file:
                contents[os.path.relpath(full, path)] = file.read()
    return contents


@pytest.fixture(scope="module")
def model():
    """A small classifier on raw 0..255 pixels with non-trivial batch-norm statistics."""
    keras.utils.set_random_seed(0)
    inner = build_network(DARTS_V2, SHAPE, 10, init_channels=4, layers=3, seed=0)
    inputs = keras.Input(SHAPE)
    normalized = keras.layers.Normalization(mean=127.5, variance=64.0**2)(inputs)
    model = keras.Model(inputs, inner(normalized))
    # Random batch-norm statistics stand in for training: inference must use them.
    rng = np.random.default_rng(0)
    for variable in model.variables:
        low, high = {
            "gamma": (0.5, 1.5),
            "beta": (-0.5, 0.5),
            "moving_mean": (-0.5, 0.5),
            "moving_variance": (0.5, 2.0),
        }.get(variable.name, (None, None))
        if low is not None:
            variable.assign(rng.uniform(low, high, variable.shape).astype("float32"))
    return model


@pytest.fixture(scope="module")
def data(model, tmp_path_factory):
    """Float and uint8 images saved as .npy, with ``model.predict`` on each."""
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 255, (6, *SHAPE)).astype("float32")
    images_uint8 = rng.integers(0, 256, (6, *SHAPE)).astype("uint8")
    directory = tmp_path_factory.mktemp("data")
    arrays = {
        "images": images,
        "images_uint8": images_uint8,
        "expected": model.predict(images, verbose=0),
        "expected_uint8": model.predict(images_uint8.astype("float32"), verbose=0),
    }
    for name, array in arrays.items():
        np.save(directory / f"{name}.npy", array)
    return directory, arrays


@pytest.fixture(scope="module")
def exports(model, tmp_path_factory):
    """One export of each format, written through `export_model`."""
    directory = tmp_path_factory.mktemp("exports")
    paths = {
        "saved_model": directory / "model",
        "keras": directory / "model.keras",
        "tflite": directory / "model.tflite",
    }
    for format, path in paths.items():
        metadata = METADATA if format == "keras" else None
        assert export_model(model, path, format=format, metadata=metadata) == str(path)
    return directory, paths


def test_every_format_is_written_with_nothing_left_behind(exports):
    directory, paths = exports
    assert EXPORT_FORMATS == ("saved_model", "keras", "tflite")
    assert (paths["saved_model"] / "saved_model.pb").is_file()
    assert (paths["saved_model"] / "variables").is_dir()
    assert zipfile.is_zipfile(paths["keras"])
    assert paths["tflite"].read_bytes()[4:8] == b"TFL3"
    assert sorted(os.listdir(directory)) == ["model", "model.keras", "model.tflite"]


def test_saved_model_serves_in_a_process_without_autoarch(exports, data):
    _, paths = exports
    data_dir, _ = data
    code = """
        import sys
        import numpy as np
        import tensorflow as tf

        path, data = sys.argv[1], sys.argv[2]
        images = np.load(f"{data}/images.npy")
        images_uint8 = np.load(f"{data}/images_uint8.npy")
        expected = np.load(f"{data}/expected.npy")
        expected_uint8 = np.load(f"{data}/expected_uint8.npy")
        loaded = tf.saved_model.load(path)
        assert set(loaded.signatures) == {"serve", "serving_default", "serve_uint8"}

        def check(outputs, want):
            np.testing.assert_allclose(np.asarray(outputs), want, atol=1e-5)

        default = loaded.signatures["serving_default"](images=tf.constant(images))
        check(default["output_0"], expected)
        check(loaded.signatures["serve"](images=tf.constant(images))["output_0"], expected)
        check(loaded.serve(tf.constant(images)), expected)
        check(loaded.serve(tf.constant(images[:1])), expected[:1])
        check(loaded.serve_uint8(tf.constant(images_uint8)), expected_uint8)
        uint8 = loaded.signatures["serve_uint8"](images=tf.constant(images_uint8))
        check(uint8["output_0"], expected_uint8)
        assert "autoarch" not in sys.modules
        print("ok")
    """
    _run_fresh(code, paths["saved_model"], data_dir, cwd=data_dir)


def test_keras_file_loads_after_import_autoarch(exports, data):
    _, paths = exports
    data_dir, _ = data
    code = """
        import sys
        import numpy as np
        import autoarch  # noqa: F401  (registers the custom layers)
        import keras

        path, data = sys.argv[1], sys.argv[2]
        model = keras.saving.load_model(path)
        predictions = model.predict(np.load(f"{data}/images.npy"), verbose=0)
        np.testing.assert_allclose(predictions, np.load(f"{data}/expected.npy"), atol=1e-5)
        print("ok")
    """
    _run_fresh(code, paths["keras"], data_dir, cwd=data_dir)
    assert read_keras_metadata(paths["keras"]) == METADATA


def test_keras_metadata_is_none_when_not_given(model, tmp_path):
    path = export_keras(model, tmp_path / "plain.keras")
    assert read_keras_metadata(path) is None
    with pytest.raises(ValueError, match="not a .keras archive"):
        read_keras_metadata(__file__)


def test_tflite_runs_under_the_interpreter(exports, data):
    _, paths = exports
    data_dir, _ = data
    code = """
        import sys
        import warnings
        import numpy as np
        import tensorflow as tf

        path, data = sys.argv[1], sys.argv[2]
        images = np.load(f"{data}/images.npy")
        expected = np.load(f"{data}/expected.npy")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's move to LiteRT
            interpreter = tf.lite.Interpreter(model_path=path)
        runner = interpreter.get_signature_runner("serving_default")
        outputs = runner(images=images)
        np.testing.assert_allclose(outputs["output_0"], expected, atol=1e-4)
        np.testing.assert_allclose(runner(images=images[:1])["output_0"], expected[:1], atol=1e-4)
        assert "autoarch" not in sys.modules
        print("ok")
    """
    _run_fresh(code, paths["tflite"], data_dir, cwd=data_dir)


@pytest.mark.parametrize(
    "format, name", [("saved_model", "model"), ("keras", "m.keras"), ("tflite", "m.tflite")]
)
def test_existing_path_is_kept_without_overwrite(model, tmp_path, format, name):
    path = tmp_path / name
    if format == "saved_model":
        path.mkdir()
        (path / "saved_model.pb").write_bytes(b"user data")
    else:
        path.write_bytes(b"user data")
    before = _snapshot(path)
    with pytest.raises(FileExistsError, match=name):
        export_model(model, path, format=format)
    assert _snapshot(path) == before
    assert os.listdir(tmp_path) == [name]


def test_overwrite_replaces_a_file(model, tmp_path):
    path = tmp_path / "m.keras"
    path.write_bytes(b"old")
    export_keras(model, path, metadata={"version": 2}, overwrite=True)
    assert read_keras_metadata(path) == {"version": 2}
    assert os.listdir(tmp_path) == ["m.keras"]


def test_overwrite_replaces_a_directory(model, tmp_path):
    path = tmp_path / "model"
    path.mkdir()
    (path / "old.txt").write_text("old")
    export_saved_model(model, path, overwrite=True)
    assert not (path / "old.txt").exists()
    assert (path / "saved_model.pb").is_file()
    assert os.listdir(tmp_path) == ["model"]


def test_failed_export_leaves_the_existing_file(model, tmp_path, monkeypatch):
    path = tmp_path / "m.keras"
    path.write_bytes(b"user data")

    def failing_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as file:
            file.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        export_keras(model, path, overwrite=True)
    assert path.read_bytes() == b"user data"
    assert os.listdir(tmp_path) == ["m.keras"]


def test_failed_saved_model_export_leaves_no_partial_folder_and_keeps_the_previous(model, tmp_path, monkeypatch):
    """Issue 17, item 9: the SavedModel writer fails half way; the earlier export is intact."""
    path = tmp_path / "model"
    export_saved_model(model, path)
    before = sorted(str(p.relative_to(path)) for p in path.rglob("*"))

    def failing_write_out(self, filepath, *args, **kwargs):
        os.makedirs(filepath)
        with open(os.path.join(filepath, "saved_model.pb"), "wb") as file:
            file.write(b"half")
        raise OSError("disk full")

    # ExportArchive() makes the backend's class, on which the writer is looked up.
    monkeypatch.setattr(type(keras.export.ExportArchive()), "write_out", failing_write_out)
    with pytest.raises(OSError, match="disk full"):
        export_saved_model(model, path, overwrite=True)
    assert os.listdir(tmp_path) == ["model"]  # no staging folder left beside it
    assert sorted(str(p.relative_to(path)) for p in path.rglob("*")) == before
    assert tf.saved_model.load(str(path)).signatures["serving_default"] is not None


def test_failed_tflite_export_leaves_no_partial_file_and_keeps_the_previous(model, tmp_path, monkeypatch):
    """Issue 17, item 9: the TFLite conversion fails; the earlier file is intact, nothing else is left."""
    path = tmp_path / "model.tflite"
    export_tflite(model, path)
    before = path.read_bytes()

    def failing_convert(self):
        raise RuntimeError("converter crashed")

    # The class from_saved_model returns, whose convert runs the conversion.
    monkeypatch.setattr(lite.TFLiteSavedModelConverterV2, "convert", failing_convert)
    with pytest.raises(RuntimeError, match="converter crashed"):
        export_tflite(model, path, overwrite=True)
    assert os.listdir(tmp_path) == ["model.tflite"]
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "name, format, error, match",
    [
        ("model", "onnx", ValueError, "saved_model.*keras.*tflite"),
        ("model.h5", "keras", ValueError, r"ending with '\.keras'"),
        ("model.keras", "tflite", ValueError, r"ending with '\.tflite'"),
        ("missing/model", "saved_model", FileNotFoundError, "does not exist"),
        ("missing/model.keras", "keras", FileNotFoundError, "does not exist"),
    ],
)
def test_bad_paths_raise_before_anything_is_written(model, tmp_path, name, format, error, match):
    with pytest.raises(error, match=match):
        check_export_path(tmp_path / name, format)
    with pytest.raises(error, match=match):
        export_model(model, tmp_path / name, format=format)
    assert os.listdir(tmp_path) == []


def test_bad_metadata_raises_before_anything_is_written(model, tmp_path):
    with pytest.raises(TypeError):
        export_keras(model, tmp_path / "m.keras", metadata={"bad": object()})
    with pytest.raises(TypeError, match="dict"):
        export_keras(model, tmp_path / "m.keras", metadata=["not", "a", "dict"])
    with pytest.raises(ValueError, match="format='keras'"):
        export_model(model, tmp_path / "model", format="saved_model", metadata={"a": 1})
    assert os.listdir(tmp_path) == []


def test_check_export_path_returns_a_string(tmp_path):
    assert check_export_path(tmp_path / "m.tflite", "tflite") == str(tmp_path / "m.tflite")
    (tmp_path / "m.tflite").write_bytes(b"x")
    assert check_export_path(tmp_path / "m.tflite", "tflite", overwrite=True)

