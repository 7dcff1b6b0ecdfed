"""A narrowed search: fewer candidate operations, some settings fixed, some ranges chosen.

Run::

    python examples/custom_search_space.py [--max-trials 3]

``search_space`` takes the names of `autoarch.tuning.space.SETTINGS`: a value
fixes a setting, a list makes it a choice and a ``(low, high)`` tuple a range;
``"primitives"`` replaces the DARTS operation set (here: cheap operations
only, no 5x5 or dilated convolutions). The script prints every trial's
settings and checks that the found cells use only the allowed operations.
``--search-space JSON`` adds to (and wins over) the space below.
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ALLOWED_OPERATIONS = ["max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3"]

SEARCH_SPACE = {
    "primitives": ALLOWED_OPERATIONS,  # the candidate operations of every edge
    "init_channels": 8,  # fixed
    "search_epochs": 4,  # fixed
    "network_cells": [3, 5],  # a choice
    "learning_rate": (1e-3, 1e-2),  # a range (log-uniform for learning rates)
    "cutout": False,  # fixed: no cutout augmentation
}


def main(argv=None):
    """Fit digits with the narrowed space and print what each trial tried."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-trials", type=int, default=3)
    parser.add_argument("--directory", default="autoarch_projects", help="where the project folder goes")
    parser.add_argument("--search-space", type=json.loads, default={}, help="JSON added to the space")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from sklearn.datasets import load_digits

    import autoarch

    digits = load_digits()
    x_fit, y_fit = digits.images[:1200], digits.target[:1200]
    x_test, y_test = digits.images[1200:], digits.target[1200:]
    clf = autoarch.ImageClassifier(
        max_trials=args.max_trials,
        tuner="random",
        seed=args.seed,
        directory=args.directory,
        project_name="custom_search_space",
        overwrite=True,
        search_space={**SEARCH_SPACE, **args.search_space},
        verbose=1,
    )
    clf.fit(x_fit, y_fit)

    for row in clf.results_:
        chosen = {name: row["hyperparameters"][name] for name in ("network_cells", "learning_rate")}
        print(f"trial {row['trial_id']}: {chosen} -> {row['status']} {row['score']}")
    genotype = clf.best_genotype_
    used = {operation for cell in (genotype.normal, genotype.reduce) for operation, _ in cell}
    if not used <= set(ALLOWED_OPERATIONS):
        raise SystemExit(f"the genotype uses {sorted(used - set(ALLOWED_OPERATIONS))}, which were not allowed")
    print(f"genotype: {genotype.summary()}")
    print(f"operations used: {sorted(used)}; test accuracy {clf.score(x_test, y_test):.4f}")
    return clf


if __name__ == "__main__":
    main()
