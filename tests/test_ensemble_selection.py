"""Ensemble selection on saved holdout predictions (`autoarch.tuning.ensemble`)."""

import keras
import numpy as np
import pytest

from autoarch.tuning.ensemble import holdout_loss, load_predictions, save_predictions, select_members

TARGETS = np.array([0, 1, 2, 0, 1, 2])


def _probabilities(correct):
    """Rows that give the true class ``correct[i]`` and share the rest equally."""
    rows = np.full((len(TARGETS), 3), 0.0)
    for i, (target, p) in enumerate(zip(TARGETS, correct)):
        rows[i] = (1 - p) / 2
        rows[i, target] = p
    return rows.astype(np.float32)


def test_holdout_loss_is_keras_cross_entropy_and_mse():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(3), size=len(TARGETS)).astype(np.float32)
    expected = keras.losses.SparseCategoricalCrossentropy()(TARGETS, probabilities)
    assert holdout_loss(TARGETS, probabilities, regression=False) == pytest.approx(float(expected), rel=1e-5)
    values = rng.normal(size=(6, 2))
    assert holdout_loss(values, values + 0.5, regression=True) == pytest.approx(0.25)


def test_members_grow_from_the_best_while_the_average_improves():
    # "a" and "b" are each right on different halves; "c" is poor everywhere.
    a = _probabilities([0.9, 0.9, 0.9, 0.4, 0.4, 0.4])
    b = _probabilities([0.4, 0.4, 0.4, 0.9, 0.9, 0.9])
    c = _probabilities([0.2] * 6)
    predictions = {"a": (TARGETS, a), "b": (TARGETS, b), "c": (TARGETS, c)}
    assert select_members(["a", "c", "b"], predictions, 3, regression=False) == ["a", "b"]
    assert select_members(["a", "c", "b"], predictions, 1, regression=False) == ["a"]
    # The first candidate is always in, even when a later one is better alone.
    assert select_members(["c", "a", "b"], predictions, 3, regression=False)[0] == "c"


def test_members_respect_max_size_missing_predictions_and_other_holdouts():
    a = _probabilities([0.9, 0.9, 0.9, 0.4, 0.4, 0.4])
    b = _probabilities([0.4, 0.4, 0.4, 0.9, 0.9, 0.9])
    predictions = {"a": (TARGETS, a), "b": (TARGETS, b)}
    sizes = {"a": 100, "b": 100}
    assert select_members(["a", "b"], predictions, 3, False, sizes=sizes, max_size=150) == ["a"]
    assert select_members(["a", "b"], predictions, 3, False, sizes=sizes, max_size=200) == ["a", "b"]
    assert select_members(["a", "b"], {"a": (TARGETS, a)}, 3, False) == ["a"]
    assert select_members(["a", "b"], {}, 3, False) == ["a"]
    other = {"a": (TARGETS, a), "b": (TARGETS[::-1], b)}
    assert select_members(["a", "b"], other, 3, False) == ["a"]
    assert select_members([], predictions, 3, False) == []


def test_regression_members_by_squared_error():
    truth = np.array([[1.0], [-1.0], [2.0]])
    high, low, far = truth + 0.5, truth - 0.5, truth + 3.0
    predictions = {"high": (truth, high), "far": (truth, far), "low": (truth, low)}
    assert select_members(["high", "far", "low"], predictions, 3, regression=True) == ["high", "low"]


def test_predictions_round_trip_through_the_trial_folder(tmp_path):
    assert load_predictions(tmp_path) is None
    probabilities = _probabilities([0.5] * 6)
    save_predictions(tmp_path, TARGETS, probabilities)
    targets, predictions = load_predictions(tmp_path)
    np.testing.assert_array_equal(targets, TARGETS)
    np.testing.assert_array_equal(predictions, probabilities)


def test_members_also_keep_within_other_budgets_together():
    targets = np.array([0, 1, 0, 1])
    predictions = {
        "a": (targets, np.array([[0.6, 0.4], [0.6, 0.4], [0.6, 0.4], [0.4, 0.6]])),
        "b": (targets, np.array([[0.9, 0.1], [0.1, 0.9], [0.9, 0.1], [0.1, 0.9]])),
    }
    flops = {"a": 100, "b": 100}
    assert select_members(["a", "b"], predictions, 3, False, budgets=[(flops, 150)]) == ["a"]
    assert select_members(["a", "b"], predictions, 3, False, budgets=[(flops, 200)]) == ["a", "b"]
    sizes = {"a": 10, "b": 10}
    both = dict(sizes=sizes, max_size=15, budgets=[(flops, 200)])
    assert select_members(["a", "b"], predictions, 3, False, **both) == ["a"]
