"""The bilevel DARTS step for the TensorFlow backend.

This is the only module of `autoarch.darts` that uses TensorFlow directly
(``GradientTape``, variables as flags); the layers use ``keras.ops`` alone, so a
JAX step can later sit beside this one.

Weights and architecture never mix: each step takes one tape over one variable
list and applies one optimizer. First order differentiates the validation loss
directly. Second order (DARTS eq. 7) takes one virtual step of the weight
optimizer, ``w' = w + mu * m - lr * (grad L_train(w) + wd * w)`` (Keras SGD's
momentum convention, so it is exactly the next real step without clipping), and
returns ``grad_alpha L_val(w') - lr * H`` where ``H`` is the finite-difference
Hessian-vector product ``(grad_alpha L_train(w + eps v) - grad_alpha L_train(w - eps
v)) / (2 eps)``, ``v = grad_w' L_val(w')`` and ``eps = r / ||v||`` (``r = 0.01`` in DARTS). The weights are
copied before and assigned back afterwards, so they are restored bit for bit.
"""

import keras
import tensorflow as tf
from keras import ops

__all__ = ["architecture_gradients", "architecture_step", "weight_step", "cross_entropy", "mean_squared_error", "flag"]


def flag(value):
    """A boolean variable the compiled step reads at run time (not frozen at trace)."""
    return tf.Variable(bool(value), trainable=False, name="architecture_enabled")


def cross_entropy(labels, logits):
    """Mean sparse categorical cross-entropy of ``logits``."""
    return ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))


def _gradients(tape, loss, variables):
    """Tape gradients with zeros for unused variables (a net without normal cells)."""
    grads = tape.gradient(loss, variables)
    return [ops.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]


def mean_squared_error(targets, outputs):
    """Mean squared error of ``outputs`` (the search loss of regression)."""
    targets = ops.reshape(ops.cast(targets, outputs.dtype), ops.shape(outputs))
    return ops.mean(ops.square(outputs - targets))


def _loss_and_logits(model, x, y):
    logits = model(x, training=True)
    return model.search_loss(y, logits), logits


def _add_decay(grads, variables, decay):
    if not decay:
        return grads
    return [g + decay * ops.convert_to_tensor(v) for g, v in zip(grads, variables)]


def _first_order_gradients(model, x_val, y_val):
    with tf.GradientTape() as tape:
        loss, logits = _loss_and_logits(model, x_val, y_val)
    return _gradients(tape, loss, model.arch_variables), loss, logits


def _assign(variables, values):
    for variable, value in zip(variables, values):
        variable.assign(value)


def _second_order_gradients(model, x_train, y_train, x_val, y_val):
    weights, arch = model.weight_variables, model.arch_variables
    optimizer = model.optimizer
    saved = [tf.identity(ops.convert_to_tensor(v)) for v in weights]
    learning_rate = ops.cast(optimizer.learning_rate, saved[0].dtype)

    with tf.GradientTape() as tape:
        train_loss, _ = _loss_and_logits(model, x_train, y_train)
    train_grads = _gradients(tape, train_loss, weights)
    momentums = optimizer.momentums if optimizer.momentum else [None] * len(weights)
    virtual = []
    for w, g, m in zip(saved, train_grads, momentums):
        step = -learning_rate * (g + model.weight_decay * w)
        if m is not None:
            step = step + optimizer.momentum * ops.convert_to_tensor(m)
        virtual.append(w + step)
    _assign(weights, virtual)

    with tf.GradientTape() as tape:
        val_loss, val_logits = _loss_and_logits(model, x_val, y_val)
    grads = _gradients(tape, val_loss, arch + weights)
    arch_grads, direction = grads[: len(arch)], grads[len(arch) :]
    epsilon = model.hessian_epsilon / tf.linalg.global_norm(direction)

    def train_arch_gradients(sign):
        _assign(weights, [w + sign * epsilon * d for w, d in zip(saved, direction)])
        with tf.GradientTape() as probe:
            loss, _ = _loss_and_logits(model, x_train, y_train)
        return _gradients(probe, loss, arch)

    plus = train_arch_gradients(1.0)
    minus = train_arch_gradients(-1.0)
    _assign(weights, saved)
    hessian_vector = [(p - n) / (2.0 * epsilon) for p, n in zip(plus, minus)]
    grads = [g - learning_rate * h for g, h in zip(arch_grads, hessian_vector)]
    return grads, val_loss, val_logits


def architecture_gradients(model, x_train, y_train, x_val, y_val):
    """Gradients of the validation loss for ``model.arch_variables`` (before decay).

    First or second order as ``model`` was compiled. Returns ``(gradients, loss,
    logits)`` of the validation batch; the weights are left exactly as they were.
    """
    if model.second_order:
        return _second_order_gradients(model, x_train, y_train, x_val, y_val)
    return _first_order_gradients(model, x_val, y_val)


def architecture_step(model, x_train, y_train, x_val, y_val):
    """Update the architecture variables on a validation batch (skipped while frozen).

    Returns the validation loss and logits (at the virtual weights in second order),
    and a weight of 1.0; while the architecture is frozen (warm-up) the step computes
    nothing and returns zeros with weight 0.0, so warm-up costs a weight step only.
    """

    def update():
        grads, loss, logits = architecture_gradients(model, x_train, y_train, x_val, y_val)
        grads = _add_decay(grads, model.arch_variables, model.arch_weight_decay)
        model.arch_optimizer.apply(grads, model.arch_variables)
        return loss, logits

    def frozen():
        return ops.zeros(()), ops.zeros((ops.shape(x_val)[0], model.num_classes))

    loss, logits = tf.cond(model.architecture_enabled, update, frozen)
    return loss, logits, ops.cast(model.architecture_enabled, "float32")


def weight_step(model, x_train, y_train):
    """Update the weights on a training batch: clip the global norm, add coupled decay, step.

    Returns the training loss and logits.
    """
    weights = model.weight_variables
    with tf.GradientTape() as tape:
        loss, logits = _loss_and_logits(model, x_train, y_train)
    grads = _gradients(tape, loss, weights)
    if model.grad_clip:
        grads, _ = tf.clip_by_global_norm(grads, model.grad_clip)
    grads = _add_decay(grads, weights, model.weight_decay)
    model.optimizer.apply(grads, weights)
    return loss, logits
