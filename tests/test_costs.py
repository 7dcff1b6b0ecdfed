"""`autoarch.darts.costs`: analytic multiply-adds and parameters against a count made on the built network."""

import json

import keras
import numpy as np
import pytest

from autoarch.darts import DARTS_V2, build_network
from autoarch.darts.costs import Cost, edge_costs, network_cost, operation_cost
from autoarch.darts.genotype import random_genotype
from autoarch.darts.operations import Pool
from autoarch.darts.primitives import PRIMITIVES, num_edges


class LayerCount:
    """Counts multiply-adds of one real forward pass from the shapes each layer saw (not from costs.py's rules).

    Convolutions and dense layers: outputs times kernel weights per output;
    poolings: 9 window pixels per pixel of the input the pool ran on.
    """

    def __init__(self, monkeypatch):
        self.flops = 0
        for cls in (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense):
            monkeypatch.setattr(cls, "call", self._kernel_layer(cls.call))
        monkeypatch.setattr(Pool, "call", self._pool(Pool.call))

    def _kernel_layer(self, call):
        def counted(layer, x, *args, **kwargs):
            y = call(layer, x, *args, **kwargs)
            kernel = np.prod(layer.kernel.shape)
            if isinstance(layer, keras.layers.DepthwiseConv2D):
                per_output_pixel = kernel  # (k, k, c, 1): every channel its own window
                self.flops += int(np.prod(y.shape[1:3]) * per_output_pixel)
            elif isinstance(layer, keras.layers.Dense):
                self.flops += int(kernel)
            else:
                self.flops += int(np.prod(y.shape[1:3]) * kernel)
            return y

        return counted

    def _pool(self, call):
        def counted(layer, x, *args, **kwargs):
            self.flops += 9 * int(np.prod(x.shape[1:]))
            return call(layer, x, *args, **kwargs)

        return counted


NETWORKS = [
    pytest.param(DARTS_V2, (8, 8, 1), dict(init_channels=4, layers=3), id="darts_v2-8x8"),
    pytest.param(DARTS_V2, (28, 28, 1), dict(init_channels=6, layers=5, stem_stride=2), id="darts_v2-28x28-stride2"),
    pytest.param(random_genotype(PRIMITIVES, seed=3), (13, 11, 3), dict(init_channels=5, layers=4), id="random-odd-sizes"),
    pytest.param(random_genotype(PRIMITIVES, nodes=3, seed=8), (9, 9, 2), dict(init_channels=3, layers=6), id="random-3-nodes"),
]


@pytest.mark.parametrize("genotype, shape, options", NETWORKS)
@pytest.mark.parametrize("drop_path", [False, True])
def test_the_analytic_cost_equals_a_count_on_the_built_network(monkeypatch, genotype, shape, options, drop_path):
    model = build_network(genotype, shape, 10, drop_path=drop_path, **options)
    counter = LayerCount(monkeypatch)
    model(np.zeros((1, *shape), np.float32), training=False)
    cost = network_cost(genotype, shape, 10, drop_path=drop_path, **options)
    assert cost.params == model.count_params()
    assert cost.flops == counter.flops


def test_operations_at_equal_shape_are_ordered_as_they_cost():
    def flops(name, stride=1):
        return operation_cost(name, 16, 14, 14, stride).flops

    assert flops("sep_conv_5x5") > flops("sep_conv_3x3") > flops("max_pool_3x3") > flops("skip_connect") == 0
    assert flops("dil_conv_5x5") > flops("dil_conv_3x3") > flops("avg_pool_3x3")
    assert flops("max_pool_3x3") == flops("avg_pool_3x3")
    assert flops("none") == 0 and operation_cost("none", 16, 14, 14).params == 0
    # At stride 2 a skip is a FactorizedReduce, and poolings still run at full resolution.
    assert flops("skip_connect", 2) > 0
    assert flops("max_pool_3x3", 2) == flops("max_pool_3x3", 1)
    assert flops("sep_conv_3x3", 2) < flops("sep_conv_3x3", 1)


def test_every_primitive_has_a_cost_and_bad_names_are_refused():
    for name in PRIMITIVES:
        assert isinstance(operation_cost(name, 4, 8, 8), Cost)
    with pytest.raises(ValueError, match="unknown operation 'conv_7x7'"):
        operation_cost("conv_7x7", 4, 8, 8)
    with pytest.raises(ValueError, match="stride must be 1 or 2, got 3"):
        operation_cost("sep_conv_3x3", 4, 8, 8, stride=3)


def test_network_cost_takes_the_genotype_as_json():
    assert network_cost(DARTS_V2.to_json(), (8, 8, 1), 10, 4, 3) == network_cost(DARTS_V2, (8, 8, 1), 10, 4, 3)
    assert json.loads(DARTS_V2.to_json())  # the JSON form the trial folders store


@pytest.mark.parametrize("genotype, shape, options", NETWORKS)
def test_the_edge_tables_give_the_cost_of_every_derivable_network(genotype, shape, options):
    tables = edge_costs(PRIMITIVES, genotype.nodes, shape, 10, **options)
    assert tables.normal.shape == (num_edges(genotype.nodes), len(PRIMITIVES))
    assert tables.of(genotype) == network_cost(genotype, shape, 10, **options).flops
    for seed in range(5):
        other = random_genotype(PRIMITIVES, nodes=genotype.nodes, seed=100 + seed)
        assert tables.of(other) == network_cost(other, shape, 10, **options).flops
    assert np.all(tables.normal[:, PRIMITIVES.index("none")] == 0)


def test_the_cheapest_derivable_network_is_found_without_trying_them_all():
    """Against every cell of two nodes (two distinct inputs per node, any operation but none)."""
    import itertools

    from autoarch.darts.genotype import Genotype

    primitives = ("none", "max_pool_3x3", "skip_connect", "sep_conv_3x3")
    tables = edge_costs(primitives, 2, (8, 8, 1), 10, init_channels=4, layers=3)
    cells = [
        [(a, i), (b, j), (c, k), (d, m)]
        for (i, j) in itertools.combinations(range(2), 2)
        for (k, m) in itertools.combinations(range(3), 2)
        for a, b, c, d in itertools.product(primitives[1:], repeat=4)
    ]
    first = cells[0]

    def cost(normal, reduce):
        return tables.of(Genotype(normal, [2, 3], reduce, [2, 3]))

    # Normal and reduction cells add up independently: the least of each, less the shared rest counted twice.
    least = min(cost(c, first) for c in cells) + min(cost(first, c) for c in cells) - cost(first, first)
    assert tables.cheapest() == least
