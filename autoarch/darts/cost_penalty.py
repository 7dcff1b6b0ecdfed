"""The budget term of the architecture loss: the final network's expected cost, against a budget.

Hardware-aware search (issue 16), as ProxylessNAS and NNI's one-shot
searches weigh latency: the architecture loss becomes
``loss + weight * max(0, E[cost] / budget - 1)``, where ``E[cost]`` is the
cost of the network the user will run (`autoarch.darts.costs.EdgeCosts`:
its cells, widths and resolutions, not the supernet's), expected under the
current architecture weights:

- on each edge, the operations' costs weighted by their softmax *without*
  ``none``: derivation never picks ``none``, so it must not soak up the
  pressure (a ``none`` with all the weight would cost nothing here, yet
  derive to something that costs);
- each node keeps two of its incoming edges, so an edge's expected cost is
  weighted by twice its share of the node's edge strength (one minus its
  ``none`` weight, times its edge-normalization weight with partial channels).

Only the architecture step sees the term, once per step (not once per
replica), first and second order alike; the weight step never does.
"""

import numpy as np
import tensorflow as tf
from keras import ops

from autoarch.darts.primitives import num_edges

__all__ = ["CostPenalty", "PenaltySum"]


class CostPenalty:
    """``weight * max(0, E[cost] / budget - 1)`` of a supernet's architecture weights.

    Args:
        costs: the final network's `autoarch.darts.costs.EdgeCosts`, with the
            supernet's primitives and nodes.
        budget: the most the final network may cost (same unit as ``costs``).
        weight: strength of the term against the validation loss.

    Raises:
        ValueError: a budget or weight that is not > 0.
    """

    def __init__(self, costs, budget, weight=1.0):
        if not budget > 0:
            raise ValueError(f"budget must be > 0, got {budget!r}")
        if not weight > 0:
            raise ValueError(f"weight must be > 0, got {weight!r}")
        self.costs = costs
        self.budget = float(budget)
        self.weight = float(weight)
        primitives = tuple(costs.primitives)
        self._none = primitives.index("none") if "none" in primitives else None
        self._keep = np.array([name != "none" for name in primitives], np.float32)
        # node membership of every edge: (nodes, edges)
        membership = np.zeros((costs.nodes, num_edges(costs.nodes)), np.float32)
        for node in range(costs.nodes):
            membership[node, num_edges(node) : num_edges(node + 1)] = 1.0
        self._membership = membership
        # Scaled to the budget, so the tables' large counts stay well within float32.
        self._normal = np.asarray(costs.normal, np.float32) / self.budget
        self._reduce = np.asarray(costs.reduce, np.float32) / self.budget
        self._fixed = float(costs.fixed) / self.budget

    def expected_cost(self, alphas_normal, alphas_reduce, edge_normal=None, edge_reduce=None):
        """``E[cost]`` under the architecture weights (``edge_*``: edge-normalization weights, or None)."""
        relative = self._fixed + self._cell(alphas_normal, edge_normal, self._normal)
        relative = relative + self._cell(alphas_reduce, edge_reduce, self._reduce)
        return relative * self.budget

    def _cell(self, alphas, edge_weights, table):
        probabilities = ops.softmax(ops.convert_to_tensor(alphas), axis=-1)
        kept = probabilities * self._keep
        per_edge = ops.sum(kept * table, axis=-1) / ops.sum(kept, axis=-1)
        strength = ops.sum(kept, axis=-1)  # one minus the none weight
        if edge_weights is not None:
            strength = strength * ops.convert_to_tensor(edge_weights)
        node_strength = ops.matmul(self._membership, strength)
        share = strength / ops.matmul(ops.transpose(self._membership), node_strength)
        return ops.sum(2.0 * share * per_edge)

    def _per_node(self, betas):
        """The softmax of ``betas`` over each node's incoming edges (the supernet's edge normalization)."""
        betas = ops.convert_to_tensor(betas)
        exponentials = ops.exp(betas - ops.max(betas))
        node_sums = ops.matmul(self._membership, exponentials)
        return exponentials / ops.matmul(ops.transpose(self._membership), node_sums)

    def loss(self, model):
        """The term for ``model``'s current architecture weights (a scalar tensor)."""
        edge_normal = edge_reduce = None
        if model.betas_normal is not None:
            edge_normal, edge_reduce = self._per_node(model.betas_normal), self._per_node(model.betas_reduce)
        relative = self.expected_cost(model.alphas_normal, model.alphas_reduce, edge_normal, edge_reduce) / self.budget
        return self.weight * ops.relu(relative - 1.0)

    def gradients(self, model):
        """Gradients of `loss` for ``model.arch_variables`` (zeros where it does not depend on one)."""
        variables = model.arch_variables
        with tf.GradientTape() as tape:
            loss = self.loss(model)
        grads = tape.gradient(loss, variables)
        return [ops.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]


class PenaltySum:
    """Several budget terms at once (say multiply-adds and latency): their losses and gradients add up.

    Args:
        penalties: `CostPenalty` objects.
    """

    def __init__(self, penalties):
        self.penalties = list(penalties)

    def loss(self, model):
        """The sum of the terms' losses for ``model``'s current architecture weights."""
        return sum(penalty.loss(model) for penalty in self.penalties)

    def gradients(self, model):
        """The sum of the terms' gradients for ``model.arch_variables``."""
        per_term = [penalty.gradients(model) for penalty in self.penalties]
        return [sum(grads) for grads in zip(*per_term)]
