"""End-to-end robustness of the search: a killed run resumes, failed trials are
recorded while the search goes on (time limits: test_time_limit.py), and
the user's callbacks and ``verbose`` reach every training.

Real training on tiny networks (`tiny_space`); the tests that are not about the
DARTS stage fix ``genotype=DARTS_V2`` to skip it, so a trial takes ~10 s.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import autoarch
from autoarch.darts import DARTS_V2

from .conftest import SharedCallback, tiny_space, read_json_or_none

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

PROJECT = "image_classifier"


def _result(project, trial_id):
    return read_json_or_none(os.path.join(project, f"trial_{trial_id}", "result.json"))


def _trial_dirs(project):
    return sorted(name for name in os.listdir(project) if name.startswith("trial_"))


def _classifier(tmp_path, **params):
    settings = dict(
        max_trials=2,
        tuner="random",
        seed=0,
        directory=tmp_path,
        search_space=tiny_space(),
        genotype=DARTS_V2,
        verbose=0,
        project_name=PROJECT,
    )
    settings.update(params)
    return autoarch.ImageClassifier(**settings)


def _check_predicts(estimator, x_test):
    proba = estimator.predict_proba(x_test)
    assert proba.shape == (len(x_test), len(estimator.classes_))
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-4)
    labels = estimator.predict(x_test)
    assert labels.shape == (len(x_test),)
    assert set(np.unique(labels)) <= set(estimator.classes_.tolist())


class TrainingLog(SharedCallback):
    """Counts trainings and records when each epoch (and training) ended."""

    def __init__(self):
        super().__init__()
        self.begins = 0
        self.ends = 0
        self.epoch_ends = []  # one list of time.monotonic() per training
        self.train_ends = []

    def on_train_begin(self, logs=None):
        self.begins += 1
        self.epoch_ends.append([])

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_ends[-1].append(time.monotonic())

    def on_train_end(self, logs=None):
        self.ends += 1
        self.train_ends.append(time.monotonic())


# --------------------------------------------------------------------------- 1


_KILLED_FIT = """
import numpy as np
import autoarch
from autoarch.darts import DARTS_V2

data = np.load({data!r})
autoarch.ImageClassifier(
    max_trials=3, tuner="random", seed=0, directory={directory!r}, project_name="image_classifier",
    search_space={space!r}, genotype=DARTS_V2, verbose=0,
).fit(data["x"], data["y"])
"""

_KILLED_SPACE = tiny_space(train_epochs=4)


@pytest.fixture(scope="module")
def killed_project(tmp_path_factory, digits_uint8):
    """A project whose fit was SIGKILLed while trial 1 ran, trial 0 completed (never modified: copy it)."""
    x, y, _, _ = digits_uint8
    directory = tmp_path_factory.mktemp("killed")
    data = str(directory / "digits.npz")
    np.savez(data, x=x, y=y)
    project = str(directory / PROJECT)
    script = _KILLED_FIT.format(data=data, directory=str(directory), space=_KILLED_SPACE)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    errors = open(directory / "stderr.txt", "w+")
    process = subprocess.Popen(
        [sys.executable, "-c", script], env=env, cwd=directory, stdout=subprocess.DEVNULL, stderr=errors
    )
    try:
        give_up = time.monotonic() + 240
        while True:
            first, second = _result(project, "0"), _result(project, "1")
            if first and first["status"] == "COMPLETED" and second and second["status"] == "RUNNING":
                break
            if process.poll() is not None:
                errors.seek(0)
                pytest.fail(
                    f"the fit ended (rc {process.returncode}) before trial 1 was caught running; "
                    f"trial 0: {first}, trial 1: {second}\n{errors.read()[-3000:]}"
                )
            if time.monotonic() > give_up:
                pytest.fail(f"trial 1 not running after 240 s; trial 0: {first}, trial 1: {second}")
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=60) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=60)
        errors.close()

    assert _result(project, "0")["status"] == "COMPLETED"
    assert os.path.isfile(os.path.join(project, "trial_0", "network.weights.h5"))
    assert _result(project, "1")["status"] == "RUNNING"
    assert read_json_or_none(os.path.join(project, "trial_1", "trial.json"))["status"] == "RUNNING"
    assert not os.path.exists(os.path.join(project, "trial_2"))
    assert not os.path.exists(os.path.join(project, "final"))
    return project


def _resume(killed_project, tmp_path, **params):
    """Copy the killed project into ``tmp_path`` and an estimator that resumes it."""
    shutil.copytree(killed_project, tmp_path / PROJECT)
    return _classifier(tmp_path, max_trials=3, search_space=_KILLED_SPACE, overwrite=False, **params)


def test_resume_after_sigkill_keeps_completed_trials(killed_project, tmp_path, digits_uint8):
    x, y, x_test, _ = digits_uint8
    estimator = _resume(killed_project, tmp_path)
    project = str(tmp_path / PROJECT)
    first_result = _result(project, "0")
    weights = os.path.join(project, "trial_0", "network.weights.h5")
    weights_mtime = os.stat(weights).st_mtime_ns
    killed = read_json_or_none(os.path.join(project, "trial_1", "trial.json"))

    estimator.fit(x, y)

    # Trial 0 was not redone: its files are untouched.
    assert _result(project, "0") == first_result
    assert os.stat(weights).st_mtime_ns == weights_mtime
    # The killed trial ran again with its own hyperparameters, then one new trial.
    assert [row["trial_id"] for row in estimator.results_] == ["0", "1", "2"]
    assert [row["status"] for row in estimator.results_] == ["COMPLETED"] * 3
    assert estimator.results_[0]["seconds"] == first_result["seconds"]
    assert estimator.results_[1]["hyperparameters"] == killed["hyperparameters"]["values"]
    assert _trial_dirs(project) == ["trial_0", "trial_1", "trial_2"]
    for trial_id in "012":
        assert _result(project, trial_id)["status"] == "COMPLETED"
        assert read_json_or_none(os.path.join(project, f"trial_{trial_id}", "trial.json"))["status"] == "COMPLETED"
    _check_predicts(estimator, x_test)


def test_resume_past_the_time_limit_reports_no_running_trial(killed_project, tmp_path, digits_uint8):
    # The limit passes before the killed trial can run again: the fit returns
    # trial 0's network, and nothing it reports may still be "RUNNING".
    x, y, x_test, _ = digits_uint8
    estimator = _resume(killed_project, tmp_path, time_limit=0.01)
    estimator.fit(x, y)

    assert estimator.results_[0]["status"] == "COMPLETED"
    statuses = [row["status"] for row in estimator.results_]
    assert "RUNNING" not in statuses, [(row["trial_id"], row["status"]) for row in estimator.results_]
    _check_predicts(estimator, x_test)


# --------------------------------------------------------------------------- 2


class PoisonFirstTraining(SharedCallback):
    """Sets one weight to NaN after the first batch of the first training only."""

    def __init__(self):
        super().__init__()
        self.trainings = 0
        self.poisoned = False

    def on_train_begin(self, logs=None):
        self.trainings += 1

    def on_train_batch_end(self, batch, logs=None):
        if self.trainings == 1 and batch == 0:
            variable = self.model.trainable_weights[0]
            values = np.array(keras.ops.convert_to_numpy(variable))
            values.flat[0] = np.nan
            variable.assign(values)
            self.poisoned = True


def test_nan_trial_fails_and_search_goes_on(tmp_path, digits_uint8):
    x, y, x_test, _ = digits_uint8
    poison = PoisonFirstTraining()
    # refit=False: the model is trial 1's own network (saves a training).
    estimator = _classifier(tmp_path, search_space=tiny_space(learning_rate=[0.003, 0.002]), refit=False)
    estimator.fit(x, y, callbacks=[poison])

    assert poison.poisoned
    assert poison.trainings == 2
    first, second = estimator.results_
    assert first["status"] == "FAILED"
    assert re.search(r"diverg|nan", first["reason"], re.IGNORECASE), first["reason"]
    assert second["status"] == "COMPLETED"
    assert second["score"] is not None and np.isfinite(second["score"])
    project = os.path.join(tmp_path, PROJECT)
    assert _result(project, "0")["status"] == "FAILED"
    assert not os.path.exists(os.path.join(project, "trial_0", "network.weights.h5"))
    assert estimator.best_hyperparameters_ == second["hyperparameters"]
    _check_predicts(estimator, x_test)


# --------------------------------------------------------------------------- 3


def test_every_trial_failing_raises_once_with_the_reasons(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    trainings = TrainingLog()
    estimator = _classifier(tmp_path, max_trials=3, max_model_size=10)
    with pytest.raises(RuntimeError, match="every trial failed") as raised:
        estimator.fit(x, y, callbacks=[trainings])

    message = str(raised.value)
    assert re.search(r"too large.*parameters", message), message
    for trial_id in "012":
        assert f"trial {trial_id}" in message
    project = os.path.join(tmp_path, PROJECT)
    # max_trials trials, each run once, none retried.
    assert _trial_dirs(project) == ["trial_0", "trial_1", "trial_2"]
    assert not hasattr(estimator, "results_")  # a failed fit leaves the estimator unfitted (issue 15)
    for trial_id in "012":
        result = _result(project, trial_id)
        assert result["status"] == "FAILED"
        assert re.search(r"too large.*parameters.*max_model_size=10", result["reason"]), result["reason"]
        assert read_json_or_none(os.path.join(project, f"trial_{trial_id}", "trial.json"))["status"] == "FAILED"
    oracle = read_json_or_none(os.path.join(project, "oracle.json"))
    assert oracle["end_order"] == ["0", "1", "2"]
    assert oracle["retry_queue"] == []
    assert trainings.begins == 0
    assert not os.path.exists(os.path.join(project, "final", "model.keras"))


# --------------------------------------------------------------------------- 4


class FailsTheFirstTraining(SharedCallback):
    """Raises ``error`` inside Keras's training loop, in the first training only (fault injection)."""

    def __init__(self, error):
        super().__init__()
        self.error = error
        self.trainings = 0

    def on_train_begin(self, logs=None):
        self.trainings += 1

    def on_train_batch_end(self, batch, logs=None):
        if self.trainings == 1:
            raise self.error


@pytest.mark.parametrize(
    "error, reason",
    [
        (tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor (injected)"),
         r"out of memory while training: OOM when allocating tensor \(injected\)"),
        (ValueError("a layer broke (injected)"), r"ValueError: a layer broke \(injected\)"),
    ],
    ids=["out-of-memory", "other-error"],
)
def test_a_trial_that_fails_inside_keras_is_recorded_and_the_search_goes_on(tmp_path, digits_uint8, error, reason):
    """Issue 17, item 3: the first trial's training raises; it is FAILED with its reason, the next completes."""
    x, y, x_test, _ = digits_uint8
    estimator = _classifier(tmp_path, max_trials=2, search_space=tiny_space(learning_rate=(1e-3, 1e-2)))
    estimator.fit(x, y, callbacks=[FailsTheFirstTraining(error)])
    first, second = estimator.results_
    assert first["status"] == "FAILED" and re.search(reason, first["reason"]), first["reason"]
    assert second["status"] == "COMPLETED"
    assert estimator.ensemble_trials_ == [second["trial_id"]]
    _check_predicts(estimator, x_test)


@pytest.mark.parametrize("as_dataset", [False, True], ids=["arrays", "dataset"])
def test_validation_data_scores_the_trials(tmp_path, digits_uint8, as_dataset):
    """Issue 17, item 6: the score is the network's accuracy on ``validation_data``, not on a holdout.

    The validation labels are shifted by one, so a network that learnt
    anything scores below chance on them and far below its holdout score.
    The training data has a class with only two samples, which a holdout
    split could not stratify; with ``validation_data`` there is no holdout.
    """
    x, y, x_test, y_test = digits_uint8
    keep = np.concatenate([np.flatnonzero(y != 9), np.flatnonzero(y == 9)[:2]])
    x_fit, y_fit = x[keep], y[keep]
    x_val, y_val = x_test[:200], (y_test[:200] + 1) % 10
    validation = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(50) if as_dataset else (x_val, y_val)
    estimator = _classifier(tmp_path, max_trials=1, refit=False, search_space=tiny_space(train_epochs=4))
    estimator.fit(x_fit, y_fit, validation_data=validation)
    (row,) = estimator.results_
    assert row["status"] == "COMPLETED"
    shifted = float(np.mean(estimator.predict(x_val) == y_val))  # refit=False: the trial's own network
    assert row["score"] == pytest.approx(shifted, abs=0.011)  # up to two near-ties decided otherwise
    assert float(np.mean(estimator.predict(x_val) == y_test[:200])) > shifted + 0.2


def test_a_larger_max_trials_adds_trials_and_keeps_the_old_ones(tmp_path, digits_uint8):
    """Issue 17, item 2: a finished project with max_trials=1 resumed with 2 runs only the new trial."""
    x, y, _, _ = digits_uint8
    first = _classifier(tmp_path, max_trials=1, search_space=tiny_space(learning_rate=(1e-3, 1e-2))).fit(x, y)
    before = _result(os.path.join(tmp_path, PROJECT), 0)
    weights = os.path.join(tmp_path, PROJECT, "trial_0", "network.weights.h5")
    written = os.path.getmtime(weights)
    more = _classifier(tmp_path, max_trials=2, search_space=tiny_space(learning_rate=(1e-3, 1e-2))).fit(x, y)
    assert [row["trial_id"] for row in first.results_] == ["0"]
    assert [row["trial_id"] for row in more.results_] == ["0", "1"]
    assert _result(os.path.join(tmp_path, PROJECT), 0) == before  # trial 0 was not run again
    assert os.path.getmtime(weights) == written
    assert [row["status"] for row in more.results_] == ["COMPLETED", "COMPLETED"]


@pytest.mark.parametrize(
    "estimator_class, objective, direction",
    [
        (autoarch.ImageClassifier, "val_loss", "min"),
        (autoarch.ImageRegressor, "val_loss", "min"),
        (autoarch.ImageRegressor, "val_r2", "max"),
    ],
)
def test_other_objectives_rank_the_trials_end_to_end(tmp_path, digits_uint8, estimator_class, objective, direction):
    """Issue 17, item 8: the best trial is the one the objective's direction prefers."""
    x, y, _, _ = digits_uint8
    targets = y.astype(np.float32) if estimator_class is autoarch.ImageRegressor else y
    estimator = estimator_class(
        max_trials=2, tuner="random", seed=0, directory=tmp_path, genotype=DARTS_V2, verbose=0,
        search_space=tiny_space(learning_rate=(1e-3, 1e-2)), objective=objective, ensemble_size=1,
    ).fit(x, targets)
    rows = estimator.results_
    assert all(row["objective"] == objective and row["direction"] == direction for row in rows)
    scores = [row["score"] for row in rows]
    assert all(np.isfinite(scores))
    best = min(scores) if direction == "min" else max(scores)
    (top,) = [row for row in rows if row["rank"] == 1]
    assert top["score"] == best
    assert estimator.ensemble_trials_ == [top["trial_id"]]


# --------------------------------------------------------------------------- 5, 6


@pytest.mark.parametrize(
    "refit, verbose", [(True, 1), (False, 0)], ids=["refit-verbose1", "no_refit-verbose0"]
)
def test_callbacks_reach_every_training_and_verbose_sets_output(tmp_path, digits_uint8, capfd, refit, verbose):
    x, y, x_test, _ = digits_uint8
    trainings = TrainingLog()
    estimator = _classifier(tmp_path, max_trials=2, refit=refit, verbose=verbose)
    capfd.readouterr()
    estimator.fit(x, y, callbacks=[trainings])
    out = capfd.readouterr().out

    assert trainings.begins == 2 + (len(estimator.ensemble_trials_) if refit else 0), estimator.ensemble_trials_
    assert trainings.ends == trainings.begins
    assert [row["status"] for row in estimator.results_] == ["COMPLETED", "COMPLETED"]
    if verbose == 0:
        assert out == ""
    else:
        lines = [line.strip() for line in re.split(r"[\r\n]+", out)]
        summaries = [line for line in lines if re.match(r"trial \d+/\d+ ", line)]
        assert len(summaries) == 2, out
        for number, (line, row) in enumerate(zip(summaries, estimator.results_), start=1):
            assert line.startswith(f"trial {number}/2 "), line
            assert f"val_accuracy={row['score']:.4f}" in line, (line, row["score"])
        assert "final fit" in out
    _check_predicts(estimator, x_test)
