"""Label encoding round trips in the user's own form and dtype."""

import numpy as np
import pytest

from autoarch.labels import LabelEncoding


@pytest.mark.parametrize(
    "y",
    [
        np.array([7, 3, 7, 5], np.int16),
        np.array([7, 3, 7, 5], np.uint8),
        np.array(["dog", "cat", "dog", "bird"]),
        np.array([True, False, True, True]),
        np.eye(3, dtype=np.float32)[[2, 0, 1, 2]],
    ],
)
def test_round_trip_keeps_form_and_dtype(y):
    encoding = LabelEncoding().fit(y)
    indices = encoding.encode(y)
    assert indices.dtype == np.int32 and indices.min() >= 0
    assert indices.max() < encoding.n_classes
    decoded = encoding.decode(indices)
    assert decoded.dtype == y.dtype
    np.testing.assert_array_equal(decoded, y)


def test_classes_are_sorted_and_index_the_encoding():
    encoding = LabelEncoding().fit(["b", "a", "c", "a"])
    assert encoding.classes_.tolist() == ["a", "b", "c"]
    assert encoding.encode(["c", "a"]).tolist() == [2, 0]


def test_unknown_labels_and_wrong_one_hot_width_are_refused():
    with pytest.raises(ValueError, match="not seen in fit"):
        LabelEncoding().fit([1, 2, 1]).encode([1, 3])
    with pytest.raises(ValueError, match="3 columns"):
        LabelEncoding().fit(np.eye(3)[[0, 1, 2]]).encode(np.eye(2))
