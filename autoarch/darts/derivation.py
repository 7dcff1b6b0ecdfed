"""Deriving a `Genotype` from a search's architecture weights, and drawing one at random.

`derive_genotype` applies DARTS's rule: per intermediate node, keep the two
incoming edges whose strongest operation other than ``none`` weighs most,
each with that operation. `random_genotype` draws uniformly from the same
space (the random-cell baseline). `autoarch.darts.selection` reuses the
pieces (`best_operations`, `keep_strongest_edges`) with other scores.
"""

from __future__ import annotations

import numpy as np

from autoarch.darts.genotype import _CELLS, Genotype, _is_int
from autoarch.darts.primitives import num_edges, validate_primitives

__all__ = ["derive_genotype", "random_genotype", "best_operations", "keep_strongest_edges"]


def _cell_edges(nodes):
    """Return the weight-row ranges of each node: node i owns i+2 consecutive rows."""
    start, ranges = 0, []
    for node in range(nodes):
        ranges.append(range(start, start + node + 2))
        start += node + 2
    return ranges


def _check_weights(name, weights, shape):
    array = np.asarray(weights, dtype=float)
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite, got NaN or infinite values")
    return array


def _select_edges(weights, edge_weights, primitives, nodes):
    """Apply the DARTS rule to one cell.

    Returns:
        A list of ``[edge_row, input_index, op_column]``, two per node, each
        node's pair ordered by edge strength, strongest first.
    """
    best = best_operations(weights, primitives)
    scaled = weights if edge_weights is None else weights * edge_weights[:, None]
    return keep_strongest_edges(best, scaled[np.arange(len(best)), best], nodes)


def best_operations(scores, primitives):
    """Per edge (row of ``scores``), the column of its highest score other than ``none``'s.

    Ties go to the operation listed first in ``primitives``.
    """
    candidates = [k for k, name in enumerate(primitives) if name != "none"]
    return np.array([candidates[int(np.argmax(row[candidates]))] for row in scores], dtype=int)


def keep_strongest_edges(best, strength, nodes):
    """Per node its two edges of largest ``strength``, strongest first, with their ``best`` operation.

    Returns:
        A list of ``[edge_row, input_index, op_column]``, two per node. Among
        equally strong edges the lower input index wins (``sorted`` is stable).
    """
    selected = []
    for rows in _cell_edges(nodes):
        kept = sorted(rows, key=lambda row: -strength[row])[:2]
        selected += [[row, row - rows.start, int(best[row])] for row in kept]
    return selected


def _cap_skips(selected, weights, primitives, cap):
    """Replace the weakest skip_connect ops of ``selected`` until at most ``cap`` remain."""
    if "skip_connect" not in primitives:
        return
    skip = primitives.index("skip_connect")
    alternatives = [k for k, name in enumerate(primitives) if name not in ("none", "skip_connect")]
    if not alternatives:
        return  # nothing to replace a skip with; the cap cannot be met
    while True:
        skips = [entry for entry in selected if entry[2] == skip]
        if len(skips) <= cap:
            return
        weakest = min(skips, key=lambda entry: weights[entry[0], skip])
        weakest[2] = alternatives[int(np.argmax(weights[weakest[0], alternatives]))]


def derive_genotype(
    normal_weights,
    reduce_weights,
    primitives,
    nodes=4,
    max_skip_connections=None,
    normal_edge_weights=None,
    reduce_edge_weights=None,
):
    """Derive the discrete genotype from the searched architecture weights.

    Follows the DARTS rule: for every intermediate node, keep the two incoming
    edges whose strongest operation other than ``'none'`` weighs most (ties
    go to the lower input index), and on each keep that strongest operation
    (ties go to the operation listed first in ``primitives``). If ``'none'``
    is not among the primitives this is the plain argmax. As in the DARTS
    reference, a node's two pairs are ordered by edge strength, strongest
    first. Every intermediate node is concatenated into the cell output.

    Args:
        normal_weights: Operation weights of the normal cell, already
            softmaxed, shape ``(num_edges, len(primitives))`` with
            ``num_edges = sum(2 + i for i in range(nodes))`` (14 for 4 nodes).
            Rows are ordered node by node, and within a node by input index:
            node 0's edges from inputs 0, 1; node 1's from 0, 1, 2; and so on.
        reduce_weights: Operation weights of the reduction cell, same layout.
        primitives: The operation names, one per weight column.
        nodes: The number of intermediate nodes per cell.
        max_skip_connections: The P-DARTS cap on ``skip_connect`` in the
            normal cell, or None for no cap. While the normal cell has more
            skips than the cap, the kept skip edge with the smallest skip
            weight gets its next best operation other than ``'none'`` and
            ``'skip_connect'`` (its edge stays selected). Only the normal cell
            is capped: the collapse towards parameter-free skips is a
            normal-cell failure, while in the reduction cell a skip from a
            cell input is a factorized reduction that does learn. If the
            primitives offer no alternative operation, skips are left as they
            are, so the cap may then be exceeded.
        normal_edge_weights: Optional PC-DARTS edge-normalization weights of
            the normal cell, shape ``(num_edges,)``, already normalized over
            each node's inputs. They scale the operation weights when edges
            are selected; the operation chosen on an edge is unaffected.
        reduce_edge_weights: The same for the reduction cell.

    Returns:
        Genotype: The derived architecture.

    Raises:
        ValueError: if ``primitives`` is invalid (see `validate_primitives`),
            ``nodes`` is not a positive integer, a weight array has the wrong
            shape or non-finite values, or ``max_skip_connections`` is not
            None or a non-negative integer.
    """
    primitives = validate_primitives(primitives)
    if not _is_int(nodes) or nodes < 1:
        raise ValueError(f"nodes must be a positive integer, got {nodes!r}")
    if max_skip_connections is not None and (
        not _is_int(max_skip_connections) or max_skip_connections < 0
    ):
        raise ValueError(
            f"max_skip_connections must be None or an integer >= 0, got {max_skip_connections!r}"
        )
    edges = num_edges(nodes)
    shape = (edges, len(primitives))
    normal_weights = _check_weights("normal_weights", normal_weights, shape)
    reduce_weights = _check_weights("reduce_weights", reduce_weights, shape)
    if normal_edge_weights is not None:
        normal_edge_weights = _check_weights(
            "normal_edge_weights", normal_edge_weights, (edges,)
        )
    if reduce_edge_weights is not None:
        reduce_edge_weights = _check_weights(
            "reduce_edge_weights", reduce_edge_weights, (edges,)
        )

    normal = _select_edges(normal_weights, normal_edge_weights, primitives, nodes)
    reduce = _select_edges(reduce_weights, reduce_edge_weights, primitives, nodes)
    if max_skip_connections is not None:
        _cap_skips(normal, normal_weights, primitives, max_skip_connections)
    concat = tuple(range(2, nodes + 2))
    return Genotype(
        normal=tuple((primitives[op], index) for _, index, op in normal),
        normal_concat=concat,
        reduce=tuple((primitives[op], index) for _, index, op in reduce),
        reduce_concat=concat,
    )


def random_genotype(primitives, nodes=4, seed=None):
    """Draw a genotype uniformly at random from the space `derive_genotype` derives from.

    The random-cell baseline of NAS (Li & Talwalkar, 2019; Lindauer & Hutter,
    2020): every genotype a search over ``primitives`` with ``nodes``
    intermediate nodes could derive is equally likely. For each cell (normal,
    then reduce) and each intermediate node ``i`` (from 0), two distinct
    inputs are drawn among the indices 0..i+1 (the two cell inputs and the
    earlier nodes), in random order, and each gets an operation drawn
    uniformly from ``primitives`` other than ``'none'``. As in a derived
    genotype, every intermediate node is concatenated into the cell output.

    Args:
        primitives: The candidate operation names (see `validate_primitives`);
            ``'none'`` among them is never drawn.
        nodes: The number of intermediate nodes per cell (a positive integer).
        seed: Seeds ``numpy.random.default_rng``: the same seed gives the same
            genotype. None draws fresh entropy.

    Returns:
        Genotype: The random architecture.

    Raises:
        ValueError: if ``primitives`` is invalid or ``nodes`` is not a
            positive integer.

    Example:
        >>> g = random_genotype(("none", "skip_connect", "sep_conv_3x3"), nodes=2, seed=0)
        >>> g.nodes, g == random_genotype(("none", "skip_connect", "sep_conv_3x3"), nodes=2, seed=0)
        (2, True)
    """
    primitives = validate_primitives(primitives)
    if not _is_int(nodes) or nodes < 1:
        raise ValueError(f"nodes must be a positive integer, got {nodes!r}")
    operations = [name for name in primitives if name != "none"]
    rng = np.random.default_rng(seed)
    cells = []
    for _ in _CELLS:
        pairs = []
        for node in range(nodes):
            inputs = rng.choice(node + 2, size=2, replace=False)
            pairs += [(operations[int(rng.integers(len(operations)))], int(index)) for index in inputs]
        cells.append(tuple(pairs))
    concat = tuple(range(2, nodes + 2))
    return Genotype(normal=cells[0], normal_concat=concat, reduce=cells[1], reduce_concat=concat)
