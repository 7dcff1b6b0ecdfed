"""The trained network's `BatchNormalization` is Keras's layer with a fused training pass (issue 14)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from autoarch.darts.operations import BatchNormalization, normalization


def _pair(shape, **options):
    """Keras's layer and ours, built alike, with the same non-trivial scale and offset."""
    layers = (
        keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, **options),
        BatchNormalization(momentum=0.9, epsilon=1e-5, **options),
    )
    for layer in layers:
        layer.build(shape)
        if layer.gamma is not None:
            layer.gamma.assign(np.linspace(0.5, 1.5, shape[-1]))
        if layer.beta is not None:
            layer.beta.assign(np.linspace(-1.0, 1.0, shape[-1]))
    return layers


def _training_step(layer, x):
    """Outputs, and the gradients of a nonlinear loss for the input and every trainable variable."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * tf.cos(y))
    return [y, *tape.gradient(loss, [x, *(variable.value for variable in layer.trainable_variables)])]


def _images(shape=(8, 5, 5, 6), dtype="float32"):
    rng = np.random.default_rng(0)
    return tf.constant((rng.normal(size=shape) * 3.0 + 1.0).astype(dtype))


@pytest.mark.parametrize("traced", [False, True])
def test_training_pass_computes_what_keras_computes(traced):
    x = _images()
    keras_layer, ours = _pair(x.shape)
    step = tf.function(_training_step) if traced else _training_step
    for _ in range(3):  # the moving averages move from step to step
        expected, found = step(keras_layer, x), step(ours, x)
        assert len(found) == 4
        for a, b in zip(found, expected):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours.moving_mean.numpy(), keras_layer.moving_mean.numpy(), rtol=1e-6, atol=1e-6)
    # Keras averages the biased batch variance, the kernel gives the Bessel-corrected one (by 200/199 here).
    np.testing.assert_allclose(ours.moving_variance.numpy(), keras_layer.moving_variance.numpy(), rtol=1e-6)


def test_training_pass_is_one_fused_kernel():
    x = _images()
    _, ours = _pair(x.shape)
    graph = tf.function(_training_step).get_concrete_function(ours, x).graph
    kinds = {op.type for op in graph.get_operations()}
    assert "FusedBatchNorm" in kinds and "FusedBatchNormGrad" in kinds
    assert not kinds & {"Mean", "SquaredDifference", "Rsqrt"}


def test_inference_is_keras_own_path():
    x = _images()
    keras_layer, ours = _pair(x.shape)
    for layer in (keras_layer, ours):
        layer.moving_mean.assign(np.linspace(0.0, 1.0, 6))
        layer.moving_variance.assign(np.linspace(1.0, 2.0, 6))
    np.testing.assert_array_equal(ours(x, training=False).numpy(), keras_layer(x, training=False).numpy())


@pytest.mark.parametrize(
    "shape, options",
    [((16, 6), {}), ((4, 3, 3, 6), {"dtype": "float64"}), ((4, 3, 3, 6), {"center": False})],
    ids=["not images", "float64", "no offset"],
)
def test_where_the_kernel_does_not_apply_it_is_keras_layer(shape, options):
    x = _images(shape, options.get("dtype", "float32"))
    keras_layer, ours = _pair(x.shape, **options)
    for a, b in zip(_training_step(ours, x), _training_step(keras_layer, x)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(ours.moving_variance.numpy(), keras_layer.moving_variance.numpy())


def _model(norm_class, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6, 6, 2))
    x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
    x = norm_class()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


def test_weight_files_are_interchangeable_with_keras_layer(tmp_path):
    """Keras names weight paths after classes: ours keeps Keras's name, so a project saved before still loads."""
    saved = _model(keras.layers.BatchNormalization, seed=1)
    saved.layers[2].moving_variance.assign(np.arange(1.0, 5.0))
    path = str(tmp_path / "before.weights.h5")
    saved.save_weights(path)
    loaded = _model(BatchNormalization, seed=2)
    loaded.load_weights(path)
    for a, b in zip(loaded.get_weights(), saved.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_saved_model_file_keeps_the_fused_layer(tmp_path):
    model = _model(BatchNormalization)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[2]) is BatchNormalization
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 2)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_normalization_gives_the_fused_layer_outside_several_replicas():
    assert type(normalization(search=False)) is BatchNormalization
