"""The estimator's ``results_`` rows as the pictures read them: checked, with their objective."""

import math

import numpy as np

__all__ = ["results_and_objective", "finite"]


def results_and_objective(results):
    """``(rows, objective name or None, direction)`` from a results list or an estimator."""
    objective, direction = None, None
    if hasattr(results, "get_params"):  # an autoarch estimator
        estimator = results
        if not hasattr(estimator, "results_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"this {type(estimator).__name__} is not fitted yet: it has no results_")
        try:
            found = estimator._objective()
            objective, direction = found.name, found.direction
        except (AttributeError, ValueError):
            pass
        results = estimator.results_
    if isinstance(results, (str, bytes, dict)) or not isinstance(results, (list, tuple)):
        raise ValueError(
            f"expected the estimator's results_ (a list of per-trial dicts) or a fitted estimator, "
            f"got {type(results).__name__}"
        )
    for position, row in enumerate(results):
        if not isinstance(row, dict):
            raise ValueError(f"results[{position}]: expected a dict per trial, got {type(row).__name__}")
        missing = [key for key in ("score", "status", "seconds") if key not in row]
        if missing:
            raise ValueError(f"results[{position}]: missing {missing}; expected rows of the estimator's results_")
    if direction is None:  # bare rows: those written since autoarch ranks trials say their objective
        direction = next((row["direction"] for row in results if row.get("direction")), None)
        objective = objective or next((row["objective"] for row in results if row.get("objective")), None)
    return list(results), objective, direction


def finite(value):
    """Whether ``value`` is a finite number (not a bool)."""
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and math.isfinite(value)
