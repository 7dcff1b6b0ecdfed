"""Quick start: find a network architecture for scikit-learn's digits, then test it.

Run: ``python examples/quickstart.py`` (a few minutes on 2 CPU cores). It fits
`autoarch.ImageClassifier` on three quarters of the digits (each trial: a DARTS
search, the derived network trained and scored on a holdout; then the final
model averages the best trial's network and the other's, if it improves
their average on the holdout), prints the trials, the final model's members, the best
genotype and the accuracy on the quarter nothing trained on, and leaves the
project (trials, final model) in ``./autoarch_projects/quickstart``.

Options: ``--max-trials N``, ``--directory DIR`` and ``--search-space JSON``
(settings of `autoarch.tuning.space.SETTINGS` to fix, e.g. ``'{"cells": 4}'``).
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import autoarch  # noqa: E402


def main(max_trials=2, seed=0, directory="autoarch_projects", search_space=None, verbose=2):
    """Fit on digits and report; returns the test accuracy."""
    digits = load_digits()
    x_fit, x_test, y_fit, y_test = train_test_split(
        digits.images, digits.target, test_size=0.25, stratify=digits.target, random_state=seed
    )
    clf = autoarch.ImageClassifier(
        max_trials=max_trials,
        seed=seed,
        directory=directory,
        project_name="quickstart",
        overwrite=True,
        search_space=search_space,
        verbose=verbose,
    )
    clf.fit(x_fit, y_fit)
    for row in clf.results_:
        print(f"trial {row['trial_id']}: {row['status']}, holdout accuracy {row['score']}, {row['seconds']} s")
    print(f"Final model: the average of trials {', '.join(clf.ensemble_trials_)}")
    print("Best genotype:\n" + str(clf.best_genotype_))
    accuracy = clf.score(x_test, y_test)
    print(f"Test accuracy on held-out digits: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-trials", type=int, default=2)
    parser.add_argument("--directory", default="autoarch_projects", help="where the project folder goes")
    parser.add_argument("--search-space", type=json.loads, default=None, help="JSON, e.g. '{\"cells\": 4}'")
    args = parser.parse_args()
    main(max_trials=args.max_trials, directory=args.directory, search_space=args.search_space)
