"""Benchmark: what a later trial pays to run an already traced search step again.

A later trial of the same shapes reuses the compiled supernet
(`autoarch.darts.SearchNetwork.restart`), so its step is not traced again
(`tests/integration/test_traces.py`). This script shows what the first epoch
of such a reused step still costs, and why: it builds the default digits
supernet (8x8, 8 channels, 3 cells, 3 nodes, batch 32, random data), fits it
once (the traced first epoch), then fits it again, 2 epochs each time, after
each of these in turn:

- nothing (a new dataset only);
- `SearchNetwork.restart` from a new network's weights;
- ``keras.utils.set_random_seed`` (which the tuner calls before every trial of
  a seeded search; TensorFlow's global seed clears its kernel cache);
- `autoarch.runtime.clear_kernel_cache` (which the tuner calls before every
  trial but a process's first).

Each row gives the seconds to the end of the first and the second epoch. A
first epoch far above the second means the traced graph was instantiated
(and optimized) again. One process, in this order; the figures are seconds
on this machine.

Run from the repository root::

    python benchmarks/kernel_cache.py
"""

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

from ablation import save_report  # noqa: E402  (benchmarks/ is not a package)
from results_path import result_path  # noqa: E402


def main():
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help, no options
    import keras
    import numpy as np

    from autoarch.darts import SearchNetwork
    from autoarch.data import paired_search_dataset
    from autoarch.runtime import clear_kernel_cache, configure_cpu_threads

    configure_cpu_threads()  # as every fit does
    rng = np.random.default_rng(0)
    shape = (8, 8, 1)

    def dataset():
        x = rng.random((600,) + shape, dtype=np.float32)
        y = rng.integers(0, 10, 600).astype(np.int32)
        return paired_search_dataset(x[:300], y[:300], x[300:], y[300:], batch_size=32, seed=0)

    class EpochEnds(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started, self.ends = time.perf_counter(), []

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(round(time.perf_counter() - self.started, 2))

    network = SearchNetwork(shape, 10, 8, 3, nodes=3, seed=0)
    network.compile()
    rows = []

    def fit(label):
        clock = EpochEnds()
        network.fit(dataset(), epochs=2, verbose=0, callbacks=[clock])
        rows.append({"after": label, "epoch_ends": clock.ends})
        print(f"{label:45s} epochs end at {clock.ends} s", flush=True)

    fit("first fit (traces the step)")
    fit("again, a new dataset")
    network.restart(SearchNetwork(shape, 10, 8, 3, nodes=3, seed=1), 0.05, 3e-3)
    fit("after SearchNetwork.restart")
    keras.utils.set_random_seed(1)
    fit("after keras.utils.set_random_seed")
    fit("again, a new dataset (no seed set)")
    clear_kernel_cache()
    fit("after autoarch.runtime.clear_kernel_cache")
    report = {
        "benchmark": "kernel_cache",
        "epoch_ends_seconds": rows,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
    }
    save_report(report, result_path("kernel_cache", "kernel_cache.json"))


if __name__ == "__main__":
    sys.exit(main())
