"""The one ranking of trials: the incumbent first, then better objective, lower holdout loss, earlier.

A holdout of a few hundred or thousand images scores trials with an error of
its own (a standard error of 0.3 points of accuracy on 1,600 images at 98%),
and the best of many noisy scores is chosen for its luck as much as for its
network. So the first place goes to the *incumbent*: walking through the
trials in the order they started, a trial takes the first place only when it
beats the one holding it by more than `MARGIN_IN_STANDARD_ERRORS` standard
errors of that one's score (``<objective>_se`` in its metrics, see
`autoarch.tuning.trial.evaluate_network`). The oracles try the tuned defaults
first, so a longer search replaces them only with a trial that is better
beyond the holdout's noise. Trials without a standard error (searches saved
before autoarch measured one) compare by score, then loss, as before. The
other places follow the score, then the lower holdout loss, then the earlier trial.

Every reader that names "the best trial" uses this module: the final fit's
choice of trials (`ranked_trials`, `ensemble_candidates`), the networks a tuner
keeps in memory (`rank_key`), and, through the ``rank`` that each row of an
estimator's ``results_`` carries, the notebook display, the command line and
the plots (`best_row`, `rank_rows`).
"""

import math
from typing import NamedTuple

import keras_tuner
from keras_tuner.src.engine.trial import TrialStatus

__all__ = [
    "MARGIN_IN_STANDARD_ERRORS",
    "Entry",
    "rank_key",
    "ordered",
    "direction_of",
    "as_objective",
    "ranked_trials",
    "best_trial",
    "ensemble_candidates",
    "rank_rows",
    "best_row",
]


MARGIN_IN_STANDARD_ERRORS = 1.0
"""How many standard errors of the incumbent's score a later trial must beat it by to take the first place."""


class Entry(NamedTuple):
    """One scored trial, as `ordered` ranks it.

    Attributes:
        position: when it started (lower is earlier).
        score: its objective value.
        loss: its holdout ``val_loss``, or None.
        error: the standard error of ``score``, or None when unknown.
        item: what `ordered` gives back for it (a trial, a row, an id).
    """

    position: int
    score: float
    loss: float = None
    error: float = None
    item: object = None


def ordered(entries, direction):
    """The ``item`` of each `Entry`, best first: the incumbent, then by `rank_key` and position.

    Args:
        entries: the scored trials, in any order.
        direction: the objective's ``"min"`` or ``"max"``.
    """
    def key(entry):
        return (*rank_key(direction, entry.score, entry.loss), entry.position)

    ranked = sorted(entries, key=key)
    incumbent = None
    for entry in sorted(entries, key=lambda entry: entry.position):
        if incumbent is None or _beats(entry, incumbent, direction, key):
            incumbent = entry
    if incumbent is not None:
        ranked.remove(incumbent)
        ranked.insert(0, incumbent)
    return [entry.item for entry in ranked]


def _beats(challenger, incumbent, direction, key):
    margin = MARGIN_IN_STANDARD_ERRORS * (incumbent.error or 0.0)
    if not margin or not math.isfinite(margin):
        return key(challenger) < key(incumbent)
    sign = 1.0 if direction == "max" else -1.0
    return sign * (float(challenger.score) - float(incumbent.score)) > margin


def rank_key(direction, score, loss):
    """Sort key of a trial: better scores first, then lower holdout losses (``loss`` None: last).

    Args:
        direction: the objective's ``"min"`` or ``"max"``.
        score: the trial's objective value.
        loss: its holdout ``val_loss``, or None.
    """
    sign = -1.0 if direction == "max" else 1.0
    loss = float(loss) if loss is not None and math.isfinite(loss) else math.inf
    return (sign * float(score), loss)


def direction_of(objective):
    """``"min"`` for an objective named ``*loss``, else ``"max"`` (the estimators' rule for names)."""
    return "min" if str(objective).endswith("loss") else "max"


def as_objective(objective):
    """A `keras_tuner.Objective` from a metric name (direction by `direction_of`) or an Objective.

    Raises:
        ValueError: neither a string nor a `keras_tuner.Objective`.
    """
    if isinstance(objective, keras_tuner.Objective):
        return objective
    if not isinstance(objective, str):
        raise ValueError(f"objective must be a metric name or keras_tuner.Objective, got {objective!r}")
    return keras_tuner.Objective(objective, direction_of(objective))


def ranked_trials(oracle):
    """The completed trials of ``oracle``, best first (see `ordered`).

    Equal scores are common on a small holdout (accuracy moves in steps of one
    image), so ties go to the lower holdout loss (``val_loss``), then to the
    earlier trial.
    """
    name = oracle.objective.name
    entries = [
        Entry(position, trial.score, _metric(trial, "val_loss"), _metric(trial, f"{name}_se"), trial)
        for position, trial in enumerate(oracle.trials.values())
        if trial.status == TrialStatus.COMPLETED and trial.score is not None
    ]
    return ordered(entries, oracle.objective.direction)


def _metric(trial, name):
    return trial.metrics.get_last_value(name) if trial.metrics.exists(name) else None


def best_trial(oracle):
    """The best completed trial of ``oracle`` (the first of `ranked_trials`), or None if none completed."""
    ranked = ranked_trials(oracle)
    return ranked[0] if ranked else None


def ensemble_candidates(oracle):
    """The completed trials of ``oracle`` that may join the final ensemble, best first.

    A Hyperband trial that continues another one's network (and the one it
    continues) count as one: only the better of a lineage is a candidate.
    """
    trials = oracle.trials

    def lineage(trial):
        found = set()
        while trial is not None and trial.trial_id not in found:
            found.add(trial.trial_id)
            trial = trials.get(trial.hyperparameters.values.get("tuner/trial_id"))
        return found

    chosen, taken = [], set()
    for trial in ranked_trials(oracle):
        family = lineage(trial)
        if not family & taken:
            chosen.append(trial)
            taken |= family
    return chosen


def rank_rows(rows, direction, losses=None, errors=None):
    """Give each completed, scored row of ``rows`` its ``rank`` (1 is best); others get None.

    Args:
        rows: result rows (dicts with ``trial_id``, ``status`` and ``score``), in start order.
        direction: the objective's ``"min"`` or ``"max"``.
        losses: trial id to holdout ``val_loss`` (the tie-break), or None.
        errors: trial id to the standard error of its score, or None.

    Returns:
        ``rows``, changed in place.
    """
    losses, errors = losses or {}, errors or {}
    entries = [
        Entry(position, row["score"], losses.get(row["trial_id"]), errors.get(row["trial_id"]), row)
        for position, row in enumerate(rows)
        if row.get("status") == "COMPLETED" and _finite(row.get("score"))
    ]
    for row in rows:
        row["rank"] = None
    for rank, row in enumerate(ordered(entries, direction), 1):
        row["rank"] = rank
    return rows


def best_row(rows, objective=None):
    """The row of the best trial in an estimator's ``results_``, or None if no trial completed.

    Rows carry their ``rank`` (see `rank_rows`); rows saved before autoarch
    recorded ranks are ranked here by score in the direction of ``objective``
    (a name; default the rows' own ``objective``, else ``"max"``), ties to the earlier trial.
    """
    rows = list(rows)
    if any(row.get("rank") is not None for row in rows):
        return min((row for row in rows if row.get("rank") is not None), key=lambda row: row["rank"])
    if objective is None:
        objective = next((row.get("objective") for row in rows if row.get("objective")), None)
    ranked = rank_rows([dict(row) for row in rows], direction_of(objective) if objective else "max")
    best = next((position for position, row in enumerate(ranked) if row["rank"] == 1), None)
    return None if best is None else rows[best]


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
