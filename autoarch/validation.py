"""Checks on user input, run before any work starts and before anything is written.

Every failure is a ``ValueError`` whose message says what was expected and what
came, so a user can fix the call without reading the library.
"""

import numpy as np

__all__ = ["MIN_IMAGE_SIZE", "MAX_IMAGE_CHANNELS", "check_images", "check_labels", "check_targets"]

MIN_IMAGE_SIZE = 8
"""Smallest height and width accepted (two reductions leave a 2x2 map)."""

MAX_IMAGE_CHANNELS = 4
"""Most channels accepted: grayscale, grayscale + alpha, RGB, RGBA."""


def check_images(x, name="x"):
    """Return images as a numpy array of shape ``(n, height, width, channels)``.

    Accepts ``(n, h, w)`` (a channel axis is added) or ``(n, h, w, c)`` arrays, or a
    list of equally shaped images, of any real numeric dtype (uint8 or float
    pixels); the dtype is kept.

    Raises:
        ValueError: no images; images of different shapes; non-numeric or boolean
            pixels; NaN or infinite pixels; a number of dimensions other than 3 or
            4; height or width below `MIN_IMAGE_SIZE`; more than
            `MAX_IMAGE_CHANNELS` channels.
    """
    if isinstance(x, (list, tuple)):
        shapes = {np.shape(image) for image in x}
        if len(shapes) > 1:
            raise ValueError(
                f"{name}: all images must have the same shape, got shapes {sorted(shapes)[:5]}"
            )
    array = np.asarray(x)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise ValueError(
            f"{name}: pixels must be integers or floats (uint8 or float images), "
            f"got dtype {array.dtype}"
        )
    if array.ndim not in (3, 4):
        raise ValueError(
            f"{name}: expected images of shape (n, height, width) or "
            f"(n, height, width, channels), got an array of shape {array.shape}"
        )
    if array.shape[0] == 0:
        raise ValueError(f"{name}: expected at least one image, got none (shape {array.shape})")
    if array.ndim == 3:
        array = array[..., np.newaxis]
    _, height, width, channels = array.shape
    if height < MIN_IMAGE_SIZE or width < MIN_IMAGE_SIZE:
        raise ValueError(
            f"{name}: images must be at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} pixels, "
            f"got {height}x{width}"
        )
    if not 1 <= channels <= MAX_IMAGE_CHANNELS:
        raise ValueError(
            f"{name}: images must have 1 to {MAX_IMAGE_CHANNELS} channels, got {channels} "
            f"(shape {array.shape}; channels go last)"
        )
    if np.issubdtype(array.dtype, np.floating):
        bad = ~np.isfinite(array)
        if bad.any():
            first = int(np.argmax(bad.reshape(len(array), -1).any(axis=1)))
            raise ValueError(
                f"{name}: pixels must be finite, found {int(bad.sum())} NaN or infinite "
                f"values (first in image {first})"
            )
    return array


def check_labels(y, num_images, name="y"):
    """Return labels as a numpy array after checking them against ``num_images`` images.

    Accepts a 1-D sequence of class labels (ints, strings, bools) or a 2-D one-hot
    matrix.

    Raises:
        ValueError: no labels, a count different from ``num_images``, more than
            two dimensions, missing values (NaN or None), a one-hot matrix whose
            rows are not exactly one 1, or fewer than two distinct classes.
    """
    array = np.asarray(y)
    if array.ndim == 0 or array.shape[0] == 0:
        raise ValueError(f"{name}: expected one label per image, got none")
    if array.shape[0] != num_images:
        raise ValueError(
            f"{name}: expected one label per image ({num_images}), got {array.shape[0]} labels"
        )
    if array.ndim > 2:
        raise ValueError(
            f"{name}: expected a 1-D array of labels or a 2-D one-hot matrix, "
            f"got shape {array.shape}"
        )
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.dtype == object and any(label is None for label in array.ravel()):
        raise ValueError(f"{name}: labels must not be missing (None)")
    if np.issubdtype(array.dtype, np.floating) and np.isnan(array).any():
        raise ValueError(f"{name}: labels must not be NaN, found {int(np.isnan(array).sum())}")
    if array.ndim == 2:
        is_binary = np.isin(array, (0, 1)).all()
        if not is_binary or not (array.sum(axis=1) == 1).all():
            raise ValueError(
                f"{name}: a 2-D label array must be one-hot (each row a single 1), "
                f"got shape {array.shape} with other values"
            )
        present = int(np.count_nonzero(array.sum(axis=0)))
    else:
        present = len(np.unique(array))
    if present < 2:
        raise ValueError(f"{name}: expected at least 2 classes, got {present}")
    return array


def check_targets(y, count, name="y"):
    """Return regression targets as a float64 array after checking them.

    Accepts a 1-D array of targets or a 2-D ``(n, k)`` one, of numbers or bools.

    Args:
        y: the targets.
        count: the number of images they belong to, or None to leave the count unchecked.
        name: how error messages call ``y``.

    Raises:
        ValueError: no targets, more than two dimensions, a count other than
            ``count``, values that are not numbers, or NaN or infinite values.
    """
    array = np.asarray(y)
    if array.ndim not in (1, 2) or array.shape[0] == 0:
        raise ValueError(f"{name}: expected a 1-D or 2-D array of targets, got shape {array.shape}")
    if count is not None and array.shape[0] != count:
        raise ValueError(f"{name}: expected one target per image ({count}), got {array.shape[0]}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"{name}: regression targets must be numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: regression targets must be finite, found NaN or infinite values")
    return array
