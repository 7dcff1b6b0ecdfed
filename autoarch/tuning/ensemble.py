"""Which trials' networks the final model averages: ensemble selection on the holdout.

Every trial saves its network's holdout predictions in its folder (`TrialFolder.write_predictions`).
After the search, `select_members` grows the ensemble from the best trial,
greedily adding the candidate whose predictions lower the holdout loss of the
average the most, and stops when no candidate lowers it (forward selection
without replacement, after Caruana et al., "Ensemble selection from libraries
of models", ICML 2004, as auto-sklearn does). The holdout loss (cross-entropy
or mean squared error) is used rather than the score, because it still moves
when the scores of small holdouts tie.
"""

import numpy as np

from autoarch.tuning.trial_folder import PREDICTIONS_FILE, TrialFolder

__all__ = ["PREDICTIONS_FILE", "save_predictions", "load_predictions", "holdout_loss", "select_members"]

_EPSILON = 1e-7  # Keras's clipping of probabilities in cross-entropy


def save_predictions(trial_dir, targets, predictions):
    """Write a trial's holdout ``targets`` and ``predictions`` to its folder (`TrialFolder.write_predictions`)."""
    TrialFolder(trial_dir).write_predictions(targets, predictions)


def load_predictions(trial_dir):
    """``(targets, predictions)`` saved in ``trial_dir``, or None if there are none (`TrialFolder.read_predictions`)."""
    return TrialFolder(trial_dir).read_predictions()


def holdout_loss(targets, predictions, regression):
    """Mean cross-entropy of class probabilities against class indices, or mean squared error."""
    if regression:
        return float(np.mean((np.asarray(targets, np.float64) - predictions) ** 2))
    chosen = np.take_along_axis(predictions, np.asarray(targets, np.int64).reshape(-1, 1), axis=1)
    return float(-np.mean(np.log(np.clip(chosen, _EPSILON, 1.0 - _EPSILON))))


def select_members(candidates, predictions, size, regression, sizes=None, max_size=None, budgets=()):
    """The members of the final ensemble, best first.

    Args:
        candidates: trial ids, best first; the first is always a member.
        predictions: trial id to ``(targets, predictions)`` on the holdout;
            a candidate missing here cannot join.
        size: the most members.
        regression: compare by mean squared error instead of cross-entropy.
        sizes: trial id to parameter count (needed with ``max_size``).
        max_size: the most parameters of all members together (None: any).
        budgets: more ``(costs, limit)`` pairs like ``(sizes, max_size)``:
            trial id to a cost (multiply-adds, ...), and the most all members
            may cost together (None: any).

    Returns:
        A list of trial ids: the first candidate, then each candidate that
        lowered the holdout loss of the equal-weight average the most, while
        one did and there is room.
    """
    if not candidates:
        return []
    members = [candidates[0]]
    if candidates[0] not in predictions:
        return members
    targets, first = predictions[candidates[0]]
    total = first.astype(np.float64)
    loss = holdout_loss(targets, total, regression)
    limits = [(sizes or {}, max_size), *budgets]
    used = [costs.get(candidates[0], 0) for costs, _ in limits]
    while len(members) < size:
        best = None
        for trial_id in candidates:
            if trial_id in members or trial_id not in predictions:
                continue
            if any(limit is not None and spent + costs.get(trial_id, 0) > limit
                   for spent, (costs, limit) in zip(used, limits)):
                continue
            their_targets, theirs = predictions[trial_id]
            if not np.array_equal(their_targets, targets):
                continue  # scored on another holdout (another split): not comparable
            average = (total + theirs) / (len(members) + 1)
            candidate_loss = holdout_loss(targets, average, regression)
            if candidate_loss < loss and (best is None or candidate_loss < best[1]):
                best = (trial_id, candidate_loss)
        if best is None:
            break
        members.append(best[0])
        total = total + predictions[best[0]][1]
        loss = best[1]
        used = [spent + costs.get(best[0], 0) for spent, (costs, _) in zip(used, limits)]
    return members
