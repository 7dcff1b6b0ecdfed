"""The three-way split of the training data for a trial."""

import numpy as np
import pytest

from autoarch.data import search_splits


def test_parts_are_disjoint_cover_everything_and_stratified(digits):
    _, y = digits
    train, val, holdout = search_splits(y, holdout_fraction=0.2, seed=0)
    everything = np.concatenate([train, val, holdout])
    assert len(everything) == len(y) and len(np.unique(everything)) == len(y)
    assert abs(len(holdout) - 0.2 * len(y)) <= 1
    assert abs(len(train) - len(val)) <= 1
    for part in (train, val, holdout):
        shares = np.bincount(y[part], minlength=10) / len(part)
        np.testing.assert_allclose(shares, np.bincount(y) / len(y), atol=0.02)


def test_same_seed_same_split_and_no_holdout(digits):
    _, y = digits
    first = search_splits(y, seed=3)
    for a, b in zip(first, search_splits(y, seed=3)):
        np.testing.assert_array_equal(a, b)
    train, val, holdout = search_splits(y, holdout_fraction=0.0, seed=0)
    assert len(holdout) == 0 and len(train) + len(val) == len(y)


def test_smallest_stratified_split_works():
    y = np.repeat([0, 1], 3)
    train, val, holdout = search_splits(y, seed=0)
    for part in (train, val, holdout):
        assert sorted(y[part]) == [0, 1]


def test_regression_targets_split_without_stratification():
    y = np.linspace(0, 1, 20)
    train, val, holdout = search_splits(y, seed=0, stratify=False)
    assert len(train) + len(val) + len(holdout) == 20 and len(holdout) == 4


@pytest.mark.parametrize(
    "labels, kwargs, message",
    [
        (np.array([0, 0, 0, 1, 1]), {}, r"at least 3 samples.*\{1: 2\}"),
        (np.array([0] * 5 + [1] * 5), {"holdout_fraction": 0.7}, "holdout_fraction"),
        (np.array([0.1, 0.2]), {"stratify": False}, "too few samples"),
    ],
)
def test_bad_splits_are_refused(labels, kwargs, message):
    with pytest.raises(ValueError, match=message):
        search_splits(labels, **kwargs)


def test_make_task_names_the_holdout_and_says_whether_it_is_training_data():
    import types

    from autoarch.tuning.trial import Holdout, make_task

    class Data(types.SimpleNamespace):
        def __len__(self):
            return 7

    data, other = Data(), Data()
    targets = np.arange(10)
    splits = (np.array([3, 1, 5]), np.array([0, 2]), np.array([4, 9]))
    task = make_task(data, targets, splits, regression=False, num_outputs=10)
    assert isinstance(task.holdout, Holdout) and task.holdout.data is data
    assert task.holdout_is_training_data
    assert task.train.tolist() == [0, 1, 2, 3, 5]
    assert task.final_fit_indices().tolist() == [0, 1, 2, 3, 4, 5, 9]
    data_, targets_, indices = task.holdout  # still unpacks as the old tuple
    assert indices.tolist() == [4, 9]

    separate = make_task(data, targets, splits, (other, np.arange(7)), regression=False, num_outputs=10)
    assert not separate.holdout_is_training_data
    assert separate.holdout.indices.tolist() == list(range(7))
    assert separate.final_fit_indices().tolist() == [0, 1, 2, 3, 5]
