"""Keras's Adam and SGD with one fused TensorFlow kernel per variable: cheaper to trace.

Keras 3 writes each optimizer update as a dozen ``keras.ops`` calls per
variable. Inside a traced training step every one of them becomes graph ops
that TensorFlow must create, optimize and instantiate: for a small DARTS
network (about 140 variables) that was about 0.8 s of every trial's trace on 2
CPU cores, more than its training steps cost. TensorFlow has the same updates
as single kernels (``ResourceApplyAdam``, ``ResourceApplyKerasMomentum``),
which compute the same formulas. These classes use them on the TensorFlow
backend for float variables on one device, and fall back to Keras's update
everywhere else (other backends, several replicas, AMSGrad, Nesterov), so
they are drop-in replacements with the same variables, configs and results
up to float rounding.
"""

import keras

from autoarch.darts.kernels import graph_constant

__all__ = ["FusedAdam", "FusedSGD", "restart_optimizer"]


def _fused(optimizer):
    """Whether ``optimizer`` may use TensorFlow's fused kernels now."""
    if keras.backend.backend() != "tensorflow":
        return False
    strategy = getattr(optimizer, "_distribution_strategy", None)
    return strategy is None or strategy.num_replicas_in_sync == 1


def _handle(variable):
    """The resource handle of a Keras or TensorFlow variable."""
    if isinstance(variable, keras.Variable):
        variable = variable.value  # the tf.Variable
    return variable.handle


@keras.saving.register_keras_serializable(package="autoarch")
class FusedAdam(keras.optimizers.Adam):
    """`keras.optimizers.Adam`, updating each variable with TensorFlow's ``ResourceApplyAdam``.

    The kernel computes Keras's formula: ``m += (g - m)(1 - beta_1)``,
    ``v += (g² - v)(1 - beta_2)``, ``w -= lr sqrt(1 - beta_2^t) / (1 - beta_1^t)
    · m / (sqrt(v) + epsilon)``.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or not _fused(self):
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf

        index = self._get_variable_index(variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = graph_constant(("beta", self.beta_1, dtype), lambda: tf.constant(self.beta_1, dtype))
        beta_2 = graph_constant(("beta", self.beta_2, dtype), lambda: tf.constant(self.beta_2, dtype))
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable),
            m=_handle(self._momentums[index]),
            v=_handle(self._velocities[index]),
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=graph_constant(("epsilon", self.epsilon, dtype), lambda: tf.constant(self.epsilon, dtype)),
            grad=tf.cast(gradient, dtype),
        )


@keras.saving.register_keras_serializable(package="autoarch")
class FusedSGD(keras.optimizers.SGD):
    """`keras.optimizers.SGD`, with momentum updating each variable with ``ResourceApplyKerasMomentum``.

    The kernel computes Keras's formula: ``m = momentum · m - lr · g``,
    ``w += m``. Plain SGD (no momentum) and Nesterov momentum use Keras's update.
    """

    def update_step(self, gradient, variable, learning_rate):
        if not self.momentum or self.nesterov or not _fused(self):
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf

        dtype = variable.dtype
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=_handle(variable),
            accum=_handle(self.momentums[self._get_variable_index(variable)]),
            lr=tf.cast(learning_rate, dtype),
            grad=tf.cast(gradient, dtype),
            momentum=graph_constant(("momentum", self.momentum, dtype), lambda: tf.constant(self.momentum, dtype)),
        )


def restart_optimizer(optimizer, learning_rate=None):
    """Zero ``optimizer``'s state and step count, as in a newly built one.

    Its learning rate becomes ``learning_rate`` (None: it keeps the current
    one). A compiled model whose optimizer restarts trains on as a newly
    compiled one would, without tracing its step again.
    """
    if learning_rate is None:
        learning_rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    for variable in optimizer.variables:
        variable.assign(keras.ops.zeros(variable.shape, variable.dtype))
    optimizer.learning_rate = learning_rate
