"""The three-way split of the training data for a trial."""

import numpy as np
import pytest

from autoarch.data import fit_splits, paired_search_dataset, search_splits


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


def test_fit_splits_stratify_a_classifier_on_its_own_labels_and_not_a_regressor():
    labels = np.array(["cat", "dog"] * 10)
    targets = (labels == "dog").astype(np.int32)
    np.testing.assert_array_equal(
        np.concatenate(fit_splits(labels, targets, False, 0.2, seed=0)),
        np.concatenate(search_splits(labels, holdout_fraction=0.2, seed=0)),
    )
    with pytest.raises(ValueError, match="'bird'"):
        fit_splits(np.array(["cat"] * 5 + ["bird"]), np.zeros(6), False, 0.2)
    values = np.arange(20.0)
    regression = fit_splits(values, values[:, None], True, 0.2, seed=0)
    np.testing.assert_array_equal(
        np.concatenate(regression),
        np.concatenate(search_splits(np.zeros(20), holdout_fraction=0.2, seed=0, stratify=False)),
    )


def test_paired_search_dataset_shuffles_each_half_fully_and_repeats_the_validation_half():
    x_train, y_train = np.arange(12, dtype=np.float32).reshape(12, 1, 1, 1) * np.ones((1, 8, 8, 1)), np.arange(12)
    x_val, y_val = -np.ones((6, 8, 8, 1), np.float32), np.arange(100, 106)
    data = paired_search_dataset(x_train, y_train, x_val, y_val, batch_size=4, seed=0)
    epoch = list(data.as_numpy_iterator())
    assert len(epoch) == 3  # the training half sets the epoch length; the validation half repeats
    seen_train = np.concatenate([train[1] for train, _ in epoch])
    assert sorted(seen_train.tolist()) == list(range(12)) and seen_train.tolist() != list(range(12))
    np.testing.assert_array_equal(np.concatenate([train[0] for train, _ in epoch])[:, 0, 0, 0], seen_train)
    assert all(val[1].dtype == np.int32 and set(val[1]) <= set(range(100, 106)) for _, val in epoch)
    again = list(paired_search_dataset(x_train, y_train, x_val, y_val, batch_size=4, seed=0).as_numpy_iterator())
    np.testing.assert_array_equal(np.concatenate([t[1] for t, _ in again]), seen_train)
    ordered = paired_search_dataset(x_train, y_train, x_val, y_val, batch_size=4, shuffle=False)
    assert np.concatenate([t[1] for t, _ in ordered.as_numpy_iterator()]).tolist() == list(range(12))


def test_many_scarce_classes_are_counted_not_all_listed():
    labels = np.repeat(np.arange(20_000), 2)  # 20,000 classes of 2 samples: every one is too small
    with pytest.raises(ValueError) as refused:
        search_splits(labels, holdout_fraction=0.2, seed=0)
    message = str(refused.value)
    assert "20000 of the 20000 classes have fewer" in message and "and 19990 more" in message
    assert len(message) < 300
