"""The fused optimizers compute Keras's Adam and SGD updates, with one kernel per variable."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from autoarch.darts.optimizers import FusedAdam, FusedSGD


def run_updates(optimizer, steps=5, compiled=True):
    """Values of two variables after ``steps`` updates with fixed gradients."""
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.normal(size=(3, 4)).astype("float32")), keras.Variable(np.ones(5, "float32"))]
    gradients = [[tf.constant(rng.normal(size=v.shape).astype("float32")) for v in variables] for _ in range(steps)]
    optimizer.build(variables)

    def step(grads):
        optimizer.apply(grads, variables)

    if compiled:
        step = tf.function(step)
    for grads in gradients:
        step(grads)
    return [v.numpy() for v in variables] + [optimizer.iterations.numpy()]


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize(
    "fused, reference",
    [
        (lambda: FusedAdam(0.01), lambda: keras.optimizers.Adam(0.01)),
        (lambda: FusedAdam(0.01, beta_1=0.5, beta_2=0.999), lambda: keras.optimizers.Adam(0.01, beta_1=0.5, beta_2=0.999)),
        (lambda: FusedSGD(0.05, momentum=0.9), lambda: keras.optimizers.SGD(0.05, momentum=0.9)),
        (lambda: FusedSGD(0.05), lambda: keras.optimizers.SGD(0.05)),  # no momentum: Keras's update
    ],
)
def test_fused_update_equals_keras(fused, reference, compiled):
    for got, expected in zip(run_updates(fused(), compiled=compiled), run_updates(reference(), compiled=compiled)):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)  # float rounding of values near 1


def test_fused_adam_uses_one_kernel_per_variable():
    optimizer = FusedAdam(0.01)
    variables = [keras.Variable(np.zeros((2, 2), "float32")) for _ in range(3)]
    optimizer.build(variables)
    graph = tf.function(lambda grads: optimizer.apply(grads, variables)).get_concrete_function(
        [tf.TensorSpec((2, 2), tf.float32)] * 3
    ).graph
    kinds = [op.type for op in graph.get_operations()]
    assert kinds.count("ResourceApplyAdam") == 3
