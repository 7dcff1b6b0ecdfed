"""Image files and folders: decoding one file, reading a folder with one subfolder per class.

`read_image_file` decodes a file the one way autoarch does everywhere (fit,
predict, the CLI), so training and serving see the same pixels. A folder is
read whole (`read_image_folder`) or as a dataset that decodes its files as it
is read (`image_folder_dataset`); ``fit`` streams it through `folder_files`
and `file_decoder`.
"""

import os
import re

import numpy as np
import tensorflow as tf

__all__ = [
    "IMAGE_EXTENSIONS",
    "read_image_folder",
    "image_folder_dataset",
    "read_image_file",
    "folder_files",
    "file_decoder",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
"""Files an image folder may hold (what ``tf.io.decode_image`` reads)."""


def read_image_folder(path, image_size=None):
    """Read a folder with one subfolder per class into arrays.

    Every image is decoded (see `read_image_file`) and resized (bilinear) to
    ``image_size``, by default to the size of the first one; the channel count
    is the first image's, and the others are converted to it. ``fit`` does
    not call this: it streams a folder (see `image_folder_dataset`).

    Args:
        path: the folder; its subfolders (sorted by name) are the classes, and
            their image files (`IMAGE_EXTENSIONS`, sorted by name) the samples.
            Hidden subfolders and files (names starting with ``.``) are skipped.
        image_size: ``(height, width)`` every image is resized to; None (the
            default) keeps the first image's size.

    Returns:
        ``(images, labels)``: a uint8 array ``(n, h, w, c)`` and the subfolder
        names as strings.

    Raises:
        ValueError: the path is not a folder, has no class subfolders, or holds
            no image files; a file cannot be decoded as an image; a bad
            ``image_size``.
    """
    files, labels, shape = folder_files(path, image_size)
    images = [read_image_file(file, shape[:2], shape[2]) for file in files]
    return np.stack(images), labels


def image_folder_dataset(path, image_size=None):
    """A folder with one subfolder per class as a `tf.data.Dataset` that decodes its files as it is read.

    The same images, labels and order as `read_image_folder`, without
    holding them in memory: each pass over the dataset reads the files again.
    Given to ``fit``, it is the folder's path with an ``image_size``: ``fit``
    reads the files itself, each subset (search halves, holdout) and each
    reshuffled epoch decoding only the files it needs.

    Args:
        path: the folder (see `read_image_folder`).
        image_size: ``(height, width)`` to resize to; None keeps the first image's size.

    Returns:
        An unbatched dataset of ``(uint8 image (h, w, c), label string)``.

    Raises:
        ValueError: as `read_image_folder`, except that a file which cannot be
            decoded is found only when the dataset reaches it.
    """
    files, labels, shape = folder_files(path, image_size)
    dataset = folder_pairs(files, labels, shape)
    # fit reads the files of this dataset itself: it can then take any subset or order of them cheaply.
    dataset._autoarch_image_folder = (files, labels, shape)
    return dataset


def folder_files(path, image_size=None):
    """``(files, labels, image shape)`` of an image folder, in `read_image_folder`'s order.

    The shape is ``image_size`` (by default the first image's size) and the
    first image's channel count; only the first file is decoded.
    """
    path = os.fspath(path)
    if image_size is not None:
        image_size = _check_image_size(image_size)
    if not os.path.isdir(path):
        raise ValueError(f"expected an image folder with one subfolder per class, got {path!r}")
    classes = sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))
    files = [
        (os.path.join(path, label, f), label)
        for label in classes
        for f in sorted(os.listdir(os.path.join(path, label)))
        # Hidden files are skipped: macOS's "._name.png" resource forks are no images.
        if f.lower().endswith(IMAGE_EXTENSIONS) and not f.startswith(".")
    ]
    if not classes or not files:
        raise ValueError(
            f"{path!r} holds no images: expected one subfolder per class with image files "
            f"({', '.join(IMAGE_EXTENSIONS)}) in each"
        )
    first = read_image_file(files[0][0], image_size)
    return np.array([f for f, _ in files]), np.array([label for _, label in files]), first.shape


def folder_pairs(files, labels, shape):
    """An unbatched dataset of ``(image, label)`` that decodes ``files`` (see `file_decoder`) as it is read."""
    images = tf.data.Dataset.from_tensor_slices(files).map(
        file_decoder(shape), num_parallel_calls=tf.data.AUTOTUNE
    )
    return tf.data.Dataset.zip((images, tf.data.Dataset.from_tensor_slices(labels)))


def file_decoder(shape):
    """A `tf.data` map from a file name to its image, decoded as `read_image_file` does, of ``shape``."""
    shape = tuple(int(v) for v in shape)

    def read(path):
        return read_image_file(path.numpy().decode(), shape[:2], shape[2])

    def decode(path):
        return tf.ensure_shape(tf.py_function(read, [path], tf.uint8), shape)

    return decode


def read_image_file(path, image_size=None, channels=None):
    """Decode one image file into a uint8 array ``(height, width, channels)``.

    Args:
        path: a PNG, JPEG, BMP or GIF file (of a GIF, the first frame).
        image_size: ``(height, width)`` to resize to (bilinear); None keeps the
            file's size.
        channels: 1 (gray), 2 (gray and alpha), 3 (RGB) or 4 (RGBA) to convert
            to: colour becomes gray (luma) or gray is repeated, and alpha is
            dropped or added opaque; None keeps the file's channels.

    Returns:
        The image as a uint8 numpy array.

    Raises:
        ValueError: the file cannot be read or decoded as an image, or a bad
            ``image_size`` or ``channels``.
    """
    path = str(os.fspath(path))  # a plain str: error messages show it as the user wrote it
    if image_size is not None:
        image_size = _check_image_size(image_size)
    if channels is not None and channels not in (1, 2, 3, 4):
        raise ValueError(f"channels must be 1, 2, 3 or 4, got {channels!r}")
    try:
        image = tf.io.decode_image(tf.io.read_file(path), expand_animations=False)
    except tf.errors.OpError as error:
        # "{{function_node ...}} Unknown image file format. ... [Op:DecodeImage] name: " -> the middle
        reason = re.sub(r"\{\{.*?\}\}|\[Op:.*", "", error.message, flags=re.S).strip()
        raise ValueError(f"cannot read {path!r} as an image: {reason}") from None
    if channels is not None and image.shape[-1] != channels:
        image = _convert_channels(image, channels)
    if image_size is not None and tuple(image.shape[:2]) != image_size:
        image = tf.cast(tf.round(tf.image.resize(image, image_size)), tf.uint8)
    return image.numpy()


def _check_image_size(image_size):
    size = tuple(image_size) if isinstance(image_size, (tuple, list)) else None
    if size is None or len(size) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in size):
        raise ValueError(f"image_size must be (height, width), two integers >= 1, got {image_size!r}")
    return tuple(int(v) for v in size)


def _convert_channels(image, channels):
    """``image`` (uint8, 1 to 4 channels) with ``channels`` channels."""
    has_alpha = image.shape[-1] in (2, 4)
    color = image[..., :-1] if has_alpha else image
    if channels in (1, 2) and color.shape[-1] == 3:
        color = tf.image.rgb_to_grayscale(color)
    elif channels in (3, 4) and color.shape[-1] == 1:
        color = tf.image.grayscale_to_rgb(color)
    if channels in (2, 4):
        alpha = image[..., -1:] if has_alpha else tf.fill(tf.shape(color[..., :1]), tf.constant(255, color.dtype))
        color = tf.concat([color, alpha], -1)
    return color
