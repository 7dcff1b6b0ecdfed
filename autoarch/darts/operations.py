"""The DARTS operations, one Keras layer each, written with ``keras.layers`` and ``keras.ops`` only.

Every stride-2 operation centres output pixel ``i`` on input pixel ``2 * i`` and
produces ``ceil(n / 2)`` pixels from ``n``, for odd and even ``n`` alike, so that the
outputs of all operations on one edge can be summed (28 -> 14 -> 7 -> 4 on MNIST).
Keras refuses ``strides > 1`` together with ``dilation_rate > 1``, so dilated and
pooling operations at stride 2 run at stride 1 and keep every second pixel; the
dilated convolution does so before its pointwise convolution, so only the cheap
depthwise part pays for the full resolution.

Inside a `MixedOp` the operations of one edge share work: the convolutions take
the edge's ReLU once (``preactivated=True``) and every operation folds its mixing
weight into its last normalization (``scale=w``), saving a full-size pass each.

Two flavours of each operation exist: ``search=True`` (inside the supernet) uses
`BatchStatNorm`, a batch-statistics normalization without learned scale or moving
averages, and follows pools with it, as the DARTS search model does; ``search=False``
(the discrete network) uses affine `BatchNormalization`: Keras's layer, whose
training pass is TensorFlow's fused kernel.
"""

import keras
import numpy as np
from keras import layers, ops

from autoarch.darts.kernels import batch_stat_norm, depthwise_conv, fused_batch_norm, graph_constant, several_replicas
from autoarch.darts.primitives import PRIMITIVES, validate_primitives

__all__ = [
    "PRIMITIVES",
    "validate_primitives",
    "BatchStatNorm",
    "BatchNormalization",
    "ReLUConvBN",
    "SepConv",
    "DilConv",
    "Pool",
    "Identity",
    "Zero",
    "FactorizedReduce",
    "make_operation",
    "normalization",
    "output_size",
]

_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-5


def output_size(size, stride):
    """Spatial size an operation produces from ``size`` pixels at ``stride`` (1 or 2)."""
    return size if stride == 1 else (size + 1) // 2


def _check_stride(stride):
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride!r}")
    return stride


def _channels(shape, channels):
    """``shape`` with its last axis replaced: sublayers only need the channel count."""
    return tuple(shape[:-1]) + (channels,)


def _normalize(norm, x, training, scale):
    """Apply an operation's last norm; only search norms take a mixing ``scale``."""
    if scale is None:
        return norm(x, training=training)
    return norm(x, scale=scale)


def _every_second_pixel(x):
    return x[:, ::2, ::2, :]


def _average_pool_3x3(x):
    """3x3 average pooling at stride 1 that excludes the padding, as a depthwise sum.

    Equal to ``AveragePooling2D(3, 1, "same")`` on TensorFlow, and about 2.5x faster
    forward and backward on CPU. Needs static spatial sizes.
    """
    height, width, channels = x.shape[1:]
    dtype = x.dtype
    kernel = graph_constant(("window", channels, dtype), lambda: ops.ones((3, 3, channels, 1), dtype))
    sums = depthwise_conv(x, kernel)
    counts = graph_constant(("window counts", height, width, dtype), lambda: _window_counts(height, width, dtype))
    return sums / counts


def _window_counts(height, width, dtype):
    """Pixels of each 3x3 window inside a ``height`` x ``width`` image, shape ``(1, h, w, 1)``."""
    rows = np.minimum(np.arange(height) + 1, height - 1) - np.maximum(np.arange(height) - 1, 0) + 1
    columns = np.minimum(np.arange(width) + 1, width - 1) - np.maximum(np.arange(width) - 1, 0) + 1
    return ops.convert_to_tensor(np.outer(rows, columns)[None, :, :, None], dtype)


@keras.saving.register_keras_serializable(package="autoarch")
class BatchStatNorm(layers.Layer):
    """Normalize each channel with the statistics of the current batch.

    The DARTS search model's ``BatchNorm2d(affine=False)``: no scale, no offset, and
    no moving averages, so the supernet has no state besides its trainable variables
    and a forward pass changes nothing (which the second-order step relies on). It
    behaves the same in training and inference. ``call(x, scale=None)`` multiplies
    the result by the scalar ``scale``: a `MixedOp` folds its mixing weight in here.
    Inside a step that runs on several replicas, the statistics are those of the
    whole batch across the replicas.
    """

    def __init__(self, epsilon=_BN_EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def call(self, x, scale=None):
        return batch_stat_norm(x, self.epsilon, scale)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="autoarch")
class BatchNormalization(layers.BatchNormalization):
    """Keras's ``BatchNormalization``, whose training pass on images is TensorFlow's fused kernel.

    The same variables, configuration and inference as Keras's layer (what an
    export or a TFLite conversion sees is Keras's own path). In training, on
    float32 NHWC images, with a scale and an offset, without a mask,
    renormalization or synchronized statistics, the normalization and its
    gradient are one kernel each (`autoarch.darts.kernels.fused_batch_norm`)
    instead of a dozen small ops, and the moving averages are updated as
    Keras updates them, with the biased batch variance. Anywhere else it is
    Keras's layer. The class keeps Keras's name so that weight files, whose
    paths Keras derives from class names, are the same with either layer.
    """

    def call(self, inputs, training=None, mask=None):
        fusable = (
            training and self.trainable and mask is None and not self.renorm and not self.synchronized
            and self.scale and self.center and self.axis in (-1, len(inputs.shape) - 1)
        )
        fused = fused_batch_norm(inputs, self.gamma, self.beta, self.epsilon) if fusable else None
        if fused is None:
            return super().call(inputs, training=training, mask=mask)
        outputs, mean, variance = fused
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return outputs


def normalization(search, name=None):
    """The normalization layer of an operation: `BatchStatNorm` in search, affine `BatchNormalization` otherwise.

    The affine norm is Keras's ``BatchNormalization(synchronized=True)``
    (batch statistics summed over the replicas) when it is built inside the
    scope of a strategy with several replicas, so that training on several
    devices normalizes as one device does; elsewhere it is `BatchNormalization`,
    Keras's layer with a fused training pass. `BatchStatNorm` synchronizes by
    itself whenever it runs on several replicas.
    """
    if search:
        return BatchStatNorm(name=name)
    if several_replicas():
        return layers.BatchNormalization(momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, synchronized=True, name=name)
    return BatchNormalization(momentum=_BN_MOMENTUM, epsilon=_BN_EPSILON, name=name)


class _Operation(layers.Layer):
    """Shared config handling for the operations: channels, stride and flavour."""

    def __init__(self, channels, stride=1, search=False, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.stride = _check_stride(stride)
        self.search = bool(search)

    def _depthwise(self, layer, x):
        """``layer`` (a `DepthwiseConv2D`) on ``x``; in search, TensorFlow's op called with its kernel.

        The supernet has dozens of these per cell: calling the op directly
        (`autoarch.darts.kernels.depthwise_conv`) computes the same values with
        fewer graph nodes to trace.
        """
        if not self.search:
            return layer(x)
        return depthwise_conv(x, layer.kernel, layer.strides[0], layer.padding, dilation_rate=layer.dilation_rate[0])

    def get_config(self):
        return {
            **super().get_config(),
            "channels": self.channels,
            "stride": self.stride,
            "search": self.search,
        }


@keras.saving.register_keras_serializable(package="autoarch")
class ReLUConvBN(_Operation):
    """ReLU, a ``kernel_size`` convolution to ``channels`` channels, then normalization."""

    def __init__(self, channels, kernel_size=1, stride=1, search=False, **kwargs):
        super().__init__(channels, stride, search, **kwargs)
        self.kernel_size = int(kernel_size)
        self.conv = layers.Conv2D(
            self.channels, self.kernel_size, strides=self.stride, padding="same", use_bias=False
        )
        self.norm = normalization(self.search)

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.norm.build(_channels(input_shape, self.channels))

    def call(self, x, training=None):
        return self.norm(self.conv(ops.relu(x)), training=training)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size}


@keras.saving.register_keras_serializable(package="autoarch")
class SepConv(_Operation):
    """DARTS ``sep_conv_k``: two (ReLU, depthwise kxk, pointwise 1x1, norm) blocks.

    The first block carries the stride. At stride 2 the input is zero-padded by
    ``k // 2`` on every side and convolved without padding, which centres output
    pixel ``i`` on input pixel ``2 * i`` as the reference's symmetric padding does.
    """

    def __init__(self, channels, kernel_size=3, stride=1, search=False, **kwargs):
        super().__init__(channels, stride, search, **kwargs)
        self.kernel_size = int(kernel_size)
        k = self.kernel_size
        if self.stride == 2:
            self.pad = layers.ZeroPadding2D(k // 2)
            self.depthwise1 = layers.DepthwiseConv2D(k, strides=2, padding="valid", use_bias=False)
        else:
            self.pad = None
            self.depthwise1 = layers.DepthwiseConv2D(k, padding="same", use_bias=False)
        self.pointwise1 = layers.Conv2D(self.channels, 1, use_bias=False)
        self.norm1 = normalization(self.search)
        self.depthwise2 = layers.DepthwiseConv2D(k, padding="same", use_bias=False)
        self.pointwise2 = layers.Conv2D(self.channels, 1, use_bias=False)
        self.norm2 = normalization(self.search)

    def build(self, input_shape):
        if self.pad is not None:
            self.pad.build(input_shape)
        self.depthwise1.build(input_shape)
        out = _channels(input_shape, self.channels)
        for layer, shape in (
            (self.pointwise1, input_shape),
            (self.norm1, out),
            (self.depthwise2, out),
            (self.pointwise2, out),
            (self.norm2, out),
        ):
            layer.build(shape)

    def call(self, x, training=None, preactivated=False, scale=None):
        if not preactivated:
            x = ops.relu(x)
        if self.pad is not None:
            x = self.pad(x)
        x = self.norm1(self.pointwise1(self._depthwise(self.depthwise1, x)), training=training)
        x = self.pointwise2(self._depthwise(self.depthwise2, ops.relu(x)))
        return _normalize(self.norm2, x, training, scale)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size}


@keras.saving.register_keras_serializable(package="autoarch")
class DilConv(_Operation):
    """DARTS ``dil_conv_k``: ReLU, depthwise kxk with dilation 2, pointwise 1x1, norm.

    At stride 2 the depthwise convolution runs at stride 1 and every second pixel is
    kept before the pointwise convolution (Keras has no strided dilated convolution).
    """

    def __init__(self, channels, kernel_size=3, stride=1, search=False, dilation=2, **kwargs):
        super().__init__(channels, stride, search, **kwargs)
        self.kernel_size = int(kernel_size)
        self.dilation = int(dilation)
        self.depthwise = layers.DepthwiseConv2D(
            self.kernel_size, padding="same", dilation_rate=self.dilation, use_bias=False
        )
        self.pointwise = layers.Conv2D(self.channels, 1, use_bias=False)
        self.norm = normalization(self.search)

    def build(self, input_shape):
        self.depthwise.build(input_shape)
        self.pointwise.build(input_shape)
        self.norm.build(_channels(input_shape, self.channels))

    def call(self, x, training=None, preactivated=False, scale=None):
        x = self._depthwise(self.depthwise, x if preactivated else ops.relu(x))
        if self.stride == 2:
            x = _every_second_pixel(x)
        return _normalize(self.norm, self.pointwise(x), training, scale)

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "dilation": self.dilation}


@keras.saving.register_keras_serializable(package="autoarch")
class Pool(_Operation):
    """3x3 max or average pooling (average excludes the padding), then norm in search.

    The average is computed as a depthwise sum divided by the window counts when
    the spatial size is static (faster on CPU), with ``AveragePooling2D`` otherwise.

    At stride 2 the pool runs at stride 1 and every second pixel is kept, so the
    window of output ``i`` is centred on input ``2 * i`` like the other operations.
    The input must already have ``channels`` channels (pools do not change them).
    """

    def __init__(self, channels, kind="max", stride=1, search=False, **kwargs):
        super().__init__(channels, stride, search, **kwargs)
        if kind not in ("max", "avg"):
            raise ValueError(f"pool kind must be 'max' or 'avg', got {kind!r}")
        self.kind = kind
        pool_class = layers.MaxPooling2D if kind == "max" else layers.AveragePooling2D
        self.pool = pool_class(3, strides=1, padding="same")
        self.norm = normalization(True) if self.search else None

    def build(self, input_shape):
        self.pool.build(input_shape)
        if self.norm is not None:
            self.norm.build(input_shape)

    def call(self, x, training=None, scale=None):
        if self.kind == "avg" and None not in x.shape[1:3]:
            x = _average_pool_3x3(x)
        else:
            x = self.pool(x)
        if self.stride == 2:
            x = _every_second_pixel(x)
        if self.norm is not None:
            return self.norm(x, scale=scale)
        return x if scale is None else x * scale

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}


@keras.saving.register_keras_serializable(package="autoarch")
class Identity(_Operation):
    """DARTS ``skip_connect`` at stride 1: the input unchanged."""

    def call(self, x, training=None, scale=None):
        return x if scale is None else x * scale


@keras.saving.register_keras_serializable(package="autoarch")
class Zero(_Operation):
    """DARTS ``none``: zeros of the output shape (every second pixel at stride 2)."""

    def call(self, x, training=None):
        if self.stride == 2:
            x = _every_second_pixel(x)
        return ops.zeros_like(x)


@keras.saving.register_keras_serializable(package="autoarch")
class FactorizedReduce(_Operation):
    """Halve the resolution with two offset 1x1 stride-2 convolutions, concatenated.

    DARTS ``skip_connect`` at stride 2, and the preprocessing of a cell that follows a
    reduction. The second convolution sees the input shifted by one pixel; the input
    is padded by one pixel at the bottom and right first so both halves have
    ``ceil(n / 2)`` pixels for odd ``n`` too.
    """

    def __init__(self, channels, stride=2, search=False, **kwargs):
        super().__init__(channels, stride, search, **kwargs)
        if self.stride != 2:
            raise ValueError(f"FactorizedReduce needs stride 2, got {stride!r}")
        odd = self.channels // 2
        self.conv_even = layers.Conv2D(self.channels - odd, 1, strides=2, use_bias=False)
        # With a single channel there is no second half: the shifted path is dropped.
        self.conv_odd = layers.Conv2D(odd, 1, strides=2, use_bias=False) if odd else None
        self.shift = layers.ZeroPadding2D(((0, 1), (0, 1)))
        self.norm = normalization(self.search)

    def build(self, input_shape):
        self.shift.build(input_shape)
        self.conv_even.build(input_shape)
        if self.conv_odd is not None:
            self.conv_odd.build(input_shape)
        self.norm.build(_channels(input_shape, self.channels))

    def call(self, x, training=None, preactivated=False, scale=None):
        if not preactivated:
            x = ops.relu(x)
        if self.conv_odd is None:
            return _normalize(self.norm, self.conv_even(x), training, scale)
        # ops.slice, not [:, 1:, 1:, :]: the gradient of a strided slice is several
        # times slower on CPU than a slice's (a pad).
        shifted = ops.slice(self.shift(x), (0, 1, 1, 0), (-1, -1, -1, -1))
        x = ops.concatenate([self.conv_even(x), self.conv_odd(shifted)], axis=-1)
        return _normalize(self.norm, x, training, scale)


def make_operation(name, channels, stride=1, search=False):
    """Build the layer for DARTS operation ``name`` on ``channels`` channels.

    Args:
        name: one of `PRIMITIVES`.
        channels: input and output channel count.
        stride: 1 keeps the spatial size, 2 halves it (rounding up).
        search: True for the supernet flavour (batch-statistics norm, norm after pools).

    Returns:
        A Keras layer mapping ``(batch, h, w, channels)`` to
        ``(batch, output_size(h, stride), output_size(w, stride), channels)``.
    """
    _check_stride(stride)
    if name == "none":
        return Zero(channels, stride, search)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        return Pool(channels, name[:3], stride, search)
    if name == "skip_connect":
        if stride == 1:
            return Identity(channels, 1, search)
        return FactorizedReduce(channels, 2, search)
    if name in ("sep_conv_3x3", "sep_conv_5x5"):
        return SepConv(channels, int(name[-1]), stride, search)
    if name in ("dil_conv_3x3", "dil_conv_5x5"):
        return DilConv(channels, int(name[-1]), stride, search)
    raise ValueError(f"unknown operation {name!r}; expected one of {PRIMITIVES}")
