"""The discrete network built from a `Genotype`, and its drop-path schedule."""

import keras
from keras import layers, ops

from autoarch.darts.cells import Cell, DropPath, reduction_layers
from autoarch.darts.genotype import Genotype
from autoarch.darts.operations import normalization

__all__ = ["build_network", "AuxiliaryHead", "DropPathSchedule", "set_drop_path_rate"]

AUXILIARY_WEIGHT = 0.4
"""Loss weight of the auxiliary head in DARTS's evaluation training."""


@keras.saving.register_keras_serializable(package="autoarch")
class AuxiliaryHead(layers.Layer):
    """DARTS's auxiliary classifier, adapted to any input size.

    ReLU, 5x5 average pooling at stride 3 (``same`` padding, so small maps work), a
    1x1 convolution to 128 channels, batch norm, ReLU, global average pooling and
    a dense layer with ``activation``.
    """

    def __init__(self, num_outputs, activation="softmax", **kwargs):
        super().__init__(**kwargs)
        self.num_outputs = int(num_outputs)
        self.activation = activation
        self.pool = layers.AveragePooling2D(5, strides=3, padding="same")
        self.conv = layers.Conv2D(128, 1, use_bias=False)
        self.norm = normalization(search=False)
        self.global_pool = layers.GlobalAveragePooling2D()
        self.dense = layers.Dense(self.num_outputs, activation=activation)

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.norm.build((None, None, None, 128))
        self.dense.build((None, 128))

    def call(self, x, training=None):
        x = self.pool(ops.relu(x))
        x = ops.relu(self.norm(self.conv(x), training=training))
        return self.dense(self.global_pool(x))

    def get_config(self):
        return {
            **super().get_config(),
            "num_outputs": self.num_outputs,
            "activation": self.activation,
        }


def build_network(
    genotype,
    input_shape,
    num_classes,
    init_channels=16,
    layers=8,
    stem_multiplier=3,
    stem_stride=1,
    drop_path=True,
    auxiliary=False,
    output_activation="softmax",
    seed=None,
    name="darts_network",
):
    """Build the discrete DARTS network of ``genotype`` as a plain functional `keras.Model`.

    The layout mirrors the supernet: a 3x3 convolution stem, ``layers`` cells with
    reduction cells at 1/3 and 2/3 of the depth (channels doubling there), global
    average pooling and a dense output.

    Args:
        genotype: a `Genotype` (or its JSON text).
        input_shape: ``(height, width, channels)`` of the (already scaled) images.
        num_classes: output units (classes, or targets with ``output_activation=None``).
        init_channels: channels of the first cells.
        layers: number of cells.
        stem_multiplier: the stem has ``stem_multiplier * init_channels`` channels.
        stem_stride: stride of the stem convolution; 2 halves the resolution the
            cells work at (4x fewer operations), which pays on larger images.
        drop_path: add `DropPath` to every non-identity operation. Its rate starts
            at 0; ramp it with `DropPathSchedule` during training.
        auxiliary: add an `AuxiliaryHead` after the cell at 2/3 of the depth. The
            model then has two outputs, ``[predictions, aux_predictions]``: train
            with ``y=(y, y)`` and ``loss_weights=[1.0, AUXILIARY_WEIGHT]``.
        output_activation: activation of the output layer (``"softmax"`` gives
            probabilities, ``None`` raw values for regression).
        seed: seeds drop-path's random masks.
        name: the model's name.

    Built inside the scope of a ``tf.distribute`` strategy with several replicas,
    its batch normalizations are synchronized across the replicas (see
    `autoarch.darts.operations.normalization`).

    Returns:
        A `keras.Model` whose layers are all registered, so a saved ``.keras`` file
        loads back after ``import autoarch`` with no ``custom_objects``.
    """
    if isinstance(genotype, str):
        genotype = Genotype.from_json(genotype)
    if not isinstance(genotype, Genotype):
        raise ValueError(f"genotype must be a Genotype or its JSON, got {type(genotype).__name__}")
    if layers < 1 or init_channels < 1 or stem_multiplier < 1 or stem_stride not in (1, 2):
        raise ValueError(
            "layers, init_channels and stem_multiplier must be >= 1 and stem_stride 1 or 2, "
            f"got {layers}, {init_channels}, {stem_multiplier}, {stem_stride}"
        )
    inputs = keras.Input(tuple(input_shape), name="images")
    x = keras.layers.Conv2D(
        stem_multiplier * init_channels,
        3,
        strides=stem_stride,
        padding="same",
        use_bias=False,
        name="stem_conv",
    )(inputs)
    x = normalization(search=False, name="stem_norm")(x)
    s0 = s1 = x
    channels, reduction_prev, aux_output = init_channels, False, None
    reductions = reduction_layers(layers)
    for i in range(layers):
        reduction = i in reductions
        if reduction:
            channels *= 2
        cell = Cell(
            genotype.reduce if reduction else genotype.normal,
            genotype.reduce_concat if reduction else genotype.normal_concat,
            channels,
            reduction,
            reduction_prev,
            drop_path=drop_path,
            seed=None if seed is None else seed + 100 * i,
            name=f"cell_{i}",
        )
        s0, s1 = s1, cell([s0, s1])
        reduction_prev = reduction
        if auxiliary and i == 2 * layers // 3:
            aux_output = AuxiliaryHead(num_classes, output_activation, name="aux_predictions")(s1)
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(s1)
    outputs = keras.layers.Dense(num_classes, activation=output_activation, name="predictions")(x)
    if aux_output is not None:
        outputs = [outputs, aux_output]
    return keras.Model(inputs, outputs, name=name)


def set_drop_path_rate(model, rate):
    """Set the drop probability of every `DropPath` layer inside ``model``."""
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, DropPath):
            layer.rate.assign(rate)


class DropPathSchedule(keras.callbacks.Callback):
    """Ramp the drop-path probability linearly from ``start`` to ``max_rate`` over ``epochs``.

    As in DARTS's evaluation training: epoch ``e`` uses
    ``start + (max_rate - start) * e / epochs`` (``start`` is 0 by default; a
    network that continues an earlier training passes its final rate).
    """

    def __init__(self, max_rate, epochs, start=0.0):
        super().__init__()
        for name, value in (("max_rate", max_rate), ("start", start)):
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        self.max_rate = float(max_rate)
        self.start = float(start)
        self.epochs = max(int(epochs), 1)

    def on_epoch_begin(self, epoch, logs=None):
        set_drop_path_rate(self.model, self.start + (self.max_rate - self.start) * epoch / self.epochs)
