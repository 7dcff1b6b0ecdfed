"""The network size a budgeted fit tries first: the largest that leaves its search room under the budget.

The outer search proposes network sizes (``network_channels`` x
``network_cells``) without knowing ``max_flops`` or ``max_latency_ms``, and
every oracle tries the space's defaults first. Under a tight budget the
default size can be one that no cell, or only the very cheapest, fits: its
trial then fails, after a search when the estimate was close. `sized_for_budgets`
moves the defaults of those two settings to the largest size whose cheapest
cell costs at most `ROOM` of what the search aims at, so the first trial has
a size that fits with a choice of operations; the values the oracle may
propose later are unchanged.
"""

import itertools
import logging
from dataclasses import replace

from keras_tuner.errors import FailedTrialError

from autoarch.tuning.cost_budgets import check_size_can_meet_budgets, network_flops_floor, search_aims
from autoarch.tuning.space import possible_values

__all__ = ["ROOM", "SIZE_SETTINGS", "sized_for_budgets"]

log = logging.getLogger("autoarch")

ROOM = 0.5
"""The first trial's size is the largest whose cheapest cell costs at most this share of the budget aimed at.

Half the aim leaves the search a choice between cheap and costly operations
on most edges. On the latency benchmark's half budget (MNIST-10k, 16 or 8
channels, 4 or 2 cells; ``benchmarks/latency.py``) the default size, 16 x 4,
could only fit with nearly its cheapest cell: its trials were searched,
repaired three times and still measured over the budget, while the 8-channel
sizes completed within it."""

SIZE_SETTINGS = ("network_channels", "network_cells")
"""The settings whose defaults `sized_for_budgets` may move."""


def sized_for_budgets(space, task):
    """``space`` with the defaults of `SIZE_SETTINGS` moved to a size that suits ``task``'s budgets.

    Without ``task.max_flops`` or ``task.max_latency_ms``, with a fixed
    genotype, or when the default size already suits, ``space`` itself. The
    candidates are the sizes the space allows no larger (in multiply-adds)
    than the default; from the largest down, the first whose cheapest cell
    costs at most `ROOM` of every budget's aim becomes the default, more
    cells before more channels. When none
    does, the largest whose cheapest cell fits at all; when none fits, the
    defaults stay (every trial then fails before its search, and ``fit``
    says why). A latency table measured here is completed for each size
    tried, as the trials would complete it.
    """
    if (task.max_flops is None and task.max_latency_ms is None) or task.genotype is not None:
        return space
    defaults = {name: spec.default for name, spec in space.items()}
    grid = [dict(zip(SIZE_SETTINGS, values))
            for values in itertools.product(*(possible_values(space[name]) for name in SIZE_SETTINGS))]
    largest = network_flops_floor(task, defaults)
    # Depth before width: a network of two cells has only reduction cells
    # (see `autoarch.darts.cells.reduction_layers`).
    candidates = sorted(
        (size for size in grid if network_flops_floor(task, {**defaults, **size}) <= largest),
        key=lambda size: (size["network_cells"], size["network_channels"]),
        reverse=True,
    )
    fallback = None
    for size in candidates:
        settings = {**defaults, **size}
        if all(costs.cheapest() <= ROOM * aim for _, costs, aim in search_aims(task, settings)):
            return _with_defaults(space, size, defaults)
        if fallback is None and _can_meet(task, settings):
            fallback = size
    return space if fallback is None else _with_defaults(space, fallback, defaults)


def _can_meet(task, settings):
    try:
        check_size_can_meet_budgets(task, settings)
    except FailedTrialError:
        return False
    return True


def _with_defaults(space, size, defaults):
    if all(size[name] == defaults[name] for name in SIZE_SETTINGS):
        return space
    log.info("the budget moves the first trial's network size to %s channels x %s cells (from %s x %s)",
             size["network_channels"], size["network_cells"],
             defaults["network_channels"], defaults["network_cells"])
    return {**space, **{name: replace(space[name], default=size[name]) for name in SIZE_SETTINGS}}
