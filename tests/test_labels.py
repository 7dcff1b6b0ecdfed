"""Label encoding round trips in the user's own form and dtype."""

import json

import numpy as np
import pytest

from autoarch.labels import LabelEncoding, TargetScaling


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


@pytest.mark.parametrize(
    "y",
    [
        np.array([7, 3, 7, 5], np.int16),
        np.array(["dog", "cat", "dog", "bird"]),
        np.array([True, False, True, True]),
        np.eye(3, dtype=np.float32)[[2, 0, 1, 2]],
    ],
)
def test_encoding_restored_from_its_json_decodes_as_the_fitted_one(y):
    fitted = LabelEncoding().fit(y)
    restored = LabelEncoding.from_dict(json.loads(json.dumps(fitted.to_dict())))
    np.testing.assert_array_equal(restored.classes_, fitted.classes_)
    indices = fitted.encode(y)
    np.testing.assert_array_equal(restored.encode(y), indices)
    decoded = restored.decode(indices)
    assert decoded.dtype == y.dtype
    np.testing.assert_array_equal(decoded, y)


@pytest.mark.parametrize("y", [np.array([1.0, 3.0, 5.0, 7.0]), np.array([[1, 10], [3, 10], [5, 10], [7, 10]])])
def test_target_scaling_standardises_and_its_layer_gives_the_units_back(y):
    scaling = TargetScaling().fit(y)
    encoded = scaling.encode(y)
    assert encoded.dtype == np.float32 and encoded.shape == (4, scaling.n_outputs)
    np.testing.assert_allclose(encoded[:, 0].mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(encoded[:, 0].std(), 1.0, atol=1e-6)
    if y.ndim == 2:  # a constant column keeps scale 1
        np.testing.assert_array_equal(encoded[:, 1], 0.0)
    restored = TargetScaling.from_dict(json.loads(json.dumps(scaling.to_dict())))
    assert restored.ndim_ == y.ndim
    back = np.asarray(restored.output_layer(encoded))
    np.testing.assert_allclose(back, y.reshape(4, -1), rtol=1e-5)


def test_target_scaling_refuses_what_check_targets_refuses():
    with pytest.raises(ValueError, match="must be finite"):
        TargetScaling().fit(np.array([1.0, np.nan, 2.0]))
    scaling = TargetScaling().fit(np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="must be numbers"):
        scaling.encode(np.array(["a", "b"]))
