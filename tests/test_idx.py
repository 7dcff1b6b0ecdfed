"""IDX files (the MNIST format) read back what was written."""

import gzip
import struct

import numpy as np
import pytest

from autoarch.idx import read_idx, read_mnist_folder

_CODES = {np.dtype("u1"): 0x08, np.dtype(">f4"): 0x0D, np.dtype(">i4"): 0x0C}


def write_idx(path, array):
    """Write ``array`` as an IDX file, gzipped when ``path`` ends in ``.gz``."""
    array = np.asarray(array)
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    header = bytes([0, 0, _CODES[big_endian.dtype], array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as file:
        file.write(header + big_endian.tobytes())


@pytest.mark.parametrize("name", ["images.gz", "images"])
@pytest.mark.parametrize("dtype", ["uint8", "float32", "int32"])
def test_round_trip(tmp_path, name, dtype):
    array = (np.arange(2 * 3 * 5) * 7 % 256).astype(dtype).reshape(2, 3, 5)
    write_idx(tmp_path / name, array)
    read = read_idx(tmp_path / name)
    assert read.shape == (2, 3, 5) and read.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(read, array)


def test_not_idx_and_truncated_files_are_refused(tmp_path):
    (tmp_path / "text").write_text("hello world")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "text")
    write_idx(tmp_path / "full", np.zeros((4, 2), np.uint8))
    (tmp_path / "cut").write_bytes((tmp_path / "full").read_bytes()[:-1])
    with pytest.raises(ValueError, match="needs"):
        read_idx(tmp_path / "cut")
    (tmp_path / "plain.gz").write_bytes(b"\x00\x00\x08\x01")
    with pytest.raises(ValueError, match="not a gzipped IDX"):
        read_idx(tmp_path / "plain.gz")
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "missing")


def test_mnist_folder_reads_the_parts_present(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.ones((3, 4, 4), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 2], np.uint8))
    parts = read_mnist_folder(tmp_path)
    assert list(parts) == ["t10k"]
    assert parts["t10k"][0].shape == (3, 4, 4) and list(parts["t10k"][1]) == [0, 1, 2]


def test_mnist_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="holds no MNIST IDX files"):
        read_mnist_folder(tmp_path)
    with pytest.raises(ValueError, match="expected a folder"):
        read_mnist_folder(tmp_path / "missing")
    write_idx(tmp_path / "train-images-idx3-ubyte", np.ones((3, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="only one of the train"):
        read_mnist_folder(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.array([0, 1], np.uint8))
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        read_mnist_folder(tmp_path)
