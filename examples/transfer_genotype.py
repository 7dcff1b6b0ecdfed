"""Search a cell on one dataset, then train that genotype on another without searching.

Run::

    python examples/transfer_genotype.py [--max-trials 2]

The architecture search runs on the digits 0-4. The found genotype is saved
as JSON, read back, and given to a new estimator as ``genotype=``: its fit
trains that fixed architecture on the digits 5-9, a different set of classes,
with no DARTS search (each of its trials only tunes the training settings).
This is how a cell found on a small proxy task is reused on a larger one, as
the DARTS paper did from CIFAR-10 to ImageNet.
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None):
    """Search on digits 0-4, transfer the genotype to digits 5-9, report both."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-trials", type=int, default=2)
    parser.add_argument("--directory", default="autoarch_projects", help="where the project folders go")
    parser.add_argument("--search-space", type=json.loads, default=None, help="JSON, e.g. '{\"cells\": 4}'")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    import autoarch

    digits = load_digits()
    source = digits.target < 5
    common = dict(seed=args.seed, directory=args.directory, overwrite=True, search_space=args.search_space, verbose=1)

    start = time.perf_counter()
    searcher = autoarch.ImageClassifier(max_trials=args.max_trials, project_name="transfer_source", **common)
    searcher.fit(digits.images[source], digits.target[source])
    print(f"searched on digits 0-4 in {time.perf_counter() - start:.0f} s: {searcher.best_genotype_.summary()}")

    genotype_file = os.path.join(searcher.project_dir_, "best_genotype.json")
    with open(genotype_file, "w") as file:
        file.write(searcher.best_genotype_.to_json())
    with open(genotype_file) as file:
        genotype = autoarch.Genotype.from_json(file.read())

    x_fit, x_test, y_fit, y_test = train_test_split(
        digits.images[~source], digits.target[~source], test_size=0.3, stratify=digits.target[~source], random_state=0
    )
    start = time.perf_counter()
    transferred = autoarch.ImageClassifier(max_trials=1, genotype=genotype, project_name="transfer_target", **common)
    transferred.fit(x_fit, y_fit)
    assert transferred.best_genotype_ == genotype
    print(
        f"trained the same genotype on digits 5-9 in {time.perf_counter() - start:.0f} s, no search: "
        f"test accuracy {transferred.score(x_test, y_test):.4f}, classes {transferred.classes_.tolist()}"
    )
    return transferred


if __name__ == "__main__":
    main()
