"""End to end: ImageClassifier and ImageRegressor on digits, with tiny settings."""

import json
import os
import pickle
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from sklearn.base import clone, is_classifier, is_regressor

import autoarch
from autoarch.darts import DARTS_V2, Genotype

from .conftest import TINY_SPACE, tiny_space

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, digits_uint8):
    """Two searched trials (random oracle) on uint8 digits without a channel axis."""
    x, y, _, _ = digits_uint8
    directory = tmp_path_factory.mktemp("projects")
    clf = autoarch.ImageClassifier(
        max_trials=2,
        tuner="random",
        directory=directory,
        seed=0,
        verbose=0,
        search_space=tiny_space(learning_rate=[0.003, 0.005], train_epochs=3),
    )
    return clf.fit(x, y)


def test_fit_searches_and_records_every_trial(fitted):
    assert len(fitted.results_) == 2
    for row in fitted.results_:
        assert row["status"] == "COMPLETED"
        assert 0.0 <= row["score"] <= 1.0
        assert row["parameters"] > 0 and row["seconds"] > 0
        Genotype.from_json(row["genotype"])
        trial_dir = os.path.join(fitted.project_dir_, f"trial_{row['trial_id']}")
        for name in ("genotype.json", "network.weights.h5", "alphas.json", "result.json", "trial.json"):
            assert os.path.isfile(os.path.join(trial_dir, name)), name
    assert isinstance(fitted.best_genotype_, Genotype)
    assert fitted.best_hyperparameters_["init_channels"] == TINY_SPACE["init_channels"]
    assert os.path.isfile(os.path.join(fitted.project_dir_, "final", "model.keras"))


def test_an_image_folder_is_predicted_evaluated_and_scored(fitted, digits_uint8, tmp_path):
    """``predict``, ``evaluate`` and ``score`` take an image folder as ``fit`` does (issue 15, part 3)."""
    _, _, x_test, y_test = digits_uint8
    folder = tmp_path / "images"
    for i, (image, label) in enumerate(zip(x_test[:30], y_test[:30])):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        (folder / str(label) / f"{i:03d}.png").write_bytes(tf.io.encode_png(image[..., None]).numpy())
    images, labels = autoarch.inputs.read_image_folder(folder, image_size=(8, 8))
    proba = fitted.predict_proba(str(folder))
    np.testing.assert_allclose(proba, fitted.predict_proba(images), atol=1e-6)
    # The subfolder names are strings; the classifier was fitted on ints, so score the folder's order.
    order = np.array([int(label) for label in labels])
    assert fitted.score(images, order) == pytest.approx(np.mean(fitted.predict(str(folder)) == order))


def test_predictions_keep_the_label_form(fitted, digits_uint8):
    _, y, x_test, y_test = digits_uint8
    proba = fitted.predict_proba(x_test)
    assert proba.shape == (len(x_test), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    labels = fitted.predict(x_test)
    assert labels.dtype == y.dtype
    np.testing.assert_array_equal(fitted.classes_, np.arange(10))
    assert fitted.score(x_test, y_test) > 0.3  # 2 training epochs of a 4-channel net
    metrics = fitted.evaluate(x_test, y_test, return_dict=True)
    assert set(metrics) == {"loss", "accuracy"}
    # An independent count, not the same computation as score's.
    assert metrics["accuracy"] == pytest.approx(np.mean(labels == y_test))
    assert fitted.evaluate(x_test, y_test, batch_size=7) == pytest.approx([metrics["loss"], metrics["accuracy"]])
    pairs = tf.data.Dataset.from_tensor_slices((x_test, y_test)).batch(32)
    assert fitted.evaluate(pairs) == pytest.approx([metrics["loss"], metrics["accuracy"]])
    assert fitted.score(pairs) == pytest.approx(metrics["accuracy"])
    # a channel axis and float pixels are accepted as well as the raw uint8 arrays
    np.testing.assert_allclose(fitted.predict_proba(x_test[..., None].astype(np.float32)), proba, atol=1e-6)


def test_sklearn_protocol(fitted):
    assert is_classifier(fitted) and not is_regressor(fitted)
    assert is_regressor(autoarch.ImageRegressor())
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "model_")
    copy.set_params(max_trials=7)
    assert copy.max_trials == 7


@pytest.mark.parametrize("form", ["str", "one_hot", "bool"])
def test_label_forms_come_back_as_given(tmp_path, digits_uint8, form):
    """Issue 17, item 13: predictions are right in the labels' own form, not only of their dtype."""
    x, y, x_test, y_test = digits_uint8
    if form == "str":
        names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
        labels, truth, chance = names[y], names[y_test], 0.1
    elif form == "one_hot":
        labels, truth, chance = np.eye(10, dtype=np.float32)[y], np.eye(10, dtype=np.float32)[y_test], 0.1
    else:
        labels, truth, chance = y % 2 == 0, y_test % 2 == 0, 0.5
    clf = autoarch.ImageClassifier(
        max_trials=1, directory=tmp_path, genotype=DARTS_V2, search_space={**TINY_SPACE, "train_epochs": 3}, seed=0,
        verbose=0,
    ).fit(x, labels)
    predicted = clf.predict(x_test)
    assert predicted.dtype == labels.dtype
    proba = clf.predict_proba(x_test)
    assert proba.shape == (len(x_test), len(clf.classes_))
    best = np.argmax(proba, axis=1)
    if form == "one_hot":
        assert predicted.shape == (len(x_test), 10)
        np.testing.assert_array_equal(predicted, np.eye(10, dtype=np.float32)[best])  # classes_ are the columns
        correct = np.all(predicted == truth, axis=1)
    else:
        np.testing.assert_array_equal(predicted, clf.classes_[best])
        correct = predicted == truth
    assert correct.mean() > chance + 0.2, (form, correct.mean())
    restored = autoarch.load(clf.project_dir_)
    np.testing.assert_array_equal(restored.predict(x_test), predicted)
    assert restored.project_dir_ == clf.project_dir_  # the trials' files, for the plots, as after fit


def test_regressor_searches_and_scores_r2(tmp_path, digits_uint8):
    x, y, x_test, y_test = digits_uint8
    targets = np.stack([y, (x.reshape(len(x), -1) > 128).mean(axis=1)], axis=1).astype(np.float32)
    reg = autoarch.ImageRegressor(
        max_trials=1, directory=tmp_path, search_space=tiny_space(train_epochs=3), seed=0, verbose=0
    ).fit(x, targets)
    predicted = reg.predict(x_test)
    assert predicted.shape == (len(x_test), 2) and np.isfinite(predicted).all()
    # outputs are in the targets' own units, not standardised ones
    assert 1.0 < predicted[:, 0].mean() < 8.0
    truth = np.stack([y_test, (x_test.reshape(len(x_test), -1) > 128).mean(axis=1)], axis=1)
    metrics = reg.evaluate(x_test, truth, return_dict=True)
    assert set(metrics) == {"loss", "mae", "r2"}
    assert reg.evaluate(x_test, truth) == pytest.approx([metrics["loss"], metrics["mae"], metrics["r2"]])
    assert metrics["mae"] == pytest.approx(np.mean(np.abs(predicted - truth)), rel=1e-5)
    assert reg.score(x_test, truth) == pytest.approx(metrics["r2"])
    assert reg.results_[0]["status"] == "COMPLETED"
    one_d = autoarch.ImageRegressor(
        max_trials=1, directory=tmp_path, project_name="one_d", genotype=DARTS_V2,
        search_space=TINY_SPACE, seed=0, verbose=0,
    ).fit(x, y.astype(np.float64))
    assert one_d.predict(x_test).shape == (len(x_test),)


@pytest.mark.parametrize("tuner", ["random", "bayesian", "evolution"])
def test_every_tuner_runs_its_trials(tmp_path, digits_uint8, tuner):
    x, y, _, _ = digits_uint8
    clf = autoarch.ImageClassifier(
        max_trials=2,
        tuner=tuner,
        directory=tmp_path,
        genotype=DARTS_V2,
        seed=1,
        verbose=0,
        search_space=tiny_space(learning_rate=(0.001, 0.01), train_epochs=[1, 2]),
    ).fit(x, y)
    assert [row["status"] for row in clf.results_] == ["COMPLETED"] * 2
    first = clf.results_[0]["hyperparameters"]
    assert first["learning_rate"] == pytest.approx(3e-3)  # the defaults are tried first
    assert first["train_epochs"] == 1
    assert len({json.dumps(r["hyperparameters"], sort_keys=True) for r in clf.results_}) == 2


def test_hyperband_resumes_from_the_previous_round(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    clf = autoarch.ImageClassifier(
        max_trials=4,
        tuner="hyperband",
        directory=tmp_path,
        genotype=DARTS_V2,
        seed=0,
        verbose=0,
        search_space=tiny_space(train_epochs=(1, 3), learning_rate=(0.001, 0.01)),
    ).fit(x, y)
    assert all(row["status"] == "COMPLETED" for row in clf.results_)
    resumed = [r for r in clf.results_ if r["hyperparameters"].get("tuner/trial_id")]
    assert resumed, "hyperband ran no second round"
    row = resumed[0]
    hp = row["hyperparameters"]
    assert hp["tuner/initial_epoch"] >= 1 and hp["tuner/epochs"] == 3
    parent = next(r for r in clf.results_ if r["trial_id"] == hp["tuner/trial_id"])
    assert row["genotype"] == parent["genotype"]
    # the parent's weights were the starting point: the resumed trial did not search again
    resumed_dir = os.path.join(clf.project_dir_, f"trial_{row['trial_id']}")
    assert not os.path.exists(os.path.join(resumed_dir, "alphas.json"))


def test_an_oracle_instance_is_used_as_is(tmp_path, digits_uint8):
    import keras_tuner

    x, y, _, _ = digits_uint8
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("val_accuracy", "max"), max_trials=1, seed=3
    )
    clf = autoarch.ImageClassifier(
        tuner=oracle, directory=tmp_path, genotype=DARTS_V2, search_space=TINY_SPACE, verbose=0
    ).fit(x, y)
    assert len(clf.results_) == 1 and clf.tuner is oracle


def test_dataset_and_folder_inputs(tmp_path, digits_uint8):
    x, y, x_test, _ = digits_uint8
    settings = dict(max_trials=1, genotype=DARTS_V2, search_space=TINY_SPACE, seed=0, verbose=0)
    batched = tf.data.Dataset.from_tensor_slices((x[..., None], y)).batch(50)
    from_data = autoarch.ImageClassifier(directory=tmp_path, project_name="data", **settings).fit(batched)
    assert from_data.predict_proba(x_test).shape == (len(x_test), 10)

    folder = tmp_path / "images"
    for index, (image, label) in enumerate(zip(x[:300], y[:300])):
        (folder / f"class_{label}").mkdir(parents=True, exist_ok=True)
        png = tf.io.encode_png(image[..., None]).numpy()
        (folder / f"class_{label}" / f"{index}.png").write_bytes(png)
    from_folder = autoarch.ImageClassifier(directory=tmp_path, project_name="folder", **settings).fit(
        str(folder)
    )
    assert set(from_folder.classes_) == {f"class_{d}" for d in range(10)}
    assert from_folder.predict(x_test[:5]).dtype.kind == "U"
    # evaluate and score take the folder too, its subfolders being the labels: an independent count.
    images, labels = autoarch.inputs.read_image_folder(folder)
    correct = np.mean(from_folder.predict(images) == labels)
    assert from_folder.score(str(folder)) == pytest.approx(correct)
    loss, accuracy = from_folder.evaluate(str(folder))
    assert accuracy == pytest.approx(correct) and loss > 0


_SEEDED_FIT = """
import json, sys
import numpy as np
import autoarch
data = np.load(sys.argv[1])
clf = autoarch.ImageClassifier(
    max_trials=1, directory=sys.argv[2], project_name="b", seed=5, verbose=0, search_space=json.loads(sys.argv[3])
).fit(data["x"], data["y"])
np.save(sys.argv[4], clf.predict_proba(data["x_test"]))
print("GENOTYPE", clf.best_genotype_.to_json(), flush=True)
"""


def test_same_seed_same_genotype_and_predictions(tmp_path, digits_uint8):
    """Issue 17, item 12: a fit here and one in a fresh process, with the same seed, agree."""
    x, y, x_test, _ = digits_uint8
    clf = autoarch.ImageClassifier(
        max_trials=1, directory=tmp_path, project_name="a", seed=5, verbose=0, search_space=TINY_SPACE
    ).fit(x, y)
    np.savez(tmp_path / "data.npz", x=x, y=y, x_test=x_test)
    env = {key: value for key, value in os.environ.items() if not key.startswith("KERASTUNER_")}
    done = subprocess.run(
        [sys.executable, "-c", _SEEDED_FIT, str(tmp_path / "data.npz"), str(tmp_path), json.dumps(TINY_SPACE),
         str(tmp_path / "proba.npy")],
        capture_output=True, text=True, timeout=600, env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    other = Genotype.from_json(done.stdout.split("GENOTYPE", 1)[1].strip())
    assert clf.best_genotype_ == other
    np.testing.assert_allclose(clf.predict_proba(x_test), np.load(tmp_path / "proba.npy"), atol=1e-6)


def test_exports_serve_raw_images_in_fresh_processes(fitted, digits_uint8, tmp_path):
    _, _, x_test, _ = digits_uint8
    images = x_test[:20]
    expected = fitted.predict_proba(images)
    np.save(tmp_path / "images.npy", images)
    saved = fitted.export(tmp_path / "served", format="saved_model")
    keras_file = fitted.export(tmp_path / "model.keras", format="keras")
    tflite = fitted.export(tmp_path / "model.tflite", format="tflite")
    script = f"""
import sys, numpy as np, tensorflow as tf
images = np.load({str(tmp_path / 'images.npy')!r})
served = tf.saved_model.load({saved!r})
a = list(served.signatures["serving_default"](images=tf.constant(images[..., None], tf.float32)).values())[0]
b = served.serve_uint8(tf.constant(images[..., None]))
interpreter = tf.lite.Interpreter(model_path={tflite!r})
runner = interpreter.get_signature_runner()
c = list(runner(images=images[..., None].astype(np.float32)).values())[0]
assert "autoarch" not in sys.modules
np.save({str(tmp_path / 'out.npy')!r}, np.stack([np.asarray(a), np.asarray(b), c]))
for endpoint, batch in ((served.signatures["serving_default"], images.astype(np.float32)),
                        (served.signatures["serve_uint8"], images)):  # no channel axis: refused, not misread
    try:
        endpoint(images=tf.constant(batch))
        raise SystemExit("a channel-less batch went through")
    except tf.errors.InvalidArgumentError as error:
        assert "Shape of tensor images [20,8,8] is not compatible with expected shape [?,8,8,1]" in str(error), error
"""
    subprocess.run([sys.executable, "-c", script], check=True, env=ENV, capture_output=True)
    outputs = np.load(tmp_path / "out.npy")
    for output in outputs:
        np.testing.assert_allclose(output, expected, atol=1e-4)
    with open(tmp_path / "fitted.pickle", "wb") as file:  # as scikit-learn users save a fitted model
        pickle.dump(fitted, file)
    assert hasattr(fitted, "tuner_")  # pickling leaves the fitted estimator as it was
    script = f"""
import pickle, numpy as np, autoarch
images = np.load({str(tmp_path / 'images.npy')!r})
clf = autoarch.load({keras_file!r})
np.save({str(tmp_path / 'loaded.npy')!r}, clf.predict_proba(images))
np.save({str(tmp_path / 'labels.npy')!r}, clf.predict(images))
with open({str(tmp_path / 'fitted.pickle')!r}, "rb") as file:
    unpickled = pickle.load(file)
assert not hasattr(unpickled, "tuner_") and len(unpickled.results_) == len(clf.results_)
np.save({str(tmp_path / 'unpickled.npy')!r}, unpickled.predict_proba(images))
"""
    subprocess.run([sys.executable, "-c", script], check=True, env=ENV, capture_output=True)
    np.testing.assert_allclose(np.load(tmp_path / "loaded.npy"), expected, atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "unpickled.npy"), expected, atol=1e-6)
    np.testing.assert_array_equal(np.load(tmp_path / "labels.npy"), fitted.predict(images))
    with pytest.raises(FileExistsError):
        fitted.export(tmp_path / "model.keras", format="keras")


def test_export_model_is_the_final_model(fitted, digits_uint8):
    _, _, x_test, _ = digits_uint8
    model = fitted.export_model()
    assert isinstance(model, keras.Model)
    expected = fitted.predict_proba(x_test[:10])
    np.testing.assert_allclose(model.predict(x_test[:10, ..., None].astype(np.float32), verbose=0), expected, atol=1e-6)
    # A channel-less batch, as predict takes it, works, and leaves the estimator's own predict working.
    channel_less = fitted.export_model().predict(x_test[:10].astype(np.float32), verbose=0)
    np.testing.assert_allclose(channel_less, expected, atol=1e-6)
    np.testing.assert_allclose(fitted.predict_proba(x_test[:10]), expected, atol=1e-6)
