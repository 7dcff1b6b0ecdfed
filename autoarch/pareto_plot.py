"""Accuracy against cost: every trial of a search, the budget, and what the final model is made of.

`plot_pareto` draws what a hardware-aware search (issue 16) traded: each
completed trial's holdout score against its latency per image (measured, or
estimated where it could not be measured) or, for fits without a latency
budget, its multiply-adds; the budget as a vertical line; the trials whose
networks make the final model as stars; and the Pareto front (no other trial
both cheaper and better) as a step line.
"""

import numpy as np

from autoarch.figures import figure_or_png
from autoarch.trial_rows import finite, results_and_objective

__all__ = ["plot_pareto"]


def _cost_axis(rows):
    """``(key, label)`` of the cost to draw: latency where the rows have it, else multiply-adds."""
    for key, label in (("latency_ms", "latency (ms per image, measured)"),
                       ("latency_estimate_ms", "latency (ms per image, estimated)")):
        if any(finite(row.get(key)) for row in rows):
            return key, label
    return "flops", "multiply-adds per image"


def _budget(estimator, key):
    if estimator is None:
        return None
    return getattr(estimator, "max_flops" if key == "flops" else "max_latency_ms", None)


def _front(points, direction):
    """The Pareto front of ``(cost, score)`` points: cheapest first, each better than every cheaper one."""
    front, best = [], None
    for cost, score in sorted(points, key=lambda p: (p[0], -p[1] if direction != "min" else p[1])):
        if best is None or (score < best if direction == "min" else score > best):
            front.append((cost, score))
            best = score
    return front


def plot_pareto(results, path=None, *, title=None, dpi=100):
    """Draw each trial's score against its latency (or multiply-adds), with the budget and the final model's trials.

    The cost is the trials' measured ``latency_ms`` when any has one, else
    their ``latency_estimate_ms`` (a latency table of another device), else
    their ``flops``. Given a fitted estimator, its ``max_latency_ms`` (or
    ``max_flops``) is drawn as a dashed vertical line labelled ``budget``
    and the trials of ``ensemble_trials_`` as stars.

    Args:
        results: a fitted estimator, or its ``results_``.
        path: where to save a PNG (None: return the Figure).
        title: the figure title; None gives one with the counts, ``""`` none.
        dpi: resolution of the saved PNG.

    Returns:
        str | matplotlib.figure.Figure: the path written, or the Figure.

    Raises:
        sklearn.exceptions.NotFittedError: an estimator before ``fit``.
        ValueError: not a list of trial rows, or no completed trial has a cost to draw.
    """
    estimator = results if hasattr(results, "get_params") else None
    rows, objective, direction = results_and_objective(results)
    key, label = _cost_axis(rows)
    done = [row for row in rows
            if row["status"] == "COMPLETED" and finite(row.get("score")) and finite(row.get(key))]
    if not done:
        raise ValueError(f"no completed trial has both a score and a {key}: there is nothing to plot")
    chosen = set(getattr(estimator, "ensemble_trials_", None) or [])

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    costs = np.array([float(row[key]) for row in done])
    scores = np.array([float(row["score"]) for row in done])
    ax.scatter(costs, scores, color="C0", zorder=3, label="completed trial")
    front = _front(list(zip(costs, scores)), direction)
    ax.step([c for c, _ in front], [s for _, s in front], where="post", color="C2", linewidth=1, label="Pareto front")
    members = [i for i, row in enumerate(done) if row.get("trial_id") in chosen]
    if members:
        ax.scatter(costs[members], scores[members], marker="*", s=220, color="C1", zorder=4,
                   label="final model's trial")
    if len(done) <= 40:
        for cost, score, row in zip(costs, scores, done):
            ax.annotate(str(row.get("trial_id", "")), (cost, score), textcoords="offset points", xytext=(4, 4),
                        fontsize=7)
    budget = _budget(estimator, key)
    if budget is not None:
        ax.axvline(float(budget), color="C3", linestyle="--", label="budget")
    ax.set_xlabel(label)
    ax.set_ylabel(objective or "score")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    if title is None:
        title = f"Score against cost ({len(done)} completed trials of {len(rows)})"
    if title:
        ax.set_title(title)
    return figure_or_png(fig, path, dpi)
