"""tf.data pipelines of a trial: normalise, resize, augment, shuffle and batch.

Images are normalised exactly as `keras.layers.Normalization` does, so a
network trained on these batches can be served behind that layer on raw
pixels. Augmentation uses stateless random ops fed by per-element seeds from
`tf.data.Dataset.random`, so the same seed gives the same batches.
"""

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

__all__ = ["Augmentation", "batches", "paired_batches"]


@dataclass(frozen=True)
class Augmentation:
    """Which training augmentations to apply.

    Attributes:
        crop: pad by an eighth of the image size (at least 1 pixel) and crop back at
            a random place.
        cutout: set a random square of a quarter of the image size to the mean.
        flip: random left-right flips (only when flips do not change the label).
    """

    crop: bool = False
    cutout: bool = False
    flip: bool = False

    def __bool__(self):
        return self.crop or self.cutout or self.flip

    def apply(self, image, seed):
        """Augment one normalised ``(h, w, c)`` image with an int64 ``seed`` of shape (2,)."""
        height, width = image.shape[0], image.shape[1]
        seeds = tf.random.experimental.stateless_split(seed, 4)
        if self.crop:
            pad = max(1, min(height, width) // 8)
            padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
            image = tf.image.stateless_random_crop(padded, tf.shape(image), seeds[0])
        if self.flip:
            image = tf.image.stateless_random_flip_left_right(image, seeds[1])
        if self.cutout:
            size = max(1, min(height, width) // 4)
            centre = tf.random.stateless_uniform([2], seeds[2], 0, 1) * [height, width]
            rows = tf.abs(tf.range(height, dtype=tf.float32) - centre[0]) < size / 2
            cols = tf.abs(tf.range(width, dtype=tf.float32) - centre[1]) < size / 2
            hole = tf.logical_and(rows[:, None], cols[None, :])
            image = image * tf.cast(~hole, image.dtype)[:, :, None]
        return image


def _normalizer(mean, variance, image_size):
    if mean is not None:
        mean = tf.constant(np.asarray(mean, np.float32))
        scale = 1.0 / np.maximum(np.sqrt(np.asarray(variance, np.float32)), keras.config.epsilon())
        scale = tf.constant(scale.astype(np.float32))

    def normalize(image, target):
        if mean is not None:
            image = (image - mean) * scale
        if image_size is not None and tuple(image.shape[:2]) != tuple(image_size):
            image = tf.image.resize(image, image_size, method="area")
        return image, target

    return normalize


def batches(
    elements,
    *,
    batch_size,
    mean=None,
    variance=None,
    image_size=None,
    augmentation=None,
    shuffle=False,
    seed=None,
    drop_remainder=False,
    cache=False,
    shuffle_buffer=10_000,
):
    """Batches of normalised ``(image, target)`` pairs.

    Args:
        elements: unbatched ``(float32 image, target)`` elements
            (`autoarch.inputs.ImageData.dataset`).
        batch_size: samples per batch.
        mean: per-channel mean to normalise with (None: the images are
            already normalised).
        variance: per-channel variance to normalise with.
        image_size: ``(height, width)`` to resize to (area interpolation), or None.
        augmentation: an `Augmentation`, or None.
        shuffle: reshuffle every epoch.
        seed: seeds the shuffle and the augmentation.
        shuffle_buffer: elements the shuffle draws from (at least the
            element count for a full shuffle).
        drop_remainder: drop the last incomplete batch (one static batch shape).
        cache: keep the normalised, resized images in memory after the first
            epoch (only for data that fits).

    Returns:
        A prefetched `tf.data.Dataset`.
    """
    data = elements
    if mean is not None or image_size is not None:
        data = data.map(_normalizer(mean, variance, image_size), num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        data = data.cache()
    if shuffle:
        data = data.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if augmentation:
        randoms = tf.data.Dataset.random(seed=seed).batch(2)
        data = tf.data.Dataset.zip((data, randoms)).map(
            lambda pair, s: (augmentation.apply(pair[0], s), pair[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return data.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def paired_batches(train, val, **kwargs):
    """``((x_train, y_train), (x_val, y_val))`` batches for `SearchNetwork.fit`.

    The training half sets the epoch length; the validation half repeats. Both
    drop incomplete batches so the step is traced once, and both are shuffled
    unless ``shuffle=False``. ``kwargs`` go to `batches` for both halves (the
    validation half gets ``seed + 1``).
    """
    kwargs = {"shuffle": True, **kwargs, "drop_remainder": True}
    seed = kwargs.pop("seed", None)
    first = batches(train, seed=seed, **kwargs)
    second = batches(val, seed=None if seed is None else seed + 1, **kwargs).repeat()
    return tf.data.Dataset.zip((first, second)).prefetch(tf.data.AUTOTUNE)
