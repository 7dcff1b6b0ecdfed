"""Benchmark: the default `ImageClassifier(max_trials=1)` on MNIST, against AutoKeras's figures.

Reads the IDX files of DATA_DIR (default ``../shared/data/mnist10k``, the
10,000-image MNIST test set): the first 8,000 images fit, the last 2,000 test.
Prints the test accuracy, the wall time of ``fit``, the parameter count and the
peak resident memory; the last line is the same as JSON (also written to
``benchmarks/results/mnist/mnist[_trialsN][_seedS].json``). Target (issue 3): >= 98.5% test
accuracy in <= 100 s on 2 CPU cores with ``max_trials=1`` (AutoKeras 3.0's
default ImageClassifier: 98.0% in 101 s on a quiet machine of this kind).

Run from the repository root::

    python benchmarks/mnist.py [DATA_DIR] [--max-trials 1] [--seed 0]
"""

import argparse
import os

from estimator_report import fit_and_report

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("data_dir", nargs="?", default=os.path.join(here, "..", "..", "shared", "data", "mnist10k"))
    parser.add_argument("--max-trials", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args()

    import autoarch
    from autoarch.idx import read_mnist_folder

    x, y = read_mnist_folder(args.data_dir)["t10k"]
    x_fit, y_fit, x_test, y_test = x[:8000], y[:8000], x[8000:], y[8000:]
    suffix = ("" if args.max_trials == 1 else f"_trials{args.max_trials}") + ("" if args.seed == 0 else f"_seed{args.seed}")
    fit_and_report(
        "mnist",
        lambda directory: autoarch.ImageClassifier(
            max_trials=args.max_trials, seed=args.seed, directory=directory, verbose=args.verbose
        ),
        x_fit,
        y_fit,
        x_test,
        y_test,
        {"max_trials": args.max_trials, "seed": args.seed},
        f"mnist{suffix}.json",
    )

if __name__ == "__main__":
    main()
