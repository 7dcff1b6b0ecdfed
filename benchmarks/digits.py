"""Benchmark: `ImageClassifier(max_trials=3, seed=0)` on scikit-learn's digits.

The first 1,500 images fit, the remaining 297 test (nothing trains or selects on
them). Prints the trials, the test accuracy, the wall time of ``fit`` and the
peak resident memory, and writes the figures as JSON to
``benchmarks/results/digits.json`` (last line of output: the same JSON).
Target (issue 3): >= 97% test accuracy within 5 minutes on 2 CPU cores.

Run from the repository root::

    python benchmarks/digits.py [--max-trials 3] [--seed 0] [--tuner bayesian]
"""

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-trials", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tuner", default="bayesian")
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args()

    import numpy as np
    from sklearn.datasets import load_digits

    import autoarch

    digits = load_digits()
    x = digits.images.astype(np.float32)
    y = digits.target
    x_fit, y_fit, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]
    with tempfile.TemporaryDirectory() as directory:
        started = time.perf_counter()
        clf = autoarch.ImageClassifier(
            max_trials=args.max_trials, tuner=args.tuner, seed=args.seed, directory=directory, verbose=args.verbose
        )
        clf.fit(x_fit, y_fit)
        seconds = time.perf_counter() - started
        accuracy = clf.score(x_test, y_test)
    figures = {
        "benchmark": "digits",
        "max_trials": args.max_trials,
        "tuner": args.tuner,
        "seed": args.seed,
        "test_accuracy": round(float(accuracy), 4),
        "fit_seconds": round(seconds, 1),
        "parameters": int(clf.model_.count_params()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "trials": [
            {k: r[k] for k in ("trial_id", "status", "score", "seconds", "parameters", "reason")}
            for r in clf.results_
        ],
        "genotype": str(clf.best_genotype_),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": sys.version.split()[0],
    }
    print(f"test accuracy {accuracy:.4f}, fit {seconds:.1f} s, peak {figures['peak_rss_mb']} MB")
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "results", "digits.json"), "w") as file:
        json.dump(figures, file, indent=1)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
