"""What a discrete network costs, counted as autoarch computes it: multiply-adds and parameters.

The first part of hardware-aware search (issue 16): analytic costs that need no
device. Each operation is counted the way `autoarch.darts.operations` really
runs it, not as an idealised layer would: a stride-2 pooling or dilated
convolution runs at full resolution and keeps every second pixel, so its
depthwise part costs four times what a strided layer would; a stride-2 skip
connection is a `FactorizedReduce` (two offset 1x1 convolutions).

``flops`` counts multiply-adds of convolutions and dense layers, and one
operation per window pixel of a pooling (9 per output); normalizations,
activations and additions are not counted (they are small, and an exported
model folds its batch norms). ``params`` counts every weight the Keras model
holds (`keras.Model.count_params`): kernels, biases, and each batch norm's
scale, offset and moving mean and variance.
"""

from dataclasses import dataclass

import numpy as np

from autoarch.darts.cells import reduction_layers
from autoarch.darts.genotype import Genotype
from autoarch.darts.operations import output_size
from autoarch.darts.primitives import PRIMITIVES, num_edges

__all__ = ["Cost", "operation_cost", "network_cost", "EdgeCosts", "edge_costs", "edge_shapes"]

POOL_WINDOW = 9
"""Window pixels of the 3x3 poolings."""


@dataclass(frozen=True)
class Cost:
    """Multiply-adds and parameters of a part of a network; costs add up with ``+``.

    Attributes:
        flops: multiply-adds of one image's forward pass.
        params: weights held (trainable or not).
    """

    flops: int = 0
    params: int = 0

    def __add__(self, other):
        return Cost(self.flops + other.flops, self.params + other.params)


def _conv(height, width, kernel, channels_in, channels_out):
    """A convolution with ``height`` x ``width`` outputs, no bias."""
    weights = kernel * kernel * channels_in * channels_out
    return Cost(height * width * weights, weights)


def _depthwise(height, width, kernel, channels):
    """A depthwise convolution with ``height`` x ``width`` outputs, no bias."""
    weights = kernel * kernel * channels
    return Cost(height * width * weights, weights)


def _norm(channels):
    """An affine batch norm: scale, offset, moving mean and variance; no multiply-adds counted."""
    return Cost(0, 4 * channels)


def _relu_conv_norm(channels_in, channels_out, height, width):
    """`autoarch.darts.operations.ReLUConvBN` with a 1x1 kernel (a cell's preprocessing)."""
    return _conv(height, width, 1, channels_in, channels_out) + _norm(channels_out)


def _factorized_reduce(channels_in, channels_out, height, width):
    """`autoarch.darts.operations.FactorizedReduce`: two offset 1x1 stride-2 convolutions and a norm."""
    half_height, half_width = output_size(height, 2), output_size(width, 2)
    odd = channels_out // 2
    return (
        _conv(half_height, half_width, 1, channels_in, channels_out - odd)
        + _conv(half_height, half_width, 1, channels_in, odd)
        + _norm(channels_out)
    )


def _stem(input_shape, init_channels, stem_multiplier, stem_stride):
    """``(cost, output shape)`` of the stem: a 3x3 convolution and a norm."""
    height, width, image_channels = (int(v) for v in input_shape)
    height, width = output_size(height, stem_stride), output_size(width, stem_stride)
    channels = stem_multiplier * init_channels
    return _conv(height, width, 3, image_channels, channels) + _norm(channels), (height, width, channels)


def _cells(layers, init_channels):
    """``(reduction, reduction_prev, channels)`` of each cell, as `build_network` lays them out."""
    reductions, channels, reduction_prev = reduction_layers(layers), init_channels, False
    for i in range(layers):
        reduction = i in reductions
        channels *= 2 if reduction else 1
        yield reduction, reduction_prev, channels
        reduction_prev = reduction


def _preprocess(previous, current, channels, reduction_prev):
    """A cell's two preprocessing layers, from input shapes ``previous`` and ``current``."""
    first = _factorized_reduce if reduction_prev else _relu_conv_norm
    return first(previous[2], channels, previous[0], previous[1]) + _relu_conv_norm(
        current[2], channels, current[0], current[1]
    )


def operation_cost(name, channels, height, width, stride=1):
    """The cost of one operation of the discrete network on a ``height`` x ``width`` x ``channels`` input.

    Args:
        name: one of `autoarch.darts.primitives.PRIMITIVES`.
        channels: input and output channels.
        height: the input's height.
        width: the input's width.
        stride: 1, or 2 on the edges from a reduction cell's inputs.

    Raises:
        ValueError: an unknown operation or stride.
    """
    if stride not in (1, 2):
        raise ValueError(f"stride must be 1 or 2, got {stride!r}")
    out_height, out_width = output_size(height, stride), output_size(width, stride)
    if name == "none":
        return Cost()
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        return Cost(POOL_WINDOW * height * width * channels, 0)  # at full resolution, also at stride 2
    if name == "skip_connect":
        return Cost() if stride == 1 else _factorized_reduce(channels, channels, height, width)
    if name in ("sep_conv_3x3", "sep_conv_5x5"):
        kernel = int(name[-1])
        block = _conv(out_height, out_width, 1, channels, channels) + _norm(channels)
        return (
            _depthwise(out_height, out_width, kernel, channels)
            + block
            + _depthwise(out_height, out_width, kernel, channels)
            + block
        )
    if name in ("dil_conv_3x3", "dil_conv_5x5"):
        kernel = int(name[-1])
        return (
            _depthwise(height, width, kernel, channels)  # at full resolution, also at stride 2
            + _conv(out_height, out_width, 1, channels, channels)
            + _norm(channels)
        )
    raise ValueError(f"unknown operation {name!r}; expected one of {PRIMITIVES}")


def network_cost(genotype, input_shape, num_outputs, init_channels=16, layers=8, stem_multiplier=3,
                 stem_stride=1, drop_path=False):
    """The cost of `autoarch.darts.build_network`'s network for the same arguments.

    Args:
        genotype: a `Genotype` (or its JSON text).
        input_shape: ``(height, width, channels)`` of the images.
        num_outputs: output units (classes, or targets).
        init_channels: as `build_network`.
        layers: as `build_network`.
        stem_multiplier: as `build_network`.
        stem_stride: as `build_network`.
        drop_path: the network was built with drop path: each non-identity
            operation holds one more weight (its drop rate).

    Returns:
        A `Cost`; its ``params`` equal the built model's ``count_params()``.
    """
    if isinstance(genotype, str):
        genotype = Genotype.from_json(genotype)
    total, current = _stem(input_shape, init_channels, stem_multiplier, stem_stride)
    previous = current
    for reduction, reduction_prev, channels in _cells(layers, init_channels):
        cost, output = _cell_cost(genotype, reduction, reduction_prev, channels, previous, current, drop_path)
        total += cost
        previous, current = current, output
    features = current[2]
    return total + Cost(features * num_outputs, features * num_outputs + num_outputs)


def _cell_cost(genotype, reduction, reduction_prev, channels, previous, current, drop_path):
    """``(cost, output shape)`` of one cell whose inputs have shapes ``previous`` and ``current``."""
    operations = genotype.reduce if reduction else genotype.normal
    concat = genotype.reduce_concat if reduction else genotype.normal_concat
    height, width = current[0], current[1]
    cost = _preprocess(previous, current, channels, reduction_prev)
    for name, index in operations:
        stride = 2 if reduction and index < 2 else 1
        at = (height, width) if index < 2 or not reduction else (output_size(height, 2), output_size(width, 2))
        cost += operation_cost(name, channels, at[0], at[1], stride)
        if drop_path and not (name == "skip_connect" and stride == 1):
            cost += Cost(0, 1)
    if reduction:
        height, width = output_size(height, 2), output_size(width, 2)
    return cost, (height, width, len(concat) * channels)


@dataclass(frozen=True)
class EdgeCosts:
    """A cost of the final network (multiply-adds, or measured milliseconds), split so that a search can weigh each choice.

    For every genotype with ``nodes`` intermediate nodes that derivation can
    give (two inputs per node, every node concatenated), the network's
    cost is ``fixed`` plus, for each chosen ``(operation, input)``
    of node ``i``, ``normal[edge, operation]`` (or ``reduce``), where
    ``edge`` is the supernet's row of the alphas for that input of node ``i``.

    Attributes:
        fixed: the stem, every cell's preprocessing and the output layer (for
            latency also the cells' sums and concatenations).
        normal: ``(edges, operations)``: an operation on an edge, summed over
            every normal cell of the final network (each at its own width and
            resolution).
        reduce: the same for the reduction cells.
        primitives: the operations, in the order of the columns.
        nodes: intermediate nodes per cell.
    """

    fixed: int
    normal: np.ndarray
    reduce: np.ndarray
    primitives: tuple
    nodes: int

    def of(self, genotype):
        """The cost of ``genotype``'s network, from the tables (for multiply-adds, equal to `network_cost`'s)."""
        total = self.fixed
        for table, operations in ((self.normal, genotype.normal), (self.reduce, genotype.reduce)):
            for position, (name, index) in enumerate(operations):
                node = position // 2
                total += table[_edge(node, index), self.primitives.index(name)]
        return int(round(total)) if isinstance(self.fixed, (int, np.integer)) else float(total)


    def cheapest(self):
        """The least any derivable genotype costs: per node, its two cheapest inputs at their cheapest non-``none`` operation."""
        keep = [column for column, name in enumerate(self.primitives) if name != "none"]
        total = self.fixed
        for table in (self.normal, self.reduce):
            for node in range(self.nodes):
                rows = table[num_edges(node) : num_edges(node + 1)][:, keep]
                total += np.sort(rows.min(axis=1))[:2].sum()
        return int(round(total)) if isinstance(self.fixed, (int, np.integer)) else float(total)


def _edge(node, index):
    """The row of the alphas for input ``index`` of intermediate node ``node``."""
    return num_edges(node) + index


def edge_shapes(nodes, input_shape, init_channels=16, layers=8, stem_multiplier=3, stem_stride=1):
    """Every edge of the final network's cells, as `build_network` lays them out.

    Yields ``(reduction, edge, channels, height, width, stride)``: whether the
    cell is a reduction cell, the supernet's row of the alphas for that
    input of that node (see `EdgeCosts`), and the shape an operation on it
    works at (its input's ``height`` x ``width``, ``channels`` in and out).
    Arguments as `edge_costs`.
    """
    _, current = _stem(input_shape, init_channels, stem_multiplier, stem_stride)
    for reduction, _, channels in _cells(layers, init_channels):
        height, width = current[0], current[1]
        inner = (output_size(height, 2), output_size(width, 2)) if reduction else (height, width)
        for node in range(nodes):
            for index in range(node + 2):
                stride = 2 if reduction and index < 2 else 1
                at = (height, width) if index < 2 else inner
                yield reduction, _edge(node, index), channels, at[0], at[1], stride
        current = (*inner, nodes * channels)


def _operation_flops(name, channels, height, width, stride):
    return operation_cost(name, channels, height, width, stride).flops


def edge_costs(primitives, nodes, input_shape, num_outputs, init_channels=16, layers=8, stem_multiplier=3,
               stem_stride=1, operation_cost_of=None, fixed=None):
    """The `EdgeCosts` of the final network that `build_network` makes for these arguments.

    Args:
        primitives: the candidate operations (the alphas' columns).
        nodes: intermediate nodes per cell.
        input_shape: as `build_network`, like the following: the final
            network's, not the supernet's (the search weighs what the user
            will run).
        num_outputs: as `build_network`'s ``num_classes``.
        init_channels: as `build_network`.
        layers: as `build_network`.
        stem_multiplier: as `build_network`.
        stem_stride: as `build_network`.
        operation_cost_of: ``f(name, channels, height, width, stride)``, the
            cost of one operation (None: its multiply-adds, `operation_cost`);
            a `autoarch.latency.LatencyTable` gives measured milliseconds.
        fixed: the cost of everything but the cells' operations (None: the
            multiply-adds of the stem, the cells' preprocessing and the
            output layer).
    """
    primitives = tuple(primitives)
    operation_cost_of = operation_cost_of or _operation_flops
    tables = {reduction: np.zeros((num_edges(nodes), len(primitives))) for reduction in (False, True)}
    for reduction, edge, channels, height, width, stride in edge_shapes(
        nodes, input_shape, init_channels, layers, stem_multiplier, stem_stride
    ):
        for column, name in enumerate(primitives):
            tables[reduction][edge, column] += operation_cost_of(name, channels, height, width, stride)
    if fixed is None:
        fixed = _fixed_flops(nodes, input_shape, num_outputs, init_channels, layers, stem_multiplier, stem_stride)
    return EdgeCosts(fixed, tables[False], tables[True], primitives, int(nodes))


def _fixed_flops(nodes, input_shape, num_outputs, init_channels, layers, stem_multiplier, stem_stride):
    """Multiply-adds of the stem, every cell's preprocessing and the output layer."""
    stem, current = _stem(input_shape, init_channels, stem_multiplier, stem_stride)
    fixed = stem.flops
    previous = current
    for reduction, reduction_prev, channels in _cells(layers, init_channels):
        fixed += _preprocess(previous, current, channels, reduction_prev).flops
        inner = (output_size(current[0], 2), output_size(current[1], 2)) if reduction else current[:2]
        previous, current = current, (*inner, nodes * channels)
    return int(fixed + current[2] * num_outputs)
