"""The bilevel DARTS step for the TensorFlow backend.

This is the only module of `autoarch.darts` that uses TensorFlow directly
(``GradientTape``, variables as flags); the layers use ``keras.ops`` alone, so a
JAX step can later sit beside this one. An `Architect` (as in the DARTS
reference) owns the step's state: both optimizers, the step's settings and the
warm-up switch. The supernet hands it itself (its variables, forward pass and
losses) and the batches; nothing flows back into the model.

Weights and architecture never mix: each step takes one tape over one variable
list and applies one optimizer. First order differentiates the validation loss
directly. Second order (DARTS eq. 7) takes one virtual step of the weight
optimizer, ``w' = w + mu * m - lr * (grad L_train(w) + wd * w)`` (Keras SGD's
momentum convention, so it is exactly the next real step without clipping), and
returns ``grad_alpha L_val(w') - lr * H`` where ``H`` is the finite-difference
Hessian-vector product ``(grad_alpha L_train(w + eps v) - grad_alpha L_train(w - eps
v)) / (2 eps)``, ``v = grad_w' L_val(w')`` and ``eps = r / ||v||`` (``r = 0.01`` in DARTS). The weights are
copied before and assigned back afterwards, so they are restored bit for bit.

Several devices (a ``tf.distribute`` strategy with more than one replica, such as
``MirroredStrategy``): each replica gets a slice of the batch. Its loss is its
share of the global mean, ``sum of its samples' losses / samples on all
replicas``, so the gradients summed over the replicas are those of the whole
batch, for slices of any size. Every gradient is summed across the replicas
*before* it is used (global-norm clipping, coupled decay, the virtual step, the
finite-difference step size), so every replica holds the same values and the
mirrored variables stay equal. Keras's TensorFlow optimizers sum the gradients
they are given over the replicas once more, so each replica hands them
``1 / replicas`` of the already summed gradient. The virtual step of second order
assigns each replica's own copy of the weights (mirrored variables without
aggregation update locally in a replica). Reported losses are the global means.
MirroredStrategy cannot synchronize inside ``tf.cond``, so on several replicas
the architecture warm-up is a Python switch read when the step is traced, and
the step is traced again when the warm-up ends.
"""

import keras
import tensorflow as tf
from keras import ops

__all__ = ["Architect", "replica_context", "global_loss", "check_optimizers"]


def _gradients(tape, loss, variables):
    """Tape gradients with zeros for unused variables (a net without normal cells)."""
    grads = tape.gradient(loss, variables)
    return [ops.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]


def replica_context():
    """The replica context of a step that runs on several replicas, else None.

    None on one device (no strategy, or a strategy of one replica) and in a
    cross-replica context.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def _sum_over_replicas(context, tensors):
    """``tensors`` summed over the replicas (unchanged on one device)."""
    if context is None:
        return list(tensors)
    return list(context.all_reduce(tf.distribute.ReduceOp.SUM, list(tensors)))


def _global_count(context, x):
    """Samples of this batch on all replicas (None on one device)."""
    if context is None:
        return None
    local = ops.cast(ops.shape(x)[0], "float32")
    return context.all_reduce(tf.distribute.ReduceOp.SUM, local)


def _loss_and_logits(model, x, y, total=None):
    """The loss to differentiate, and the logits.

    One device (``total`` None): the mean loss of the batch. Several replicas:
    this replica's share of the global mean, its samples' losses summed and
    divided by ``total``, the samples on all replicas.
    """
    logits = model(x, training=True)
    if total is None:
        return model.search_loss(y, logits), logits
    losses = ops.cast(model.sample_losses(y, logits), "float32")
    return ops.sum(losses) / total, logits


def global_loss(model, y, logits):
    """The mean search loss of ``logits`` over the whole batch, on all replicas.

    On one device this is ``model.search_loss(y, logits)``; inside a step on
    several replicas, the losses of every replica's samples are summed and divided
    by the samples of all replicas, so the value equals one device's.
    """
    context = replica_context()
    if context is None:
        return model.search_loss(y, logits)
    losses = ops.cast(model.sample_losses(y, logits), "float32")
    local = ops.stack([ops.sum(losses), ops.cast(ops.shape(losses)[0], "float32")])
    total = context.all_reduce(tf.distribute.ReduceOp.SUM, local)
    return total[0] / total[1]


def _apply(optimizer, grads, variables, context):
    """Apply gradients already summed over the replicas.

    Keras's TensorFlow optimizers sum gradients over the replicas themselves,
    so on several replicas each one gives them its ``1 / replicas`` share.
    """
    if context is not None:
        share = 1.0 / context.num_replicas_in_sync
        grads = [g * share for g in grads]
    optimizer.apply(grads, variables)


def check_optimizers(model, *optimizers):
    """Refuse optimizers made outside the strategy scope of ``model``.

    Under a ``tf.distribute`` strategy, an optimizer keeps the strategy that was
    current when it was created; one made outside the scope cannot update the
    model's mirrored variables.

    Raises:
        ValueError: an optimizer belongs to another strategy than the model.
    """
    strategy = model.distribute_strategy
    if strategy.num_replicas_in_sync == 1:
        return
    for optimizer in optimizers:
        created = getattr(optimizer, "_distribution_strategy", strategy)
        if created is not strategy:
            raise ValueError(
                f"the {type(optimizer).__name__} optimizer was created outside the scope of the "
                f"model's {type(strategy).__name__}: create it inside `strategy.scope()` (or let "
                "compile create the default optimizers)"
            )


def _add_decay(grads, variables, decay):
    if not decay:
        return grads
    return [g + decay * ops.convert_to_tensor(v) for g, v in zip(grads, variables)]


def _first_order_gradients(model, x_val, y_val, context):
    total = _global_count(context, x_val)
    with tf.GradientTape() as tape:
        loss, logits = _loss_and_logits(model, x_val, y_val, total)
    grads = _gradients(tape, loss, model.arch_variables)
    *grads, loss = _sum_over_replicas(context, grads + [loss])
    return grads, loss, logits


def _assign(variables, values):
    for variable, value in zip(variables, values):
        variable.assign(value)


class Architect:
    """The bilevel step and everything it keeps: two optimizers, its settings, the warm-up switch.

    `autoarch.darts.SearchNetwork.compile` makes one; its ``train_step``
    calls `architecture_step` then `weight_step` with itself and the
    batches. The model is only read (its variables, forward pass and losses).

    Args:
        weight_optimizer: the weights' optimizer (the model's ``optimizer``).
            Second order needs Keras's SGD convention.
        arch_optimizer: the architecture variables' optimizer.
        weight_decay: coupled L2 decay added to the weight gradients after clipping.
        grad_clip: global-norm clipping of the weight gradients (None or 0: off).
        arch_weight_decay: coupled L2 decay of the architecture gradients.
        second_order: use the unrolled (second-order) architecture gradient.
        hessian_epsilon: DARTS's ``r`` for the finite-difference Hessian-vector product.
        cost_penalty: a `autoarch.darts.cost_penalty.CostPenalty` whose
            gradient joins the architecture gradient once per step (None: none).
    """

    def __init__(self, weight_optimizer, arch_optimizer, *, weight_decay=3e-4, grad_clip=5.0,
                 arch_weight_decay=1e-3, second_order=False, hessian_epsilon=0.01, cost_penalty=None):
        if hessian_epsilon <= 0:
            raise ValueError(f"hessian_epsilon must be > 0, got {hessian_epsilon!r}")
        self.weight_optimizer = weight_optimizer
        self.arch_optimizer = arch_optimizer
        self.weight_decay = float(weight_decay)
        self.grad_clip = grad_clip
        self.arch_weight_decay = float(arch_weight_decay)
        self.second_order = bool(second_order)
        self.hessian_epsilon = float(hessian_epsilon)
        self.cost_penalty = cost_penalty
        # The switch of the warm-up: a variable the compiled step reads on one
        # device, a Python value frozen into the trace on several replicas.
        self.enabled = tf.Variable(True, trainable=False, name="architecture_enabled")
        self.active = True
        self.traced_active = None

    def set_active(self, active):
        """Turn the architecture step on or off (warm-up); returns whether the step must be traced again.

        It must on several replicas, where the switch was frozen into the
        trace with another value.
        """
        self.enabled.assign(bool(active))
        self.active = bool(active)
        return self.traced_active is not None and self.traced_active != self.active

    def architecture_gradients(self, model, x_train, y_train, x_val, y_val):
        """Gradients of the validation loss for ``model.arch_variables`` (before decay).

        First or second order as configured. Returns ``(gradients, loss,
        logits)`` of the validation batch; the weights are left exactly as they
        were. Inside a step on several replicas, the gradients and the loss are
        those of the whole batch (summed over the replicas), the logits this
        replica's.
        """
        context = replica_context()
        if self.second_order:
            return self._second_order_gradients(model, x_train, y_train, x_val, y_val, context)
        return _first_order_gradients(model, x_val, y_val, context)

    def architecture_step(self, model, x_train, y_train, x_val, y_val):
        """Update the architecture variables on a validation batch (skipped while frozen).

        Returns the validation loss and logits (at the virtual weights in second
        order), and a weight of 1.0; while the architecture is frozen (warm-up)
        the step computes nothing and returns zeros with weight 0.0, so warm-up
        costs a weight step only.

        On one device the switch is the variable ``enabled``, read at run
        time. On several replicas it is the Python value ``active``, read when
        the step is traced (MirroredStrategy cannot synchronize replicas inside
        ``tf.cond``); `set_active` says when the step must be traced again.
        """
        context = replica_context()

        def update():
            grads, loss, logits = self.architecture_gradients(model, x_train, y_train, x_val, y_val)
            if self.cost_penalty is not None:  # the gradients are the whole batch's already: add it once
                grads = [g + p for g, p in zip(grads, self.cost_penalty.gradients(model))]
            grads = _add_decay(grads, model.arch_variables, self.arch_weight_decay)
            _apply(self.arch_optimizer, grads, model.arch_variables, context)
            return loss, logits

        def frozen():
            return ops.zeros(()), ops.zeros((ops.shape(x_val)[0], model.num_classes))

        if context is not None:
            self.traced_active = self.active
            loss, logits = update() if self.active else frozen()
            return loss, logits, ops.convert_to_tensor(float(self.active), "float32")
        loss, logits = tf.cond(self.enabled, update, frozen)
        return loss, logits, ops.cast(self.enabled, "float32")

    def weight_step(self, model, x_train, y_train):
        """Update the weights on a training batch: clip the global norm, add coupled decay, step.

        Returns the training loss and logits. Inside a step on several replicas the
        gradients are summed over the replicas before clipping and decay, and the
        loss is the mean of the whole batch (the logits are this replica's).
        """
        weights = model.weight_variables
        context = replica_context()
        total = _global_count(context, x_train)
        with tf.GradientTape() as tape:
            loss, logits = _loss_and_logits(model, x_train, y_train, total)
        grads = _gradients(tape, loss, weights)
        *grads, loss = _sum_over_replicas(context, grads + [loss])
        if self.grad_clip:
            grads, _ = tf.clip_by_global_norm(grads, self.grad_clip)
        grads = _add_decay(grads, weights, self.weight_decay)
        _apply(self.weight_optimizer, grads, weights, context)
        return loss, logits

    def _second_order_gradients(self, model, x_train, y_train, x_val, y_val, context):
        weights, arch = model.weight_variables, model.arch_variables
        optimizer = self.weight_optimizer
        saved = [tf.identity(ops.convert_to_tensor(v)) for v in weights]
        learning_rate = ops.cast(optimizer.learning_rate, saved[0].dtype)
        train_total = _global_count(context, x_train)
        val_total = _global_count(context, x_val)

        with tf.GradientTape() as tape:
            train_loss, _ = _loss_and_logits(model, x_train, y_train, train_total)
        train_grads = _sum_over_replicas(context, _gradients(tape, train_loss, weights))
        momentums = optimizer.momentums if optimizer.momentum else [None] * len(weights)
        virtual = []
        for w, g, m in zip(saved, train_grads, momentums):
            step = -learning_rate * (g + self.weight_decay * w)
            if m is not None:
                step = step + optimizer.momentum * ops.convert_to_tensor(m)
            virtual.append(w + step)
        _assign(weights, virtual)

        with tf.GradientTape() as tape:
            val_loss, val_logits = _loss_and_logits(model, x_val, y_val, val_total)
        grads = _gradients(tape, val_loss, arch + weights)
        *grads, val_loss = _sum_over_replicas(context, grads + [val_loss])
        arch_grads, direction = grads[: len(arch)], grads[len(arch) :]
        epsilon = self.hessian_epsilon / tf.linalg.global_norm(direction)

        def train_arch_gradients(sign):
            _assign(weights, [w + sign * epsilon * d for w, d in zip(saved, direction)])
            with tf.GradientTape() as probe:
                loss, _ = _loss_and_logits(model, x_train, y_train, train_total)
            return _gradients(probe, loss, arch)

        plus = train_arch_gradients(1.0)
        minus = train_arch_gradients(-1.0)
        _assign(weights, saved)
        # Linear in the per-replica shares: one sum over the replicas suffices.
        hessian_vector = _sum_over_replicas(
            context, [(p - n) / (2.0 * epsilon) for p, n in zip(plus, minus)]
        )
        grads = [g - learning_rate * h for g, h in zip(arch_grads, hessian_vector)]
        return grads, val_loss, val_logits
