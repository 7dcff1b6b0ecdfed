"""Bringing a derived genotype within a cost budget by the cheapest changes the search regrets least.

The budget term of the architecture loss (`autoarch.darts.cost_penalty`)
steers the *expected* cost of the final network; the derived genotype keeps
each edge's strongest operation and can still come out over the budget. When
it does, `fit_to_budget` swaps operations on the kept edges for cheaper ones,
one at a time, each time the swap that saves the most cost per unit of
architecture weight given up, until the genotype's cost is within the budget
or nothing cheaper is left. Edges are not reselected; ``none`` is never
chosen, and the normal cell's skip-connection cap is kept.
"""

from autoarch.darts.genotype import Genotype
from autoarch.darts.primitives import num_edges

__all__ = ["fit_to_budget"]


def fit_to_budget(genotype, costs, budget, weights, max_skip_connections=None):
    """``genotype`` with operations swapped for cheaper ones until ``costs.of(genotype) <= budget``.

    Args:
        genotype: the derived `Genotype`.
        costs: the final network's `autoarch.darts.costs.EdgeCosts` (multiply-adds or milliseconds).
        budget: the most the network may cost, in the unit of ``costs``.
        weights: ``{"normal": array, "reduce": array}``, the softmaxed
            operation weights ``(edges, len(costs.primitives))`` the genotype
            was derived from.
        max_skip_connections: the normal cell's cap on skip connections (None: none).

    Returns:
        A `Genotype`: ``genotype`` itself when it is within the budget, else
        the repaired one (which may still be over the budget when no cheaper
        operation is left).
    """
    if costs.of(genotype) <= budget:
        return genotype
    primitives = list(costs.primitives)
    cells = {"normal": [list(pair) for pair in genotype.normal], "reduce": [list(pair) for pair in genotype.reduce]}
    tables = {"normal": costs.normal, "reduce": costs.reduce}
    total = costs.of(genotype)
    while total > budget:
        best = None
        for cell, operations in cells.items():
            skips = sum(name == "skip_connect" for name, _ in operations)
            for position, (name, index) in enumerate(operations):
                edge = num_edges(position // 2) + index
                current = primitives.index(name)
                for column, other in enumerate(primitives):
                    saved = tables[cell][edge, current] - tables[cell][edge, column]
                    if other == "none" or saved <= 0:
                        continue
                    if (cell == "normal" and other == "skip_connect" and max_skip_connections is not None
                            and skips >= max_skip_connections):
                        continue
                    regret = max(0.0, float(weights[cell][edge, current] - weights[cell][edge, column]))
                    value = saved / (regret + 1e-6)
                    if best is None or value > best[0]:
                        best = (value, cell, position, other, saved)
        if best is None:
            break
        _, cell, position, other, saved = best
        cells[cell][position][0] = other
        total -= saved
    return Genotype(
        normal=[tuple(pair) for pair in cells["normal"]],
        normal_concat=list(genotype.normal_concat),
        reduce=[tuple(pair) for pair in cells["reduce"]],
        reduce_concat=list(genotype.reduce_concat),
    )
