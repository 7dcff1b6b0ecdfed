"""Batch-norm statistics recomputed with a network's final weights (issue 35)."""

import keras
import numpy as np

from autoarch.darts import DARTS_V2, build_network
from autoarch.darts.batch_statistics import batch_norm_layers, recompute_batch_norm_statistics
from autoarch.darts.network import set_drop_path_rate


def _network():
    network = build_network(DARTS_V2, (8, 8, 1), 10, init_channels=4, layers=3, drop_path=True, seed=0)
    set_drop_path_rate(network, 0.2)
    return network


def test_each_norm_takes_the_size_weighted_average_of_its_batch_statistics():
    network = _network()
    rng = np.random.default_rng(0)
    batches = [rng.normal(2.0, 3.0, size=(n, 8, 8, 1)).astype(np.float32) for n in (24, 8)]
    assert recompute_batch_norm_statistics(network, ((images, None) for images in batches)) == 32

    # The stem's norm sees the stem convolution's output: its statistics are computable here.
    stem = [keras.ops.convert_to_numpy(network.get_layer("stem_conv")(images)) for images in batches]
    means = [features.mean(axis=(0, 1, 2)) for features in stem]
    variances = [features.var(axis=(0, 1, 2)) for features in stem]
    norm = network.get_layer("stem_norm")
    np.testing.assert_allclose(norm.moving_mean, (24 * means[0] + 8 * means[1]) / 32, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(norm.moving_variance, (24 * variances[0] + 8 * variances[1]) / 32, rtol=1e-4)

    # Every norm moved off its start (mean 0, variance 1); momenta and drop-path rates are as they were.
    norms = batch_norm_layers(network)
    assert len(norms) > 10
    for layer in norms:
        assert layer.momentum == 0.9
        assert not np.allclose(layer.moving_variance, 1.0)
    rates = {float(layer.rate) for layer in network._flatten_layers() if hasattr(layer, "rate")}
    assert rates == {np.float32(0.2)}


def test_inference_then_matches_training_mode_on_the_same_images():
    network = _network()
    images = np.random.default_rng(1).normal(size=(64, 8, 8, 1)).astype(np.float32)
    recompute_batch_norm_statistics(network, [images])
    inference = keras.ops.convert_to_numpy(network(images, training=False))
    set_drop_path_rate(network, 0.0)
    training = keras.ops.convert_to_numpy(network(images, training=True))
    np.testing.assert_allclose(inference, training, atol=1e-4)


def test_a_network_without_batch_norm_or_without_batches_is_left_alone():
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert recompute_batch_norm_statistics(dense, [np.ones((3, 4), np.float32)]) == 0
    network = _network()
    before = [np.asarray(layer.moving_variance).copy() for layer in batch_norm_layers(network)]
    assert recompute_batch_norm_statistics(network, []) == 0
    for layer, variance in zip(batch_norm_layers(network), before):
        np.testing.assert_array_equal(layer.moving_variance, variance)
