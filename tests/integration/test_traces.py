"""Every step function is traced once per trial shape: the fixed cost of a fit (issue 14).

Tracing a step costs seconds, computing it milliseconds on small data, so a
second trace of the same step is a regression that no timing test on a busy
machine would catch reliably. `autoarch.step_traces.count_traces` counts them
in a real tiny fit.
"""

import contextlib
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import autoarch
from autoarch.darts import DARTS_V2, build_network
from autoarch.step_traces import count_traces
from autoarch.tuning import tuner as tuner_module

from .conftest import SharedCallback, tiny_space

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_one_search_trace_and_one_network_trace_per_trial(digits_uint8, tmp_path):
    x, y, _, _ = digits_uint8
    clf = autoarch.ImageClassifier(
        max_trials=1, seed=0, directory=str(tmp_path), search_space=tiny_space(), refit="continue"
    )
    with count_traces() as traces:
        clf.fit(x[:200], y[:200])
    # The final fit continues the trial's network with its compiled step, and the
    # holdout is scored from predictions, so nothing else is traced.
    assert dict(traces) == {"SearchNetwork.train_step": 1, "Functional.train_step": 1}


def test_count_traces_counts_a_retrace(digits_uint8):
    """The counter is not blind: a step traced again (``force=True``) counts twice."""
    x, y, _, _ = digits_uint8
    model = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with count_traces() as traces:
        model.fit(x[:64].astype(np.float32), y[:64], epochs=1, verbose=0)
        model.make_train_function(force=True)
        model.fit(x[:64].astype(np.float32), y[:64], epochs=1, verbose=0)
    assert traces["Sequential.train_step"] == 2


@contextlib.contextmanager
def counted_clears():
    """A list with one entry for each time the tuner clears TensorFlow's kernel cache (the clear still runs)."""
    clears = []
    original_clear = tuner_module.clear_kernel_cache
    tuner_module.clear_kernel_cache = lambda: (clears.append(1), original_clear())
    try:
        yield clears
    finally:
        tuner_module.clear_kernel_cache = original_clear


def _same_shapes_search(directory, max_trials):
    return autoarch.ImageClassifier(
        max_trials=max_trials, tuner="random", seed=0, directory=str(directory), ensemble_size=1, refit=False,
        search_space=tiny_space(search_learning_rate=(0.01, 0.1), arch_learning_rate=(1e-3, 1e-2)),
    )


def _trial_files(estimator, trial_id):
    folder = os.path.join(estimator.project_dir_, f"trial_{trial_id}")
    with open(os.path.join(folder, "alphas.json")) as alphas, open(os.path.join(folder, "genotype.json")) as genotype:
        return alphas.read(), genotype.read()


@contextlib.contextmanager
def name_independent_arithmetic():
    """Grappler's arithmetic optimizer off, so a traced step's rounding does not depend on its node names.

    That pass orders the inputs of sums by node name, and Keras numbers layer
    names by how many layers the process built before, so two fits in one
    process can differ in their last bits for that reason alone.
    """
    options = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({**options, "arithmetic_optimization": False})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"arithmetic_optimization": True, **options})


def test_a_later_search_of_the_same_shapes_is_not_traced_again(digits_uint8, tmp_path):
    """Two trials that differ only in learning rates share one traced search step and its kernels.

    The second trial neither traces the step again nor clears TensorFlow's kernel
    cache (which would make it instantiate the step again, seconds on a CPU), and
    it ends exactly as it does when a resumed search runs it with fresh kernels
    (compared in one process, so with rounding made independent of node names).
    """
    x, y, _, _ = digits_uint8
    clf = _same_shapes_search(tmp_path / "uninterrupted", max_trials=2)
    with count_traces() as traces, counted_clears() as clears, name_independent_arithmetic():
        clf.fit(x[:200], y[:200])
    assert [row["status"] for row in clf.results_] == ["COMPLETED", "COMPLETED"]
    first, second = (row["hyperparameters"] for row in clf.results_)
    assert first["search_learning_rate"] != second["search_learning_rate"]
    assert traces["SearchNetwork.train_step"] == 1
    assert traces["Functional.train_step"] <= 2  # one per trial at most: genotypes may differ
    assert clears == []

    with name_independent_arithmetic():
        _same_shapes_search(tmp_path / "resumed", max_trials=1).fit(x[:200], y[:200])
        resumed = _same_shapes_search(tmp_path / "resumed", max_trials=2).fit(x[:200], y[:200])
    assert [row["hyperparameters"] for row in resumed.results_] == [first, second]
    assert _trial_files(resumed, "1") == _trial_files(clf, "1")
    assert [row["score"] for row in resumed.results_] == [row["score"] for row in clf.results_]


class TrainingStarts(SharedCallback):
    """The network's weights when each training begins."""

    def __init__(self):
        super().__init__()
        self.starts = []

    def on_train_begin(self, logs=None):
        self.starts.append(self.model.get_weights())


def test_hyperband_continues_the_parents_network_without_a_new_trace(digits_uint8, tmp_path):
    x, y, _, _ = digits_uint8
    starts = TrainingStarts()
    clf = autoarch.ImageClassifier(
        max_trials=4, tuner="hyperband", seed=0, directory=str(tmp_path), genotype=DARTS_V2, refit=False,
        search_space=tiny_space(train_epochs=(1, 3), learning_rate=(0.001, 0.01), drop_path=0.0),
    )
    with count_traces() as traces, counted_clears() as clears:
        clf.fit(x, y, callbacks=[starts])
    rows = clf.results_
    assert all(row["status"] == "COMPLETED" for row in rows)
    continued = [r for r in rows if r["hyperparameters"].get("tuner/trial_id")]
    assert continued, "hyperband ran no second round"
    # A continued network keeps its instantiated step too: its trial does not clear the kernel cache.
    assert len(clears) < len(rows) - 1
    # The best first-round network is kept in memory and continued with its compiled step.
    assert traces["Functional.train_step"] < len(rows)
    # Every continued trial starts exactly from its parent's saved weights.
    for row in continued:
        position = next(i for i, r in enumerate(rows) if r["trial_id"] == row["trial_id"])
        parent = os.path.join(clf.project_dir_, f"trial_{row['hyperparameters']['tuner/trial_id']}")
        network = build_network(
            DARTS_V2, (8, 8, 1), 10, init_channels=4, layers=3, drop_path=False, output_activation="softmax"
        )
        network.load_weights(os.path.join(parent, "network.weights.h5"))
        for started, saved in zip(starts.starts[position], network.get_weights()):
            np.testing.assert_array_equal(started, saved)
