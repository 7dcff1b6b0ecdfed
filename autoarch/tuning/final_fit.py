"""The final fit: from the finished search to the one model the estimator keeps.

After the search, `final_fit` chooses the trials whose networks the final
model averages (the best one first, then those that ensemble selection adds,
see `autoarch.tuning.ensemble`), trains each network on all the training data
as ``refit`` says, and wraps them into one `keras.Model` that takes raw images
(normalisation inside) and gives predictions. The estimator only stores what
it returns and saves it.
"""

import errno
import logging
import math
from dataclasses import dataclass

import keras
import numpy as np

from autoarch.runtime import seed_keeping_kernels
from autoarch.tuning import space as space_module
from autoarch.tuning.budget import CONTINUE_EPOCH_SHARE, continue_epochs, planned_seconds
from autoarch.tuning.ensemble import select_members
from autoarch.tuning.trial import make_network, plain_network, train_network
from autoarch.tuning.trial_folder import TrialFolder
from autoarch.tuning.tuner import ensemble_candidates

__all__ = [
    "REFIT_MODES",
    "CONTINUE_EPOCH_SHARE",
    "CONTINUE_LEARNING_RATE_SHARE",
    "FinalModel",
    "refit_mode",
    "trial_latency",
    "ensemble_trials",
    "final_fit",
    "final_network",
    "wrap",
]

log = logging.getLogger("autoarch")

REFIT_MODES = ("continue", "scratch", True, False)
"""The values ``refit`` accepts (True is ``"scratch"``, False keeps the best trial's network)."""

CONTINUE_LEARNING_RATE_SHARE = 0.25
"""``refit="continue"``: the final fit's cosine starts at this share of the trial's learning rate."""


@dataclass
class FinalModel:
    """What the final fit gives the estimator.

    Attributes:
        model: the `keras.Model` (raw images in, predictions out).
        best_genotype: the genotype of the best trial (the first network).
        best_hyperparameters: the best trial's outer hyperparameters.
        ensemble_trials: the trial ids whose networks the model averages, best first.
    """

    model: object
    best_genotype: object
    best_hyperparameters: dict
    ensemble_trials: list


def refit_mode(refit, task):
    """``"continue"``, ``"scratch"`` or None (keep the trial's network) for an estimator's ``refit``.

    ``"continue"`` becomes None when the trials were scored on separate
    validation data: their networks have already seen all the training data.
    """
    mode = "scratch" if refit is True or refit == "scratch" else ("continue" if refit else None)
    if mode == "continue" and not task.holdout_is_training_data:
        mode = None
    return mode


def ensemble_trials(tuner, results, ensemble_size, regression, max_model_size=None, max_flops=None,
                    max_latency_ms=None):
    """The completed trials whose networks the final model averages, best first.

    The members together keep within ``max_model_size`` parameters,
    ``max_flops`` multiply-adds and ``max_latency_ms`` measured milliseconds
    per image (None: any).

    Raises:
        OSError: no trial completed because the disk was full (``ENOSPC``).
        RuntimeError: no trial completed (the message gives each trial's
            reason, and with a latency budget the smallest latency reached).
    """
    completed = [row for row in results if row["status"] == "COMPLETED"]
    if not completed:
        reasons = "; ".join(f"trial {r['trial_id']}: {r['reason']}" for r in results) or "no trial ran"
        if results and all(_failed_for_space(tuner, row) for row in results):
            raise OSError(errno.ENOSPC, "the disk is full: no trial could save its network, so there is no "
                                        f"model. Free some space and fit again, which runs them again ({reasons})")
        raise RuntimeError(f"every trial failed, so there is no model: {_smallest_latency(results, max_latency_ms)}"
                           f"{reasons}")
    sizes = {row["trial_id"]: row.get("parameters") or 0 for row in completed}
    budgets = [
        ({row["trial_id"]: row.get("flops") or 0 for row in completed}, max_flops),
        ({row["trial_id"]: trial_latency(row) for row in completed}, max_latency_ms),
    ]
    candidates = {
        trial.trial_id: trial for trial in ensemble_candidates(tuner.oracle)
        if all(limit is None or costs.get(trial.trial_id, 0) <= limit
               for costs, limit in [(sizes, max_model_size), *budgets])
    }
    if not candidates:
        raise RuntimeError(f"no completed trial keeps to the budgets, so there is no model: "
                           f"{_smallest_latency(results, max_latency_ms)}rerun with overwrite=True to search anew")
    predictions = {}
    if ensemble_size > 1:
        for trial_id in candidates:
            saved = TrialFolder(tuner.get_trial_dir(trial_id)).read_predictions()
            if saved is not None:
                predictions[trial_id] = saved
    members = select_members(
        list(candidates), predictions, int(ensemble_size), regression,
        sizes=sizes, max_size=max_model_size, budgets=budgets,
    )
    return [candidates[trial_id] for trial_id in members]


def trial_latency(row):
    """A trial's latency per image: measured, else estimated (a table of another device), else infinite.

    Infinite means unknown: a trial of an earlier fit without the budget was
    never measured, so it cannot join a model that must keep to one.
    """
    for key in ("latency_ms", "latency_estimate_ms"):
        if row.get(key) is not None:
            return row[key]
    return math.inf


def _smallest_latency(results, max_latency_ms):
    """``"no trial met max_latency_ms=2: the smallest latency reached was 3.1 ms (trial 01); "``, or ``""``."""
    if max_latency_ms is None:
        return ""
    reached = [(trial_latency(row), row) for row in results if trial_latency(row) < math.inf]
    if not reached:
        return ""
    ms, row = min(reached, key=lambda pair: pair[0])
    how = "measured" if row.get("latency_ms") is not None else "estimated"
    return (f"no trial met max_latency_ms={max_latency_ms:g}: the smallest latency reached was {ms:.3g} ms "
            f"({how}, trial {row['trial_id']}); ")


def final_fit(tuner, task, space, results, *, refit, ensemble_size, max_model_size=None, max_flops=None, seed=None,
              verbose=0, output_layer=None):
    """Choose the final model's trials, train their networks on all the data, and wrap them.

    Args:
        tuner: the `autoarch.tuning.tuner.DartsTuner` that ran the search.
        task: the search's `autoarch.tuning.trial.Task`.
        space: the outer space the trials' settings come from.
        results: the tuner's ``results()`` rows.
        refit: the estimator's ``refit`` (see `refit_mode`).
        ensemble_size: the most networks the model averages.
        max_model_size: the most parameters of all networks together (None: any).
        max_flops: the most multiply-adds per image of all networks together (None: any).
        seed: the fit's seed; the network at position ``i`` trains with ``seed + i``.
        verbose: the stages' Keras verbosity.
        output_layer: a function applied to the networks' (averaged) outputs,
            such as the regressor's rescaling to the user's units (None: none).

    Returns:
        A `FinalModel`.

    Raises:
        RuntimeError: every trial failed.
    """
    members = ensemble_trials(tuner, results, ensemble_size, task.regression, max_model_size, max_flops,
                              task.max_latency_ms)
    mode = refit_mode(refit, task)
    everything = task.final_fit_indices()
    rows = {row["trial_id"]: row for row in results}
    genotypes, networks = [], []
    for position, trial in enumerate(members):
        genotype, network = final_network(
            tuner, task, trial, space, mode, everything,
            timing=rows[trial.trial_id],
            seed=None if seed is None else seed + position,
            verbose=verbose,
        )
        genotypes.append(genotype)
        networks.append(network)
    return FinalModel(
        model=wrap(networks, task.data, output_layer),
        best_genotype=genotypes[0],
        best_hyperparameters=dict(members[0].hyperparameters.values),
        ensemble_trials=[trial.trial_id for trial in members],
    )


def final_network(tuner, task, trial, space, mode, indices, timing=None, seed=None, verbose=0):
    """``(genotype, network)`` of one trial after the final fit.

    Under a time limit, a final fit runs only if its planned seconds
    (`planned_seconds`) end before the budget's ``final_end``; it stops there
    between batches, and a final fit cut short gives back the trial's network
    as it was, which is known to be good.

    Args:
        mode: ``"continue"`` (train the trial's network a little longer),
            ``"scratch"`` (retrain the genotype) or None (keep the network).
        indices: the samples the final fit trains on.
        timing: the trial's row of ``results`` (``seconds``,
            ``epoch_seconds``, ``first_epoch_seconds``), to plan with.
        seed: seeds Keras before the network is made (None: no seeding).
    """
    settings = space_module.settings(trial.hyperparameters, space)
    folder = TrialFolder(tuner.get_trial_dir(trial.trial_id))
    genotype = folder.read_genotype()
    epochs = int(settings.get("tuner/epochs", settings["train_epochs"]))
    if seed is not None:
        seed_keeping_kernels(seed)  # keeps the compiled step of a network kept in memory
    network = tuner.trained_network(trial.trial_id) if mode != "scratch" else None
    in_memory = network is not None
    if network is None:
        network = make_network(task, genotype, settings)
        if mode != "scratch":
            network.load_weights(folder.weights_path)
    budget = task.budget
    planned = planned_seconds(mode, epochs, timing or {}, len(indices) / max(len(task.train), 1), in_memory)
    if mode is not None and budget is not None and planned > budget.final_end - budget.clock():
        log.info("too little time left for a final fit: keeping trial %s's network", trial.trial_id)
        if mode == "scratch":
            network.load_weights(folder.weights_path)
        mode = None
    deadline = None if budget is None else budget.final_end
    if mode == "scratch":
        log.info("final fit: trial %s's genotype trains from scratch on all the training data", trial.trial_id)
        history = train_network(
            task, network, settings, indices, epochs, run=f"final_{trial.trial_id}", verbose=verbose, deadline=deadline
        )
        if history.clock.stopped:
            log.info("the time limit cut the final fit short: keeping trial %s's network", trial.trial_id)
            network.load_weights(folder.weights_path)
    elif mode == "continue":
        log.info("final fit: trial %s's network continues on all the training data", trial.trial_id)
        before = network.get_weights()
        history = train_network(
            task,
            network,
            settings,
            indices,
            continue_epochs(epochs),
            run=f"final_{trial.trial_id}",
            verbose=verbose,
            learning_rate=float(settings["learning_rate"]) * CONTINUE_LEARNING_RATE_SHARE,
            continued=True,
            deadline=deadline,
        )
        if history.clock.stopped:
            log.info("the time limit cut the final fit short: keeping trial %s's network", trial.trial_id)
            network.set_weights(before)
    return genotype, plain_network(task, genotype, settings, network)  # exported without the strategy


def wrap(networks, data, output_layer=None):
    """One model of ``networks``: raw images normalised with ``data``'s moments, outputs averaged.

    Args:
        networks: the trained networks (one, or several whose outputs are averaged).
        data: the training `autoarch.inputs.ImageData` (image shape, mean, variance).
        output_layer: applied to the (averaged) outputs, or None.
    """
    inputs = keras.Input(tuple(data.image_shape), name="images")
    normalized = keras.layers.Normalization(
        mean=np.asarray(data.mean, np.float32), variance=np.asarray(data.variance, np.float32), name="normalize"
    )(inputs)
    if len(networks) == 1:
        outputs = networks[0](normalized)
    else:
        for position, network in enumerate(networks):
            network.name = f"darts_network_{position}"  # nested models need distinct names
        outputs = keras.layers.Average(name="ensemble_average")([network(normalized) for network in networks])
    if output_layer is not None:
        outputs = output_layer(outputs)
    return keras.Model(inputs, outputs, name="autoarch_model")


def _failed_for_space(tuner, row):
    """Whether the trial of ``row`` failed because the disk was full: the tuner records it (``disk_full``)."""
    return bool(TrialFolder(tuner.get_trial_dir(row["trial_id"])).read_result().get("disk_full"))
