"""AutoKeras 3.0.0's ImageClassifier on one task of `benchmarks/suite.py`; prints one JSON line.

Standalone runner for AutoKeras's venv (numpy and autokeras only, no autoarch),
modelled on ``../shared/tools/autokeras/run.py``: it reads the task's split from
an ``.npz`` file with the arrays ``x_fit``, ``y_fit``, ``x_test``, ``y_test``
(uint8 images, int labels), fits ``ak.ImageClassifier`` as its users run it and
prints ``{"peer", "train_images", "fit_s", "test_acc", "test_balanced_acc",
"params", "peak_rss_mb"}`` on its last line. `benchmarks/suite.py --autokeras PY`
writes the file and runs this script; by hand::

    PY=$(../shared/tools/autokeras/setup.sh)
    $PY benchmarks/suite_autokeras.py data.npz [--seed 0] [--epochs 10] [--max-trials 1]
"""

import argparse
import json
import os
import resource
import shutil
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from sklearn.metrics import balanced_accuracy_score  # noqa: E402


def fit_and_score(data, seed, epochs, max_trials):
    """Fit AutoKeras on ``data``'s fit split and score it on its test split: the JSON record."""
    import autokeras as ak

    directory = tempfile.mkdtemp(prefix="suite_autokeras_")
    try:
        started = time.time()
        clf = ak.ImageClassifier(max_trials=max_trials, overwrite=True, directory=directory, seed=seed)
        clf.fit(data["x_fit"], data["y_fit"], epochs=epochs, verbose=0)
        fit_s = time.time() - started
        # AutoKeras returns the labels as strings or floats, in a column.
        predicted = np.asarray(clf.predict(data["x_test"], verbose=0)).reshape(-1).astype(float)
        truth = data["y_test"].astype(float)
        params = int(clf.export_model().count_params())
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    return {
        "peer": "autokeras " + ak.__version__,
        "train_images": len(data["y_fit"]),
        "epochs": epochs,
        "max_trials": max_trials,
        "seed": seed,
        "fit_s": round(fit_s, 1),
        "test_acc": round(float(np.mean(predicted == truth)), 4),
        "test_balanced_acc": round(balanced_accuracy_score(truth, predicted), 4),
        "params": params,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", help=".npz with x_fit, y_fit, x_test, y_test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--max-trials", type=int, default=1)
    args = parser.parse_args()
    with np.load(args.data) as file:
        data = {key: file[key] for key in ("x_fit", "y_fit", "x_test", "y_test")}
    print(json.dumps(fit_and_score(data, args.seed, args.epochs, args.max_trials)))


if __name__ == "__main__":
    main()
