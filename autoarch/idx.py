"""Reading IDX files, the format MNIST and Fashion-MNIST are distributed in."""

import gzip
import os

import numpy as np

__all__ = ["read_idx", "read_mnist_folder"]

# The third byte of the magic number gives the element type.
_IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path):
    """Read one IDX file, gzipped (``.gz``) or not, into a numpy array.

    The header is two zero bytes, an element-type code, the number of
    dimensions, then each dimension as a big-endian int32; the data follows.

    Args:
        path: the file, e.g. ``t10k-images-idx3-ubyte.gz``.

    Returns:
        numpy.ndarray: the array with the shape the header gives, in native
        byte order (uint8 for MNIST images and labels).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not IDX, or its size does not match its header.
    """
    path = os.fspath(path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as file:
            raw = file.read()
    except gzip.BadGzipFile as error:
        raise ValueError(f"{path!r} is not a gzipped IDX file: {error}") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{path!r} is not an IDX file: it does not start with an IDX magic number")
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], ">i4"))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(shape) != ndim or len(raw) != expected:
        raise ValueError(f"{path!r} holds {len(raw)} bytes but its header {shape} needs {expected}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory, prefix, kind):
    for name in (f"{prefix}-{kind}-ubyte.gz", f"{prefix}-{kind}-ubyte"):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def read_mnist_folder(directory):
    """Read the MNIST-style IDX files of a folder.

    Looks for ``train-images-idx3-ubyte[.gz]`` / ``train-labels-idx1-ubyte[.gz]``
    and ``t10k-images-idx3-ubyte[.gz]`` / ``t10k-labels-idx1-ubyte[.gz]``, the
    names MNIST and Fashion-MNIST use.

    Args:
        directory: the folder.

    Returns:
        dict: ``{"train": (images, labels), "t10k": (images, labels)}`` with
        the parts found (at least one).

    Raises:
        ValueError: the folder holds neither part, a part has images without
            labels, or a part's image and label counts differ.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(f"expected a folder of MNIST IDX files, got {directory!r}")
    parts = {}
    for prefix in ("train", "t10k"):
        images, labels = _find(directory, prefix, "images-idx3"), _find(directory, prefix, "labels-idx1")
        if images is None and labels is None:
            continue
        if images is None or labels is None:
            raise ValueError(f"{directory!r} holds only one of the {prefix} images and labels files")
        parts[prefix] = (read_idx(images), read_idx(labels))
        if len(parts[prefix][0]) != len(parts[prefix][1]):
            raise ValueError(
                f"{prefix} in {directory!r}: {len(parts[prefix][0])} images but {len(parts[prefix][1])} labels"
            )
    if not parts:
        raise ValueError(
            f"{directory!r} holds no MNIST IDX files (expected train-images-idx3-ubyte.gz, "
            "t10k-images-idx3-ubyte.gz and their labels files)"
        )
    return parts
