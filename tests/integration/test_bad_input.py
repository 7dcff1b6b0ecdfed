"""Bad input is refused before any work and before anything is written.

Every refusal is a ValueError that says what was expected and what came; the
project folder is not created, and an existing one (a real, tiny fit made once
for this module) is left byte for byte and mtime for mtime as it was.
"""

import os
import re
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf
from .conftest import TINY_SPACE, tiny_space
from sklearn.exceptions import NotFittedError

from autoarch import ImageClassifier, ImageRegressor
from autoarch.darts import DARTS_V2
from autoarch.latency import LatencyTable

pytestmark = pytest.mark.slow


def snapshot(root):
    """Every folder and file under ``root``: relative path -> mtime, and bytes for files."""
    found = {}
    for folder, _, files in os.walk(root):
        found[os.path.relpath(folder, root) + os.sep] = os.stat(folder).st_mtime_ns
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as file:
                found[os.path.relpath(path, root)] = (file.read(), os.stat(path).st_mtime_ns)
    return found


def assert_unchanged(before, after):
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert not changed, f"the failing call changed these paths: {changed}"


def upsample(x):
    """Each pixel twice in height and width: 8x8 digits become 16x16."""
    return np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)


def params(**changes):
    return {"project_name": "p", "search_space": TINY_SPACE, "verbose": 0, **changes}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, digits_uint8):
    """A real project: one trial of the fixed DARTS_V2 genotype on 600 8x8 digits."""
    base = tmp_path_factory.mktemp("fitted")
    directory = base / "projects"
    x, y = digits_uint8[:2]
    estimator = ImageClassifier(
        max_trials=1,
        directory=directory,
        project_name="p",
        search_space=TINY_SPACE,
        genotype=DARTS_V2,
        seed=0,
        verbose=0,
    ).fit(x, y)
    assert (directory / "p" / "autoarch.json").is_file()
    return SimpleNamespace(estimator=estimator, base=base, directory=directory, x=x, y=y)


# ------------------------------------------------------------------ the cases


def _scarce(d):
    y = d.y.copy()
    y[np.flatnonzero(y == 9)[2:]] = 8  # class 9 keeps 2 samples
    return (d.x, y), {}


def _one_class(d):
    return (d.x, np.zeros_like(d.y)), {}


def _nan_pixels(d):
    x = d.x.astype(np.float32)
    x[3, 4, 5] = np.nan
    return (x, d.y), {}


def _inf_pixels(d):
    x = d.x.astype(np.float64)
    x[7, 0, 0] = -np.inf
    x[9, 1, 1] = np.inf
    return (x, d.y), {}


def _mixed_shapes(d):
    images = list(d.x)
    images[5] = upsample(d.x[5:6])[0]
    return (images, d.y), {}


def _dataset_and_y(d):
    return (tf.data.Dataset.from_tensor_slices((d.x, d.y)), d.y), {}


def _dataset_without_labels(d):
    return (tf.data.Dataset.from_tensor_slices(d.x),), {}


def _dataset_of_one_class(d):
    return (tf.data.Dataset.from_tensor_slices((d.x, np.ones_like(d.y))).batch(32),), {}


def _missing_folder(d):
    return (str(d.tmp / "nowhere"),), {}


def _folder_without_images(d):
    (d.tmp / "folder" / "a").mkdir(parents=True)
    (d.tmp / "folder" / "a" / "notes.txt").write_text("not an image")
    return (str(d.tmp / "folder"),), {}


def _folder_and_y(d):
    (d.tmp / "folder" / "a").mkdir(parents=True)
    return (str(d.tmp / "folder"), d.y), {}


def _validation_other_shape(d):
    return (d.x, d.y), {"validation_data": (upsample(d.x[:50]), d.y[:50])}


C, R = ImageClassifier, ImageRegressor


def case(cls, fit, match, id, **changes):
    return pytest.param(cls, changes, fit, match, id=id)


def data(d):
    return (d.x, d.y), {}


def targets(d):
    return (d.x, d.y.astype(np.float64)), {}


CASES = [
    # x/y length mismatch
    case(C, lambda d: ((d.x, d.y[:-1]), {}), r"y: expected one label per image \(600\), got 599 labels", "length"),
    case(C, lambda d: ((d.x[:-2], d.y), {}), r"y: expected one label per image \(598\), got 600 labels", "length-x"),
    case(R, lambda d: ((d.x, d.y[:-1].astype(float)), {}), r"y: expected one target per image \(600\), got 599", "length-regressor"),
    # empty data
    case(C, lambda d: ((np.zeros((0, 8, 8), np.uint8), np.zeros(0)), {}), r"x: expected at least one image, got none \(shape \(0, 8, 8\)\)", "empty"),
    case(C, lambda d: ((d.x, []), {}), r"y: expected one label per image, got none", "empty-y"),
    # NaN or inf pixels
    case(C, _nan_pixels, r"x: pixels must be finite, found 1 NaN or infinite values \(first in image 3\)", "nan-pixels"),
    case(C, _inf_pixels, r"x: pixels must be finite, found 2 NaN or infinite values \(first in image 7\)", "inf-pixels"),
    case(R, lambda d: ((_nan_pixels(d)[0][0], d.y.astype(float)), {}), r"pixels must be finite, found 1 NaN", "nan-pixels-regressor"),
    # wrong number of dimensions
    case(C, lambda d: ((d.x.reshape(600, 64), d.y), {}), r"expected images of shape \(n, height, width\) or \(n, height, width, channels\), got an array of shape \(600, 64\)", "2-d"),
    case(C, lambda d: ((d.x[..., None, None], d.y), {}), r"expected images of shape \(n, height, width\) .*got an array of shape \(600, 8, 8, 1, 1\)", "5-d"),
    case(C, lambda d: ((d.x, d.y[:, None, None]), {}), r"y: expected a 1-D array of labels or a 2-D one-hot matrix, got shape \(600, 1, 1\)", "3-d-labels"),
    # fewer than 2 classes
    case(C, _one_class, r"y: expected at least 2 classes, got 1", "one-class"),
    case(C, _dataset_of_one_class, r"expected at least 2 classes, got 1", "one-class-dataset"),
    # a class with too few samples for the split
    case(C, _scarce, r"every class needs at least 3 samples .*1 of the 10 classes have fewer: \{9: 2\}", "scarce-class"),
    # non-numeric pixels
    case(C, lambda d: ((d.x.astype(str), d.y), {}), r"x: pixels must be integers or floats \(uint8 or float images\), got dtype <U3", "string-pixels"),
    case(C, lambda d: ((d.x > 100, d.y), {}), r"pixels must be integers or floats .*got dtype bool", "bool-pixels"),
    case(C, lambda d: ((d.x.astype(object), d.y), {}), r"pixels must be integers or floats .*got dtype object", "object-pixels"),
    case(C, lambda d: ((d.x.astype(np.complex64), d.y), {}), r"pixels must be integers or floats .*got dtype complex64", "complex-pixels"),
    # images smaller than 8x8, more than 4 channels
    case(C, lambda d: ((d.x[:, :7], d.y), {}), r"x: images must be at least 8x8 pixels, got 7x8", "7x8"),
    case(C, lambda d: ((d.x[:, :, :6], d.y), {}), r"images must be at least 8x8 pixels, got 8x6", "8x6"),
    case(C, lambda d: ((np.repeat(d.x[..., None], 5, axis=-1), d.y), {}), r"images must have 1 to 4 channels, got 5 \(shape \(600, 8, 8, 5\)", "5-channels"),
    # max_trials < 1
    case(C, data, r"max_trials must be an integer >= 1, got 0", "max-trials-0", max_trials=0),
    case(C, data, r"max_trials must be an integer >= 1, got -3", "max-trials-negative", max_trials=-3),
    case(C, data, r"max_trials must be an integer >= 1, got 2.5", "max-trials-float", max_trials=2.5),
    case(C, data, r"max_trials must be an integer >= 1, got True", "max-trials-bool", max_trials=True),
    # unknown tuner, unknown objective
    case(C, data, r"tuner must be one of 'random', 'bayesian', 'hyperband', 'evolution' or a keras_tuner.Oracle, got 'grid'", "tuner", tuner="grid"),
    case(C, data, r"objective must be one of val_accuracy, val_loss, got 'val_mae'", "objective", objective="val_mae"),
    case(R, targets, r"objective must be one of val_loss, val_r2, got 'val_accuracy'", "objective-regressor", objective="val_accuracy"),
    case(C, data, r"objective must be a metric name or keras_tuner.Objective, got 3", "objective-type", objective=3),
    # search_space
    case(C, data, r"search_space: unknown setting 'channels'; the settings are .*init_channels.*'primitives'", "space-key", search_space=tiny_space(channels=4)),
    case(C, data, r"search_space must be a dict or None, got list", "space-type", search_space=[("cells", 3)]),
    case(C, data, r"search_space\['learning_rate'\]: a range is a \(min, max\) tuple with min < max, got \(0.1, 0.01\)", "space-range", search_space=tiny_space(learning_rate=(0.1, 0.01))),
    case(C, data, r"unknown operation\(s\) \['bogus'\]; expected names from", "space-primitives", search_space=tiny_space(primitives=["bogus"])),
    # other arguments
    case(C, data, r"time_limit must be a number of seconds > 0 or None, got 0", "time-limit", time_limit=0),
    case(C, data, r"max_model_size must be a parameter count >= 1 or None, got 0", "max-model-size", max_model_size=0),
    case(C, data, r"max_flops must be a number of multiply-adds >= 1 or None, got -5", "max-flops", max_flops=-5),
    case(C, data, r"max_latency_ms must be a number of milliseconds > 0 or None, got 0", "max-latency-0", max_latency_ms=0),
    case(C, data, r"max_latency_ms must be a number of milliseconds > 0 or None, got -1.5", "max-latency-negative", max_latency_ms=-1.5),
    case(C, data, r"max_latency_ms must be a number of milliseconds > 0 or None, got nan", "max-latency-nan", max_latency_ms=float("nan")),
    case(C, data, r"max_latency_ms must be a number of milliseconds > 0 or None, got '2'", "max-latency-string", max_latency_ms="2"),
    case(C, data, r"latency_target must be one of 'tflite-cpu' or a LatencyTable, got 'gpu'", "latency-target", max_latency_ms=1.0, latency_target="gpu"),
    case(C, data, r"latency_weight must be a number > 0 or None, got 0", "latency-weight", max_latency_ms=1.0, latency_weight=0),
    case(C, data, r"the latency table lacks \d+ operation entries and 1 network sizes that this search may use, for example \w+ on 4 channels at 8x8",
         "latency-table-incomplete", max_latency_ms=1.0, latency_target=LatencyTable(fingerprint={"target": "a phone"})),
    case(C, data, r"verbose must be 0, 1 or 2, got 3", "verbose", verbose=3),
    case(C, data, r"genotype must be a Genotype or its JSON, got dict", "genotype", genotype={"normal": []}),
    # validation_split and validation_data
    case(C, lambda d: ((d.x, d.y), {"validation_split": 0}), r"validation_split must be in \(0, 0.5\], got 0\b", "split-0"),
    case(C, lambda d: ((d.x, d.y), {"validation_split": 0.9}), r"validation_split must be in \(0, 0.5\], got 0.9", "split-0.9"),
    case(C, lambda d: ((d.x, d.y), {"validation_split": -0.1}), r"validation_split must be in \(0, 0.5\], got -0.1", "split-negative"),
    case(C, lambda d: ((d.x, d.y), {"validation_split": "0.2"}), r"validation_split must be in \(0, 0.5\], got '0.2'", "split-string"),
    case(C, _validation_other_shape, r"validation_data: expected images of shape \(8, 8, 1\) as in x, got \(16, 16, 1\)", "validation-shape"),
    case(C, lambda d: ((d.x, d.y), {"validation_data": (d.x[:50], d.y[:49])}), r"validation_data.*expected one label per image \(50\), got 49", "validation-length"),
    case(C, lambda d: ((d.x, d.y), {"validation_data": d.x[:50]}), r"validation_data must be \(x_val, y_val\) or a tf.data.Dataset", "validation-form"),
    # images of different shapes in a list
    case(C, _mixed_shapes, r"x: all images must have the same shape, got shapes \[\(8, 8\), \(16, 16\)\]", "mixed-shapes"),
    # datasets
    case(C, _dataset_and_y, r"x is a tf.data.Dataset, which must yield \(image, label\) pairs: y must be None", "dataset-and-y"),
    case(C, _dataset_without_labels, r"x: a tf.data.Dataset must yield \(image, label\) pairs, got elements", "dataset-without-labels"),
    case(C, lambda d: ((d.x,), {}), r"y is missing: expected one label per image of x", "no-y"),
    # folders
    case(C, _missing_folder, r"expected an image folder with one subfolder per class, got '.*nowhere'", "missing-folder"),
    case(C, _folder_without_images, r"'.*folder' holds no images: expected one subfolder per class with image files", "folder-without-images"),
    case(C, _folder_and_y, r"x is an image folder, whose subfolders are the labels: y must be None", "folder-and-y"),
    # regression targets
    case(R, lambda d: ((d.x, d.y.astype(str)), {}), r"y: regression targets must be numbers, got dtype <U\d+", "string-targets"),
    case(R, lambda d: ((d.x, np.where(d.y == 3, np.nan, d.y)), {}), r"y: regression targets must be finite, found NaN or infinite values", "nan-targets"),
    case(R, lambda d: ((d.x, np.where(d.y == 3, np.inf, d.y)), {}), r"regression targets must be finite", "inf-targets"),
    case(R, lambda d: ((d.x, d.y.astype(float)[:, None, None]), {}), r"y: expected a 1-D or 2-D array of targets, got shape \(600, 1, 1\)", "3-d-targets"),
    case(R, lambda d: ((d.x, np.array([None] * 600)), {}), r"regression targets must be numbers, got dtype object", "none-targets"),
    # classification labels
    case(C, lambda d: ((d.x, np.where(d.y == 3, np.nan, d.y)), {}), r"y: labels must not be NaN, found \d+", "nan-labels"),
    case(C, lambda d: ((d.x, np.where(d.y == 3, None, d.y).astype(object)), {}), r"y: labels must not be missing \(None\)", "none-labels"),
]


def _run(cls, changes, fit, match, directory, tmp_path, digits_uint8, **extra):
    x, y = digits_uint8[:2]
    (args, kwargs) = fit(SimpleNamespace(x=x, y=y, tmp=tmp_path / "inputs"))
    estimator = cls(**{**params(directory=directory), **extra, **changes})
    with pytest.raises(ValueError, match=match):
        estimator.fit(*args, **kwargs)
    assert not hasattr(estimator, "model_")
    return estimator


@pytest.fixture
def workdir(tmp_path):
    """A temporary folder whose inputs/ holds files a case writes (folders of images)."""
    (tmp_path / "inputs").mkdir()
    return tmp_path


@pytest.mark.parametrize("cls, changes, fit, match", CASES)
def test_bad_input_is_refused_and_no_project_is_created(cls, changes, fit, match, workdir, digits_uint8):
    tmp_path = workdir
    _run(cls, changes, fit, match, tmp_path / "projects", tmp_path, digits_uint8)
    assert not (tmp_path / "projects").exists()
    assert sorted(os.listdir(tmp_path)) == ["inputs"]


@pytest.mark.parametrize("overwrite", [False, True], ids=["resume", "overwrite"])
@pytest.mark.parametrize("cls, changes, fit, match", CASES)
def test_bad_input_leaves_an_existing_project_untouched(cls, changes, fit, match, overwrite, fitted, workdir, digits_uint8):
    before = snapshot(fitted.base)
    _run(cls, changes, fit, match, fitted.directory, workdir, digits_uint8, overwrite=overwrite)
    assert_unchanged(before, snapshot(fitted.base))


# ------------------------------------------------------------------ clearer messages


def test_a_scarce_class_is_named_as_the_user_named_it(workdir, digits_uint8):
    # The user's classes are strings; the message must not name encoded indices.
    x, y = digits_uint8[:2]
    names = np.array(["bird", "cat", "dog"])[y % 3]
    names[np.flatnonzero(names == "bird")[2:]] = "cat"  # "bird" keeps 2 samples
    with pytest.raises(ValueError, match=r"at least 3 samples .*fewer: \{'bird': 2\}"):
        ImageClassifier(**params(directory=workdir / "projects")).fit(x, names)
    assert not (workdir / "projects").exists()


def test_too_few_samples_for_a_regressor_names_the_minimum(workdir, digits_uint8):
    x, _ = digits_uint8[:2]
    with pytest.raises(ValueError) as raised:
        ImageRegressor(**params(directory=workdir / "projects")).fit(x[:2], [0.0, 1.0])
    message = str(raised.value)
    assert "2" in message and "3" in message, f"the message names no minimum: {message!r}"
    assert not (workdir / "projects").exists()


@pytest.mark.parametrize(
    "setting, value",
    [("batch_size", "big"), ("learning_rate", "fast"), ("train_epochs", 0)],
)
def test_a_search_space_value_that_cannot_work_is_refused_before_writing(workdir, digits_uint8, setting, value):
    # Only in a fresh folder: if it is not refused, the fit runs (and would
    # resume or overwrite the module's fitted project).
    x, y = digits_uint8[:2]
    estimator = ImageClassifier(
        **params(directory=workdir / "projects", search_space=tiny_space(**{setting: value}), genotype=DARTS_V2, max_trials=1)
    )
    with pytest.raises(ValueError, match=rf"search_space\['{setting}'\].*{value!r}"):
        estimator.fit(x, y)
    assert not (workdir / "projects").exists()


def test_a_directory_that_is_a_file_is_refused(workdir, digits_uint8):
    x, y = digits_uint8[:2]
    (workdir / "projects").write_text("a file")
    with pytest.raises(ValueError, match=r"projects"):
        ImageClassifier(**params(directory=workdir / "projects")).fit(x, y)
    assert (workdir / "projects").read_text() == "a file"


# ------------------------------------------------------------------ the project was made for something else


def _refused_on_the_fitted_project(fitted, cls, x, y, match, overwrite=False):
    before = snapshot(fitted.base)
    estimator = cls(**params(directory=fitted.directory, overwrite=overwrite))
    with pytest.raises(ValueError, match=match) as raised:
        estimator.fit(x, y)
    assert "Nothing was changed" in str(raised.value) or "neither uses nor deletes" in str(raised.value)
    assert_unchanged(before, snapshot(fitted.base))


def test_another_input_shape_is_refused_without_overwrite(fitted):
    _refused_on_the_fitted_project(
        fitted,
        ImageClassifier,
        upsample(fitted.x),
        fitted.y,
        r"was made for other data \(data: project has '[0-9a-f]{10}\.\.\.', this fit has '[0-9a-f]{10}\.\.\.'; "
        r".*image_shape: project has \[8, 8, 1\], this fit has \[16, 16, 1\]",
    )


def test_another_channel_count_is_refused_without_overwrite(fitted):
    _refused_on_the_fitted_project(
        fitted,
        ImageClassifier,
        np.repeat(fitted.x[..., None], 3, axis=-1),
        fitted.y,
        r"image_shape: project has \[8, 8, 1\], this fit has \[8, 8, 3\]",
    )


def test_another_task_is_refused_without_overwrite(fitted):
    _refused_on_the_fitted_project(
        fitted,
        ImageRegressor,
        fitted.x,
        fitted.y.astype(np.float64),
        r"classes: project has \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\], this fit has None; .*"
        r"outputs: project has None, this fit has 1; .*task: project has 'classification', this fit has 'regression'",
    )


@pytest.mark.parametrize(
    "relabel, came",
    [
        (lambda y: y % 5, r"\[0, 1, 2, 3, 4\]"),
        (lambda y: np.array(list("abcdefghij"))[y], r"\['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'\]"),
    ],
    ids=["fewer", "strings"],
)
def test_other_classes_are_refused_without_overwrite(fitted, relabel, came):
    _refused_on_the_fitted_project(
        fitted,
        ImageClassifier,
        fitted.x,
        relabel(fitted.y),
        r"classes: project has \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\], this fit has " + came,
    )


@pytest.mark.parametrize("overwrite", [False, True], ids=["resume", "overwrite"])
@pytest.mark.parametrize("content", ["file", "folder"])
def test_a_folder_autoarch_did_not_make_is_never_used_or_deleted(workdir, digits_uint8, overwrite, content):
    x, y = digits_uint8[:2]
    mine = workdir / "projects" / "mine"
    mine.mkdir(parents=True)
    if content == "file":
        (mine / "thesis.tex").write_text("the user's own work")
    else:
        (mine / "photos").mkdir()
    before = snapshot(workdir)
    estimator = ImageClassifier(**params(directory=workdir / "projects", project_name="mine", overwrite=overwrite))
    with pytest.raises(ValueError, match=r"'.*mine' exists and is not an autoarch project \(no autoarch.json\); autoarch neither uses nor deletes it"):
        estimator.fit(x, y)
    assert_unchanged(before, snapshot(workdir))
    if content == "file":
        assert (mine / "thesis.tex").read_text() == "the user's own work"


@pytest.mark.parametrize("overwrite", [False, True], ids=["resume", "overwrite"])
def test_a_file_as_project_is_refused(workdir, digits_uint8, overwrite):
    x, y = digits_uint8[:2]
    (workdir / "projects").mkdir()
    (workdir / "projects" / "p").write_text("a file")
    before = snapshot(workdir)
    with pytest.raises(ValueError, match=r"the project path '.*p' is a file, expected a folder"):
        ImageClassifier(**params(directory=workdir / "projects", overwrite=overwrite)).fit(x, y)
    assert_unchanged(before, snapshot(workdir))


# ------------------------------------------------------------------ at predict time


def _calls(estimator, x, y, tmp_path):
    calls = {
        "predict": lambda: estimator.predict(x),
        "evaluate": lambda: estimator.evaluate(x, y),
        "score": lambda: estimator.score(x, y),
        "export": lambda: estimator.export(str(tmp_path / "export")),
        "export-keras": lambda: estimator.export(str(tmp_path / "model.keras"), format="keras"),
        "export_model": lambda: estimator.export_model(),
    }
    if isinstance(estimator, ImageClassifier):
        calls["predict_proba"] = lambda: estimator.predict_proba(x)
    return calls


METHODS = ["predict", "predict_proba", "evaluate", "score", "export", "export-keras", "export_model"]
FRESH = [
    pytest.param(cls, method, id=f"{cls.__name__}-{method}")
    for cls in (ImageClassifier, ImageRegressor)
    for method in METHODS
    if not (cls is ImageRegressor and method == "predict_proba")
]


@pytest.mark.parametrize("cls, method", FRESH)
def test_a_fresh_estimator_is_not_fitted(cls, method, tmp_path, digits_uint8):
    x, y = digits_uint8[0][:20], digits_uint8[1][:20]
    if cls is ImageRegressor:
        y = y.astype(np.float64)
    calls = _calls(cls(directory=tmp_path / "projects"), x, y, tmp_path)
    with pytest.raises(NotFittedError, match=rf"this {cls.__name__} is not fitted yet: call fit before using it"):
        calls[method]()
    assert os.listdir(tmp_path) == []


SHAPES = [
    pytest.param(lambda x: upsample(x), r"\(16, 16, 1\)", id="16x16"),
    pytest.param(lambda x: np.repeat(x[..., None], 3, axis=-1), r"\(8, 8, 3\)", id="3-channels"),
    pytest.param(lambda x: x[:, :, :-1][..., None], r"\(8, 7, 1\)|at least 8x8 pixels, got 8x7", id="8x7"),
    pytest.param(lambda x: tf.data.Dataset.from_tensor_slices(upsample(x)).batch(4), r"\(16, 16, 1\)", id="dataset-16x16"),
]


@pytest.mark.parametrize("method", ["predict", "predict_proba", "evaluate", "score"])
@pytest.mark.parametrize("reshape, came", SHAPES)
def test_another_image_shape_than_fit_is_refused_naming_both(fitted, method, reshape, came, tmp_path):
    x, y = fitted.x[:10], fitted.y[:10]
    call = _calls(fitted.estimator, reshape(x), y, tmp_path)[method]
    with pytest.raises(ValueError) as raised:
        call()
    message = str(raised.value)
    if "at least 8x8" not in message:
        assert "(8, 8, 1)" in message, message
    assert re.search(came, message), message


def test_the_fitted_estimator_still_predicts(fitted):
    predicted = fitted.estimator.predict(fitted.x[:20])
    assert predicted.shape == (20,) and predicted.dtype == fitted.y.dtype
    assert set(predicted) <= set(range(10))
