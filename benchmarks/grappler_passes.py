"""Benchmark: what a Grappler pass costs when a traced step is first called, and what it saves per step.

TensorFlow optimizes a traced function's graph (Grappler) when the function is
first called. Whole-fit timings (`benchmarks/fixed_costs.py --grappler`) mix
that cost with tracing, training and the machine's drift from one run to the
next, which on a shared 2-core machine are larger than one pass's effect. This
script measures the pass alone, in one process, with the settings alternated:

1. it builds the supernet of a default CPU search (``SearchNetwork``, the
   digits or MNIST-10k shapes of the default search space) and a trial network
   (``build_network(DARTS_V2, ...)``, compiled as Keras compiles it), and traces
   each step once;
2. for each of ``--rounds`` rounds, for each setting in turn (their order
   reversed every other round): sets TensorFlow's optimizer options, drops the
   kernel cache (`autoarch.runtime.clear_kernel_cache`), so the next call
   instantiates and optimizes the traced graph again without tracing it, then
   times that first call and ``--steps`` more calls.

Reported per setting and network: the median first call (instantiation with
Grappler, plus one step) and the median step, over the rounds, and the first
call that traced each step. Random data; the figures are seconds on this
machine. CPU threads are set as every fit sets them (`configure_cpu_threads`).

Run from the repository root, on a quiet machine::

    python benchmarks/grappler_passes.py --task digits --rounds 6
    python benchmarks/grappler_passes.py --task mnist10k --rounds 6
"""

import argparse
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from ablation import save_report  # noqa: E402  (benchmarks/ is not a package)
from results_path import result_path  # noqa: E402

# The default CPU search space's shapes for each task (`autoarch.tuning.space.default_space`).
TASKS = {
    "digits": {"search_shape": (8, 8, 1), "network_shape": (8, 8, 1), "batch": 32, "network_channels": 16},
    "mnist10k": {"search_shape": (12, 12, 1), "network_shape": (28, 28, 1), "batch": 64, "network_channels": 16,
                 "stem_stride": 2, "network_cells": 4},
}
SETTINGS = {
    "default": {},
    "remapping off": {"remapping": False},
}


def _set_options(options):
    """TensorFlow's optimizer options exactly ``options``: the others unset."""
    import tensorflow as tf
    from tensorflow.python.eager import context

    context.context()._optimizer_experimental_options.clear()
    tf.config.optimizer.set_experimental_options(options)


def _step_functions(task):
    """``{name: call}``: each call runs one training step of a compiled network on random data."""
    import keras
    import numpy as np
    import tensorflow as tf

    from autoarch.darts import DARTS_V2, SearchNetwork, build_network
    from autoarch.data import paired_search_dataset

    shapes = TASKS[task]
    rng = np.random.default_rng(0)
    batch, size = shapes["batch"], shapes["batch"] * 4

    def random_images(shape):
        return rng.random((size,) + shape, dtype=np.float32), rng.integers(0, 10, size).astype(np.int32)

    x, y = random_images(shapes["search_shape"])
    x_val, y_val = random_images(shapes["search_shape"])
    search = SearchNetwork(shapes["search_shape"], 10, 8, 3, nodes=3, seed=0)
    search.compile()
    search.make_train_function()
    pairs = iter(paired_search_dataset(x, y, x_val, y_val, batch_size=batch, seed=0).repeat())

    network = build_network(DARTS_V2, shapes["network_shape"], 10, init_channels=shapes["network_channels"],
                            layers=shapes.get("network_cells", 3), stem_stride=shapes.get("stem_stride", 1), seed=0)
    network.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(),
                    metrics=[keras.metrics.SparseCategoricalAccuracy()])
    network.make_train_function()
    x, y = random_images(shapes["network_shape"])
    batches = iter(tf.data.Dataset.from_tensor_slices((x, y)).batch(batch, drop_remainder=True).repeat())

    def run(model, iterator):
        logs = model.train_function(iterator)
        return {name: float(np.asarray(value)) for name, value in logs.items()}  # waits for the step

    return {"search step": lambda: run(search, pairs), "network step": lambda: run(network, batches)}


def measure(task, rounds, steps):
    """Per network and setting: the first calls' and the steps' seconds, every round."""
    from autoarch.runtime import clear_kernel_cache, configure_cpu_threads

    configure_cpu_threads()  # as every fit does
    calls = _step_functions(task)
    traced = {}
    for name, call in calls.items():  # trace once, with the default options
        started = time.perf_counter()
        call()
        traced[name] = time.perf_counter() - started
    found = {name: {setting: {"first_call": [], "step": []} for setting in SETTINGS} for name in calls}
    for round_number in range(rounds):
        order = list(SETTINGS) if round_number % 2 == 0 else list(reversed(SETTINGS))
        for setting in order:
            _set_options(SETTINGS[setting])
            clear_kernel_cache()
            for name, call in calls.items():
                started = time.perf_counter()
                call()
                found[name][setting]["first_call"].append(time.perf_counter() - started)
                started = time.perf_counter()
                for _ in range(steps):
                    call()
                found[name][setting]["step"].append((time.perf_counter() - started) / steps)
    _set_options({})
    return traced, found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=sorted(TASKS), default="digits")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    traced, found = measure(args.task, args.rounds, args.steps)
    summary = {
        name: {
            setting: {
                "median_first_call_s": round(statistics.median(values["first_call"]), 3),
                "median_step_s": round(statistics.median(values["step"]), 4),
            }
            for setting, values in settings.items()
        }
        for name, settings in found.items()
    }
    for name, settings in summary.items():
        for setting, figures in settings.items():
            print(f"{name:13s} {setting:14s} first call {figures['median_first_call_s']:6.3f} s, "
                  f"step {figures['median_step_s']:.4f} s")
    report = {
        "benchmark": "grappler_passes",
        "task": args.task,
        "rounds": args.rounds,
        "steps": args.steps,
        "first_trace_s": {name: round(seconds, 2) for name, seconds in traced.items()},
        "summary": summary,
        "raw": found,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
    }
    save_report(report, result_path("grappler_passes", f"grappler_passes_{args.task}.json"))


if __name__ == "__main__":
    sys.exit(main())
