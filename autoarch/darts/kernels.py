"""Backend-specific paths of the layers: the fused batch norms, depthwise convolutions, and replicas.

The one place a layer reaches past ``keras.ops``: normalizing with batch
statistics is the most frequent operation of the supernet (eight per edge), and
TensorFlow's fused batch-norm kernel does its forward and backward pass about 4.5x
faster on CPU than the same math written with ``keras.ops`` (measured on 64x28x28x8
float32 tensors). Other backends, and dtypes the fused kernel lacks (float64, used
by the exact-gradient tests), take the ``keras.ops`` path, which is the reference.
The trained network's affine norms take the same kernel in training
(`fused_batch_norm`), where Keras's layer writes about a dozen small ops.

Depthwise convolutions call TensorFlow's op directly, and a dilated one is
written out as TensorFlow computes it (space to batch, a valid convolution,
batch to space) with its paddings as constants shared by the whole traced
step: TensorFlow's wrapper adds a few small nodes per call, a dozen when
dilated.

Under a ``tf.distribute`` strategy with several replicas (``devices=`` of the
estimators), each replica sees a slice of the batch; the batch statistics are
then summed over the replicas (`several_replicas` says when), so that the
normalization, and so the loss, equals the one of a single device on the whole
batch.
"""

import keras
from keras import ops

__all__ = ["batch_stat_norm", "fused_batch_norm", "depthwise_conv", "graph_constant", "several_replicas"]

_FUSED_DTYPES = ("float16", "bfloat16", "float32")


def batch_stat_norm(x, epsilon, scale=None):
    """Normalize each channel of NHWC ``x`` with its batch mean and (biased) variance.

    Args:
        x: a 4-D tensor.
        epsilon: added to the variance.
        scale: optional scalar multiplying the result (the mixing weight of an
            operation, folded in for free).
    """
    if keras.backend.backend() == "tensorflow":
        context = _replica_context()
        if context is not None:
            return _synchronized_tensorflow(x, epsilon, scale, context)
        if x.dtype in _FUSED_DTYPES:
            return _fused_tensorflow(x, epsilon, scale)
    # Not ops.moments: its TensorFlow version stops the gradient through the mean
    # inside the variance, which is exact for first derivatives only.
    centered = x - ops.mean(x, axis=(0, 1, 2), keepdims=True)
    variance = ops.mean(ops.square(centered), axis=(0, 1, 2), keepdims=True)
    factor = ops.rsqrt(variance + epsilon)
    if scale is not None:
        factor = factor * ops.cast(scale, factor.dtype)
    return centered * factor


def fused_batch_norm(x, gamma, beta, epsilon):
    """A training pass of an affine batch norm of NHWC ``x``, through TensorFlow's fused kernel.

    Normalizes each channel with its batch mean and biased variance, then
    scales by ``gamma`` and shifts by ``beta``: the math of Keras's
    ``BatchNormalization`` in training, in one kernel forward and one
    backward instead of a dozen small ops each. An ``epsilon`` below the
    kernel's smallest, 1.001e-5, is raised to it (Keras's default is 1e-5).

    Returns:
        ``(outputs, mean, variance)``, the batch's mean and biased variance
        (the kernel's own variance is Bessel-corrected; it is converted back),
        or None where the kernel does not apply: another backend, a dtype
        other than float32, a rank other than 4, or a step on several
        replicas (whose statistics are the whole batch's).
    """
    if keras.backend.backend() != "tensorflow" or x.dtype != "float32" or len(x.shape) != 4:
        return None
    if _replica_context() is not None:
        return None
    import tensorflow as tf

    outputs, mean, corrected = _fused_training_kernel(x, ops.cast(gamma, "float32"), ops.cast(beta, "float32"), epsilon)
    count = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
    return outputs, mean, corrected * (tf.maximum(count - 1.0, 0.0) / count)


def depthwise_conv(x, kernel, strides=1, padding="same", dilation_rate=1):
    """Keras's ``ops.depthwise_conv`` of NHWC ``x``, with the ops and values TensorFlow computes it with, and fewer nodes.

    ``tf.nn.depthwise_conv2d`` (through which Keras goes) adds a few constant
    nodes per call, and a dozen for a dilated convolution, whose paddings it
    works out in the graph. Here the op is called directly, and a dilated
    convolution is written out as TensorFlow writes it (space to batch, a
    valid convolution, batch to space) with its paddings computed from the
    static spatial sizes and shared by the whole traced step
    (`graph_constant`). Other backends, and a dilated convolution of unknown
    spatial size, take ``keras.ops.depthwise_conv``.

    Args:
        x: a 4-D tensor.
        kernel: a ``(k, k, channels, 1)`` kernel.
        strides: the stride (the same on both axes; 1 when dilated).
        padding: ``"same"`` or ``"valid"`` (``"same"`` when dilated).
        dilation_rate: the dilation rate (the same on both axes).
    """
    height, width = x.shape[1:3]
    kernel = ops.cast(kernel, x.dtype)
    dilated = dilation_rate > 1
    if keras.backend.backend() != "tensorflow" or (dilated and (height is None or width is None)):
        return ops.depthwise_conv(x, kernel, strides, padding, dilation_rate=dilation_rate)
    import tensorflow as tf

    if not dilated:
        return tf.raw_ops.DepthwiseConv2dNative(
            input=x, filter=kernel, strides=[1, strides, strides, 1], padding=padding.upper())
    if strides != 1 or padding != "same":
        raise ValueError("a dilated depthwise convolution here has stride 1 and 'same' padding")
    rate = dilation_rate
    span = (kernel.shape[0] - 1) * rate  # the dilated window, less one
    start, end = span // 2, span - span // 2
    extra = [(rate - (size + span) % rate) % rate for size in (height, width)]  # to a multiple of the rate
    key = (height, width, span, rate)
    paddings = graph_constant(("dilation paddings", key), lambda: tf.constant(
        [[start, end + extra[0]], [start, end + extra[1]]], tf.int32))
    crops = graph_constant(("dilation crops", key), lambda: tf.constant([[0, extra[0]], [0, extra[1]]], tf.int32))
    block = graph_constant(("dilation block", rate), lambda: tf.constant([rate, rate], tf.int32))
    spread = tf.raw_ops.SpaceToBatchND(input=x, block_shape=block, paddings=paddings)
    convolved = tf.raw_ops.DepthwiseConv2dNative(input=spread, filter=kernel, strides=[1, 1, 1, 1], padding="VALID")
    return tf.raw_ops.BatchToSpaceND(input=convolved, block_shape=block, crops=crops)


def graph_constant(key, make):
    """``make()``, created once per graph being traced and shared by every call with ``key``.

    A supernet's step makes the same small constants (zero offsets, pooling
    window counts) hundreds of times; each is a graph node that costs time to
    trace, so a traced graph gets one of each. Eager calls just call ``make``.
    """
    import tensorflow as tf

    if tf.executing_eagerly():
        return make()
    graph = tf.compat.v1.get_default_graph()
    # Kept on the graph itself, so it goes with the graph: a cache keyed by the
    # graph elsewhere would hold it alive through the tensors (their .graph).
    cache = getattr(graph, "_autoarch_constants", None)
    if cache is None:
        cache = graph._autoarch_constants = {}
    if key not in cache:
        with _no_control_dependencies():
            cache[key] = make()
    return cache[key]


def _no_control_dependencies():
    """A context without the control dependencies of the current block, so a cached constant fits everywhere."""
    import tensorflow as tf

    return tf.control_dependencies(None)


def _fused_tensorflow(x, epsilon, scale):
    import tensorflow as tf

    # The raw op with a filled scale: the public wrapper adds several constants and
    # checks per call, which slows tracing of a supernet's hundreds of norms.
    channels = x.shape[-1]
    if scale is None:
        gamma = graph_constant(("ones", channels), lambda: tf.ones([channels], tf.float32))
    else:
        dims = graph_constant(("fill dims", channels), lambda: tf.constant([channels], tf.int32))
        gamma = tf.fill(dims, tf.cast(scale, tf.float32))
    offset = graph_constant(("zeros", channels), lambda: tf.zeros([channels], tf.float32))
    return _fused_training_kernel(x, gamma, offset, epsilon)[0]


def _fused_training_kernel(x, scale, offset, epsilon):
    """TensorFlow's fused batch-norm op in training: ``(outputs, batch mean, Bessel-corrected batch variance)``.

    The raw op: its public wrapper adds several constants and checks per call.
    An ``epsilon`` below the kernel's smallest, 1.001e-5, is raised to it.
    """
    import tensorflow as tf

    empty = graph_constant(("zeros", 0), lambda: tf.zeros([0], tf.float32))
    # For float32 the first version of the op: the same kernels, but a gradient
    # tape accepts no gradient for its statistics outputs, where for V3 it adds
    # a zeros node for each of them (five nodes fewer per norm in a traced step).
    fused = tf.raw_ops.FusedBatchNorm if x.dtype == tf.float32 else tf.raw_ops.FusedBatchNormV3
    return fused(
        x=x, scale=scale, offset=offset, mean=empty, variance=empty, epsilon=max(epsilon, 1.001e-5), is_training=True
    )[:3]


def several_replicas():
    """Whether layers built now run on several replicas (devices) in sync.

    True inside the scope of a ``tf.distribute`` strategy with more than one
    replica (TensorFlow backend only). Layers built then synchronize their batch
    statistics across the replicas (``BatchNormalization(synchronized=True)``).
    """
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return tf.distribute.has_strategy() and tf.distribute.get_strategy().num_replicas_in_sync > 1


def _replica_context():
    """The replica context of a step running on several replicas, else None."""
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def _synchronized_tensorflow(x, epsilon, scale, context):
    """`batch_stat_norm` with the mean and variance of the batch across all replicas.

    One all-reduce of the per-channel sums of ``x`` and ``x**2`` and the sample
    count (the variance is ``E[x**2] - E[x]**2``, as Keras's synchronized batch
    norm computes it); the all-reduce carries the gradient, so the backward pass
    is the whole batch's too, with one more all-reduce. A replica with an empty
    slice of the batch takes part.
    """
    import tensorflow as tf

    if x.dtype in _FUSED_DTYPES:
        epsilon = max(epsilon, 1.001e-5)  # what the fused kernel of one device uses
    channels = x.shape[-1]
    local_count = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), x.dtype)
    local = tf.concat(
        [tf.reduce_sum(x, axis=(0, 1, 2)), tf.reduce_sum(tf.square(x), axis=(0, 1, 2)), [local_count]],
        axis=0,
    )
    sums = context.all_reduce(tf.distribute.ReduceOp.SUM, local)
    count = sums[-1]
    mean = sums[:channels] / count
    variance = tf.maximum(sums[channels : 2 * channels] / count - tf.square(mean), 0.0)
    factor = tf.math.rsqrt(variance + epsilon)
    if scale is not None:
        factor = factor * tf.cast(scale, factor.dtype)
    return (x - mean) * factor
