"""How decided a search ended: the entropy and margin of its architecture weights.

A search that has learned something leaves each edge's softmaxed weights
peaked on a few operations; one that has not leaves them near uniform, and
then DARTS's rule (the largest weight) picks among differences of noise.
`search_confidence` measures this on the last weights; a trial reports it in
``results_`` and logs plainly when the search ended without confidence.
"""

import math

import numpy as np

__all__ = ["CONFIDENT_ENTROPY_SHARE", "search_confidence"]

CONFIDENT_ENTROPY_SHARE = 0.95
"""A search is confident when its mean edge entropy is below this share of a
uniform edge's (``log`` of the operation count). With six operations that
needs, on an average edge, one operation at about 0.4 and the rest even."""


def search_confidence(weights):
    """The confidence of softmaxed architecture weights.

    Args:
        weights: a dict with ``normal`` and ``reduce`` arrays of shape
            ``(edges, operations)``, each row summing to 1 (as
            `autoarch.darts.SearchNetwork.operation_weights` gives them, or
            the last entry of a trial's alpha history).

    Returns:
        dict: ``entropy`` (the mean over the edges of both cells of each
        row's entropy), ``entropy_max`` (a uniform row's: ``log(operations)``),
        ``margin`` (the mean of each row's best minus second weight) and
        ``confident`` (``entropy < CONFIDENT_ENTROPY_SHARE * entropy_max``),
        as plain Python values.
    """
    rows = np.concatenate([np.asarray(weights[cell], dtype=np.float64) for cell in ("normal", "reduce")])
    entropy = -np.sum(rows * np.log(np.clip(rows, 1e-12, None)), axis=1)
    top = np.sort(rows, axis=1)
    margin = top[:, -1] - top[:, -2] if rows.shape[1] > 1 else top[:, -1]
    entropy_max = math.log(rows.shape[1]) if rows.shape[1] > 1 else 0.0
    mean_entropy = float(entropy.mean())
    return {
        "entropy": round(mean_entropy, 4),
        "entropy_max": round(entropy_max, 4),
        "margin": round(float(margin.mean()), 4),
        "confident": bool(entropy_max == 0 or mean_entropy < CONFIDENT_ENTROPY_SHARE * entropy_max),
    }
