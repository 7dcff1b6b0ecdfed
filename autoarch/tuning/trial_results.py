"""The search's results: one row per trial, read from the oracle and the trials' folders.

These rows are the estimator's ``results_``, the CLI's table and the HTML
summary's source.
"""

from keras_tuner.src.engine.trial import TrialStatus

from autoarch.tuning.ranking import ranked_trials
from autoarch.tuning.trial_folder import TrialFolder

__all__ = ["read_results"]


def read_results(oracle, project_dir):
    """One row per trial: id, hyperparameters, genotype, score, parameters, seconds,
    search confidence, status, failure reason, the worker that ran it and its
    rank, in start order.

    A trial still marked running that no tuner runs (its process was killed, or
    the time limit ended the search before its retry) is ``"INTERRUPTED"``, and
    so is one whose worker was lost and that waits for a retry. ``worker`` is
    the ``KERASTUNER_TUNER_ID`` of the process that ran the trial last
    (``"tuner0"`` without distribution). ``rank`` is the trial's place in
    `autoarch.tuning.ranking.ranked_trials` (1 is the best; None for a trial
    that did not complete), and ``objective`` and ``direction`` say what the
    ``score`` is. ``flops`` are the network's multiply-adds per image
    (`autoarch.darts.costs`); with a latency budget, ``latency_ms`` is its
    measured and ``latency_estimate_ms`` its estimated latency per image
    (`autoarch.tuning.cost_budgets`). ``epoch_seconds`` (steady) and ``first_epoch_seconds``
    (tracing included) time the trial's training epochs, and
    ``stopped_by_time_limit`` says whether the time limit cut its training,
    and ``search_skipped`` why the trial trained a random cell without a
    search (too little time for one; None when it searched or was given a cell).
    ``at_chance`` says whether its holdout score is within noise of chance
    (``chance_score``: the majority class's share, or an R² of 0; see
    `autoarch.tuning.trial.chance_record`).
    """
    ranks = {trial.trial_id: rank for rank, trial in enumerate(ranked_trials(oracle), 1)}
    rows = []
    for trial_id in oracle.start_order:
        trial = oracle.trials[trial_id]
        result = TrialFolder.of(project_dir, trial_id).read_result()
        status = trial.status
        reason = result.get("reason")
        if status in (TrialStatus.RUNNING, TrialStatus.INVALID) and not any(
            t.trial_id == trial_id for t in oracle.ongoing_trials.values()
        ):
            status = "INTERRUPTED"
            reason = "stopped before it finished (killed, or the time limit); a rerun resumes it"
        elif status == TrialStatus.FAILED and not reason:
            reason = trial.message  # set by the chief when the trial lost its worker too often
        rows.append(
            {
                "trial_id": trial_id,
                "hyperparameters": dict(trial.hyperparameters.values),
                "genotype": result.get("genotype"),
                "score": None if trial.score is None else float(trial.score),
                "parameters": result.get("parameters"),
                "flops": result.get("flops"),
                "latency_ms": result.get("latency_ms"),
                "latency_estimate_ms": result.get("latency_estimate_ms"),
                "seconds": result.get("seconds"),
                "epoch_seconds": result.get("epoch_seconds"),
                "first_epoch_seconds": result.get("first_epoch_seconds"),
                "stopped_by_time_limit": result.get("stopped_by_time_limit"),
                "search_confidence": result.get("search_confidence"),
                "search_skipped": result.get("search_skipped"),
                "chance_score": result.get("chance_score"),
                "at_chance": result.get("at_chance"),
                "status": status,
                "reason": reason if status != TrialStatus.COMPLETED else None,
                "worker": result.get("worker"),
                "rank": ranks.get(trial_id),
                "objective": oracle.objective.name,
                "direction": oracle.objective.direction,
            }
        )
    return rows
