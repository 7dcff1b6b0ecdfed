"""`SearchNetwork`: the DARTS supernet, its architecture variables and its bilevel ``fit``.

The layers are ``keras.layers`` / ``keras.ops`` only; the TensorFlow bilevel step
lives in `autoarch.darts.bilevel`, so a JAX step could sit beside it.
"""

import math

import keras
import numpy as np
from keras import layers, ops

from autoarch.darts import bilevel
from autoarch.darts.cells import SearchCell, num_edges, reduction_layers
from autoarch.darts.derivation import derive_genotype
from autoarch.darts.operations import PRIMITIVES, BatchStatNorm, validate_primitives
from autoarch.darts.optimizers import FusedAdam, FusedSGD, restart_optimizer
from autoarch.parameters import integer
from autoarch.validation import MIN_IMAGE_SIZE

__all__ = ["SearchNetwork", "cosine_learning_rate"]


def cosine_learning_rate(epoch, epochs, initial, minimum):
    """DARTS's per-epoch cosine annealing from ``initial`` (epoch 0) towards ``minimum``."""
    progress = min(epoch, epochs) / max(epochs, 1)
    return minimum + (initial - minimum) * (1.0 + math.cos(math.pi * progress)) / 2.0


def _node_softmax(betas, nodes):
    """Softmax of the edge-normalization weights over each node's incoming edges."""
    pieces, offset = [], 0
    for i in range(nodes):
        pieces.append(ops.softmax(betas[offset : offset + 2 + i]))
        offset += 2 + i
    return ops.concatenate(pieces, axis=0)


def _scalars(weights):
    """The entries of a weight matrix (or vector) as nested lists of scalar tensors; None stays None."""
    if weights is None:
        return None
    weights = ops.convert_to_tensor(weights)
    entries = ops.unstack(ops.reshape(weights, (-1,)))
    if len(weights.shape) == 1:
        return entries
    width = weights.shape[1]
    return [entries[row * width : (row + 1) * width] for row in range(weights.shape[0])]


class _ArchitectureSchedule(keras.callbacks.Callback):
    """Freeze alpha during warm-up epochs and record the operation weights per epoch."""

    def __init__(self, network):
        super().__init__()
        self.network = network

    def on_epoch_begin(self, epoch, logs=None):
        network = self.network
        retrace = network.architect.set_active(epoch >= network.arch_warmup_epochs)
        if retrace and network.train_function is not None:  # several replicas: the switch is in the trace
            network.make_train_function(force=True)

    def on_epoch_end(self, epoch, logs=None):
        self.network.alpha_history.append({"epoch": epoch, **self.network.operation_weights()})


@keras.saving.register_keras_serializable(package="autoarch")
class SearchNetwork(keras.Model):
    """The DARTS supernet: a stem, ``layers`` search cells, pooling and a classifier.

    Reduction cells sit at 1/3 and 2/3 of the depth and double the channels. The
    architecture variables are exactly ``alphas_normal`` and ``alphas_reduce``
    (shape ``(num_edges, len(primitives))``, shared by all cells of a kind), plus
    ``betas_normal`` and ``betas_reduce`` (edge normalization) when
    ``partial_channels > 1``. Calling the network returns logits.

    ``fit`` takes a dataset of paired batches ``((x_train, y_train), (x_val,
    y_val))`` (see `autoarch.data.paired_search_dataset`): each step updates the
    architecture on the validation batch, then the weights on the training batch.

    It reports ``loss``/``accuracy`` (training batches) and ``arch_loss``/
    ``arch_accuracy`` (validation batches; 0 during warm-up epochs, when the
    architecture step does not run) per epoch, and appends the operation
    weights after every epoch to ``alpha_history``.

    Several devices: build (and compile) the network inside a
    ``tf.distribute.MirroredStrategy`` scope; ``fit`` then splits every batch
    over the replicas, sums the gradients across them and synchronizes the batch
    statistics, so losses and updates equal a single device's on the same
    batches (see `autoarch.darts.bilevel`).

    Args:
        input_shape: ``(height, width, channels)``, height and width >= 8.
        num_classes: number of classes (>= 2).
        init_channels: channels of the first cells (doubled at each reduction).
        layers: number of cells.
        nodes: intermediate nodes per cell.
        primitives: candidate operations, a subset of `PRIMITIVES`.
        partial_channels: PC-DARTS's K; only ``channels // K`` channels go through
            the operations. Must divide ``init_channels``.
        stem_multiplier: the stem has ``stem_multiplier * init_channels`` channels.
        seed: seeds the initial architecture variables.
        regression: predict ``num_classes`` real targets with a mean squared error
            search loss instead of classifying; only ``loss`` and ``arch_loss``
            are then reported.
    """

    def __init__(
        self,
        input_shape,
        num_classes,
        init_channels=16,
        layers=8,
        nodes=4,
        primitives=PRIMITIVES,
        partial_channels=1,
        stem_multiplier=3,
        seed=None,
        regression=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_shape = _check_image_shape(input_shape)
        self.regression = bool(regression)
        self.num_classes = _check_int("num_classes", num_classes, 1 if self.regression else 2)
        self.init_channels = _check_int("init_channels", init_channels, 1)
        self.num_layers = _check_int("layers", layers, 1)
        self.nodes = _check_int("nodes", nodes, 1)
        self.primitives = validate_primitives(primitives)
        self.partial_channels = _check_int("partial_channels", partial_channels, 1)
        if self.init_channels % self.partial_channels:
            raise ValueError(
                f"partial_channels ({self.partial_channels}) must divide "
                f"init_channels ({self.init_channels})"
            )
        self.stem_multiplier = _check_int("stem_multiplier", stem_multiplier, 1)
        self.seed = seed
        self._build_cells()
        self._build_architecture_variables()
        self.alpha_history = []
        self.arch_warmup_epochs = 0
        self.architect = None  # made by compile
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.arch_loss_tracker = keras.metrics.Mean(name="arch_loss")
        self.arch_accuracy_tracker = keras.metrics.SparseCategoricalAccuracy(name="arch_accuracy")
        self.build((None,) + self.image_shape)

    def build(self, input_shape):
        """Create every variable from the input shape, without running the network."""
        self.stem.build(input_shape)
        stem_channels = self.stem_multiplier * self.init_channels
        s0 = s1 = (None, None, None, stem_channels)
        edges, ops_count = num_edges(self.nodes), len(self.primitives)
        for cell in self.cells:
            cell.build(s0, s1, (edges, ops_count))
            s0, s1 = s1, (None, None, None, self.nodes * cell.channels)
        self.global_pool.build(s1)
        self.classifier.build((None, s1[-1]))

    def _build_cells(self):
        channels = self.init_channels
        self.stem = keras.Sequential(
            [
                layers.Conv2D(self.stem_multiplier * channels, 3, padding="same", use_bias=False),
                BatchStatNorm(),
            ],
            name="stem",
        )
        reductions = reduction_layers(self.num_layers)
        self.cells = []
        reduction_prev = False
        for i in range(self.num_layers):
            reduction = i in reductions
            if reduction:
                channels *= 2
            self.cells.append(
                SearchCell(
                    self.primitives,
                    self.nodes,
                    channels,
                    reduction,
                    reduction_prev,
                    self.partial_channels,
                    name=f"cell_{i}",
                )
            )
            reduction_prev = reduction
        self.global_pool = layers.GlobalAveragePooling2D()
        self.classifier = layers.Dense(self.num_classes, name="classifier")

    def _build_architecture_variables(self):
        edges, ops_count = num_edges(self.nodes), len(self.primitives)
        init = keras.initializers.RandomNormal(stddev=1e-3, seed=self.seed)
        self.alphas_normal = self.add_weight(
            shape=(edges, ops_count), initializer=init, name="alphas_normal"
        )
        seed = None if self.seed is None else self.seed + 1
        init = keras.initializers.RandomNormal(stddev=1e-3, seed=seed)
        self.alphas_reduce = self.add_weight(
            shape=(edges, ops_count), initializer=init, name="alphas_reduce"
        )
        if self.partial_channels > 1:
            self.betas_normal = self.add_weight(
                shape=(edges,), initializer="zeros", name="betas_normal"
            )
            self.betas_reduce = self.add_weight(
                shape=(edges,), initializer="zeros", name="betas_reduce"
            )
        else:
            self.betas_normal = self.betas_reduce = None

    @property
    def arch_variables(self):
        """The architecture variables: alphas, and betas with partial channels."""
        found = [self.alphas_normal, self.alphas_reduce]
        if self.betas_normal is not None:
            found += [self.betas_normal, self.betas_reduce]
        return found

    @property
    def weight_variables(self):
        """Every trainable variable that is not an architecture variable."""
        arch = {id(v) for v in self.arch_variables}
        return [v for v in self.trainable_variables if id(v) not in arch]

    def call(self, x, training=None):
        normal = ops.softmax(self.alphas_normal, axis=-1)
        reduce = ops.softmax(self.alphas_reduce, axis=-1)
        if self.betas_normal is not None:
            edge_normal = _node_softmax(self.betas_normal, self.nodes)
            edge_reduce = _node_softmax(self.betas_reduce, self.nodes)
        else:
            edge_normal = edge_reduce = None
        return self.logits_with(x, normal, reduce, edge_normal, edge_reduce)

    def logits_with(self, x, normal, reduce, edge_normal=None, edge_reduce=None):
        """The logits of ``x`` with the given operation weights instead of the alphas' softmax.

        ``normal`` and ``reduce`` have the alphas' shape and are used as they
        are (a row of zeros removes an edge); ``edge_normal`` and
        ``edge_reduce`` are PC-DARTS edge weights (None without partial
        channels). `autoarch.darts.selection` perturbs the weights this way.
        """
        # One unstack per matrix instead of a slice per operation: hundreds fewer ops to trace.
        normal, reduce = _scalars(normal), _scalars(reduce)
        edge_normal, edge_reduce = _scalars(edge_normal), _scalars(edge_reduce)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            if cell.reduction:
                out = cell(s0, s1, reduce, edge_reduce)
            else:
                out = cell(s0, s1, normal, edge_normal)
            s0, s1 = s1, out
        return self.classifier(self.global_pool(s1))

    # ----------------------------------------------------------------- training

    def compile(
        self,
        weight_optimizer=None,
        arch_optimizer=None,
        *,
        weight_learning_rate=0.025,
        weight_learning_rate_min=0.001,
        momentum=0.9,
        weight_decay=3e-4,
        grad_clip=5.0,
        arch_learning_rate=3e-4,
        arch_weight_decay=1e-3,
        second_order=False,
        hessian_epsilon=0.01,
        arch_warmup_epochs=0,
        jit_compile=False,
        steps_per_execution=1,
        cost_penalty=None,
    ):
        """Configure the bilevel optimization (DARTS paper defaults).

        Under a ``tf.distribute`` strategy (the network was built in its
        scope) the default optimizers are created and built inside the scope;
        optimizers passed in must have been created there too.

        Args:
            weight_optimizer: optimizer of the network weights. Default: SGD
                (`autoarch.darts.optimizers.FusedSGD`) with
                ``momentum`` whose learning rate is cosine-annealed per epoch from
                ``weight_learning_rate`` to ``weight_learning_rate_min`` over the
                epochs given to ``fit``. Second order needs an SGD optimizer.
            arch_optimizer: optimizer of the architecture variables. Default: Adam
                (`autoarch.darts.optimizers.FusedAdam`, ``arch_learning_rate``,
                betas 0.5 and 0.999).
            weight_decay: coupled L2 decay added to the weight gradients after
                clipping, as in the reference (not Keras's decoupled decay).
            grad_clip: global-norm clipping of the weight gradients (None: off).
            arch_weight_decay: coupled L2 decay of the architecture gradients.
            second_order: use the unrolled (second-order) architecture gradient.
            hessian_epsilon: DARTS's ``r``: the finite-difference step of the
                Hessian-vector product is ``r / ||grad_w' L_val||``. On ReLU
                networks a step this large averages over activation kinks, so the
                product is a smoothed estimate, not the exact local derivative.
            arch_warmup_epochs: epochs at the start of ``fit`` during which the
                architecture is frozen and only the weights train.
            jit_compile: compile the step with XLA (works on CPU; measure first).
            steps_per_execution: steps per compiled call.
            cost_penalty: a `autoarch.darts.cost_penalty.CostPenalty`: the
                final network's expected cost over a budget joins the
                architecture loss (hardware-aware search); None: accuracy only.
        """
        self._default_schedule = weight_optimizer is None
        with self.distribute_strategy.scope():
            if weight_optimizer is None:
                weight_optimizer = FusedSGD(weight_learning_rate, momentum=momentum)
            if arch_optimizer is None:
                arch_optimizer = FusedAdam(arch_learning_rate, beta_1=0.5, beta_2=0.999)
        bilevel.check_optimizers(self, weight_optimizer, arch_optimizer)
        if second_order and not isinstance(weight_optimizer, keras.optimizers.SGD):
            raise ValueError(
                "second_order=True needs an SGD weight optimizer (its virtual step mirrors "
                f"SGD), got {type(weight_optimizer).__name__}"
            )
        if arch_warmup_epochs < 0:
            raise ValueError(f"arch_warmup_epochs must be >= 0, got {arch_warmup_epochs!r}")
        self.weight_learning_rate = weight_learning_rate
        self.weight_learning_rate_min = weight_learning_rate_min
        self.arch_warmup_epochs = int(arch_warmup_epochs)
        with self.distribute_strategy.scope():
            self.architect = bilevel.Architect(
                weight_optimizer,
                arch_optimizer,
                weight_decay=weight_decay,
                grad_clip=grad_clip,
                arch_weight_decay=arch_weight_decay,
                second_order=second_order,
                hessian_epsilon=hessian_epsilon,
                cost_penalty=cost_penalty,
            )
            super().compile(
                optimizer=weight_optimizer,
                jit_compile=jit_compile,
                steps_per_execution=steps_per_execution,
            )
            weight_optimizer.build(self.weight_variables)
            arch_optimizer.build(self.arch_variables)

    def restart(self, initial, weight_learning_rate, arch_learning_rate):
        """Start again as if newly built and compiled, keeping the traced step.

        Takes every weight (architecture variables included) from ``initial``,
        a network of the same configuration, zeroes both optimizers' state and
        step counts, sets their learning rates and forgets ``alpha_history``.
        What ``fit`` does next is then what it would do on a new network
        compiled with these learning rates, without tracing the step again.
        """
        self.set_weights(initial.get_weights())
        restart_optimizer(self.architect.weight_optimizer, weight_learning_rate)
        restart_optimizer(self.architect.arch_optimizer, arch_learning_rate)
        self.weight_learning_rate = weight_learning_rate
        self.alpha_history = []

    @property
    def metrics(self):
        """Training loss and accuracy, then architecture (validation) loss and accuracy.

        Regression reports the two losses only.
        """
        if self.regression:
            return [self.loss_tracker, self.arch_loss_tracker]
        return [
            self.loss_tracker,
            self.accuracy_tracker,
            self.arch_loss_tracker,
            self.arch_accuracy_tracker,
        ]

    def search_loss(self, targets, outputs):
        """The loss both levels minimise: the mean of `sample_losses` (cross-entropy, or MSE for regression)."""
        return ops.mean(self.sample_losses(targets, outputs))

    def sample_losses(self, targets, outputs):
        """The loss of each sample, shape ``(batch,)``: cross-entropy of the logits, or mean squared error.

        Several replicas sum these to weigh every sample of the global batch alike.
        """
        if self.regression:
            targets = ops.reshape(ops.cast(targets, outputs.dtype), ops.shape(outputs))
            return ops.mean(ops.square(outputs - targets), axis=-1)
        return keras.losses.sparse_categorical_crossentropy(targets, outputs, from_logits=True)

    def fit(self, x=None, y=None, epochs=1, callbacks=None, **kwargs):
        """`keras.Model.fit` on paired batches, plus the DARTS schedules.

        Adds the per-epoch cosine learning rate (default optimizer only), the
        architecture warm-up and the recording of ``alpha_history``.
        """
        callbacks = list(callbacks or [])
        if getattr(self, "_default_schedule", False):
            initial, minimum = self.weight_learning_rate, self.weight_learning_rate_min
            callbacks.append(
                keras.callbacks.LearningRateScheduler(
                    lambda epoch: cosine_learning_rate(epoch, epochs, initial, minimum)
                )
            )
        callbacks.append(_ArchitectureSchedule(self))
        # The paired dataset shuffles itself; Keras would only warn that it ignores this.
        kwargs.setdefault("shuffle", False)
        return super().fit(x, y, epochs=epochs, callbacks=callbacks, **kwargs)

    def train_step(self, data):
        """One bilevel step on ``((x_train, y_train), (x_val, y_val))``; returns the metrics.

        The losses tracked are the whole batch's on several replicas too; the
        accuracies are counted per replica and summed when Keras reads them at
        the end of an epoch.
        """
        (x_train, y_train), (x_val, y_val) = data
        arch_loss, arch_logits, arch_ran = self.architect.architecture_step(self, x_train, y_train, x_val, y_val)
        loss, logits = self.architect.weight_step(self, x_train, y_train)
        self.loss_tracker.update_state(loss)
        self.arch_loss_tracker.update_state(arch_loss, sample_weight=arch_ran)
        if not self.regression:
            self.accuracy_tracker.update_state(y_train, logits)
            per_sample = ops.ones((ops.shape(y_val)[0],), dtype="float32") * arch_ran
            self.arch_accuracy_tracker.update_state(y_val, arch_logits, sample_weight=per_sample)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        """Loss (and accuracy) of ``(x, y)`` batches, for ``evaluate``."""
        x, y = data[0], data[1]
        logits = self(x, training=False)
        self.loss_tracker.update_state(bilevel.global_loss(self, y, logits))
        if self.regression:
            return {"loss": self.loss_tracker.result()}
        self.accuracy_tracker.update_state(y, logits)
        return {m.name: m.result() for m in (self.loss_tracker, self.accuracy_tracker)}

    def architecture_step(self, x_train, y_train, x_val, y_val):
        """One architecture update (first or second order, as compiled); returns the loss.

        Returns zero without updating while the architecture is frozen (warm-up).
        """
        return self.architect.architecture_step(self, x_train, y_train, x_val, y_val)[0]

    def weight_step(self, x_train, y_train):
        """One weight update on a training batch; returns the loss."""
        return self.architect.weight_step(self, x_train, y_train)[0]

    # ----------------------------------------------------------------- results

    def operation_weights(self):
        """The softmaxed architecture weights as numpy arrays.

        Returns a dict with ``normal`` and ``reduce`` (``(num_edges, len(primitives))``)
        and, with partial channels, ``normal_edges`` and ``reduce_edges`` (the
        per-node softmax of the betas).
        """
        found = {
            "normal": ops.convert_to_numpy(ops.softmax(self.alphas_normal, axis=-1)),
            "reduce": ops.convert_to_numpy(ops.softmax(self.alphas_reduce, axis=-1)),
        }
        if self.betas_normal is not None:
            found["normal_edges"] = ops.convert_to_numpy(
                _node_softmax(self.betas_normal, self.nodes)
            )
            found["reduce_edges"] = ops.convert_to_numpy(
                _node_softmax(self.betas_reduce, self.nodes)
            )
        return found

    def genotype(self, max_skip_connections=None):
        """Derive the discrete `Genotype` from the current architecture weights.

        Per node the two incoming edges whose strongest operation other than
        ``none`` weighs most are kept, each with that operation (DARTS's rule);
        with partial channels the edge weights (betas) scale the edge strengths.
        ``max_skip_connections`` caps skip connections in the normal cell
        (P-DARTS), replacing the weakest by their next best operation.
        """
        weights = self.operation_weights()
        return derive_genotype(
            weights["normal"],
            weights["reduce"],
            self.primitives,
            nodes=self.nodes,
            max_skip_connections=max_skip_connections,
            normal_edge_weights=weights.get("normal_edges"),
            reduce_edge_weights=weights.get("reduce_edges"),
        )

    def get_config(self):
        return {
            **super().get_config(),
            "input_shape": list(self.image_shape),
            "num_classes": self.num_classes,
            "init_channels": self.init_channels,
            "layers": self.num_layers,
            "nodes": self.nodes,
            "primitives": list(self.primitives),
            "partial_channels": self.partial_channels,
            "stem_multiplier": self.stem_multiplier,
            "seed": self.seed,
            "regression": self.regression,
        }


def _check_int(name, value, minimum):
    integer(minimum).check(name, value)
    return int(value)


def _check_image_shape(input_shape):
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(isinstance(d, (int, np.integer)) for d in shape):
        raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    height, width, channels = (int(d) for d in shape)
    if height < MIN_IMAGE_SIZE or width < MIN_IMAGE_SIZE or channels < 1:
        raise ValueError(
            f"images must be at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} with >= 1 channel, "
            f"got input_shape {shape}"
        )
    return (height, width, channels)
