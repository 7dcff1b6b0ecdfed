"""MNIST from its IDX files: fit, report on the test images, export a SavedModel.

Run::

    python examples/mnist.py DATA_DIR [--max-trials 1] [--time-limit 600] [--export mnist_model]

DATA_DIR holds MNIST's IDX files (``train-images-idx3-ubyte.gz`` and the
others, gzipped or not; Fashion-MNIST uses the same names). With the training
files there, ``fit`` gets the 60,000 training images and the 10,000 ``t10k``
images test. With only the ``t10k`` files (as in ``../shared/data/mnist10k``),
the first 8,000 fit and the last 2,000 test. ``--limit N`` fits on the first N
images only. The exported SavedModel takes raw uint8 or float images and
returns the ten probabilities; see ``examples/export_and_serve.py``.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def split(parts):
    """``(x_fit, y_fit, x_test, y_test)`` from what `read_mnist_folder` found."""
    if "train" in parts and "t10k" in parts:
        return (*parts["train"], *parts["t10k"])
    images, labels = parts.get("t10k") or parts["train"]
    cut = int(len(images) * 0.8)
    return images[:cut], labels[:cut], images[cut:], labels[cut:]


def main(argv=None):
    """Fit on the IDX files of a folder, print the test accuracy, export the model."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", help="folder with MNIST's IDX files")
    parser.add_argument("--max-trials", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=None, help="seconds for the whole fit")
    parser.add_argument("--limit", type=int, default=None, help="fit on the first N images only")
    parser.add_argument("--export", default="mnist_model", help="where the SavedModel goes")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --export path")
    parser.add_argument("--directory", default="autoarch_projects", help="where the project folder goes")
    parser.add_argument("--search-space", type=json.loads, default=None, help="JSON, e.g. '{\"cells\": 4}'")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if os.path.exists(args.export) and not args.overwrite:
        parser.error(f"{args.export!r} exists; pass --overwrite to replace it")

    import autoarch
    from autoarch.idx import read_mnist_folder

    x_fit, y_fit, x_test, y_test = split(read_mnist_folder(args.data_dir))
    if args.limit is not None:
        x_fit, y_fit = x_fit[: args.limit], y_fit[: args.limit]
    print(f"fit on {len(x_fit)} images of {x_fit.shape[1:]}, test on {len(x_test)}")

    clf = autoarch.ImageClassifier(
        max_trials=args.max_trials,
        time_limit=args.time_limit,
        seed=args.seed,
        directory=args.directory,
        project_name="mnist",
        overwrite=True,
        search_space=args.search_space,
        verbose=2,
    )
    start = time.perf_counter()
    clf.fit(x_fit, y_fit)
    seconds = time.perf_counter() - start

    accuracy = clf.score(x_test, y_test)
    print(f"test accuracy {accuracy:.4f}, fit {seconds:.0f} s, {clf.model_.count_params():,} parameters")
    print(f"genotype: {clf.best_genotype_.summary()}")
    clf.export(args.export, overwrite=args.overwrite)
    print(f"SavedModel written to {args.export}")
    return accuracy


if __name__ == "__main__":
    main()
