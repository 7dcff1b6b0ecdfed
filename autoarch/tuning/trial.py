"""One trial: the DARTS search, the derived genotype, its training and its score.

`Task` holds what every trial of one ``fit`` shares (data, splits, targets,
normalisation); `run_search` and `train_network` are the two stages; a trial's
failures (divergence, memory, an oversized network) are raised as
`keras_tuner.errors.FailedTrialError` with the reason, so keras-tuner records
them and the search goes on.
"""

import contextlib
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
from keras_tuner.errors import FailedTrialError
from sklearn.metrics import r2_score

from autoarch.darts import (
    PRIMITIVES,
    CollapseGuard,
    DropPathSchedule,
    SearchNetwork,
    build_network,
)
from autoarch.darts.batch_statistics import recompute_batch_norm_statistics
from autoarch.darts.optimizers import FusedAdam
from autoarch.darts.selection import perturbation_genotype
from autoarch.darts.supernet import cosine_learning_rate
from autoarch.pipeline import Augmentation, batches, paired_batches
from autoarch.tuning.budget import MIN_SEARCH_SECONDS, EpochPlan, StageClock, TimeBudget
from autoarch.tuning.compiled import CompiledNetworks
from autoarch.tuning.cost_budgets import (
    check_estimates,
    cost_estimates,
    fit_genotype_to_budgets,
    network_size,
    penalty_key,
    search_penalty,
)
from autoarch.tuning.user_callbacks import copies_for

__all__ = [
    "Task",
    "Holdout",
    "make_task",
    "run_search",
    "search_key",
    "make_network",
    "plain_network",
    "train_network",
    "evaluate_network",
    "holdout_predictions",
    "chance_record",
    "MAX_SKIP_CONNECTIONS",
    "BASELINE_REASON",
]

MAX_SKIP_CONNECTIONS = 2
"""Skip connections allowed in a derived normal cell (P-DARTS's cap against collapse)."""

BASELINE_REASON = (
    "the first trial of a time-limited fit trains a random cell of the space as the baseline; "
    "the later trials search, and one replaces it only by beating it on the holdout by more than its noise"
)
"""Why the first trial of a fit with a time limit and several trials does not search.

Measured on digits and MNIST-10k (``benchmarks/ablation.py``), a random cell
of the CPU space trained for the time a search takes scored as well as or
better than a searched one, and costs no supernet trace: so the trial most
likely to be the only one, or the incumbent (`autoarch.tuning.ranking`),
makes the better model for its time, and more budget adds searched
challengers instead of replacing the baseline by a search's lottery.
"""


class Holdout(NamedTuple):
    """The samples that score a trial.

    Attributes:
        data: the `autoarch.inputs.ImageData` they come from: the training
            data itself, or separate validation data.
        targets: the encoded targets of ``data``.
        indices: the holdout's sample indices in ``data``.
    """

    data: object
    targets: np.ndarray
    indices: np.ndarray


@dataclass
class Task:
    """What every trial of one ``fit`` shares.

    Attributes:
        data: the training `autoarch.inputs.ImageData`.
        targets: one encoded target per sample (class index, or standardised value).
        regression: predict values (MSE) instead of classes.
        num_outputs: classes, or target columns.
        search_train: sample indices of the search half that trains the weights.
        search_val: sample indices of the search half that trains the architecture.
        train: sample indices a trial's network trains on.
        holdout: the `Holdout` that scores a trial.
        primitives: the candidate operations.
        seed: the fit's seed (None: not reproducible).
        budget: the fit's `autoarch.tuning.budget.TimeBudget` (None: no time limit).
        final_fit_mode: how the final fit will train each network
            (``"continue"``, ``"scratch"`` or None), for the budget's plan.
        callbacks: the user's Keras callbacks, given to every network training.
        max_model_size: most parameters a derived network may have (None: any).
        max_flops: most multiply-adds per image a derived network may cost
            (None: any; see `autoarch.darts.costs`).
        max_latency_ms: most milliseconds per image a trial's network may
            take, measured in ``latency_table``'s way (None: any; see
            `autoarch.tuning.cost_budgets`).
        latency_table: the `autoarch.latency.LatencyTable` that estimates
            latencies (with ``max_latency_ms``).
        latency_weight: strength of the latency term in the architecture loss
            (None: `autoarch.tuning.cost_budgets.LATENCY_WEIGHT`).
        genotype: a fixed `Genotype` to train instead of searching one (None: search).
        baseline_first: the fit's first trial trains a random cell as the
            baseline instead of searching (`BASELINE_REASON`; set for a fit
            with a time limit and more than one trial).
        strategy: the ``tf.distribute`` strategy every network of a trial is
            built, compiled and trained under (None: TensorFlow's default
            device); see `autoarch.runtime.device_strategy`.
        compiled: the compiled networks a later trial of the same shapes
            reuses instead of tracing its step again.
    """

    data: object
    targets: np.ndarray
    regression: bool
    num_outputs: int
    search_train: np.ndarray
    search_val: np.ndarray
    train: np.ndarray
    holdout: Holdout
    primitives: tuple = PRIMITIVES
    seed: int = None
    budget: TimeBudget = None
    final_fit_mode: str = None
    callbacks: list = field(default_factory=list)
    max_model_size: int = None
    max_flops: int = None
    max_latency_ms: float = None
    latency_table: object = None
    latency_weight: float = None
    genotype: object = None
    baseline_first: bool = False
    strategy: object = None
    compiled: CompiledNetworks = field(default_factory=CompiledNetworks)

    @property
    def image_shape(self):
        """``(height, width, channels)`` of the training images."""
        return tuple(self.data.image_shape)

    @property
    def holdout_is_training_data(self):
        """True when the holdout was cut from the training data, False for separate validation data."""
        return self.holdout.data is self.data

    def final_fit_indices(self):
        """The samples of ``data`` the final fit trains on: the trials' and, if cut from them, the holdout's."""
        if self.holdout_is_training_data:
            return np.sort(np.concatenate([self.train, self.holdout.indices]))
        return self.train

    def normalization(self):
        """Keyword arguments of `autoarch.pipeline.batches` that normalise."""
        return {"mean": self.data.mean, "variance": self.data.variance}

    @property
    def deadline(self):
        """The `time.monotonic` value trials must end by (None: no time limit)."""
        return None if self.budget is None else self.budget.trials_end

    def time_left(self):
        """Seconds left to trials (infinite without a time limit)."""
        return math.inf if self.budget is None else self.budget.trials_left()

    def search_deadline(self):
        """The deadline of a search stage starting now (None: no time limit)."""
        return None if self.budget is None else self.budget.search_deadline()

    def why_no_search(self, trial_number):
        """Why trial ``trial_number`` (0 for a fit's first) trains a random cell instead of searching, or None.

        The first trial of a ``baseline_first`` fit is the baseline
        (`BASELINE_REASON`); any trial is when a search would get too little
        time (`too_little_time_to_search`).
        """
        if self.baseline_first and trial_number == 0:
            return BASELINE_REASON
        return self.too_little_time_to_search()

    def too_little_time_to_search(self):
        """Why a search starting now would be cut before it could decide anything, or None when it has time.

        Under a time limit a search gets `autoarch.tuning.budget.SEARCH_SHARE`
        of the time left to trials; under `autoarch.tuning.budget.MIN_SEARCH_SECONDS`
        the trial is better off training a random cell for the whole time.
        """
        if self.budget is None:
            return None
        seconds = self.budget.search_seconds()
        if seconds >= MIN_SEARCH_SECONDS:
            return None
        return (
            f"too little time for a search ({seconds:.1f} s, at least {MIN_SEARCH_SECONDS:.0f} s): "
            "a random cell of the space trains instead"
        )

    def scope(self):
        """The scope networks and optimizers are made in: the strategy's, or a no-op."""
        return contextlib.nullcontext() if self.strategy is None else self.strategy.scope()


def make_task(data, targets, splits, validation=None, **options):
    """The `Task` of one ``fit``.

    Args:
        data: the training `autoarch.inputs.ImageData`.
        targets: its encoded targets.
        splits: ``(search_train, search_val, holdout)`` sample indices, as
            `autoarch.data.search_splits` gives them.
        validation: ``(ImageData, targets)`` of separate validation data that
            scores the trials instead of the ``holdout`` split, or None.
        **options: the other fields of `Task` (``regression``,
            ``num_outputs``, ``primitives``, ``seed``, ...).
    """
    search_train, search_val, holdout = splits
    if validation is None:
        holdout = Holdout(data, targets, holdout)
    else:
        holdout = Holdout(validation[0], validation[1], np.arange(len(validation[0])))
    return Task(
        data=data,
        targets=targets,
        search_train=search_train,
        search_val=search_val,
        train=np.sort(np.concatenate([search_train, search_val])),
        holdout=holdout,
        **options,
    )


def _check_finite(history, stage):
    for epoch, loss in enumerate(history.history.get("loss", [])):
        if not np.isfinite(loss):
            raise FailedTrialError(f"diverged: the {stage} loss became {loss} in epoch {epoch + 1}")


def _search_subset(indices, limit, seed):
    if len(indices) <= limit:
        return indices
    chosen = np.random.default_rng(seed).permutation(indices)[:limit]
    return np.sort(chosen)


def _search_image_size(task, largest_side):
    height, width = task.image_shape[:2]
    scale = min(1.0, largest_side / max(height, width))
    return (max(8, round(height * scale)), max(8, round(width * scale)))


def _supernet_options(task, settings):
    return dict(
        init_channels=int(settings["init_channels"]),
        layers=int(settings["cells"]),
        nodes=int(settings["nodes"]),
        primitives=tuple(task.primitives),
        partial_channels=int(settings["partial_channels"]),
        regression=task.regression,
    )


def search_key(task, settings):
    """What a trial's compiled search step depends on: two trials with equal keys can share one trace.

    The shapes (search image size, channels, batch size as the search halves
    cap it), the supernet's options, first or second order, and the cost
    penalty's own key (`autoarch.tuning.cost_budgets.penalty_key`). Learning
    rates and epochs are not in it: `autoarch.darts.SearchNetwork.restart`
    sets them on a kept network.
    """
    batch_size, size = _search_batch_and_size(task, settings)
    shape = size + (task.image_shape[2],)
    options = tuple(sorted(_supernet_options(task, settings).items()))
    return (shape, task.num_outputs, batch_size, bool(settings["second_order"]), options, penalty_key(task, settings))


def _search_cap(settings):
    """The most images of each search half (at least a batch)."""
    return max(int(settings["search_samples"]), int(settings["batch_size"]))


def _search_batch_and_size(task, settings):
    """The search's batch size (at most a capped half) and image size."""
    cap = _search_cap(settings)
    halves = (min(len(part), cap) for part in (task.search_train, task.search_val))
    return min(int(settings["batch_size"]), *halves), _search_image_size(task, int(settings["search_image_size"]))


def run_search(task, settings, verbose=0):
    """The DARTS stage: search a cell on the two search halves.

    Images are resized so their larger side is at most
    ``settings["search_image_size"]``, and each half is capped at
    ``settings["search_samples"]`` images. The supernet is built and trained
    under ``task.strategy`` (each batch split over its devices). Under a time
    limit the stage ends by ``task.search_deadline()``; with
    ``task.max_flops`` or ``task.max_latency_ms`` its architecture loss also
    weighs the final network's expected cost
    (`autoarch.tuning.cost_budgets.search_penalty`).

    Returns:
        ``(genotype, alpha_history)``.

    Raises:
        FailedTrialError: the search diverged or ran out of memory.
    """
    seed = task.seed
    halves = [_search_subset(part, _search_cap(settings), seed) for part in (task.search_train, task.search_val)]
    key = search_key(task, settings)
    batch_size, size = _search_batch_and_size(task, settings)
    train, val = (task.data.dataset(part, task.targets) for part in halves)
    paired = paired_batches(
        train, val, batch_size=batch_size, image_size=size, seed=seed, cache=True,
        **task.normalization(),
    )
    options = _supernet_options(task, settings)
    shape = size + (task.image_shape[2],)
    second_order = bool(settings["second_order"])
    penalty = search_penalty(task, settings)
    learning_rates = dict(
        weight_learning_rate=float(settings["search_learning_rate"]),
        arch_learning_rate=float(settings["arch_learning_rate"]),
    )
    reused = task.compiled.take("search", key)
    with task.scope():
        network = SearchNetwork(shape, task.num_outputs, seed=seed, **options)
        if reused is None:
            network.compile(second_order=second_order, cost_penalty=penalty, **learning_rates)
        else:  # the same step: keep its trace, start from the new network's weights
            reused.restart(network, **learning_rates)
            network = reused
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        CollapseGuard(max_skip_connections=MAX_SKIP_CONNECTIONS, patience=None),
        StageClock(task.search_deadline()),
    ]
    try:
        history = network.fit(
            paired, epochs=int(settings["search_epochs"]), callbacks=callbacks, verbose=verbose
        )
    except (tf.errors.ResourceExhaustedError, MemoryError) as error:
        raise FailedTrialError(f"out of memory during the search: {error}") from error
    _check_finite(history, "search")
    task.compiled.keep("search", key, network)
    if settings.get("selection", "alpha") == "perturbation":
        images, targets = _selection_samples(task, halves[1], size)
        genotype, _ = perturbation_genotype(network, images, targets, max_skip_connections=MAX_SKIP_CONNECTIONS)
    else:
        genotype = network.genotype(max_skip_connections=MAX_SKIP_CONNECTIONS)
    if task.max_flops is not None or task.max_latency_ms is not None:
        genotype = fit_genotype_to_budgets(task, settings, genotype, network.operation_weights(), MAX_SKIP_CONNECTIONS)
    return genotype, network.alpha_history


SELECTION_SAMPLES = 256
"""Validation images the perturbation selection measures every removal on."""


def _selection_samples(task, indices, size):
    """`SELECTION_SAMPLES` images evenly spread over ``indices``, normalised at the search size."""
    chosen = indices[np.linspace(0, len(indices) - 1, min(SELECTION_SAMPLES, len(indices))).astype(int)]
    data = batches(task.data.dataset(chosen, task.targets), batch_size=len(chosen), image_size=size,
                   **task.normalization())
    images, targets = next(iter(data))
    return np.asarray(images), np.asarray(targets)


def make_network(task, genotype, settings, distributed=True):
    """The discrete network of ``genotype`` for this task, uncompiled.

    Built inside ``task.strategy``'s scope (mirrored variables, synchronized
    batch norm) unless ``distributed`` is False, which gives a plain model
    for export and prediction.

    Raises:
        FailedTrialError: it has more parameters than ``task.max_model_size``,
            or its estimated costs exceed ``task.max_flops`` or
            ``task.max_latency_ms`` (checked before the network is built, see
            `autoarch.tuning.cost_budgets.check_estimates`).
    """
    check_estimates(task, cost_estimates(task, genotype, settings))
    with task.scope() if distributed else contextlib.nullcontext():
        network = build_network(
            genotype,
            task.image_shape,
            task.num_outputs,
            **network_size(settings),
            # DropPath layers cost 15% of a training step even at rate 0.
            drop_path=float(settings["drop_path"]) > 0,
            output_activation=None if task.regression else "softmax",
            seed=task.seed,
        )
    size = network.count_params()
    if task.max_model_size is not None and size > task.max_model_size:
        raise FailedTrialError(
            f"too large: the derived network has {size} parameters, more than "
            f"max_model_size={task.max_model_size}"
        )
    return network


def plain_network(task, genotype, settings, network):
    """``network`` as a model free of ``task.strategy``: the same weights, no mirrored variables.

    Returns ``network`` itself when there is no strategy.
    """
    if task.strategy is None:
        return network
    plain = make_network(task, genotype, settings, distributed=False)
    plain.set_weights(network.get_weights())
    return plain


def _compile(network, task, settings):
    """Compile ``network`` so that its training step is traced once.

    A metric given by name, or an optimizer built lazily, creates variables
    during the first trace, and TensorFlow then traces the step a second time
    (seconds per trial): both are made here, before ``fit``.
    """
    with task.scope():
        network.compile(
            optimizer=FusedAdam(float(settings["learning_rate"])),
            loss="mse" if task.regression else "sparse_categorical_crossentropy",
            metrics=[] if task.regression else [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        network.optimizer.build(network.trainable_variables)


def _cosine(initial, plan):
    return keras.callbacks.LearningRateScheduler(lambda epoch: cosine_learning_rate(epoch, plan.epochs, initial, 0.0))


def train_network(
    task,
    network,
    settings,
    indices,
    epochs,
    initial_epoch=0,
    run="training",
    verbose=0,
    extra_callbacks=(),
    learning_rate=None,
    continued=False,
    deadline=None,
):
    """Train ``network`` on the samples at ``indices`` with the trial's augmentation.

    The learning rate follows a cosine over ``epochs`` (so a run resumed at
    ``initial_epoch`` continues the same schedule) from ``learning_rate``
    (default ``settings["learning_rate"]``), and drop path ramps up to
    ``settings["drop_path"]``; with ``continued`` (the network was trained
    before) it stays there. A `autoarch.tuning.budget.StageClock` keeps the
    training within ``deadline`` (default ``task.deadline``): when fewer
    epochs fit than planned, both schedules end with the epochs that fit.

    The user's callbacks (``task.callbacks``) come as fresh copies named
    ``run`` (`autoarch.tuning.user_callbacks.copies_for`). When there are
    any, and the holdout is not among ``indices``, the holdout is Keras's
    ``validation_data``, so ``val_*`` metrics exist for them (an
    ``EarlyStopping(monitor="val_loss")``, a ``ModelCheckpoint``); without
    callbacks nothing reads them, and the holdout is not evaluated every epoch.

    Returns:
        The Keras `History`; its ``clock`` is the stage's `StageClock`
        (``stopped``, ``epoch_seconds``, ``first_epoch_seconds``).

    Raises:
        FailedTrialError: the loss diverged or memory ran out.
    """
    augmentation = Augmentation(
        crop=bool(settings["random_crop"]),
        cutout=bool(settings["cutout"]),
        flip=bool(settings["flip"]),
    )
    seed = None if task.seed is None else task.seed + 7
    reshuffles = task.data.reshuffles  # an image folder: shuffled before decoding, no buffer of images
    data = batches(
        task.data.dataset(indices, task.targets, reshuffle=reshuffles, seed=seed),
        batch_size=int(settings["batch_size"]),
        augmentation=augmentation,
        shuffle=not reshuffles,
        seed=seed,
        cache=task.data.images is not None,
        **task.normalization(),
    )
    if not getattr(network, "compiled", False):
        _compile(network, task, settings)
    drop_path = float(settings["drop_path"])
    plan = EpochPlan(epochs)
    drop_path_schedule = DropPathSchedule(drop_path, epochs, start=drop_path if continued else 0.0)
    clock = StageClock(task.deadline if deadline is None else deadline, plans=(plan, drop_path_schedule))
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        _cosine(float(settings["learning_rate"] if learning_rate is None else learning_rate), plan),
        drop_path_schedule,
        clock,
        *copies_for(task.callbacks, run),
        *extra_callbacks,
    ]
    validation = holdout_batches(task) if task.callbacks and not _trains_on_holdout(task, indices) else None
    try:
        history = network.fit(
            data,
            epochs=epochs,
            initial_epoch=initial_epoch,
            validation_data=validation,
            callbacks=callbacks,
            shuffle=False,
            verbose=verbose,
        )
    except (tf.errors.ResourceExhaustedError, MemoryError) as error:
        raise FailedTrialError(f"out of memory while training: {error}") from error
    _check_finite(history, "training")
    recompute_batch_norm_statistics(network, _statistics_batches(task, indices))
    history.clock = clock
    return history


BATCH_NORM_PIXELS = 2**20
"""Most training pixels (images x height x width) a trained network's batch-norm statistics are recomputed on.

However short its training, a network's moving statistics are replaced by
the average of its batch statistics over a sample of its training images
(`autoarch.darts.batch_statistics.recompute_batch_norm_statistics`): at
least `BATCH_NORM_MIN_SAMPLES` of them, and otherwise as many as hold this
many pixels (1,337 MNIST images, 256 of 96x96 px), in batches of at most a
quarter of it.
"""

BATCH_NORM_MIN_SAMPLES = 256
"""Fewest training images (or all there are) the batch-norm statistics are recomputed on."""


def _statistics_batches(task, indices):
    """Training images to recompute batch-norm statistics on: normalised, not augmented, in a few large batches."""
    height, width = task.image_shape[:2]
    limit = max(BATCH_NORM_MIN_SAMPLES, BATCH_NORM_PIXELS // (height * width))
    chosen = _search_subset(indices, limit, task.seed)
    batch_size = max(1, min(len(chosen), BATCH_NORM_PIXELS // 4 // (height * width)))
    return batches(task.data.dataset(chosen, task.targets), batch_size=batch_size, **task.normalization())


def _trains_on_holdout(task, indices):
    return task.holdout_is_training_data and np.intersect1d(task.holdout.indices, indices).size > 0


def holdout_batches(task, batch_size=256):
    """Normalised batches of the holdout, to score trials."""
    data, targets, indices = task.holdout
    return batches(
        data.dataset(indices, targets), batch_size=batch_size, mean=task.data.mean, variance=task.data.variance
    )


def holdout_predictions(task, network):
    """``(targets, predictions)`` of ``network`` on the holdout, as numpy arrays in holdout order.

    Targets are class indices (classification) or ``(n, outputs)`` standardised
    values; predictions are ``(n, classes)`` probabilities or ``(n, outputs)`` values.
    """
    truth, predicted = [], []
    for x, y in holdout_batches(task):
        truth.append(np.asarray(y))
        predicted.append(np.asarray(network(x, training=False)))
    truth, predicted = np.concatenate(truth), np.concatenate(predicted)
    if task.regression:
        truth = truth.reshape(-1, task.num_outputs)
        predicted = predicted.reshape(-1, task.num_outputs)
    return truth, predicted


def evaluate_network(task, network, predictions=None):
    """Holdout metrics of ``network`` as plain floats (what keras-tuner may send over gRPC).

    Classification: ``val_loss`` (the cross-entropy Keras's ``evaluate``
    reports) and ``val_accuracy``. Regression: ``val_loss`` (MSE on
    standardised targets) and ``val_r2``. Each comes with its standard error
    over the holdout's samples (``val_loss_se``, ...), which the ranking
    uses (`autoarch.tuning.ranking`). They are computed from ``predictions``
    (`holdout_predictions`, made here when None), so scoring a trial costs
    one forward pass and no traced test step.
    """
    truth, predicted = holdout_predictions(task, network) if predictions is None else predictions
    if task.regression:
        squared = np.mean((truth - predicted) ** 2, axis=1)
        mse, mse_se = float(np.mean(squared)), _standard_error(squared)
        variance = float(np.mean(np.var(truth, axis=0))) or 1.0
        return {"val_loss": mse, "val_loss_se": mse_se, "val_r2": float(r2_score(truth, predicted)),
                "val_r2_se": mse_se / variance}
    losses = _cross_entropies(truth, predicted)
    hits = (np.argmax(predicted, axis=1) == truth).astype(np.float64)
    return {"val_loss": float(np.mean(losses)), "val_loss_se": _standard_error(losses),
            "val_accuracy": float(np.mean(hits)), "val_accuracy_se": _standard_error(hits)}


def chance_record(task, metrics):
    """Whether holdout ``metrics`` (`evaluate_network`'s) are within noise of chance, for a trial's record.

    Classification: chance is the holdout's majority-class rate, and a score
    at most two standard errors above it (``val_accuracy_se``) is at chance.
    Regression: chance is an R² of 0 (predicting the mean), and an R² at or
    below it is at chance.

    Returns:
        ``{"chance_score": ..., "at_chance": ...}`` as plain Python values.
    """
    if task.regression:
        return {"chance_score": 0.0, "at_chance": bool(metrics["val_r2"] <= 0.0)}
    counts = np.bincount(task.holdout.targets[task.holdout.indices].astype(int))
    majority = float(counts.max() / counts.sum())
    return {"chance_score": majority,
            "at_chance": bool(metrics["val_accuracy"] <= majority + 2.0 * metrics["val_accuracy_se"])}


def _standard_error(values):
    """The standard error of the mean of ``values`` (0 for fewer than two)."""
    return float(np.std(values) / np.sqrt(len(values))) if len(values) > 1 else 0.0


def _cross_entropies(labels, probabilities):
    """Keras's sparse categorical cross-entropy of predicted ``probabilities``, per sample."""
    probabilities = probabilities / np.sum(probabilities, axis=1, keepdims=True)
    epsilon = keras.backend.epsilon()
    chosen = np.clip(probabilities[np.arange(len(labels)), labels.astype(int)], epsilon, 1.0 - epsilon)
    return -np.log(chosen)
