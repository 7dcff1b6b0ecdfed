"""`autoarch.darts.cost_penalty`: the budget term of the architecture loss (issue 16)."""

import keras
import numpy as np
import pytest
from keras import ops

from autoarch.darts import DARTS_V2, SearchNetwork
from autoarch.darts.cost_penalty import CostPenalty
from autoarch.darts.costs import edge_costs
from autoarch.darts.genotype import random_genotype
from autoarch.darts.primitives import PRIMITIVES, num_edges

SHAPE = (8, 8, 1)
FINAL = dict(init_channels=4, layers=3)


def _peaked_alphas(cell, nodes, primitives, height=30.0):
    """Alphas whose softmax picks ``cell``'s operations, and ``none`` on the edges it does not keep."""
    alphas = np.zeros((num_edges(nodes), len(primitives)), np.float32)
    alphas[:, primitives.index("none")] = height
    for position, (name, index) in enumerate(cell):
        edge = num_edges(position // 2) + index
        alphas[edge, :] = 0.0
        alphas[edge, primitives.index(name)] = height
    return alphas


@pytest.mark.parametrize("genotype", [DARTS_V2, random_genotype(PRIMITIVES, seed=5)])
def test_the_expected_cost_of_decided_weights_is_the_derived_networks_cost(genotype):
    costs = edge_costs(PRIMITIVES, genotype.nodes, SHAPE, 10, **FINAL)
    penalty = CostPenalty(costs, budget=costs.of(genotype))
    expected = penalty.expected_cost(
        _peaked_alphas(genotype.normal, genotype.nodes, PRIMITIVES),
        _peaked_alphas(genotype.reduce, genotype.nodes, PRIMITIVES),
    )
    assert float(expected) == pytest.approx(costs.of(genotype), rel=1e-4)


def test_none_takes_no_pressure_and_uniform_edges_count_twice_their_share():
    costs = edge_costs(PRIMITIVES, 2, SHAPE, 10, **FINAL)
    penalty = CostPenalty(costs, budget=1.0)
    uniform = np.zeros((num_edges(2), len(PRIMITIVES)), np.float32)
    # Uniform weights: every edge's operations other than none, averaged; node i keeps 2 of its 2 + i edges.
    keep = [name != "none" for name in PRIMITIVES]
    share = np.array([1.0, 1.0, 2 / 3, 2 / 3, 2 / 3])[:, None]
    by_hand = costs.fixed + sum(float(np.sum(share * table[:, keep].mean(axis=1, keepdims=True)))
                                for table in (costs.normal, costs.reduce))
    assert float(penalty.expected_cost(uniform, uniform)) == pytest.approx(by_hand, rel=1e-5)
    # All the weight on none: the edges still cost what their other operations would.
    mostly_none = uniform.copy()
    mostly_none[:, PRIMITIVES.index("none")] = 5.0
    assert float(penalty.expected_cost(mostly_none, mostly_none)) == pytest.approx(by_hand, rel=1e-4)


def _network(seed=0, partial_channels=1):
    return SearchNetwork(SHAPE, 10, init_channels=4, layers=3, nodes=2, partial_channels=partial_channels, seed=seed)


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(8, *SHAPE)).astype("float32"), rng.integers(0, 10, size=8).astype("int32")


@pytest.mark.parametrize("second_order", [False, True])
@pytest.mark.parametrize("partial_channels", [1, 2])
def test_architecture_steps_under_the_budget_term_move_weight_to_cheap_operations(second_order, partial_channels):
    network = _network(partial_channels=partial_channels)
    costs = edge_costs(PRIMITIVES, 2, SHAPE, 10, **FINAL)
    penalty = CostPenalty(costs, budget=costs.fixed * 1.01, weight=100.0)  # far over: the term dominates
    network.compile(arch_learning_rate=0.05, second_order=second_order, cost_penalty=penalty)
    before = float(penalty.expected_cost(network.alphas_normal, network.alphas_reduce))
    x, y = _batch()
    for _ in range(5):
        network.architect.architecture_step(network, x, y, x, y)
    after = float(penalty.expected_cost(network.alphas_normal, network.alphas_reduce))
    assert after < 0.97 * before
    probabilities = ops.convert_to_numpy(ops.softmax(network.alphas_normal, axis=-1)).mean(axis=0)
    assert probabilities[PRIMITIVES.index("sep_conv_5x5")] < probabilities[PRIMITIVES.index("max_pool_3x3")]


def test_under_the_budget_the_term_is_zero_and_adds_nothing():
    network = _network()
    costs = edge_costs(PRIMITIVES, 2, SHAPE, 10, **FINAL)
    generous = CostPenalty(costs, budget=10 * float(np.sum(costs.normal) + np.sum(costs.reduce) + costs.fixed))
    assert float(generous.loss(network)) == 0.0
    assert all(float(np.abs(ops.convert_to_numpy(g)).max()) == 0.0 for g in generous.gradients(network))


@pytest.mark.parametrize("budget, weight, message", [(0, 1.0, "budget must be > 0"), (10, -1.0, "weight must be > 0")])
def test_bad_budget_or_weight_is_refused(budget, weight, message):
    costs = edge_costs(PRIMITIVES, 2, SHAPE, 10, **FINAL)
    with pytest.raises(ValueError, match=message):
        CostPenalty(costs, budget=budget, weight=weight)


def test_a_search_with_the_budget_term_derives_a_cheaper_network():
    """A tiny real search (digits, two epochs) without the term and at two strengths, all else equal."""
    from sklearn.datasets import load_digits

    from autoarch.data import paired_search_dataset

    digits = load_digits()
    x = (digits.images[:128, :, :, None] / 16.0).astype("float32")
    y = digits.target[:128].astype("int32")
    costs = edge_costs(PRIMITIVES, 2, SHAPE, 10, **FINAL)
    budget = costs.fixed * 1.05  # below every derivable network: the term always pulls
    derived = []
    for weight in (None, 1.0, 100.0):
        keras.utils.set_random_seed(0)
        network = _network(seed=0)
        penalty = None if weight is None else CostPenalty(costs, budget=budget, weight=weight)
        network.compile(arch_learning_rate=0.01, cost_penalty=penalty)
        data = paired_search_dataset(x[:64], y[:64], x[64:], y[64:], batch_size=16, seed=0)
        network.fit(data, epochs=2, verbose=0)
        derived.append(costs.of(network.genotype()))
    # With the term the derived network costs far less: what it costs above the
    # cheapest derivable network (the part the cell's choices decide) is at most
    # half of that without the term. (The last seen: 55,808 without, 10,496 and
    # 19,264 with, on an AVX2 CPU.) Between the two strengths there is no order
    # to expect: Adam scales steps by the gradients' own size, so once the term
    # dominates the validation loss, a stronger one moves the weights no faster,
    # and which cheap operation (skip or pool) wins is noise.
    above_cheapest = [cost - costs.cheapest() for cost in derived]
    assert max(above_cheapest[1:]) <= 0.5 * above_cheapest[0], derived
