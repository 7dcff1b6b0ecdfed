"""Splits of the training data and the tf.data pipelines of the search."""

import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split

from autoarch.pipeline import paired_batches

__all__ = ["paired_search_dataset", "search_splits", "fit_splits", "MIN_SAMPLES_PER_CLASS"]

MIN_SAMPLES_PER_CLASS = 3
"""A class needs one sample in each of search-train, search-val and holdout."""

_SCARCE_SHOWN = 10


def search_splits(labels, holdout_fraction=0.2, seed=None, stratify=True):
    """Split sample indices three ways: search-train, search-val and holdout.

    The holdout (``holdout_fraction`` of the data, 0 for none) scores a trial; the
    rest is halved into the two sets DARTS's bilevel problem needs. With
    ``stratify`` (classification) every part keeps the class proportions, using
    scikit-learn's stratified splits.

    Args:
        labels: integer class indices (or any targets when ``stratify=False``).
        holdout_fraction: share of the data held out, in [0, 0.5].
        seed: seeds the shuffles.
        stratify: keep class proportions in every part.

    Returns:
        ``(search_train, search_val, holdout)`` arrays of indices.

    Raises:
        ValueError: a bad fraction, fewer than 3 samples in all (6 with a
            holdout), or, when stratifying, a class with fewer than
            `MIN_SAMPLES_PER_CLASS` samples.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if not 0.0 <= holdout_fraction <= 0.5:
        raise ValueError(f"holdout_fraction must be in [0, 0.5], got {holdout_fraction!r}")
    indices = np.arange(n)
    if stratify:
        classes, counts = np.unique(labels, return_counts=True)
        needed = MIN_SAMPLES_PER_CLASS if holdout_fraction else MIN_SAMPLES_PER_CLASS - 1
        scarce = {c.item(): int(k) for c, k in zip(classes, counts) if k < needed}
        if scarce:
            shown = dict(list(scarce.items())[:_SCARCE_SHOWN])
            more = f" and {len(scarce) - len(shown)} more" if len(scarce) > len(shown) else ""
            raise ValueError(
                f"every class needs at least {needed} samples (one for each part of the "
                f"split), but {len(scarce)} of the {len(classes)} classes have fewer: {shown}{more}"
            )
    minimum = 2 * (len(np.unique(labels)) if stratify else 1)
    if n < minimum + (minimum // 2 if holdout_fraction else 0):
        raise ValueError(
            f"too few samples to split for the search: expected at least "
            f"{minimum + (minimum // 2 if holdout_fraction else 0)}, got {n}"
        )

    def split(part, size):
        return train_test_split(
            part,
            test_size=size,
            random_state=seed,
            stratify=labels[part] if stratify else None,
        )

    if holdout_fraction:
        groups = len(np.unique(labels)) if stratify else 1
        size = min(max(int(round(n * holdout_fraction)), groups), n - 2 * groups)
        rest, holdout = split(indices, size)
    else:
        rest, holdout = indices, indices[:0]
    groups = len(np.unique(labels[rest])) if stratify else 1
    search_train, search_val = split(rest, max(len(rest) // 2, groups))
    return np.sort(search_train), np.sort(search_val), np.sort(holdout)


def fit_splits(labels, targets, regression, holdout_fraction, seed=None):
    """`search_splits` of ``fit``'s data: stratified for a classifier, plain for a regressor.

    A classifier's splits are stratified on the user's own labels when they are
    1-D, so an error names the user's classes; one-hot labels stratify on
    their encoded ``targets``.

    Args:
        labels: the labels as given to ``fit``.
        targets: their encoded form (class indices, or standardised targets).
        regression: the targets are a regressor's (no stratification).
        holdout_fraction: share held out to score trials (0 with separate validation data).
        seed: seeds the shuffles.
    """
    if regression:
        return search_splits(np.zeros(len(targets)), holdout_fraction=holdout_fraction, seed=seed, stratify=False)
    strata = labels if labels.ndim == 1 else targets
    return search_splits(strata, holdout_fraction=holdout_fraction, seed=seed, stratify=True)


def paired_search_dataset(x_train, y_train, x_val, y_val, batch_size=64, seed=None, shuffle=True):
    """Pair batches of the two search halves: ``((x_train, y_train), (x_val, y_val))``.

    `autoarch.pipeline.paired_batches` on arrays that are already normalised.
    The training half sets the epoch length; the validation half repeats, so its
    iterator persists across steps and epochs. Incomplete batches are dropped so
    every batch has the same static shape and the step is traced once; both halves
    must hold at least ``batch_size`` samples.

    Args:
        x_train: images of the half that trains the weights.
        y_train: integer labels of ``x_train``.
        x_val: images of the half that trains the architecture.
        y_val: integer labels of ``x_val``.
        batch_size: samples per batch in each half.
        seed: shuffling seed (reshuffled every epoch).
        shuffle: shuffle both halves.

    Returns:
        A prefetched `tf.data.Dataset` for `SearchNetwork.fit`.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    for name, x, y in (("training", x_train, y_train), ("validation", x_val, y_val)):
        if len(x) != len(y):
            raise ValueError(f"the {name} half has {len(x)} images but {len(y)} labels")
        if len(x) < batch_size:
            raise ValueError(
                f"the {name} half has {len(x)} samples, fewer than batch_size={batch_size}"
            )

    def elements(x, y):
        return tf.data.Dataset.from_tensor_slices((np.asarray(x, np.float32), np.asarray(y, np.int32)))

    # A buffer as large as the larger half shuffles each half fully.
    return paired_batches(
        elements(x_train, y_train),
        elements(x_val, y_val),
        batch_size=batch_size,
        seed=seed,
        shuffle=shuffle,
        shuffle_buffer=max(len(x_train), len(x_val)),
    )
