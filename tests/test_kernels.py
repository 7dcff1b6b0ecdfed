"""The supernet's TensorFlow paths (`autoarch.darts.kernels`) compute what Keras computes, with fewer graph nodes (issue 14)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from autoarch.darts.kernels import batch_stat_norm, depthwise_conv

SIZES = ((7, 7), (8, 8), (9, 9), (7, 10), (12, 12))


def _values_and_gradients(convolve, x, kernel):
    x, kernel = tf.constant(x), tf.Variable(kernel)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = convolve(x, kernel)
        loss = tf.reduce_sum(out * tf.cos(out))  # not linear, so every position's gradient differs
    dx, dkernel = tape.gradient(loss, [x, kernel])
    return out.numpy(), dx.numpy(), dkernel.numpy()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("strides, padding, rate", [(1, "same", 1), (2, "valid", 1), (1, "same", 2)])
def test_depthwise_conv_equals_keras_exactly(size, strides, padding, rate):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, *size, 4)).astype("float32")
    kernel = rng.normal(size=(3, 3, 4, 1)).astype("float32")

    def ours(inputs, weights):
        return depthwise_conv(inputs, weights, strides, padding, dilation_rate=rate)

    def keras_own(inputs, weights):
        return keras.ops.depthwise_conv(inputs, weights, strides, padding, dilation_rate=rate)

    for wrap in (lambda f: f, tf.function):  # eagerly, and traced as in a training step
        expected = _values_and_gradients(wrap(keras_own), x, kernel)
        found = _values_and_gradients(wrap(ours), x, kernel)
        for a, b in zip(found, expected):
            np.testing.assert_array_equal(a, b)


def _traced_nodes(function, *shapes):
    graph = tf.function(function).get_concrete_function(*(tf.TensorSpec(s, tf.float32) for s in shapes)).graph
    return len(graph.as_graph_def().node)


def test_a_traced_dilated_convolution_costs_a_few_nodes_not_a_dozen():
    def ten(convolve):
        def run(x, kernel):
            for _ in range(10):
                x = convolve(x, kernel)
            return x
        return run

    ours = _traced_nodes(ten(lambda x, k: depthwise_conv(x, k, dilation_rate=2)), (2, 8, 8, 4), (3, 3, 4, 1))
    theirs = _traced_nodes(
        ten(lambda x, k: keras.ops.depthwise_conv(x, k, 1, "same", dilation_rate=2)), (2, 8, 8, 4), (3, 3, 4, 1)
    )
    assert ours <= 3 * 10 + 8  # three ops a call, and constants shared by all ten
    assert theirs > 2 * ours


def test_the_fused_norm_equals_the_reference_and_its_gradient_adds_no_zeros():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 5, 6, 3)).astype("float32") * np.array([0.5, 3.0, 10.0], "float32")
    scale = tf.constant(0.7)

    def gradient(inputs):
        inputs = tf.convert_to_tensor(inputs)
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            out = batch_stat_norm(inputs, 1e-5, scale)
            loss = tf.reduce_sum(out * tf.sin(inputs))
        return out, tape.gradient(loss, inputs)

    fused_out, fused_grad = gradient(x)  # float32: TensorFlow's fused kernel
    reference_out, reference_grad = gradient(x.astype("float64"))  # float64: keras.ops
    np.testing.assert_allclose(fused_out, reference_out, atol=1e-4)
    np.testing.assert_allclose(fused_grad, reference_grad, atol=1e-3)

    graph = tf.function(gradient).get_concrete_function(tf.TensorSpec(x.shape, tf.float32)).graph
    ops = [node.op for node in graph.as_graph_def().node]
    assert "FusedBatchNormGrad" in ops
    assert "ZerosLike" not in ops and "Fill" in ops and ops.count("Fill") == 1  # the scale's fill, no zeros


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", ["sep_conv_3x3", "dil_conv_3x3"])
def test_the_supernets_convolutions_compute_what_their_keras_layers_compute(name, stride):
    from autoarch.darts import make_operation

    x = tf.constant(np.random.default_rng(2).normal(size=(4, 9, 9, 3)).astype("float32"))
    op = make_operation(name, 3, stride, search=True)
    found = op(x).numpy()
    relu = tf.nn.relu(x)
    if name == "dil_conv_3x3":
        spread = op.depthwise(relu)
        expected = op.norm(op.pointwise(spread[:, ::2, ::2, :] if stride == 2 else spread))
    else:
        first = op.depthwise1(op.pad(relu) if op.pad is not None else relu)
        middle = op.norm1(op.pointwise1(first))
        expected = op.norm2(op.pointwise2(op.depthwise2(tf.nn.relu(middle))))
    np.testing.assert_array_equal(found, expected.numpy())
