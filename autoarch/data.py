"""Input pipelines: tf.data datasets for the bilevel search."""

import numpy as np
import tensorflow as tf

__all__ = ["paired_search_dataset"]


def paired_search_dataset(x_train, y_train, x_val, y_val, batch_size=64, seed=None, shuffle=True):
    """Pair batches of the two search halves: ``((x_train, y_train), (x_val, y_val))``.

    The training half sets the epoch length; the validation half repeats, so its
    iterator persists across steps and epochs. Incomplete batches are dropped so
    every batch has the same static shape and the step is traced once; both halves
    must hold at least ``batch_size`` samples.

    Args:
        x_train, y_train: the half that trains the weights.
        x_val, y_val: the half that trains the architecture.
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

    def batches(x, y, offset):
        data = tf.data.Dataset.from_tensor_slices(
            (np.asarray(x, np.float32), np.asarray(y, np.int32))
        )
        if shuffle:
            data = data.shuffle(
                len(x),
                seed=None if seed is None else seed + offset,
                reshuffle_each_iteration=True,
            )
        return data.batch(batch_size, drop_remainder=True)

    paired = tf.data.Dataset.zip((batches(x_train, y_train, 0), batches(x_val, y_val, 1).repeat()))
    return paired.prefetch(tf.data.AUTOTUNE)
