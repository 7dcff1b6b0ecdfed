"""The final fit's three modes: ``refit=False`` (default), ``"continue"`` and ``"scratch"``.

Real training of `DARTS_V2` at tiny size on digits (no search stage). A callback
records, for every training, its epochs, its steps and the network's weights
when it begins and ends, so each test can tell where the final model started.
"""

import math
import os

import numpy as np
import pytest

import autoarch
from autoarch import estimators
from autoarch.darts import DARTS_V2

from .conftest import SharedCallback, tiny_space

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

BATCH = 32


class TrainingRecorder(SharedCallback):
    """Per training: trainable weights at begin and end, epochs run, steps per epoch.

    Only the trainable weights: after each training its batch norms' moving
    statistics are recomputed with the final weights (after ``on_train_end``).
    """

    def __init__(self):
        super().__init__()
        self.trainings = []

    def on_train_begin(self, logs=None):
        self.trainings.append({"begin": _trainable(self.model), "epochs": 0, "steps": 0})

    def on_train_batch_end(self, batch, logs=None):
        if self.trainings[-1]["epochs"] == 0:
            self.trainings[-1]["steps"] = batch + 1

    def on_epoch_end(self, epoch, logs=None):
        self.trainings[-1]["epochs"] += 1

    def on_train_end(self, logs=None):
        self.trainings[-1]["end"] = _trainable(self.model)


def _trainable(model):
    return [np.array(variable) for variable in model.trainable_variables]


def _same(first, second):
    return len(first) == len(second) and all(np.array_equal(a, b) for a, b in zip(first, second))


def _classifier(tmp_path, **params):
    settings = dict(
        max_trials=1,
        tuner="random",
        seed=0,
        directory=tmp_path,
        search_space=tiny_space(train_epochs=4, batch_size=BATCH),
        genotype=DARTS_V2,
        verbose=0,
    )
    settings.update(params)
    return autoarch.ImageClassifier(**settings)


def test_continue_resumes_the_best_trials_network_on_all_data(tmp_path, digits_uint8):
    x, y, x_test, y_test = digits_uint8
    recorder = TrainingRecorder()
    estimator = _classifier(tmp_path, refit="continue")
    estimator.fit(x, y, validation_split=0.2, callbacks=[recorder])

    trial, final = recorder.trainings
    assert _same(final["begin"], trial["end"]), "the final fit did not start from the trial's network"
    assert final["epochs"] == max(1, round(4 * estimators.CONTINUE_EPOCH_SHARE))
    assert trial["epochs"] == 4
    # The trial trains on 80% of the data; the final fit on all of it.
    assert trial["steps"] == math.ceil(len(x) * 0.8 / BATCH)
    assert final["steps"] == math.ceil(len(x) / BATCH)
    assert _same(estimator.model_.get_weights()[-2:], final["end"][-2:])
    assert estimator.score(x_test, y_test) > 0.3


def test_continue_after_a_resume_loads_the_trials_weights_from_disk(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    first = TrainingRecorder()
    _classifier(tmp_path, refit=False).fit(x, y, callbacks=[first])
    (trial,) = first.trainings

    # A new estimator (as after a restart): the trial is done, only the final fit runs.
    second = TrainingRecorder()
    _classifier(tmp_path, refit="continue").fit(x, y, callbacks=[second])
    (final,) = second.trainings
    assert _same(final["begin"], trial["end"])


def test_scratch_retrains_the_genotype_for_the_trials_epochs(tmp_path, digits_uint8):
    x, y, x_test, y_test = digits_uint8
    recorder = TrainingRecorder()
    estimator = _classifier(tmp_path, refit="scratch")
    estimator.fit(x, y, callbacks=[recorder])

    trial, final = recorder.trainings
    assert final["epochs"] == trial["epochs"] == 4
    assert final["steps"] == math.ceil(len(x) / BATCH)
    assert not _same(final["begin"], trial["end"])
    # Same seed, same genotype: a new network starts where the trial's network started.
    assert _same(final["begin"], trial["begin"])
    assert estimator.score(x_test, y_test) > 0.3


def test_refit_true_means_scratch(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    recorder = TrainingRecorder()
    _classifier(tmp_path, refit=True, search_space=tiny_space(train_epochs=2)).fit(x, y, callbacks=[recorder])
    trial, final = recorder.trainings
    assert final["epochs"] == trial["epochs"] == 2
    assert _same(final["begin"], trial["begin"])


def test_no_refit_is_the_default_and_keeps_the_trials_network(tmp_path, digits_uint8):
    x, y, x_test, _ = digits_uint8
    recorder = TrainingRecorder()
    estimator = _classifier(tmp_path)
    assert estimator.refit is False
    estimator.fit(x, y, callbacks=[recorder])

    (trial,) = recorder.trainings
    assert _same(estimator.model_.get_weights()[-2:], trial["end"][-2:])
    assert estimator.predict(x_test).shape == (len(x_test),)


def test_continue_with_validation_data_adds_no_training(tmp_path, digits_uint8):
    x, y, x_test, y_test = digits_uint8
    recorder = TrainingRecorder()
    estimator = _classifier(tmp_path, refit="continue")
    estimator.fit(x, y, validation_data=(x_test, y_test), callbacks=[recorder])
    # The trial trained on all of x already; the validation data is never trained on.
    assert len(recorder.trainings) == 1
    assert _same(estimator.model_.get_weights()[-2:], recorder.trainings[0]["end"][-2:])


@pytest.mark.parametrize("refit", ["yes", "full", 1.5, None])
def test_bad_refit_is_refused_before_anything_is_written(tmp_path, digits_uint8, refit):
    x, y, _, _ = digits_uint8
    with pytest.raises(ValueError, match="refit must be 'continue', 'scratch', True or False"):
        _classifier(tmp_path, refit=refit).fit(x, y)
    assert os.listdir(tmp_path) == []
