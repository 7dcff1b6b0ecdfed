"""Benchmark: where the seconds of one small fit go (issue 14): tracing against computing.

Fits ``ImageClassifier(max_trials=1, seed=S)`` on one task and splits its wall
time into stages: start-up, the first search epoch (which traces the bilevel
step), the other search epochs, the first training epoch (which traces the
network's step), the other training epochs, and the rest (holdout scoring,
the final fit and wrapping). Counts the traces of every Keras step function
(`autoarch.step_traces.count_traces`), and records the peak resident memory
and the test accuracy. With ``--autokeras PY`` (the python that
``../shared/tools/autokeras/setup.sh`` prints) AutoKeras 3.0 then fits the
same split in a subprocess, one after the other, and the wall-time ratio is
reported. The JSON records the CPU's model and vector extensions and
whether TensorFlow ran its oneDNN kernels (by default only on CPUs with
AVX-512 VNNI or newer; elsewhere Eigen's, whose MNIST-10k training epochs
took 1.8x as long on an AVX2 EPYC).

Tasks: ``digits:300`` (first 300 digits fit, last 297 test), ``digits`` (first
1,500), ``mnist10k`` (``../shared/data/mnist10k``: first 8,000 fit, last 2,000
test). Results go to ``benchmarks/results/fixed_costs/fixed_costs_<task>[_seed<S>][_<tag>].json``.

Run from the repository root, on a quiet machine::

    python benchmarks/fixed_costs.py digits:300 [--seed 0] [--tag before]
        [--autokeras "$(../shared/tools/autokeras/setup.sh)"]

``--trials``, ``--tuner`` and ``--search-space`` run a longer search (the
stage table describes its first trial; ``fits`` in the JSON times every
Keras fit), ``--grappler`` sets TensorFlow's optimizer options, and
``--keep-kernel-cache`` is an experiment: the tuner no longer clears
TensorFlow's kernel cache between trials. ``--epochs N`` fits with
``fit(epochs=N)`` and ``--time-limit S`` with ``time_limit=S``, the short
trainings of issue 35. Every fit also reports the seconds spent recomputing
trained networks' batch-norm statistics (and their share of the fit), and
the returned model's accuracy on its fit images in inference and in
training mode.
"""

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from results_path import result_path, tagged_name

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.path.join(ROOT, "..", "shared", "data", "mnist10k")
AUTOKERAS_RUN = os.path.join(ROOT, "..", "shared", "tools", "autokeras", "run.py")


def load(task):
    """``(x_fit, y_fit, x_test, y_test)`` of a task, split as the AutoKeras runner splits it."""
    import numpy as np

    name, _, limit = task.partition(":")
    if name == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        x, y = (digits.images * 16).clip(0, 255).astype("uint8"), digits.target
        x_fit, y_fit, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]
    elif name == "mnist10k":
        with gzip.open(os.path.join(MNIST, "t10k-images-idx3-ubyte.gz")) as file:
            x = np.frombuffer(file.read(), np.uint8, offset=16).reshape(-1, 28, 28)
        with gzip.open(os.path.join(MNIST, "t10k-labels-idx1-ubyte.gz")) as file:
            y = np.frombuffer(file.read(), np.uint8, offset=8)
        x_fit, y_fit, x_test, y_test = x[:8000], y[:8000], x[8000:], y[8000:]
    else:
        raise SystemExit(f"unknown task {task!r}: digits[:N] or mnist10k[:N]")
    if limit:
        x_fit, y_fit = x_fit[: int(limit)], y_fit[: int(limit)]
    return x_fit, y_fit, x_test, y_test


class StageClock:
    """Records when every Keras ``fit`` of one estimator fit starts, and when its epochs end.

    Installed by wrapping ``keras.Model.fit``, so the search network's fit, the
    trial network's and the final fit are all seen without changing autoarch.
    """

    def __init__(self):
        self.fits = []

    def install(self):
        import keras

        clock, original = self, keras.Model.fit

        def timed_fit(model, *args, **kwargs):
            record = {"model": type(model).__name__, "start": time.monotonic(), "epoch_ends": []}
            clock.fits.append(record)

            class EpochEnds(keras.callbacks.Callback):
                def on_epoch_end(self, epoch, logs=None):
                    record["epoch_ends"].append(time.monotonic())

            kwargs["callbacks"] = list(kwargs.get("callbacks") or []) + [EpochEnds()]
            try:
                return original(model, *args, **kwargs)
            finally:
                record["end"] = time.monotonic()

        keras.Model.fit = timed_fit

    def per_fit(self):
        """Every Keras fit in order: its model, its first epoch's and its other epochs' seconds."""
        return [
            {
                "model": fit["model"],
                "first_epoch": round(fit["epoch_ends"][0] - fit["start"], 2) if fit["epoch_ends"] else None,
                "other_epochs": round(fit["end"] - fit["epoch_ends"][0], 2) if fit["epoch_ends"] else None,
                "epochs": len(fit["epoch_ends"]),
            }
            for fit in self.fits
        ]

    def stages(self, started, ended, trials=1):
        """The stage table: seconds per stage, in order; its first trial's stages, then the rest.

        A final fit is a training fit beyond one per trial; the later trials of
        a longer search are in the row after the first trial's training.
        """
        search = [f for f in self.fits if f["model"] == "SearchNetwork"]
        training = [f for f in self.fits if f["model"] != "SearchNetwork"]
        rows = {}
        first = self.fits[0]["start"] if self.fits else ended
        rows["start-up to the first search epoch"] = first - started
        if search:
            fit = search[0]
            ends = fit["epoch_ends"]
            rows["first search epoch (traces the bilevel step)"] = ends[0] - fit["start"]
            rows[f"the other {len(ends) - 1} search epochs"] = fit["end"] - ends[0]
        if training:
            fit = training[0]
            ends = fit["epoch_ends"]
            if search:
                rows["between search and training (derivation, network build)"] = fit["start"] - search[0]["end"]
            rows["first training epoch (traces the network's step)"] = ends[0] - fit["start"]
            rows[f"the other {len(ends) - 1} training epochs"] = fit["end"] - ends[0]
            later = {1: "", 2: "the other trial, "}.get(trials, f"the other {trials - 1} trials, ")
            if len(training) > trials:
                final = training[-1]
                rows[f"{later}holdout scoring, saving, final fit set-up"] = final["start"] - fit["end"]
                rows["final fit, first epoch"] = final["epoch_ends"][0] - final["start"]
                rows[f"final fit, the other {len(final['epoch_ends']) - 1} epochs"] = final["end"] - final["epoch_ends"][0]
                rows["wrapping the final model"] = ended - final["end"]
            else:
                rows[f"{later}holdout scoring, saving and wrapping"] = ended - fit["end"]
        rows["whole fit"] = ended - started
        return {name: round(seconds, 2) for name, seconds in rows.items()}


def cpu_extensions():
    """The vector extensions that decide TensorFlow's CPU kernels (Linux; empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as file:
            lines = file.read().splitlines()
    except OSError:
        return []
    for line in lines:
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return sorted(flags & {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "avx_vnni"})
    return []


def time_batch_norm_statistics():
    """Time every recomputation of a trained network's batch-norm statistics; returns the list the seconds go to."""
    import autoarch.tuning.trial as trial

    seconds, original = [], trial.recompute_batch_norm_statistics

    def timed(*args, **kwargs):
        started = time.monotonic()
        try:
            return original(*args, **kwargs)
        finally:
            seconds.append(time.monotonic() - started)

    trial.recompute_batch_norm_statistics = timed
    return seconds


def model_accuracy(clf, images, y, training):
    """Accuracy of ``clf.model_`` called directly on ``images`` in batches of 256, in training or inference mode."""
    import numpy as np

    predicted = []
    for start in range(0, len(images), 256):
        probabilities = np.asarray(clf.model_(images[start:start + 256], training=training))
        predicted.append(np.argmax(probabilities, axis=1))
    return float(np.mean(np.asarray(clf.classes_)[np.concatenate(predicted)] == y))


def fit_image_modes(clf, x_fit, y_fit):
    """The model's accuracy on its own fit images in inference and in training mode; its weights are put back after."""
    from autoarch.inputs import read_images

    images = read_images(x_fit, tuple(clf.image_shape_))
    inference = model_accuracy(clf, images, y_fit, training=False)
    weights = clf.model_.get_weights()  # training mode may move batch-norm statistics
    try:
        training = model_accuracy(clf, images, y_fit, training=True)
    finally:
        clf.model_.set_weights(weights)
    return {"fit_acc_inference": round(inference, 4), "fit_acc_training": round(training, 4),
            "fit_acc_gap": round(training - inference, 4)}


def run_autokeras(python, task, seed):
    """AutoKeras's figures for ``task`` from the shared runner (one trial, 10 epochs)."""
    done = subprocess.run(
        [python, AUTOKERAS_RUN, task, "--seed", str(seed)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task", nargs="?", default="digits:300")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tag", default="")
    parser.add_argument("--autokeras", help="python of AutoKeras's venv (../shared/tools/autokeras/setup.sh)")
    parser.add_argument("--grappler", help="JSON of tf.config.optimizer experimental options, to try them")
    parser.add_argument("--trials", type=int, default=1, help="max_trials (the stage table describes the first)")
    parser.add_argument("--tuner", default="bayesian")
    parser.add_argument("--search-space", help="JSON merged into the estimator's search_space")
    parser.add_argument("--epochs", type=int, help="fit(epochs=N), as an AutoKeras user would")
    parser.add_argument("--time-limit", type=float, help="the estimator's time_limit in seconds")
    parser.add_argument(
        "--keep-kernel-cache", action="store_true",
        help="experiment: the tuner does not clear TensorFlow's kernel cache between trials",
    )
    args = parser.parse_args()
    grappler = json.loads(args.grappler) if args.grappler else None
    search_space = json.loads(args.search_space) if args.search_space else None
    if args.keep_kernel_cache:
        import autoarch.tuning.tuner

        autoarch.tuning.tuner.clear_kernel_cache = lambda: None
    if grappler:
        import tensorflow as tf

        tf.config.optimizer.set_experimental_options(grappler)

    import numpy as np
    from tensorflow.python.util import _pywrap_util_port

    import autoarch
    from autoarch.latency import device_fingerprint
    from autoarch.step_traces import count_traces

    x_fit, y_fit, x_test, y_test = load(args.task)
    clock = StageClock()
    clock.install()
    statistics_seconds = time_batch_norm_statistics()
    with tempfile.TemporaryDirectory() as directory, count_traces() as traces:
        clf = autoarch.ImageClassifier(
            max_trials=args.trials, tuner=args.tuner, seed=args.seed, directory=directory, verbose=0,
            search_space=search_space, time_limit=args.time_limit,
        )
        started = time.monotonic()
        clf.fit(x_fit, y_fit, epochs=args.epochs)
        ended = time.monotonic()
        accuracy = float(np.mean(clf.predict(x_test) == y_test))
        peak_rss_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # before the check below
        modes = fit_image_modes(clf, x_fit, y_fit)
    figures = {
        "benchmark": "fixed_costs",
        "task": args.task,
        "seed": args.seed,
        "tag": args.tag,
        "grappler": grappler,
        "train_images": len(x_fit),
        "trials": args.trials,
        "tuner": args.tuner,
        "search_space": search_space,
        "epochs": args.epochs,
        "time_limit": args.time_limit,
        "kernel_cache_kept": args.keep_kernel_cache,
        "stages_seconds": clock.stages(started, ended, args.trials),
        "fits": clock.per_fit(),
        "fit_seconds": round(ended - started, 1),
        "traces": dict(traces),
        "test_accuracy": round(accuracy, 4),
        "fit_images_accuracy": modes,
        "batch_norm_statistics_seconds": [round(seconds, 2) for seconds in statistics_seconds],
        "batch_norm_statistics_share": round(sum(statistics_seconds) / (ended - started), 4),
        "parameters": int(clf.model_.count_params()),
        "peak_rss_mb": peak_rss_mb,
        "machine": f"{device_fingerprint()['cpu']}, {os.cpu_count()} cores",
        "cpu_extensions": cpu_extensions(),
        "onednn_kernels": bool(_pywrap_util_port.IsMklEnabled()),
    }
    if args.autokeras:
        peer = run_autokeras(args.autokeras, args.task, args.seed)
        figures["autokeras"] = peer
        figures["wall_time_ratio_to_autokeras"] = round(figures["fit_seconds"] / peer["fit_s"], 2)
    for name, seconds in figures["stages_seconds"].items():
        print(f"{name:60s} {seconds:7.2f} s")
    print(f"traces {figures['traces']}, test accuracy {accuracy:.4f}, peak {figures['peak_rss_mb']} MB")
    print(f"fit images: {modes}; batch-norm statistics {figures['batch_norm_statistics_seconds']} s "
          f"({100 * figures['batch_norm_statistics_share']:.1f}% of the fit)")
    name = args.task.replace(":", "_") + (f"_seed{args.seed}" if args.seed else "")
    with open(result_path("fixed_costs", tagged_name(f"fixed_costs_{name}", args.tag)), "w") as file:
        json.dump(figures, file, indent=1)
    print(json.dumps(figures))


if __name__ == "__main__":
    sys.exit(main())
