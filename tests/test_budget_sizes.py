"""`autoarch.tuning.budget_sizes`: the first trial's network size under a cost budget (issue 16)."""

from types import SimpleNamespace

import pytest

from autoarch.darts import DARTS_V2
from autoarch.darts.costs import edge_costs
from autoarch.latency import LatencyTable
from autoarch.tuning.budget_sizes import ROOM, sized_for_budgets
from autoarch.tuning.space import CPU_PRIMITIVES, Spec

from .test_latency import SHAPE, synthetic_table

SPACE = {
    "nodes": Spec("fixed", 3),
    "stem_stride": Spec("fixed", 1),
    "network_channels": Spec("choice", 16, (16, 8)),
    "network_cells": Spec("choice", 4, (4, 2)),
    "train_epochs": Spec("int", 8, (4, 16)),
}


def floor(channels, cells):
    """Multiply-adds of the cheapest network of this size (3 nodes, 8x8 images, 10 classes)."""
    return edge_costs(CPU_PRIMITIVES, 3, (8, 8, 1), 10, init_channels=channels, layers=cells).cheapest()


def task(max_flops=None, max_latency_ms=None, latency_table=None, genotype=None, primitives=CPU_PRIMITIVES):
    """What `sized_for_budgets` reads of a fit's `autoarch.tuning.trial.Task`."""
    return SimpleNamespace(primitives=primitives, image_shape=(8, 8, 1), num_outputs=10, max_flops=max_flops,
                           max_latency_ms=max_latency_ms, latency_table=latency_table, genotype=genotype)


def first_size(space):
    return space["network_channels"].default, space["network_cells"].default


def test_the_sizes_in_question_are_ordered_as_the_cases_below_assume():
    assert floor(16, 4) > floor(16, 2) > floor(8, 4) > floor(8, 2)


def test_without_a_budget_or_with_a_fixed_cell_the_space_is_unchanged():
    assert sized_for_budgets(SPACE, task()) is SPACE
    assert sized_for_budgets(SPACE, task(max_flops=floor(8, 2), genotype=DARTS_V2)) is SPACE


def test_a_budget_with_room_for_the_default_size_keeps_it():
    assert sized_for_budgets(SPACE, task(max_flops=floor(16, 4) / ROOM)) is SPACE


@pytest.mark.parametrize(
    "budget, expected",
    [
        # 16 x 4 does not fit at all; 8 x 4 (more cells) comes before 16 x 2 and has room.
        (lambda: floor(8, 4) / ROOM, (8, 4)),
        # 16 x 4 fits only with (nearly) its cheapest cell: 8 x 4 has room.
        (lambda: floor(16, 4) * 1.01, (8, 4)),
        # No size has room; the first that fits at all, in the same order.
        (lambda: floor(8, 4) * 1.01, (8, 4)),
        (lambda: floor(8, 2) * 1.01, (8, 2)),
    ],
)
def test_a_tight_flops_budget_moves_only_the_defaults_to_a_size_that_fits(budget, expected):
    sized = sized_for_budgets(SPACE, task(max_flops=budget()))
    assert first_size(sized) == expected
    # The oracle may still propose every size: only the first trial's changed.
    assert [sized[name].values for name in SPACE] == [SPACE[name].values for name in SPACE]
    assert {name: sized[name] for name in ("nodes", "stem_stride", "train_epochs")} == {
        name: SPACE[name] for name in ("nodes", "stem_stride", "train_epochs")}


def test_a_budget_no_size_can_meet_leaves_the_defaults_for_the_trials_to_refuse():
    assert sized_for_budgets(SPACE, task(max_flops=floor(8, 2) - 1)) is SPACE


def test_sizes_larger_than_the_default_are_never_chosen():
    space = {**SPACE, "network_channels": Spec("choice", 8, (8, 16))}
    assert first_size(sized_for_budgets(space, task(max_flops=floor(16, 4) * 10))) == (8, 4)


def test_a_latency_table_of_another_device_sizes_the_first_trial_by_its_estimates():
    space = {**SPACE, "nodes": Spec("fixed", 2), "network_channels": Spec("choice", 8, (8, 4)),
             "network_cells": Spec("fixed", 3)}
    sizes = {channels: dict(init_channels=channels, layers=3, stem_multiplier=3, stem_stride=1) for channels in (8, 4)}
    tables = {channels: synthetic_table(size=size) for channels, size in sizes.items()}
    table = LatencyTable({**tables[8].operations, **tables[4].operations},
                         {**tables[8].networks, **tables[4].networks}, fingerprint=tables[8].fingerprint)
    cheapest = {channels: table.edge_costs(CPU_PRIMITIVES, 2, SHAPE, 10, **size).cheapest()
                for channels, size in sizes.items()}
    assert cheapest[8] > cheapest[4]
    # A phone's table is aimed at in full (it cannot be measured here).
    budget = cheapest[4] / ROOM
    assert cheapest[8] > ROOM * budget
    assert first_size(sized_for_budgets(space, task(max_latency_ms=budget, latency_table=table))) == (4, 3)
    assert sized_for_budgets(space, task(max_latency_ms=cheapest[8] / ROOM, latency_table=table)) is space
