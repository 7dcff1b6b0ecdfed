"""Input checks: every bad input is a ValueError that says what was expected."""

import numpy as np
import pytest

from autoarch.validation import check_images, check_labels


def test_images_get_a_channel_axis_and_keep_their_dtype():
    x = np.zeros((5, 8, 9), np.uint8)
    checked = check_images(x)
    assert checked.shape == (5, 8, 9, 1) and checked.dtype == np.uint8
    rgb = np.zeros((2, 10, 10, 3), np.float32)
    assert check_images(rgb).shape == (2, 10, 10, 3)


def test_a_list_of_images_is_accepted():
    images = [np.zeros((8, 8, 3), np.float64) for _ in range(4)]
    assert check_images(images).shape == (4, 8, 8, 3)


@pytest.mark.parametrize(
    "x, message",
    [
        (np.zeros((0, 8, 8)), "at least one image"),
        (np.zeros((8, 8)), "shape"),
        (np.zeros((2, 8, 8, 1, 1)), "shape"),
        (np.zeros((2, 7, 8)), "at least 8x8"),
        (np.zeros((2, 8, 8, 5)), "1 to 4 channels"),
        (np.array([[["a"] * 8] * 8] * 2), "integers or floats"),
        (np.zeros((2, 8, 8), bool), "integers or floats"),
        (np.full((2, 8, 8), np.nan), "finite"),
        (np.full((2, 8, 8), np.inf, np.float32), "finite"),
        ([np.zeros((8, 8)), np.zeros((9, 9))], "same shape"),
    ],
)
def test_bad_images_are_refused(x, message):
    with pytest.raises(ValueError, match=message):
        check_images(x)


@pytest.mark.parametrize(
    "y",
    [
        np.array([0, 1, 2, 1]),
        np.array(["cat", "dog", "cat", "dog"]),
        np.array([True, False, True, True]),
        np.eye(2)[[0, 1, 1, 0]],
        [3, 1, 3, 1],
    ],
)
def test_good_labels_pass(y):
    assert len(check_labels(y, 4)) == 4


@pytest.mark.parametrize(
    "y, message",
    [
        ([], "got none"),
        ([0, 1, 1], r"one label per image \(4\), got 3"),
        (np.zeros((4, 2, 2)), "1-D array"),
        ([1, 1, 1, 1], "at least 2 classes"),
        ([0.0, np.nan, 1.0, 1.0], "NaN"),
        (np.array(["a", None, "b", "a"], dtype=object), "missing"),
        (np.array([[1, 1], [0, 1], [1, 0], [0, 1]]), "one-hot"),
        (np.eye(3)[[0, 0, 0, 0]], "at least 2 classes"),
    ],
)
def test_bad_labels_are_refused(y, message):
    with pytest.raises(ValueError, match=message):
        check_labels(y, 4)
