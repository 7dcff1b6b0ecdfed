"""User inputs in one form: `ImageData`, images in memory or streamed, labels in memory.

`read_training_data` accepts what ``fit`` accepts: numpy arrays, lists of arrays,
a `tf.data.Dataset` of ``(image, label)`` elements or batches, or the path of a
folder with one subfolder per class. It checks everything (through
`autoarch.validation`) and computes the per-channel pixel statistics the
networks normalise with, in one pass, before any training starts. Only the
labels are kept in memory for a dataset or an image folder (whose files are
decoded again whenever a pipeline reads them), so data larger than memory works.
"""

import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from autoarch.image_files import (
    IMAGE_EXTENSIONS,
    file_decoder,
    folder_files,
    image_folder_dataset,
    read_image_file,
    read_image_folder,
)
from autoarch.parameters import Constraint
from autoarch.validation import check_images, check_labels

__all__ = [
    "ImageData",
    "read_training_data",
    "check_validation_split",
    "read_validation_data",
    "read_images",
    "read_image_folder",
    "image_folder_dataset",
    "read_image_file",
    "IMAGE_EXTENSIONS",
]

_SCAN_BATCH = 512


@dataclass
class ImageData:
    """Checked training images and their labels.

    Attributes:
        labels: the labels as given (1-D, or 2-D one-hot / multi-target), in memory.
        image_shape: ``(height, width, channels)``.
        integer_pixels: the pixels came as integers (for example uint8).
        mean: per-channel pixel mean, in the units given.
        variance: per-channel pixel variance, in the units given.
        images: ``(n, h, w, c)`` array when the images are in memory, else None.
        stream: an unbatched `tf.data.Dataset` of images (labels stripped) when
            they are streamed, else None.
        files: the image files of an image folder, one per label, when the
            images are read from them as needed, else None.
        fingerprint: SHA-256 (hex) of the pixels, their layout and the
            labels, computed in the pass that checks them: equal data, equal
            fingerprint.
    """

    labels: np.ndarray
    image_shape: tuple
    integer_pixels: bool
    mean: np.ndarray
    variance: np.ndarray
    images: np.ndarray = None
    stream: tf.data.Dataset = None
    files: np.ndarray = None
    fingerprint: str = None

    def __len__(self):
        return len(self.labels)

    @property
    def reshuffles(self):
        """Whether `dataset` can reshuffle the samples itself, before decoding (an image folder)."""
        return self.files is not None

    def dataset(self, indices, targets, reshuffle=False, seed=None):
        """Unbatched ``(float32 image, target)`` elements of the samples at ``indices``.

        Args:
            indices: sample indices; in memory and in a folder they are taken
                in this order, a stream keeps its own order.
            targets: one encoded target per sample (all samples, not only
                ``indices``).
            reshuffle: for an image folder, reshuffle the files on every pass,
                before they are decoded: a full shuffle that holds no image
                (a shuffle buffer after decoding holds thousands). Ignored
                for other data (see `reshuffles`).
            seed: seeds that shuffle.
        """
        indices = np.asarray(indices, dtype=np.int64)
        targets = np.asarray(targets)
        if self.files is not None:
            pairs = tf.data.Dataset.from_tensor_slices((self.files[indices], targets[indices]))
            if reshuffle:
                pairs = pairs.shuffle(len(indices), seed=seed, reshuffle_each_iteration=True)
            decode = file_decoder(self.image_shape)
            return pairs.map(
                lambda file, target: (tf.cast(decode(file), tf.float32), target),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        if self.images is not None:
            images = tf.data.Dataset.from_tensor_slices(self.images[indices])
            chosen = tf.data.Dataset.from_tensor_slices(targets[indices])
            return tf.data.Dataset.zip((images, chosen)).map(
                _to_float, num_parallel_calls=tf.data.AUTOTUNE
            )
        mask = np.zeros(len(self), dtype=bool)
        mask[indices] = True
        mask, table = tf.constant(mask), tf.constant(targets)
        return (
            self.stream.enumerate()
            .filter(lambda i, image: tf.gather(mask, i))
            .map(
                lambda i, image: (tf.cast(image, tf.float32), tf.gather(table, i)),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        )


def _to_float(image, target):
    return tf.cast(image, tf.float32), target


def _moments(images, hasher, layout=True):
    """Pixel count, sum and sum of squares per channel; ``hasher`` takes in the images (and their layout) too."""
    if layout:
        hasher.update(f"{images.dtype.str}{images.shape[1:]}".encode())
    hasher.update(np.ascontiguousarray(images).tobytes())
    pixels = images.reshape(-1, images.shape[-1]).astype(np.float64)
    return len(pixels), pixels.sum(axis=0), np.square(pixels).sum(axis=0)


def _fingerprint(hasher, labels):
    """The data's fingerprint: the images already in ``hasher``, then the labels."""
    hasher.update(json.dumps(np.asarray(labels).tolist(), default=str).encode())
    return hasher.hexdigest()


def read_training_data(x, y=None, name="x", check=check_labels, labels_name="y"):
    """Check and gather the training data ``fit`` was given.

    Args:
        x: images: an array ``(n, h, w)`` or ``(n, h, w, c)``; a list of arrays; a
            `tf.data.Dataset` of ``(image, label)`` elements or batches (then
            ``y`` must be None); or a folder path with one subfolder per class
            (the subfolder names become the labels).
        y: labels for array or list input.
        name: how error messages call ``x``.
        check: checks the labels, ``check(labels, count)`` returning an array
            (default `autoarch.validation.check_labels`; regression passes its own).
        labels_name: how error messages call the labels.

    Returns:
        An `ImageData`.

    Raises:
        ValueError: anything `autoarch.validation` refuses, a dataset without
            labels, or labels given twice.
    """
    if isinstance(x, (str, os.PathLike)):
        if y is not None:
            raise ValueError(f"{name} is an image folder, whose subfolders are the labels: y must be None")
        return _read_folder(*folder_files(x), name, lambda labels, count: check(labels, count, labels_name))
    if isinstance(x, tf.data.Dataset):
        if y is not None:
            raise ValueError(
                f"{name} is a tf.data.Dataset, which must yield (image, label) pairs: y must be None"
            )
        folder = getattr(x, "_autoarch_image_folder", None)  # made by image_folder_dataset: read its files
        if folder is not None:
            return _read_folder(*folder, name, lambda labels, count: check(labels, count, labels_name))
        return _read_stream(x, name, lambda labels, count: check(labels, count, labels_name))
    if y is None:
        raise ValueError(f"y is missing: expected one label per image of {name}")
    images = check_images(x, name)
    labels = check(y, len(images), labels_name)
    hasher = hashlib.sha256()
    count, total, squares = _moments(images, hasher)
    mean = total / count
    return ImageData(
        labels=labels,
        image_shape=images.shape[1:],
        integer_pixels=bool(np.issubdtype(images.dtype, np.integer)),
        mean=mean,
        variance=np.maximum(squares / count - mean**2, 0.0),
        images=images,
        fingerprint=_fingerprint(hasher, labels),
    )


_VALIDATION_SPLIT = Constraint(lambda value: isinstance(value, (int, float)) and 0 < value <= 0.5, "in (0, 0.5]")


def check_validation_split(validation_split, validation_data=None):
    """Refuse a ``validation_split`` of ``fit`` outside (0, 0.5] (unchecked when ``validation_data`` is given).

    Raises:
        ValueError: ``validation_split must be in (0, 0.5], got ...``.
    """
    if validation_data is None:
        _VALIDATION_SPLIT.check("validation_split", validation_split)


def read_validation_data(validation_data, image_shape, check=check_labels):
    """Check and gather ``fit``'s ``validation_data``: ``(x_val, y_val)`` or a dataset of pairs.

    Args:
        validation_data: ``(x_val, y_val)`` (any image form `read_training_data`
            accepts with labels) or a `tf.data.Dataset` of ``(image, label)`` pairs.
        image_shape: the training images' ``(height, width, channels)``, which
            the validation images must have too.
        check: checks the labels, as in `read_training_data`.

    Returns:
        An `ImageData`.

    Raises:
        ValueError: not a pair or a dataset, anything `read_training_data`
            refuses (named ``validation_data``), or another image shape.
    """
    options = {"name": "validation_data", "check": check, "labels_name": "validation_data labels"}
    if isinstance(validation_data, tf.data.Dataset):
        data = read_training_data(validation_data, **options)
    else:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be (x_val, y_val) or a tf.data.Dataset of pairs")
        data = read_training_data(validation_data[0], validation_data[1], **options)
    if tuple(data.image_shape) != tuple(image_shape):
        raise ValueError(
            f"validation_data: expected images of shape {tuple(image_shape)} as in x, "
            f"got {tuple(data.image_shape)}"
        )
    return data


def _element_layout(dataset, name):
    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise ValueError(
            f"{name}: a tf.data.Dataset must yield (image, label) pairs, got elements {spec}"
        )
    image_spec, label_spec = spec
    rank = image_spec.shape.rank
    label_batched = label_spec.shape.rank >= 1 and (
        label_spec.shape[0] is None
        # a static batch size (drop_remainder): (batch, h, w) has a last axis of
        # more than 4, which no channel axis has
        or (rank == 3 and label_spec.shape[0] == image_spec.shape[0] and (image_spec.shape[-1] or 0) > 4)
    )
    if rank == 4 or (rank == 3 and label_batched):
        return dataset.unbatch()
    if rank in (2, 3):
        return dataset
    raise ValueError(
        f"{name}: dataset images must be (height, width[, channels]) elements or batches "
        f"of them, got image shape {image_spec.shape}"
    )


def _scan(batches, name, check, layout_once=False):
    """Check every batch of ``(images, labels)`` (numpy); gather the labels, the statistics, the fingerprint.

    ``layout_once`` hashes the images' layout once, as for an array, so
    an image folder keeps the fingerprint it had when it was read into memory.
    """
    labels, count, total, squares, shape, dtype = [], 0, 0.0, 0.0, None, None
    hasher = hashlib.sha256()
    for images, batch_labels in batches:
        images = check_images(images, name)
        if shape is not None and images.shape[1:] != shape:
            raise ValueError(
                f"{name}: all images must have one shape, got {shape} and then {images.shape[1:]}"
            )
        n, s, q = _moments(images, hasher, layout=not layout_once or shape is None)
        shape, dtype = images.shape[1:], images.dtype
        count, total, squares = count + n, total + s, squares + q
        labels.append(batch_labels)
    if not labels:
        raise ValueError(f"{name}: expected at least one image, the dataset is empty")
    labels = np.concatenate(labels)
    if labels.dtype.kind in "SO":
        labels = labels.astype(str)
    labels = check(labels, len(labels))
    mean = total / count
    return dict(
        labels=labels,
        image_shape=tuple(shape),
        integer_pixels=bool(np.issubdtype(dtype, np.integer)),
        mean=mean,
        variance=np.maximum(squares / count - mean**2, 0.0),
        fingerprint=_fingerprint(hasher, labels),
    )


def _read_stream(dataset, name, check):
    dataset = _element_layout(dataset, name)
    add_channel = dataset.element_spec[0].shape.rank == 2
    images_only = dataset.map(
        lambda image, label: tf.expand_dims(image, -1) if add_channel else image
    )
    batches = dataset.batch(_SCAN_BATCH).as_numpy_iterator()
    return ImageData(**_scan(batches, name, check), stream=images_only)


def _read_folder(files, labels, shape, name, check):
    """An image folder's files as `ImageData` that keeps only the file names and labels in memory."""
    # Decoded here in Python, not through the dataset, so a bad file is a plain ValueError.
    batches = (
        (np.stack([read_image_file(file, shape[:2], shape[2]) for file in files[i:i + _SCAN_BATCH]]),
         labels[i:i + _SCAN_BATCH])
        for i in range(0, len(files), _SCAN_BATCH)
    )
    return ImageData(**_scan(batches, name, check, layout_once=True), files=files)


def read_images(x, image_shape, name="x"):
    """Images to predict on, as a float32 array ``(n, h, w, c)`` matching ``image_shape``.

    Accepts an array, a list of arrays, a `tf.data.Dataset` of images or of
    ``(image, label)`` pairs, batched or not (labels are ignored), or an image
    folder with one subfolder per class (its images resized to ``image_shape``,
    in the order `read_image_folder` reads them).

    Raises:
        ValueError: what `autoarch.validation.check_images` refuses, or a height,
            width or channel count different from ``image_shape``.
    """
    if isinstance(x, (str, os.PathLike)):
        x, _ = read_image_folder(x, image_size=tuple(image_shape[:2]))
    if isinstance(x, tf.data.Dataset):
        if isinstance(x.element_spec, tuple):
            x = x.map(lambda *element: element[0])
        rank = x.element_spec.shape.rank
        batches = x if rank == 4 or (rank == 3 and x.element_spec.shape[0] is None) else x.batch(256)
        x = np.concatenate(list(batches.as_numpy_iterator()) or [np.zeros((0,) + image_shape)])
    images = check_images(x, name)
    if images.shape[1:] != tuple(image_shape):
        raise ValueError(
            f"{name}: expected images of shape {tuple(image_shape)} (height, width, channels) "
            f"as in fit, got {images.shape[1:]}"
        )
    return images.astype(np.float32, copy=False)
