"""DARTS cells: the continuous `SearchCell` of the supernet and the discrete `Cell`.

A cell takes the outputs of the two previous cells, preprocesses both to the
cell's channel count, computes ``nodes`` intermediate nodes (each the sum of
operations applied to all earlier states) and concatenates the nodes along the
channel axis. Edge ``e`` of a cell runs from state ``j`` to node ``i`` in the
order ``(i=0, j=0), (0, 1), (1, 0), (1, 1), (1, 2), ...``; that order indexes the
rows of the architecture weights and the entries of a `Genotype`.
"""

import keras
from keras import layers, ops

from autoarch.darts.operations import (
    DilConv,
    FactorizedReduce,
    Identity,
    SepConv,
    ReLUConvBN,
    make_operation,
    validate_primitives,
)
from autoarch.darts.primitives import num_edges

__all__ = ["MixedOp", "SearchCell", "Cell", "DropPath", "num_edges", "reduction_layers"]


def reduction_layers(layers_count):
    """Indices of the reduction cells: at 1/3 and 2/3 of the depth, as in DARTS."""
    return sorted({layers_count // 3, 2 * layers_count // 3})


def _preprocess(channels, reduction_prev, search):
    """The two preprocessing layers that bring both cell inputs to ``channels``."""
    if reduction_prev:
        first = FactorizedReduce(channels, 2, search)
    else:
        first = ReLUConvBN(channels, 1, 1, search)
    return first, ReLUConvBN(channels, 1, 1, search)


def _build_preprocess(cell, s0_shape, s1_shape):
    cell.preprocess0.build(tuple(s0_shape))
    cell.preprocess1.build(tuple(s1_shape))


def _add(total, term):
    if term is None:
        return total
    return term if total is None else total + term


def _channel_shuffle(x, groups):
    """Interleave ``groups`` channel groups (PC-DARTS), with static spatial sizes."""
    _, height, width, channels = x.shape
    x = ops.reshape(x, (-1, height, width, groups, channels // groups))
    x = ops.transpose(x, (0, 1, 2, 4, 3))
    return ops.reshape(x, (-1, height, width, channels))


@keras.saving.register_keras_serializable(package="autoarch")
class MixedOp(layers.Layer):
    """One edge of the supernet: the weighted sum of every candidate operation.

    ``call(x, weights)`` returns ``sum_k weights[k] * op_k(x)`` where ``weights`` is
    the softmax of the edge's row of architecture parameters, one entry per
    primitive. ``none`` contributes zeros, so it is never computed; it still takes
    its share of the softmax. The candidates share work: the convolutions take the
    edge's ReLU, computed once, and each candidate folds its weight into its last
    normalization instead of multiplying its output.

    With ``partial_channels=K > 1`` (PC-DARTS) only the first ``channels // K``
    channels go through the operations, the rest bypass them (max-pooled 2x2 at
    stride 2), and the channels are shuffled so the next edge samples others.
    """

    def __init__(self, primitives, channels, stride=1, partial_channels=1, **kwargs):
        super().__init__(**kwargs)
        self.primitives = validate_primitives(primitives)
        self.channels = int(channels)
        self.stride = int(stride)
        self.partial_channels = int(partial_channels)
        if self.partial_channels < 1 or self.channels % self.partial_channels:
            raise ValueError(
                f"partial_channels must be a positive divisor of the channel count "
                f"{self.channels}, got {partial_channels!r}"
            )
        self.active_channels = self.channels // self.partial_channels
        self.active_indices = [i for i, p in enumerate(self.primitives) if p != "none"]
        self.candidates = [
            make_operation(self.primitives[i], self.active_channels, self.stride, search=True)
            for i in self.active_indices
        ]
        # Candidates that start with a ReLU share the edge's one ReLU.
        self.shares_relu = [
            isinstance(c, (SepConv, DilConv, FactorizedReduce)) for c in self.candidates
        ]
        if self.partial_channels > 1 and self.stride == 2:
            self.bypass_pool = layers.MaxPooling2D(2, strides=2, padding="same")
        else:
            self.bypass_pool = None

    def build(self, x_shape, weights_shape=None):
        active = tuple(x_shape[:-1]) + (self.active_channels,)
        for candidate in self.candidates:
            candidate.build(active)
        if self.bypass_pool is not None:
            self.bypass_pool.build(x_shape)

    def call(self, x, weights):
        mixed, bypass = self.mix(x, weights)
        if bypass is None:
            return mixed
        return _channel_shuffle(ops.concatenate([mixed, bypass], axis=-1), self.partial_channels)

    def mix(self, x, weights):
        """The edge before the PC-DARTS shuffle: ``(mixed, bypass)``.

        ``mixed`` is the weighted sum of the candidates on the active channels;
        ``bypass`` the channels that skip them (None without partial channels). A
        `SearchCell` sums these over a node's edges and shuffles once per node:
        the shuffle is a fixed permutation, so it commutes with the sum.
        """
        k = self.partial_channels
        if k > 1:
            # One split, not two slices: a slice's gradient pads a full-size tensor.
            active, bypass = ops.split(x, [self.active_channels], axis=-1)
        else:
            active = x
        activated = ops.relu(active) if any(self.shares_relu) else None
        out = None
        for index, operation, shares_relu in zip(
            self.active_indices, self.candidates, self.shares_relu
        ):
            if shares_relu:
                term = operation(activated, preactivated=True, scale=weights[index])
            else:
                term = operation(active, scale=weights[index])
            out = term if out is None else out + term
        if k == 1:
            return out, None
        if self.bypass_pool is not None:
            bypass = self.bypass_pool(bypass)
        return out, bypass

    def get_config(self):
        return {
            **super().get_config(),
            "primitives": list(self.primitives),
            "channels": self.channels,
            "stride": self.stride,
            "partial_channels": self.partial_channels,
        }


@keras.saving.register_keras_serializable(package="autoarch")
class SearchCell(layers.Layer):
    """A continuous DARTS cell: every edge is a `MixedOp`.

    ``call(s0, s1, weights, edge_weights=None)``: ``weights`` has shape
    ``(num_edges(nodes), len(primitives))`` (softmaxed per row) and is shared by all
    cells of one kind; ``edge_weights`` (PC-DARTS edge normalization) has shape
    ``(num_edges(nodes),)`` and scales each edge's output.
    """

    def __init__(
        self,
        primitives,
        nodes,
        channels,
        reduction,
        reduction_prev,
        partial_channels=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.primitives = validate_primitives(primitives)
        self.nodes = int(nodes)
        self.channels = int(channels)
        self.reduction = bool(reduction)
        self.reduction_prev = bool(reduction_prev)
        self.partial_channels = int(partial_channels)
        self.preprocess0, self.preprocess1 = _preprocess(self.channels, self.reduction_prev, True)
        self.edges = [
            MixedOp(
                self.primitives,
                self.channels,
                2 if self.reduction and j < 2 else 1,
                self.partial_channels,
            )
            for i in range(self.nodes)
            for j in range(2 + i)
        ]

    def build(self, s0_shape, s1_shape, weights_shape=None, edge_weights_shape=None):
        _build_preprocess(self, s0_shape, s1_shape)
        node_shape = (None, None, None, self.channels)
        for edge in self.edges:
            edge.build(node_shape)

    def call(self, s0, s1, weights, edge_weights=None):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self.nodes):
            mixed = bypassed = None
            for j, state in enumerate(states):
                term, bypass = self.edges[offset + j].mix(state, weights[offset + j])
                if edge_weights is not None:
                    term = edge_weights[offset + j] * term
                    bypass = None if bypass is None else edge_weights[offset + j] * bypass
                mixed = _add(mixed, term)
                bypassed = _add(bypassed, bypass)
            offset += len(states)
            if bypassed is not None:
                mixed = _channel_shuffle(
                    ops.concatenate([mixed, bypassed], axis=-1), self.partial_channels
                )
            states.append(mixed)
        return ops.concatenate(states[2:], axis=-1)

    def get_config(self):
        return {
            **super().get_config(),
            "primitives": list(self.primitives),
            "nodes": self.nodes,
            "channels": self.channels,
            "reduction": self.reduction,
            "reduction_prev": self.reduction_prev,
            "partial_channels": self.partial_channels,
        }


@keras.saving.register_keras_serializable(package="autoarch")
class DropPath(layers.Layer):
    """Drop a whole path for some samples during training (scaled to keep the mean).

    The drop probability lives in the non-trainable variable ``rate`` so that a
    schedule (`autoarch.darts.network.DropPathSchedule`) can ramp it during
    training without retracing. Identity in inference.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.rate = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="rate", dtype="float32"
        )

    def call(self, x, training=None):
        if not training:
            return x
        keep = 1.0 - ops.cast(self.rate, x.dtype)
        noise = keras.random.uniform((ops.shape(x)[0], 1, 1, 1), seed=self.seed_generator)
        mask = ops.floor(keep + ops.cast(noise, x.dtype))
        return x / keep * mask

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="autoarch")
class Cell(layers.Layer):
    """A discrete DARTS cell built from one cell of a `Genotype`.

    Args:
        operations: ``(name, input_index)`` pairs, two per node (``Genotype.normal``
            or ``Genotype.reduce``).
        concat: indices of the states concatenated as the output.
        channels: channels of every node.
        reduction: whether edges from the cell inputs use stride 2.
        reduction_prev: whether the previous cell halved the resolution.
        drop_path: whether non-identity operations get a `DropPath`.

    ``call([s0, s1])`` returns ``len(concat) * channels`` channels.
    """

    def __init__(
        self,
        operations,
        concat,
        channels,
        reduction,
        reduction_prev,
        drop_path=True,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.operations = [(str(name), int(index)) for name, index in operations]
        self.concat = [int(i) for i in concat]
        self.channels = int(channels)
        self.reduction = bool(reduction)
        self.reduction_prev = bool(reduction_prev)
        self.drop_path = bool(drop_path)
        self.seed = seed
        self.preprocess0, self.preprocess1 = _preprocess(self.channels, self.reduction_prev, False)
        self.ops = [
            make_operation(name, self.channels, 2 if self.reduction and index < 2 else 1)
            for name, index in self.operations
        ]
        self.drop_paths = [
            DropPath(seed=None if seed is None else seed + i)
            if self.drop_path and not isinstance(op, Identity)
            else None
            for i, op in enumerate(self.ops)
        ]

    def build(self, input_shape):
        s0_shape, s1_shape = input_shape
        _build_preprocess(self, s0_shape, s1_shape)
        node_shape = (None, None, None, self.channels)
        for op, drop in zip(self.ops, self.drop_paths):
            op.build(node_shape)
            if drop is not None:
                drop.build(node_shape)

    def call(self, inputs, training=None):
        s0, s1 = inputs
        states = [self.preprocess0(s0, training=training), self.preprocess1(s1, training=training)]
        for first in range(0, len(self.ops), 2):
            node = None
            for k in (first, first + 1):
                _, index = self.operations[k]
                h = self.ops[k](states[index], training=training)
                if self.drop_paths[k] is not None:
                    h = self.drop_paths[k](h, training=training)
                node = h if node is None else node + h
            states.append(node)
        return ops.concatenate([states[i] for i in self.concat], axis=-1)

    def get_config(self):
        return {
            **super().get_config(),
            "operations": [list(pair) for pair in self.operations],
            "concat": self.concat,
            "channels": self.channels,
            "reduction": self.reduction,
            "reduction_prev": self.reduction_prev,
            "drop_path": self.drop_path,
            "seed": self.seed,
        }
