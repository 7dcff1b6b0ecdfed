"""Benchmark: `ImageClassifier(max_trials=3, seed=0)` on scikit-learn's digits.

The first 1,500 images fit, the remaining 297 test (nothing trains or selects on
them). Prints the trials, the test accuracy, the wall time of ``fit`` and the
peak resident memory, and writes the figures as JSON to
``benchmarks/results/digits/digits[_trialsN][_tuner][_seedS].json`` (last line of output: the same
JSON).
Target (issue 3): >= 97% test accuracy within 5 minutes on 2 CPU cores.

Run from the repository root::

    python benchmarks/digits.py [--max-trials 3] [--seed 0] [--tuner bayesian]
"""

import argparse
import os

from estimator_report import fit_and_report

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
    fit_and_report(
        "digits",
        lambda directory: autoarch.ImageClassifier(
            max_trials=args.max_trials, tuner=args.tuner, seed=args.seed, directory=directory, verbose=args.verbose
        ),
        x_fit,
        y_fit,
        x_test,
        y_test,
        {"max_trials": args.max_trials, "tuner": args.tuner, "seed": args.seed},
        "digits"
        + ("" if args.max_trials == 3 else f"_trials{args.max_trials}")
        + ("" if args.tuner == "bayesian" else f"_{args.tuner}")
        + ("" if args.seed == 0 else f"_seed{args.seed}")
        + ".json",
    )

if __name__ == "__main__":
    main()
