"""End-to-end: ``time_limit`` bounds the whole fit (issue 19).

The assertions read the times the stages recorded (when each training batch
ended, the learning rate of each epoch), against the limit counted from the
call; the wall-clock checks on the whole fit keep a margin of seconds for a
busy 2-core machine.
"""

import json
import os
import time

import keras
import pytest

from autoarch.darts import Genotype
from autoarch.darts.derivation import random_genotype
from autoarch.darts.supernet import cosine_learning_rate
from autoarch.runtime import gpu_present
from autoarch.tuning.budget import TAIL_SECONDS
from autoarch.tuning.space import search_primitives
from autoarch.tuning.trial import BASELINE_REASON

from .conftest import TINY_SPACE, SharedCallback, tiny_classifier, tiny_space

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

WALL_CLOCK_MARGIN = 5.0
"""Seconds a whole fit may pass its limit in these tests: scoring and saving on a busy machine."""


class StageTimes(SharedCallback):
    """Per training: when each batch ended, and each epoch's learning rate."""

    def __init__(self):
        super().__init__()
        self.batch_ends = []
        self.rates = []

    def on_train_begin(self, logs=None):
        self.batch_ends.append([])
        self.rates.append([])

    def on_epoch_begin(self, epoch, logs=None):
        self.rates[-1].append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    def on_train_batch_end(self, batch, logs=None):
        self.batch_ends[-1].append(time.monotonic())


def _fit(estimator, x, y, **options):
    times = StageTimes()
    started = time.monotonic()
    estimator.fit(x, y, callbacks=[times], **options)
    return started, times


def test_no_trial_starts_that_would_not_end_in_time_and_every_batch_ends_in_time(tmp_path, digits_uint8):
    x, y, x_test, _ = digits_uint8
    limit = 25
    estimator = tiny_classifier(tmp_path, max_trials=6, time_limit=limit, ensemble_size=2)
    started, times = _fit(estimator, x, y)

    ran = len(estimator.results_)
    assert 1 <= ran < 6
    assert all(row["status"] == "COMPLETED" for row in estimator.results_)
    assert all(end <= started + limit for ends in times.batch_ends for end in ends)
    assert estimator.fit_seconds_ <= limit + WALL_CLOCK_MARGIN, estimator.fit_seconds_
    assert estimator.predict(x_test).shape == (len(x_test),)


def test_a_training_cut_by_the_time_limit_still_anneals_its_learning_rate(tmp_path, digits_uint8):
    x, y, x_test, _ = digits_uint8
    epochs, limit = 300, 15
    estimator = tiny_classifier(tmp_path, max_trials=3, time_limit=limit, search_space=tiny_space(train_epochs=epochs))
    started, times = _fit(estimator, x, y)

    assert [row["status"] for row in estimator.results_] == ["COMPLETED"]
    assert estimator.results_[0]["stopped_by_time_limit"] is True
    rates = times.rates[0]
    assert 2 <= len(rates) < epochs
    # The cosine was shortened to the epochs that fit, so it ends low, not at
    # 300 epochs' first steps: at its last step, or one before when a slower
    # epoch than measured made the clock cut the last one planned. (Asking for
    # a quarter of the first rate assumed 4 epochs fit; a busy 2-core AVX2
    # machine fitted 3, ending exactly at a quarter.)
    ran = len(rates)
    assert rates[-1] <= cosine_learning_rate(ran - 1, ran + 1, rates[0], 0.0) * (1 + 1e-5), rates
    assert all(later <= earlier for earlier, later in zip(rates, rates[1:]))
    assert all(end <= started + limit for ends in times.batch_ends for end in ends)
    assert estimator.fit_seconds_ <= limit + WALL_CLOCK_MARGIN, estimator.fit_seconds_
    assert estimator.predict(x_test).shape == (len(x_test),)


def test_the_first_trial_is_a_random_baseline_and_a_cut_search_leaves_its_training_time(tmp_path, digits_uint8):
    """Two trials under a limit: the first trains a random cell (no search), the second searches until its share ends."""
    x, y, x_test, _ = digits_uint8
    # 70 s: after the baseline's few seconds, the search's share (40% of the
    # time left) is above MIN_SEARCH_SECONDS, so the second trial's search starts.
    epochs, limit = 2000, 70
    estimator = tiny_classifier(
        tmp_path, max_trials=2, genotype=None, time_limit=limit, seed=3, search_space=tiny_space(search_epochs=epochs)
    )
    started, times = _fit(estimator, x[:300], y[:300])

    baseline, searched = estimator.results_
    assert [baseline["status"], searched["status"]] == ["COMPLETED", "COMPLETED"]
    assert baseline["search_skipped"] == BASELINE_REASON
    primitives = search_primitives(tiny_space(), gpu_present())
    assert Genotype.from_json(baseline["genotype"]) == random_genotype(primitives, TINY_SPACE["nodes"], seed=3)
    assert not os.path.exists(os.path.join(estimator.project_dir_, "trial_0", "alphas.json"))
    assert searched.get("search_skipped") is None
    with open(os.path.join(estimator.project_dir_, "trial_1", "alphas.json")) as file:
        search_epochs = len(json.load(file))  # one entry per search epoch
    assert 1 <= search_epochs < epochs
    assert len(times.batch_ends[1]) >= 2  # the second trial's training ran, after its search
    assert all(end <= started + limit for ends in times.batch_ends for end in ends)
    assert estimator.fit_seconds_ <= limit + WALL_CLOCK_MARGIN, estimator.fit_seconds_
    assert estimator.predict(x_test).shape == (len(x_test),)


def test_a_budget_too_small_for_any_trial_says_to_give_more_time(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    estimator = tiny_classifier(tmp_path, max_trials=3, genotype=None, time_limit=TAIL_SECONDS / 2)
    with pytest.raises(RuntimeError, match=r"time limit ran out before training could start .*give a larger time_limit"):
        estimator.fit(x[:300], y[:300])
    assert not hasattr(estimator, "model_")
    (project,) = os.listdir(tmp_path)
    assert sorted(name for name in os.listdir(tmp_path / project) if name.startswith("trial_")) == ["trial_0"]


def test_a_budget_too_small_for_a_search_trains_a_random_cell_for_the_whole_time(tmp_path, digits_uint8):
    """The search's share of a 20 s budget is under MIN_SEARCH_SECONDS: no search, a random cell trains."""
    x, y, x_test, _ = digits_uint8
    estimator = tiny_classifier(tmp_path, max_trials=1, genotype=None, time_limit=20, seed=3)
    started, times = _fit(estimator, x[:300], y[:300])
    (row,) = estimator.results_
    assert row["status"] == "COMPLETED"
    assert row["search_skipped"].startswith("too little time for a search")
    assert not os.path.exists(os.path.join(estimator.project_dir_, "trial_0", "alphas.json"))
    primitives = search_primitives(tiny_space(), gpu_present())
    assert Genotype.from_json(row["genotype"]) == random_genotype(primitives, TINY_SPACE["nodes"], seed=3)
    assert estimator.fit_seconds_ <= 20 + WALL_CLOCK_MARGIN, estimator.fit_seconds_
    assert estimator.predict(x_test).shape == (len(x_test),)
