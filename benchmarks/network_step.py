"""Benchmark: what a trial network's training costs per epoch, and what its first (traced) epoch costs (issue 14).

Builds the discrete network of a cell (``--cell random`` draws one with
`autoarch.darts.random_genotype`, seed 1000; ``darts_v2`` is the published
cell) at the size the estimator's default CPU space gives the task, and trains
it with the trial's optimizer, loss, metric and augmentation (random crop) on
the task's images:

- ``digits:300``: the first 240 of scikit-learn's digits (8x8, what a trial
  of a 300-image fit trains on), batch 32, 3 cells;
- ``mnist10k``: the first 6,400 of ``../shared/data/mnist10k`` (28x28, a
  stride-2 stem), batch 64, 4 cells.

Reports the first epoch (which traces and instantiates the step), the mean of
the later epochs, the graph nodes of the traced step and the loss after the
last epoch (equal code gives equal losses). Run it several times, alternating
the code versions to compare, in fresh processes (``PYTHONPATH`` selects the
code)::

    python benchmarks/network_step.py digits:300 --tag after
    PYTHONPATH=/path/to/old/checkout python benchmarks/network_step.py digits:300 --tag before

Prints one JSON line; ``--output`` also appends it to a file (the runs the docs quote:
``benchmarks/results/network_step/network_step_pairs.jsonl``).

``--against-keras-norm R`` measures the fused batch norm of
`autoarch.darts.operations.BatchNormalization` without the machine's drift:
it builds the same network twice in one process, once with Keras's own
``BatchNormalization``, and trains the two for one epoch each, in turn, ``R``
rounds (the order swapped every round). It reports both networks' first and
median later epochs and the median per-round ratio.
"""

import argparse
import gzip
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.path.join(ROOT, "..", "shared", "data", "mnist10k")


def load(task):
    """``(images, labels)`` a trial of ``task`` trains on, as float32 NHWC and integers."""
    import numpy as np

    if task == "digits:300":
        from sklearn.datasets import load_digits

        digits = load_digits()
        return (digits.images[:240] * 16).astype("float32")[..., None], digits.target[:240]
    with gzip.open(os.path.join(MNIST, "t10k-images-idx3-ubyte.gz")) as file:
        x = np.frombuffer(file.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)[:6400]
    with gzip.open(os.path.join(MNIST, "t10k-labels-idx1-ubyte.gz")) as file:
        y = np.frombuffer(file.read(), np.uint8, offset=8)[:6400]
    return x.astype("float32"), y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=("digits:300", "mnist10k"))
    parser.add_argument("--cell", choices=("random", "darts_v2"), default="random")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--tag", default="", help="a label for the line (which code ran)")
    parser.add_argument("--output", help="also append the JSON line to this file")
    parser.add_argument("--against-keras-norm", type=int, metavar="ROUNDS",
                        help="alternate epochs with the same network built with Keras's batch norm")
    args = parser.parse_args()
    if args.epochs < 2 or (args.against_keras_norm is not None and args.against_keras_norm < 2):
        parser.error("--epochs and --against-keras-norm need at least 2 (the first epoch traces)")

    import keras
    import numpy as np
    import tensorflow as tf

    from autoarch.darts import DARTS_V2, build_network, random_genotype
    from autoarch.darts.optimizers import FusedAdam
    from autoarch.pipeline import Augmentation, batches
    from autoarch.runtime import configure_cpu_threads
    from autoarch.tuning import space as space_module
    from autoarch.tuning.cost_budgets import network_size

    configure_cpu_threads()
    x, y = load(args.task)
    space = space_module.fit_space(300 if args.task == "digits:300" else 8000, x.shape[1:], None, gpu=False)
    settings = space_module.defaults(space)
    primitives = space_module.default_primitives(gpu=False)
    genotype = DARTS_V2 if args.cell == "darts_v2" else random_genotype(primitives, settings["nodes"], seed=1000)
    data = batches(
        tf.data.Dataset.from_tensor_slices((x, y)),
        batch_size=int(settings["batch_size"]),
        augmentation=Augmentation(crop=True, cutout=False, flip=False),
        shuffle=True,
        seed=7,
        cache=True,
        mean=np.array([x.mean()]),
        variance=np.array([x.var()]),
    )

    def compiled_network():
        keras.utils.set_random_seed(0)
        network = build_network(genotype, x.shape[1:], 10, **network_size(settings), drop_path=False, seed=0)
        network.compile(
            optimizer=FusedAdam(float(settings["learning_rate"])),
            loss="sparse_categorical_crossentropy",
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        network.optimizer.build(network.trainable_variables)
        return network

    if args.against_keras_norm:
        return alternate(args, compiled_network, data)
    network = compiled_network()
    seconds = []

    class EpochClock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.started)

    history = network.fit(data, epochs=args.epochs, callbacks=[EpochClock()], verbose=0, shuffle=False)
    from tensorflow.python.eager import context

    eager = context.context()
    figures = {
        "tag": args.tag,
        "task": args.task,
        "cell": args.cell,
        "first_epoch_s": round(seconds[0], 2),
        "later_epoch_s": round(float(np.mean(seconds[1:])), 3),
        # The largest function TensorFlow holds: the traced training step.
        "step_nodes": max(len(eager.get_function_def(name).node_def) for name in eager.list_function_names()),
        "loss": round(float(history.history["loss"][-1]), 6),
        "parameters": int(network.count_params()),
    }
    report(figures, args.output)


def report(figures, output):
    """Print ``figures`` as one JSON line, and append it to ``output`` when given."""
    line = json.dumps(figures)
    print(line)
    if output:
        with open(output, "a") as file:
            file.write(line + "\n")


def alternate(args, compiled_network, data):
    """The ``--against-keras-norm`` comparison (see the module docstring)."""
    import keras
    import numpy as np

    from autoarch.darts import operations

    fused = operations.BatchNormalization
    networks = {}
    for kind, norm in (("keras", keras.layers.BatchNormalization), ("fused", fused)):
        operations.BatchNormalization = norm  # what `operations.normalization` builds
        try:
            networks[kind] = compiled_network()
        finally:
            operations.BatchNormalization = fused
    seconds = {kind: [] for kind in networks}
    for round_ in range(args.against_keras_norm):
        for kind in ("keras", "fused") if round_ % 2 == 0 else ("fused", "keras"):
            started = time.perf_counter()
            networks[kind].fit(data, epochs=1, verbose=0, shuffle=False)
            seconds[kind].append(time.perf_counter() - started)
    figures = {"tag": args.tag, "task": args.task, "cell": args.cell, "rounds": args.against_keras_norm}
    for kind, values in seconds.items():
        figures[f"{kind}_first_epoch_s"] = round(values[0], 2)
        figures[f"{kind}_later_epoch_median_s"] = round(float(np.median(values[1:])), 3)
    ratios = np.array(seconds["fused"][1:]) / np.array(seconds["keras"][1:])
    figures["fused_to_keras_later_median_ratio"] = round(float(np.median(ratios)), 3)
    report(figures, args.output)


if __name__ == "__main__":
    main()
