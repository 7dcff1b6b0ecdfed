"""Backend-specific paths of the layers: the fused batch norm, and replicas.

The one place a layer reaches past ``keras.ops``: normalizing with batch
statistics is the most frequent operation of the supernet (eight per edge), and
TensorFlow's fused batch-norm kernel does its forward and backward pass about 4.5x
faster on CPU than the same math written with ``keras.ops`` (measured on 64x28x28x8
float32 tensors). Other backends, and dtypes the fused kernel lacks (float64, used
by the exact-gradient tests), take the ``keras.ops`` path, which is the reference.

Under a ``tf.distribute`` strategy with several replicas (``devices=`` of the
estimators), each replica sees a slice of the batch; the batch statistics are
then summed over the replicas (`several_replicas` says when), so that the
normalization, and so the loss, equals the one of a single device on the whole
batch.
"""

import keras
from keras import ops

__all__ = ["batch_stat_norm", "graph_constant", "several_replicas"]

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
        gamma = tf.fill([channels], tf.cast(scale, tf.float32))
    empty = graph_constant(("zeros", 0), lambda: tf.zeros([0], tf.float32))
    return tf.raw_ops.FusedBatchNormV3(
        x=x,
        scale=gamma,
        offset=graph_constant(("zeros", channels), lambda: tf.zeros([channels], tf.float32)),
        mean=empty,
        variance=empty,
        epsilon=max(epsilon, 1.001e-5),
        is_training=True,
    )[0]


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
