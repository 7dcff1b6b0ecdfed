"""Benchmark: the default `ImageClassifier(max_trials=1)` on MNIST, against AutoKeras's figures.

Reads the IDX files of DATA_DIR (default ``../shared/data/mnist10k``, the
10,000-image MNIST test set): the first 8,000 images fit, the last 2,000 test.
Prints the test accuracy, the wall time of ``fit``, the parameter count and the
peak resident memory; the last line is the same as JSON (also written to
``benchmarks/results/mnist[_trialsN].json``). Target (issue 3): >= 98.5% test
accuracy in <= 100 s on 2 CPU cores with ``max_trials=1`` (AutoKeras 3.0's
default ImageClassifier: 98.0% in 101 s on a quiet machine of this kind).

Run from the repository root::

    python benchmarks/mnist.py [DATA_DIR] [--max-trials 1] [--seed 0]
"""

import argparse
import gzip
import json
import os
import platform
import resource
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def read_idx(directory):
    """``(images, labels)`` of the gzipped IDX files in ``directory``."""
    import numpy as np

    with gzip.open(os.path.join(directory, "t10k-images-idx3-ubyte.gz")) as file:
        images = np.frombuffer(file.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(directory, "t10k-labels-idx1-ubyte.gz")) as file:
        labels = np.frombuffer(file.read(), np.uint8, offset=8)
    return images, labels


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("data_dir", nargs="?", default=os.path.join(here, "..", "..", "shared", "data", "mnist10k"))
    parser.add_argument("--max-trials", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args()

    import autoarch

    x, y = read_idx(args.data_dir)
    x_fit, y_fit, x_test, y_test = x[:8000], y[:8000], x[8000:], y[8000:]
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        clf = autoarch.ImageClassifier(
            max_trials=args.max_trials, seed=args.seed, directory=directory, verbose=args.verbose
        )
        clf.fit(x_fit, y_fit)
        seconds = time.perf_counter() - started
        accuracy = clf.score(x_test, y_test)
    figures = {
        "benchmark": "mnist",
        "max_trials": args.max_trials,
        "seed": args.seed,
        "test_accuracy": round(float(accuracy), 4),
        "fit_seconds": round(seconds, 1),
        "parameters": int(clf.model_.count_params()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "trials": [
            {k: r[k] for k in ("trial_id", "status", "score", "seconds", "parameters", "reason")}
            for r in clf.results_
        ],
        "best_hyperparameters": clf.best_hyperparameters_,
        "genotype": str(clf.best_genotype_),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": sys.version.split()[0],
    }
    print(f"test accuracy {accuracy:.4f}, fit {seconds:.1f} s, {figures['parameters']} parameters, "
          f"peak {figures['peak_rss_mb']} MB")
    suffix = "" if args.max_trials == 1 else f"_trials{args.max_trials}"
    os.makedirs(os.path.join(here, "results"), exist_ok=True)
    with open(os.path.join(here, "results", f"mnist{suffix}.json"), "w") as file:
        json.dump(figures, file, indent=1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
