"""Choosing the discrete cell by perturbation: what the trained supernet needs most.

DARTS keeps, on every edge, the operation with the largest architecture weight.
After a short search those weights are nearly uniform, so the choice is mostly
noise. Perturbation-based selection (Wang et al., ICLR 2021, "Rethinking
architecture selection in differentiable NAS", DARTS-PT) asks the trained
supernet instead: an operation matters as much as the validation loss rises
when it is taken off its edge, and an edge as much as the loss rises when the
whole edge is taken away.

This is DARTS-PT's criterion applied once to the trained supernet, without its
progressive fine-tuning between edges: every removal is measured against the
same supernet, on the same fixed validation samples, so the rule is
deterministic and costs one forward pass per removal (no training). Then, as
in DARTS, each node keeps its two most needed edges, each with its most needed
operation other than ``none``, and the normal cell's skip connections are capped.
"""

from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from keras import ops

from autoarch.darts.derivation import _cap_skips, best_operations, keep_strongest_edges
from autoarch.darts.genotype import Genotype

__all__ = ["SELECTIONS", "PerturbationScores", "perturbation_scores", "perturbation_genotype"]

SELECTIONS = ("alpha", "perturbation")
"""The rules that turn a trained supernet into a genotype: DARTS's largest
weight (``"alpha"``) or the loss without each operation (``"perturbation"``)."""


@dataclass
class PerturbationScores:
    """How much the supernet's loss rises when a part of a cell is removed.

    Attributes:
        base_loss: the loss of the supernet as trained.
        normal: ``(edges, len(primitives))``: the rise when that operation is
            removed from that edge of the normal cells (its weight set to 0,
            the rest of the row renormalised); NaN in the ``none`` column.
        reduce: the same for the reduction cells.
        normal_edges: ``(edges,)``: the rise when the whole edge is removed.
        reduce_edges: the same for the reduction cells.
    """

    base_loss: float
    normal: np.ndarray
    reduce: np.ndarray
    normal_edges: np.ndarray
    reduce_edges: np.ndarray


def _removed(weights, row, column=None):
    """``weights`` without operation ``column`` of ``row`` (renormalised), or without the whole row."""
    changed = np.array(weights, dtype=np.float32)
    if column is None:
        changed[row] = 0.0
    else:
        changed[row, column] = 0.0
        total = changed[row].sum()
        if total > 0:
            changed[row] /= total
    return changed


def perturbation_scores(network, images, targets, batch_size=256):
    """Measure every removal of `PerturbationScores` on ``(images, targets)``.

    Args:
        network: a trained `autoarch.darts.SearchNetwork`.
        images: normalised images at the supernet's input size, ``(n, h, w, c)``.
        targets: their targets as the supernet was trained on them.
        batch_size: images per forward pass (batch statistics are taken per batch).

    Returns:
        `PerturbationScores`.
    """
    images = ops.convert_to_tensor(np.asarray(images, np.float32))
    targets = ops.convert_to_tensor(np.asarray(targets))
    starts = range(0, int(images.shape[0]), batch_size)
    weights = network.operation_weights()
    normal, reduce = weights["normal"], weights["reduce"]
    edge_normal, edge_reduce = weights.get("normal_edges"), weights.get("reduce_edges")

    # Traced once: the weights are arguments, so every removal reuses the graph.
    @tf.function(reduce_retracing=True)
    def loss(normal_weights, reduce_weights):
        total = 0.0
        for start in starts:
            x = images[start : start + batch_size]
            logits = network.logits_with(x, normal_weights, reduce_weights, edge_normal, edge_reduce)
            total += ops.sum(network.sample_losses(targets[start : start + batch_size], logits))
        return total / float(images.shape[0])

    def measure(normal_weights, reduce_weights):
        return float(loss(ops.convert_to_tensor(normal_weights), ops.convert_to_tensor(reduce_weights)))

    base = measure(normal.astype(np.float32), reduce.astype(np.float32))
    found = {}
    for cell, own, other in (("normal", normal, reduce), ("reduce", reduce, normal)):
        operations = np.full(own.shape, np.nan)
        edges = np.zeros(own.shape[0])
        for row in range(own.shape[0]):
            for column, name in enumerate(network.primitives):
                if name != "none":
                    changed = _removed(own, row, column)
                    pair = (changed, other) if cell == "normal" else (other, changed)
                    operations[row, column] = measure(*pair) - base
            changed = _removed(own, row)
            pair = (changed, other) if cell == "normal" else (other, changed)
            edges[row] = measure(*pair) - base
        found[cell], found[f"{cell}_edges"] = operations, edges
    return PerturbationScores(base_loss=base, **found)


def _select(operations, edges, primitives, nodes):
    """Per node the two edges with the largest rise, each with its operation of largest rise."""
    return keep_strongest_edges(best_operations(operations, primitives), edges, nodes)


def perturbation_genotype(network, images, targets, max_skip_connections=None, batch_size=256):
    """The genotype the trained supernet needs most, and the scores it was chosen by.

    Per node the two edges whose removal raises the loss most are kept; on each
    the operation (other than ``none``) whose removal raises it most. Ties go
    to the lower input index and the operation listed first. With
    ``max_skip_connections`` the normal cell's least needed skip connections
    are replaced by their edge's next most needed operation until at most
    that many remain (as `autoarch.darts.derive_genotype` does with weights).

    Args:
        network: a trained `autoarch.darts.SearchNetwork`.
        images: normalised validation images at the supernet's input size.
        targets: their targets.
        max_skip_connections: the cap on skips in the normal cell, or None.
        batch_size: images per forward pass.

    Returns:
        ``(Genotype, PerturbationScores)``.
    """
    scores = perturbation_scores(network, images, targets, batch_size=batch_size)
    primitives, nodes = network.primitives, network.nodes
    normal = _select(scores.normal, scores.normal_edges, primitives, nodes)
    reduce = _select(scores.reduce, scores.reduce_edges, primitives, nodes)
    if max_skip_connections is not None:
        _cap_skips(normal, np.nan_to_num(scores.normal, nan=-np.inf), primitives, max_skip_connections)
    concat = tuple(range(2, nodes + 2))
    genotype = Genotype(
        normal=tuple((primitives[op], index) for _, index, op in normal),
        normal_concat=concat,
        reduce=tuple((primitives[op], index) for _, index, op in reduce),
        reduce_concat=concat,
    )
    return genotype, scores
