"""Run the same training on one device and on two logical CPU devices; print both as JSON.

Run by ``tests/test_distribution.py`` in a fresh interpreter, since logical
devices must be configured before TensorFlow initializes::

    python -m tests.replicas_run search-first search-second network estimator

Each stage builds its network once on one device and once inside
``MirroredStrategy(["/cpu:0", "/cpu:1"])`` from the same initial weights, trains
on the same batches (no shuffling, no augmentation; first order: one warm-up
epoch, then one epoch of both steps; second order and the discrete network:
one epoch; the discrete network's batch-norm statistics are then recomputed)
and prints one line ``RESULT {json}`` with the per-epoch logs and the final
weights of both runs. ``estimator`` fits ``ImageClassifier(devices=2)``
with a tiny space and prints what it trained on and predicted instead.
"""

import contextlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tensorflow as tf  # noqa: E402

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from autoarch.darts import SearchNetwork, build_network  # noqa: E402
from autoarch.darts.batch_statistics import recompute_batch_norm_statistics  # noqa: E402
from autoarch.darts.genotype import Genotype  # noqa: E402
from autoarch.runtime import device_strategy  # noqa: E402

DEVICES = ["/cpu:0", "/cpu:1"]
SEARCH = dict(init_channels=4, layers=1, nodes=1, primitives=("none", "max_pool_3x3", "skip_connect", "sep_conv_3x3"))
"""A supernet small enough to trace quickly on two replicas, with every kind of norm."""


def strategy():
    """The strategy ``devices=2`` gets: one per process, reused (see `device_strategy`)."""
    return device_strategy(DEVICES)


def digits():
    data = load_digits()
    return (data.images / 16.0).astype(np.float32)[..., None], data.target.astype(np.int32)


def paired(x, y, batch_size):
    """Fixed-order paired batches; the train half is 103 samples, so the last batch splits 4/3."""
    train = tf.data.Dataset.from_tensor_slices((x[:103], y[:103])).batch(batch_size)
    val = tf.data.Dataset.from_tensor_slices((x[200:264], y[200:264])).batch(batch_size).repeat()
    return tf.data.Dataset.zip((train, val))


def weights_of(model):
    return [np.asarray(w, dtype=np.float64).tolist() for w in model.get_weights()]


def replicas_used(model):
    """The replicas ``model`` trained on, and the devices that hold a copy of its first weight."""
    variable = model.trainable_variables[0].value
    devices = sorted({component.device for component in getattr(variable, "values", (variable,))})
    return {"replicas": model.distribute_strategy.num_replicas_in_sync, "devices": devices}


def search(second_order, warmup=0, epochs=1):
    x, y = digits()

    def run(strategy, initial):
        scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
        with scope:
            keras.utils.set_random_seed(0)
            net = SearchNetwork((8, 8, 1), 10, seed=0, **SEARCH)
            if initial is not None:
                net.set_weights(initial)
            start = net.get_weights()
            net.compile(second_order=second_order, arch_warmup_epochs=warmup)
        history = net.fit(paired(x, y, 32), epochs=epochs, verbose=0)
        evaluation = net.evaluate(x[300:340], y[300:340], batch_size=20, verbose=0, return_dict=True)
        return start, {"history": history.history, "evaluate": evaluation, "weights": weights_of(net),
                       **replicas_used(net)}

    start, one = run(None, None)
    _, two = run(strategy(), start)
    return {"one": one, "two": two}


def network():
    x, y = digits()
    genotype = Genotype.from_dict(
        {
            "normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ["dil_conv_3x3", 1], ["max_pool_3x3", 0]],
            "normal_concat": [2, 3],
            "reduce": [["max_pool_3x3", 0], ["sep_conv_3x3", 1], ["avg_pool_3x3", 2], ["skip_connect", 1]],
            "reduce_concat": [2, 3],
        }
    )
    data = tf.data.Dataset.from_tensor_slices((x[:128], y[:128])).batch(32)

    def run(strategy, initial):
        scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
        with scope:
            keras.utils.set_random_seed(0)
            model = build_network(genotype, (8, 8, 1), 10, init_channels=4, layers=2, seed=0)
            if initial is not None:
                model.set_weights(initial)
            start = model.get_weights()
            # SGD: Adam's first steps are about lr * sign(gradient), which turns
            # rounding noise in near-zero gradients into visible weight differences.
            model.compile(
                optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
            )
        history = model.fit(data, epochs=1, verbose=0)
        # As every training ends in autoarch: statistics recomputed, here on two batches of unequal size.
        recompute_batch_norm_statistics(model, [x[128:192], x[192:229]])
        return start, {"history": history.history, "weights": weights_of(model), **replicas_used(model)}

    start, one = run(None, None)
    _, two = run(strategy(), start)
    return {"one": one, "two": two}


def estimator():
    import tempfile

    from autoarch import ImageClassifier
    from tests.integration.conftest import tiny_space

    data = load_digits()
    images = np.round(data.images * (255 / 16)).astype(np.uint8)
    space = tiny_space(cells=1, nodes=1, network_cells=2, train_epochs=1, primitives=list(SEARCH["primitives"]))
    with tempfile.TemporaryDirectory() as directory:
        clf = ImageClassifier(devices=2, max_trials=1, search_space=space, seed=0, directory=directory, verbose=0,
                              refit="continue")
        replicas = _Replicas()
        clf.fit(images[:200], data.target[:200], callbacks=[replicas])
        predicted = clf.predict(images[300:400])
        return {
            "status": [row["status"] for row in clf.results_],
            "predictions": len(predicted),
            "labels": sorted({int(v) for v in predicted}),
            "params_devices": clf.get_params()["devices"],
            "mirrored_variables": sum(
                "Mirrored" in type(v.value).__name__ for v in clf.model_.variables
            ),
            "synchronized_norms": sum(
                bool(getattr(layer, "synchronized", False))
                for layer in clf.model_._flatten_layers(include_self=False, recursive=True)
            ),
            "saved_devices": clf._metadata()["params"]["devices"],
            "trainings": replicas.seen,
        }


class _Replicas(keras.callbacks.Callback):
    """Records, per training it is given to, the replicas and the synchronized norms."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def __deepcopy__(self, memo):
        return self  # one record of every training (autoarch copies callbacks per training)

    def on_train_begin(self, logs=None):
        layers = self.model._flatten_layers(include_self=False, recursive=True)
        self.seen.append(
            {
                "replicas": self.model.distribute_strategy.num_replicas_in_sync,
                "synchronized_norms": sum(bool(getattr(layer, "synchronized", False)) for layer in layers),
            }
        )


STAGES = {
    "search-first": lambda: search(False, warmup=1, epochs=2),
    "search-second": lambda: search(True),
    "network": network,
    "estimator": estimator,
}

if __name__ == "__main__":
    import time

    for stage in sys.argv[1:]:
        started = time.monotonic()
        print("RESULT " + json.dumps({"stage": stage, **STAGES[stage](), "seconds": time.monotonic() - started}), flush=True)
