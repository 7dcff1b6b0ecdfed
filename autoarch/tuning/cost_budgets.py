"""A trial's cost budgets: multiply-adds (``max_flops``) and latency (``max_latency_ms``).

Hardware-aware search (issue 16) holds a budget at three points of a trial:

0. before the search: a network size whose cheapest cell is over a budget
   fails the trial at once (`check_size_can_meet_budgets`);
1. the search: the architecture loss weighs the final network's expected
   cost against the budget (`search_penalty`, see
   `autoarch.darts.cost_penalty`), and the derived genotype's operations are
   swapped for cheaper ones while it is over (`fit_genotype_to_budgets`);
2. before the derived network is trained: its estimated cost is checked
   (`cost_estimates`, `check_estimates`) and an over-budget network fails the trial with the
   reason, costing no training;
3. the built network's latency is measured for real
   (`measure_trial_latency`), as the exported model will run; a network
   over the budget is repaired again aiming lower
   (`build_within_latency_budget`), and fails the trial when it stays over
   (`check_measured_latency`), so every completed trial, hence
   every final model, keeps to it.
"""

import itertools
import logging

from keras_tuner.errors import FailedTrialError

from autoarch.darts.budget_repair import fit_to_budget
from autoarch.darts.cost_penalty import CostPenalty, PenaltySum
from autoarch.darts.costs import edge_costs, network_cost

__all__ = [
    "FLOPS_WEIGHT",
    "LATENCY_WEIGHT",
    "LATENCY_AIM",
    "ESTIMATE_MARGIN",
    "network_size",
    "network_flops",
    "network_flops_floor",
    "search_aims",
    "latency_estimate_ms",
    "latency_is_measured",
    "search_penalty",
    "fit_genotype_to_budgets",
    "REPAIR_ROUNDS",
    "build_within_latency_budget",
    "penalty_key",
    "check_size_can_meet_budgets",
    "cost_estimates",
    "check_estimates",
    "measure_trial_latency",
    "check_measured_latency",
    "network_sizes",
    "check_latency_table",
]

log = logging.getLogger("autoarch")

FLOPS_WEIGHT = 1.0
"""Strength of the ``max_flops`` term in the architecture loss (see `autoarch.darts.cost_penalty`)."""

LATENCY_WEIGHT = 1.0
"""Strength of the ``max_latency_ms`` term when ``latency_weight`` is None.

The term is relative to the budget (``weight * max(0, E[ms] / budget - 1)``),
so 1.0 makes an expected network 10% over the budget cost as much as 0.1 of
validation loss, whatever the budget's size."""

LATENCY_AIM = 0.8
"""The search and the derivation aim at this share of a latency budget that is measured here.

On this 2-core machine the estimates of random (mixed) cells ran 7-26% below
their measurement; aiming lower leaves the measured network room to keep to
the budget. A table of another device cannot be checked by a measurement, so
there the estimate aims at the budget itself."""

ESTIMATE_MARGIN = 0.1
"""An estimate may exceed the budget by this share before the trial fails untrained: the measurement decides."""

DISAGREEMENT = 0.25
"""Estimate and measurement differing by more than this share of the measurement get a warning."""


def network_size(settings):
    """The size arguments of `build_network` (and `autoarch.darts.costs`) that a trial's settings fix."""
    return {
        "init_channels": int(settings["network_channels"]),
        "layers": int(settings["network_cells"]),
        "stem_stride": int(settings["stem_stride"]),
    }


def network_flops(task, genotype, settings):
    """Multiply-adds per image of the network a trial builds (`autoarch.darts.costs.network_cost`)."""
    return network_cost(genotype, task.image_shape, task.num_outputs, **network_size(settings)).flops


def network_flops_floor(task, settings):
    """Multiply-adds per image of the cheapest network a trial of these settings can derive."""
    arguments = (task.primitives, int(settings["nodes"]), task.image_shape, task.num_outputs)
    return edge_costs(*arguments, **network_size(settings)).cheapest()


def latency_is_measured(task):
    """Whether trials' latencies can be measured here: the latency table describes this machine.

    A table measured on another device (a phone) can only estimate: then the
    estimate is what the budget holds to.
    """
    from autoarch.latency import device_fingerprint

    table = task.latency_table
    return table.fingerprint == device_fingerprint(table.fingerprint.get("threads", 1))


def _latency_table(task, settings):
    """The task's latency table, completed for this trial's network size (measured here when it lacks entries)."""
    table = task.latency_table
    arguments = (task.primitives, int(settings["nodes"]), task.image_shape, task.num_outputs)
    if any(table.missing(*arguments, **network_size(settings))):
        seconds = table.measure(*arguments, **network_size(settings))
        log.info("measured the latency of this network size's operations in %.1f s", seconds)
    return table


def latency_estimate_ms(task, genotype, settings):
    """The estimated milliseconds per image of ``genotype``'s network (None without ``task.max_latency_ms``)."""
    if task.max_latency_ms is None:
        return None
    nodes = len(genotype.normal) // 2  # a genotype given by the user need not have the space's nodes
    table = _latency_table(task, {**settings, "nodes": nodes})
    return table.estimate_ms(genotype, task.image_shape, task.num_outputs, **network_size(settings))


def search_penalty(task, settings):
    """The search's budget term for ``task.max_flops`` and ``task.max_latency_ms`` (None without either).

    It weighs the cost of the network the trial will train (the full-size
    images, ``network_channels`` and ``network_cells``), not the supernet's.
    """
    weights = {"flops": FLOPS_WEIGHT, "latency": task.latency_weight or LATENCY_WEIGHT}
    penalties = [CostPenalty(costs, budget, weights[kind]) for kind, costs, budget in search_aims(task, settings)]
    if not penalties:
        return None
    return penalties[0] if len(penalties) == 1 else PenaltySum(penalties)


def search_aims(task, settings):
    """``(kind, EdgeCosts, target)`` of each budget the search and the derivation aim at (see `LATENCY_AIM`)."""
    arguments = (task.primitives, int(settings["nodes"]), task.image_shape, task.num_outputs)
    aims = []
    if task.max_flops is not None:
        aims.append(("flops", edge_costs(*arguments, **network_size(settings)), task.max_flops))
    if task.max_latency_ms is not None:
        costs = _latency_table(task, settings).edge_costs(*arguments, **network_size(settings))
        aim = LATENCY_AIM if latency_is_measured(task) else 1.0
        aims.append(("latency", costs, aim * task.max_latency_ms))
    return aims


def fit_genotype_to_budgets(task, settings, genotype, weights, max_skip_connections=None, latency_aim=None):
    """The derived ``genotype``, its operations swapped for cheaper ones until its estimates meet the budgets.

    See `autoarch.darts.budget_repair.fit_to_budget`; ``weights`` are the
    supernet's softmaxed operation weights; ``latency_aim`` replaces the
    share of the latency budget aimed at (see `LATENCY_AIM`). Without
    budgets, ``genotype``.
    """
    for kind, costs, target in search_aims(task, settings):
        if kind == "latency" and latency_aim is not None:
            target = latency_aim * task.max_latency_ms
        genotype = fit_to_budget(genotype, costs, target, weights, max_skip_connections)
    return genotype


REPAIR_ROUNDS = 3
"""Times a measured network over the latency budget is repaired (aiming lower each time) before its trial fails."""


def build_within_latency_budget(task, settings, genotype, weights, build, record, max_skip_connections=None):
    """Build ``genotype``'s network and measure it; while it is over the latency budget, aim lower and repair it.

    The estimates can be off (see `LATENCY_AIM`), the measurement is not: a
    network measured over the budget is repaired again
    (`fit_genotype_to_budgets`) aiming at the budget's share times
    budget / measured, up to `REPAIR_ROUNDS` times, while the search's
    ``weights`` are known and a cheaper cell is left.

    Args:
        build: ``f(genotype) -> (network, plain)``: the trial's network and
            the same network free of a distribution strategy (to measure).
        record: the trial's result, updated with the last estimates and
            measurement also when the trial fails.

    Returns:
        ``(genotype, network)``.

    Raises:
        FailedTrialError: the estimates or the last measurement are over a budget.
    """
    aim = LATENCY_AIM
    for round_ in range(REPAIR_ROUNDS + 1):
        estimates = cost_estimates(task, genotype, settings)
        record.update(estimates, latency_ms=None)
        check_estimates(task, estimates)
        network, plain = build(genotype)
        measured = record["latency_ms"] = measure_trial_latency(task, plain, estimates["latency_estimate_ms"])
        if measured <= task.max_latency_ms or weights is None or round_ == REPAIR_ROUNDS:
            break
        aim *= 0.95 * task.max_latency_ms / measured
        repaired = fit_genotype_to_budgets(task, settings, genotype, weights, max_skip_connections, latency_aim=aim)
        if repaired == genotype:
            break
        log.info("measured %.3g ms > max_latency_ms=%g: cheaper operations, aiming at %.3g ms",
                 measured, task.max_latency_ms, aim * task.max_latency_ms)
        genotype = repaired
    check_measured_latency(task, measured)
    return genotype, network


def penalty_key(task, settings):
    """What a compiled search step with `search_penalty` depends on (None without a budget)."""
    if task.max_flops is None and task.max_latency_ms is None:
        return None
    return (task.max_flops, task.max_latency_ms, task.latency_weight, int(settings["nodes"]),
            tuple(network_size(settings).items()))


def check_size_can_meet_budgets(task, settings):
    """Fail a trial whose network size cannot meet a budget with any cell, before its search.

    The outer search proposes sizes (``network_channels``, ``network_cells``,
    ``nodes``) without knowing the budgets; a size whose cheapest derivable
    cell is over one is not worth a search.

    Raises:
        FailedTrialError: even the cheapest cell of this size costs more
            multiply-adds than ``task.max_flops``, or is estimated over
            ``task.max_latency_ms`` (with `ESTIMATE_MARGIN` when it can be
            measured here).
    """
    budgets = {"flops": task.max_flops, "latency": task.max_latency_ms}
    for kind, costs, _ in search_aims(task, settings):
        least, budget = costs.cheapest(), budgets[kind]
        if kind == "flops" and least > budget:
            raise FailedTrialError(f"too costly: every cell of this network size takes at least {least} "
                                   f"multiply-adds per image, more than max_flops={budget}; not searched")
        if kind == "latency" and least > budget * (1 + (ESTIMATE_MARGIN if latency_is_measured(task) else 0.0)):
            raise FailedTrialError(f"over the latency budget: every cell of this network size is estimated at "
                                   f"{least:.3g} ms or more > {budget:g} ms (max_latency_ms); not searched")


def cost_estimates(task, genotype, settings):
    """``{"flops": ..., "latency_estimate_ms": ...}`` of ``genotype``'s network (the latter None without a latency budget)."""
    return {"flops": int(network_flops(task, genotype, settings)),
            "latency_estimate_ms": latency_estimate_ms(task, genotype, settings)}


def check_estimates(task, estimates):
    """Check `cost_estimates` against the budgets, before the network is built.

    Raises:
        FailedTrialError: more multiply-adds than ``task.max_flops``, or an
            estimated latency over ``task.max_latency_ms`` by more than
            `ESTIMATE_MARGIN` (by anything when the latency cannot be
            measured here, see `latency_is_measured`).
    """
    flops, estimate = estimates["flops"], estimates["latency_estimate_ms"]
    if task.max_flops is not None and flops > task.max_flops:
        raise FailedTrialError(
            f"too costly: the derived network takes {flops} multiply-adds per image, more than "
            f"max_flops={task.max_flops}"
        )
    margin = ESTIMATE_MARGIN if estimate is not None and latency_is_measured(task) else 0.0
    if estimate is not None and estimate > task.max_latency_ms * (1 + margin):
        raise FailedTrialError(
            f"over the latency budget: {estimate:.3g} ms estimated > {task.max_latency_ms:g} ms "
            f"(max_latency_ms); not trained"
        )


def measure_trial_latency(task, network, estimate=None):
    """The measured milliseconds per image of a trial's ``network``.

    Measured as `autoarch.latency.measure_model_ms` measures an exported
    model; warns when ``estimate`` is off by more than `DISAGREEMENT`.
    """
    from autoarch.latency import measure_model_ms  # imports the exporter: only for latency budgets

    measured, _ = measure_model_ms(network, threads=task.latency_table.fingerprint.get("threads", 1))
    if estimate is not None and abs(estimate - measured) > DISAGREEMENT * measured:
        log.warning("the latency estimate (%.3g ms) is %.0f%% off the measured %.3g ms",
                    estimate, 100 * abs(estimate - measured) / measured, measured)
    return measured


def check_measured_latency(task, measured):
    """Check a measured latency against ``task.max_latency_ms``.

    Raises:
        FailedTrialError: over the budget.
    """
    if measured > task.max_latency_ms:
        raise FailedTrialError(
            f"over the latency budget: {measured:.3g} ms measured > {task.max_latency_ms:g} ms (max_latency_ms)"
        )


def network_sizes(space):
    """Every ``(nodes, network_size(settings))`` the outer ``space`` allows."""
    from autoarch.tuning.space import possible_values

    names = ("nodes", "network_channels", "network_cells", "stem_stride")
    grid = itertools.product(*(possible_values(space[name]) for name in names))
    return [(int(values[0]), network_size(dict(zip(names, values)))) for values in grid]


def check_latency_table(table, space, primitives, image_shape, num_outputs, genotype=None):
    """Refuse a `autoarch.latency.LatencyTable` from elsewhere that lacks an entry some trial would need.

    With a fixed ``genotype``, its nodes and operations are what trials build.

    Raises:
        ValueError: an operation, shape or network size the space allows is
            missing (the message names the first few).
    """
    operations, networks = set(), set()
    if genotype is not None:
        primitives = sorted({name for name, _ in genotype.normal + genotype.reduce})
    for nodes, size in network_sizes(space):
        nodes = nodes if genotype is None else len(genotype.normal) // 2
        missing_operations, missing_networks = table.missing(primitives, nodes, image_shape, num_outputs, **size)
        operations.update(missing_operations)
        networks.update(missing_networks)
    if operations or networks:
        shown = [f"{name} on {c} channels at {h}x{w}, stride {s}" for name, c, h, w, s in sorted(operations)[:3]]
        shown += [f"the network size {key}" for key in sorted(networks)[: 3 - len(shown[:3])]]
        raise ValueError(
            f"the latency table lacks {len(operations)} operation entries and {len(networks)} network sizes "
            f"that this search may use, for example {'; '.join(shown)}; measure them where the table was "
            "measured (LatencyTable.measure), or narrow search_space"
        )
