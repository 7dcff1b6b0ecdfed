"""A process killed during the final fit or during an export loses nothing (issue 17, faults to inject).

The fault is real: a child process sends itself SIGKILL in the middle of the
final fit's training, or after an export has been written but before it is
put in place. Nothing can run after SIGKILL, so whatever the child leaves is
what a crash at that moment leaves: the previous final model and the previous
exports must still load, and a rerun must make the final model.
"""

import hashlib
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import autoarch

from .conftest import tiny_classifier, tiny_space

pytestmark = pytest.mark.slow

PROJECT = "image_classifier"
SPACE = tiny_space(learning_rate=(1e-3, 1e-2))

_FINAL_FIT_KILLED = """
import os, signal
import keras, numpy as np
import autoarch
from autoarch.darts import DARTS_V2


class KillDuringTraining(keras.callbacks.Callback):
    # Shared by every training of the fit; kills the process inside training number `at`.
    def __init__(self, at):
        super().__init__()
        self.at, self.trainings = at, 0

    def __deepcopy__(self, memo):
        return self

    def on_train_begin(self, logs=None):
        self.trainings += 1

    def on_train_batch_end(self, batch, logs=None):
        if self.trainings == self.at and batch == 1:
            os.kill(os.getpid(), signal.SIGKILL)


data = np.load({data!r})
autoarch.ImageClassifier(
    max_trials=2, tuner="random", seed=0, directory={directory!r}, project_name={project!r},
    search_space={space!r}, genotype=DARTS_V2, ensemble_size=1, verbose=0, refit="continue",
).fit(data["x"], data["y"], callbacks=[KillDuringTraining(at=2)])
"""

_EXPORT_KILLED = """
import os, signal
import keras
import autoarch

# The export is written in full to its staging folder; the process dies before it is put in place.
written = {writer}
original = getattr(written, {method!r})


def write_then_die(self, *args, **kwargs):
    original(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)


setattr(written, {method!r}, write_then_die)
autoarch.load({project!r}).export({path!r}, format={format!r}, overwrite=True)
"""


def _run_until_killed(script, cwd):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    for name in [n for n in env if n.startswith("KERASTUNER_")]:
        del env[name]
    done = subprocess.run([sys.executable, "-c", script], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]


def _digest(path):
    if os.path.isfile(path):
        with open(path, "rb") as file:
            return hashlib.sha256(file.read()).hexdigest()
    return {os.path.relpath(os.path.join(root, name), path): _digest(os.path.join(root, name))
            for root, _, names in os.walk(path) for name in names}


def test_killed_during_the_final_fit_keeps_the_previous_model_and_the_rerun_makes_one(tmp_path, digits_uint8):
    x, y, x_test, _ = digits_uint8
    first = tiny_classifier(tmp_path, project_name=PROJECT, search_space=SPACE)
    first.fit(x, y)
    model_file = os.path.join(tmp_path, PROJECT, "final", "model.keras")
    before = _digest(model_file)
    np.savez(tmp_path / "digits.npz", x=x, y=y)

    # Trial 0 is resumed, trial 1 is this process's first training, the final fit its second.
    _run_until_killed(_FINAL_FIT_KILLED.format(
        data=str(tmp_path / "digits.npz"), directory=str(tmp_path), project=PROJECT, space=SPACE), tmp_path)

    assert _digest(model_file) == before  # the first fit's final model, whole
    np.testing.assert_allclose(autoarch.load(os.path.join(tmp_path, PROJECT)).predict_proba(x_test),
                               first.predict_proba(x_test), atol=1e-6)
    trial_1 = os.path.join(tmp_path, PROJECT, "trial_1")
    weights = os.stat(os.path.join(trial_1, "network.weights.h5")).st_mtime_ns

    rerun = tiny_classifier(tmp_path, project_name=PROJECT, search_space=SPACE, max_trials=2)
    rerun.fit(x, y)
    assert [row["status"] for row in rerun.results_] == ["COMPLETED", "COMPLETED"]
    assert os.stat(os.path.join(trial_1, "network.weights.h5")).st_mtime_ns == weights  # not trained again
    assert _digest(model_file) != before
    reloaded = autoarch.load(os.path.join(tmp_path, PROJECT))
    assert reloaded.ensemble_trials_ == rerun.ensemble_trials_
    np.testing.assert_allclose(reloaded.predict_proba(x_test), rerun.predict_proba(x_test), atol=1e-6)


@pytest.mark.parametrize(
    "format, name, writer, method",
    [
        ("saved_model", "served", "type(keras.export.ExportArchive())", "write_out"),  # its TensorFlow class
        ("keras", "model.keras", "keras.Model", "save"),
    ],
)
def test_killed_during_an_export_keeps_the_previous_export(tmp_path, digits_uint8, format, name, writer, method):
    x, y, x_test, _ = digits_uint8
    clf = tiny_classifier(tmp_path, project_name=PROJECT, search_space=SPACE)
    clf.fit(x, y)
    path = str(tmp_path / "exports" / name)
    os.makedirs(os.path.dirname(path))
    clf.export(path, format=format)
    before = _digest(path)

    _run_until_killed(_EXPORT_KILLED.format(
        writer=writer, method=method, project=os.path.join(str(tmp_path), PROJECT), path=path, format=format
    ), tmp_path)

    assert _digest(path) == before
    visible = [n for n in os.listdir(tmp_path / "exports") if not n.startswith(".")]
    assert visible == [name]  # what the killed export wrote stays in a hidden staging folder
    images = x_test[:16, ..., None].astype(np.float32)  # the served signature takes a channel axis
    if format == "saved_model":
        served = tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))
        probabilities = next(iter(served.values())).numpy()
    else:
        probabilities = autoarch.load(path).predict_proba(x_test[:16])
    np.testing.assert_allclose(probabilities, clf.predict_proba(x_test[:16]), atol=1e-4)
