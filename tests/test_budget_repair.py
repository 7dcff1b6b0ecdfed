"""`autoarch.darts.budget_repair`: a derived genotype brought within a cost budget (issue 16)."""

import numpy as np

from autoarch.darts.budget_repair import fit_to_budget
from autoarch.darts.costs import edge_costs
from autoarch.darts.genotype import Genotype
from autoarch.darts.primitives import PRIMITIVES, num_edges

COSTS = edge_costs(PRIMITIVES, 2, (8, 8, 1), 10, init_channels=4, layers=3)
EXPENSIVE = Genotype(
    normal=[("sep_conv_5x5", 0), ("sep_conv_5x5", 1), ("dil_conv_5x5", 0), ("sep_conv_5x5", 2)],
    normal_concat=[2, 3],
    reduce=[("sep_conv_5x5", 0), ("sep_conv_5x5", 1), ("sep_conv_5x5", 2), ("dil_conv_5x5", 0)],
    reduce_concat=[2, 3],
)


def _weights(genotype, favourite=0.4):
    """Softmax-like weights: each kept edge's operation at ``favourite``, the rest shared evenly."""
    weights = {}
    for cell, operations in (("normal", genotype.normal), ("reduce", genotype.reduce)):
        table = np.full((num_edges(2), len(PRIMITIVES)), (1 - favourite) / (len(PRIMITIVES) - 1))
        for position, (name, index) in enumerate(operations):
            edge = num_edges(position // 2) + index
            table[edge] = (1 - favourite) / (len(PRIMITIVES) - 1)
            table[edge, PRIMITIVES.index(name)] = favourite
        weights[cell] = table
    return weights


def test_a_genotype_within_the_budget_is_left_alone():
    assert fit_to_budget(EXPENSIVE, COSTS, COSTS.of(EXPENSIVE), _weights(EXPENSIVE)) is EXPENSIVE


def test_swaps_bring_the_genotype_within_the_budget_keeping_its_edges():
    budget = COSTS.fixed + 0.6 * (COSTS.of(EXPENSIVE) - COSTS.fixed)
    repaired = fit_to_budget(EXPENSIVE, COSTS, budget, _weights(EXPENSIVE))
    assert COSTS.of(repaired) <= budget < COSTS.of(EXPENSIVE)
    assert [index for _, index in repaired.normal] == [index for _, index in EXPENSIVE.normal]
    assert [index for _, index in repaired.reduce] == [index for _, index in EXPENSIVE.reduce]
    assert all(name != "none" for name, _ in repaired.normal + repaired.reduce)
    assert fit_to_budget(EXPENSIVE, COSTS, budget, _weights(EXPENSIVE)) == repaired  # deterministic


def test_the_swap_the_search_regrets_least_goes_first():
    """An edge whose operation the search barely preferred is swapped before a decided one of the same cost."""
    weights = _weights(EXPENSIVE)
    edge = num_edges(0) + 1  # normal cell, node 0, input 1
    weights["normal"][edge] = 1.0 / len(PRIMITIVES)  # undecided: every operation equally weighted
    one_swap = COSTS.of(EXPENSIVE) - 1
    repaired = fit_to_budget(EXPENSIVE, COSTS, one_swap, weights)
    changed = [(cell, position) for cell in ("normal", "reduce") for position in range(4)
               if getattr(repaired, cell)[position] != getattr(EXPENSIVE, cell)[position]]
    assert changed == [("normal", 1)]


def test_the_skip_cap_is_kept_and_an_impossible_budget_gives_the_cheapest_it_can():
    repaired = fit_to_budget(EXPENSIVE, COSTS, 0, _weights(EXPENSIVE), max_skip_connections=1)
    assert sum(name == "skip_connect" for name, _ in repaired.normal) <= 1
    assert COSTS.of(repaired) < COSTS.of(EXPENSIVE)
