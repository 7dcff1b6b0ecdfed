"""Benchmark: do the search's decisions come from the data, or from its seed? (issue 12's diagnosis)

For each seed S the DARTS search stage (`autoarch.tuning.trial.run_search`,
with the estimator's default space for the task and ``--search-space`` merged
in) runs ``--resamples`` times on resampled search halves, and as many times
again on the same halves with the labels permuted (a control whose searches
can learn nothing about the task). Every search starts from seed S's weights
and alphas; only the data changes. One compiled supernet serves every search
of a run (`autoarch.darts.SearchNetwork.restart`), so the figures are not
dominated by tracing.

Per search it records the derived genotype, the alphas' confidence at the end
(`autoarch.darts.confidence.search_confidence`) and the supernet's accuracy on
the architecture half during its last epoch. It then compares the derived
cells pairwise by their **agreement**: the share of a cell's ``(operation,
input)`` pairs, node by node, that the other cell has too (both cells of the
genotype; 1 for equal genotypes). Four pair sets are compared:

- ``resampled``: two searches of the same seed on resampled halves;
- ``across_seeds``: searches of different seeds (other initial weights, other halves);
- ``shuffled_labels``: a real-label search and a permuted-label search of the same seed and halves;
- ``shuffled_resampled``: two permuted-label searches of the same seed on resampled halves;
- ``random``: two cells drawn by `autoarch.darts.random_genotype` (2,000 pairs).

If the search carried signal from the data, ``resampled`` and
``across_seeds`` would agree clearly more than ``random``, and more than
``shuffled_labels``. If ``shuffled_labels`` agrees as much as ``resampled``,
the cell is decided by the initial weights and the search's own biases, not by
the labels.

Tasks: ``digits`` (the first 1,500 of scikit-learn's digits), ``mnist10k``
(the first 8,000 of ``../shared/data/mnist10k``), ``digits_colour`` (see
``benchmarks/ablation.py``). Results go to
``benchmarks/results/search_stability/search_stability_<task>[_<tag>].json``.

Run from the repository root::

    python benchmarks/search_stability.py --task digits --seeds 0,1,2 --resamples 3
    python benchmarks/search_stability.py --task digits --search-space '{"search_epochs": 16}' --tag epochs16
"""

import argparse
import itertools
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from results_path import result_path, tagged_name  # noqa: E402

RANDOM_PAIRS = 2000
RESAMPLE_SEED_OFFSET = 100
"""Resample r > 0 of seed S splits with ``seed=RESAMPLE_SEED_OFFSET * (r + 1) + S``; resample 0 is the fit's own split."""


def agreement(first, second):
    """The share of ``first``'s ``(operation, input)`` pairs, node by node and in both cells, that ``second`` has too."""
    shared = total = 0
    for cell in ("normal", "reduce"):
        a, b = getattr(first, cell), getattr(second, cell)
        for node in range(0, len(a), 2):
            left = list(a[node:node + 2])
            for pair in b[node:node + 2]:
                if pair in left:
                    left.remove(pair)
                    shared += 1
            total += 2
    return shared / total


def operation_mix(genotype):
    """How many of the genotype's normal-cell pairs are convolutions, pools and skips."""
    kinds = {"conv": 0, "pool": 0, "skip": 0}
    for operation, _ in genotype.normal:
        kinds["conv" if "conv" in operation else "pool" if "pool" in operation else "skip"] += 1
    return kinds


def spread(values):
    """Mean, sample standard deviation and count of ``values``."""
    values = list(values)
    return {
        "mean": round(statistics.fmean(values), 4) if values else None,
        "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
        "pairs": len(values),
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=("digits", "mnist10k", "digits_colour"), default="digits")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated search seeds")
    parser.add_argument("--resamples", type=int, default=3, help="searches per seed on resampled halves")
    parser.add_argument("--search-space", default="{}", help="JSON dict merged into the default space")
    parser.add_argument("--tag", default="")
    parser.add_argument("--data-dir", default=os.path.join(here, "..", "..", "shared", "data", "mnist10k"))
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    if not seeds or args.resamples < 1:
        parser.error("--seeds must name some integers and --resamples be at least 1")

    import numpy as np

    from ablation import load_task, save_report
    from autoarch.darts import random_genotype
    from autoarch.darts.confidence import search_confidence
    from autoarch.data import search_splits
    from autoarch.inputs import read_training_data
    from autoarch.runtime import configure_cpu_threads, seed_keeping_kernels
    from autoarch.tuning import space as space_module
    from autoarch.tuning.compiled import CompiledNetworks
    from autoarch.tuning.trial import make_task, run_search, search_key

    configure_cpu_threads()
    x_fit, y_fit, _, _ = load_task(args.task, args.data_dir)
    data = read_training_data(np.asarray(x_fit), np.asarray(y_fit))
    targets = np.asarray(y_fit).astype(np.int64)
    classes = len(np.unique(targets))
    user_space = json.loads(args.search_space)
    space = space_module.fit_space(len(data), data.image_shape, user_space, gpu=False)
    settings = space_module.defaults(space)
    primitives = space_module.search_primitives(user_space, gpu=False)
    compiled = CompiledNetworks()

    def search(seed, split_seed, labels):
        splits = search_splits(targets, 0.2, seed=split_seed)
        task = make_task(data, labels, splits, regression=False, num_outputs=classes, primitives=primitives,
                         seed=seed, compiled=compiled)
        seed_keeping_kernels(seed)
        started = time.monotonic()
        genotype, history = run_search(task, settings)
        seconds = time.monotonic() - started
        network = compiled.take("search", search_key(task, settings))
        arch_accuracy = float(network.history.history["arch_accuracy"][-1])
        compiled.keep("search", search_key(task, settings), network)
        return {
            "genotype": genotype.to_json(),
            "confidence": search_confidence(history[-1]),
            "epochs": len(history),
            "arch_accuracy_last_epoch": round(arch_accuracy, 4),
            "normal_mix": operation_mix(genotype),
            "seconds": round(seconds, 1),
        }, genotype

    runs, genotypes = [], {}
    for seed in seeds:
        for resample in range(args.resamples):
            split_seed = seed if resample == 0 else RESAMPLE_SEED_OFFSET * resample + seed
            permuted = np.random.default_rng(10_000 + split_seed).permutation(targets)
            for labels_kind, labels in (("real", targets), ("shuffled", permuted)):
                figures, genotype = search(seed, split_seed, labels)
                genotypes[(seed, resample, labels_kind)] = genotype
                runs.append({"seed": seed, "resample": resample, "split_seed": split_seed, "labels": labels_kind,
                             **figures})
                print(f"{args.task} seed {seed} resample {resample} {labels_kind}: "
                      f"entropy {figures['confidence']['entropy']:.4f}, margin {figures['confidence']['margin']:.4f}, "
                      f"arch accuracy {figures['arch_accuracy_last_epoch']:.3f}, "
                      f"{figures['epochs']} epochs, {figures['seconds']} s", flush=True)

    real = {key: g for key, g in genotypes.items() if key[2] == "real"}
    pairs = {
        "resampled": [agreement(real[a], real[b]) for a, b in itertools.combinations(sorted(real), 2) if a[0] == b[0]],
        "across_seeds": [agreement(real[a], real[b]) for a, b in itertools.combinations(sorted(real), 2)
                         if a[0] != b[0]],
        "shuffled_labels": [agreement(real[(s, r, "real")], genotypes[(s, r, "shuffled")])
                            for s, r, _ in sorted(real)],
        "shuffled_resampled": [
            agreement(genotypes[a], genotypes[b])
            for a, b in itertools.combinations(sorted(k for k in genotypes if k[2] == "shuffled"), 2) if a[0] == b[0]
        ],
        "random": [
            agreement(random_genotype(primitives, settings["nodes"], seed=2 * i),
                      random_genotype(primitives, settings["nodes"], seed=2 * i + 1))
            for i in range(RANDOM_PAIRS)
        ],
    }
    summary = {name: spread(values) for name, values in pairs.items()}
    for kind in ("real", "shuffled"):
        chosen = [run for run in runs if run["labels"] == kind]
        summary[f"{kind}_labels_searches"] = {
            "entropy": spread(run["confidence"]["entropy"] for run in chosen)["mean"],
            "margin": spread(run["confidence"]["margin"] for run in chosen)["mean"],
            "arch_accuracy_last_epoch": spread(run["arch_accuracy_last_epoch"] for run in chosen)["mean"],
            "normal_convolutions": spread(run["normal_mix"]["conv"] for run in chosen)["mean"],
        }
    report = {
        "benchmark": "search_stability",
        "task": args.task,
        "seeds": seeds,
        "resamples": args.resamples,
        "search_space": user_space,
        "settings": {name: settings[name] for name in ("search_epochs", "arch_learning_rate", "search_learning_rate",
                                                      "init_channels", "cells", "nodes", "batch_size",
                                                      "search_image_size", "search_samples")},
        "primitives": list(primitives),
        "runs": runs,
        "summary": summary,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
    }
    save_report(report, result_path("search_stability", tagged_name(f"search_stability_{args.task}", args.tag)))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
