"""Every step function is traced once per trial shape: the fixed cost of a fit (issue 14).

Tracing a step costs seconds, computing it milliseconds on small data, so a
second trace of the same step is a regression that no timing test on a busy
machine would catch reliably. `autoarch.step_traces.count_traces` counts them
in a real tiny fit.
"""

import pytest

import autoarch
from autoarch.step_traces import count_traces

from .conftest import tiny_space

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
    import keras
    import numpy as np

    x, y, _, _ = digits_uint8
    model = keras.Sequential([keras.Input((8, 8)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with count_traces() as traces:
        model.fit(x[:64].astype(np.float32), y[:64], epochs=1, verbose=0)
        model.make_train_function(force=True)
        model.fit(x[:64].astype(np.float32), y[:64], epochs=1, verbose=0)
    assert traces["Sequential.train_step"] == 2
