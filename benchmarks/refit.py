"""Benchmark: does the final fit on all the data help, or is the trial's network better kept as it is?

After its trials, a fit trains the chosen network once more on all the
training data, the holdout included (``refit="continue"``: a few more
epochs from the trial's weights at a quarter of its learning rate;
``refit="scratch"``: the whole training again from new weights), or keeps
the trial's network, trained on the other 80% only (``refit=False``, the
default since this benchmark measured the three).

For a task and a list of seeds, this script fits one
`ImageClassifier(max_trials=1, ensemble_size=1, seed=S, refit=MODE)` per mode
on the same cell, a random cell of the default space
(``random_genotype(..., seed=RANDOM_SEED_OFFSET + S)``, as in
``benchmarks/ablation.py``, so no search adds its own noise). With the same
seed, every mode trains the same trial network (its holdout score is
reported, and must agree across modes), so the modes differ only in the final
fit: the per-seed difference to ``keep`` is a paired comparison.

Tasks and splits are those of ``benchmarks/ablation.py`` (digits: the first
1,500 fit and the last 297, written by other people, test; MNIST-10k: the
first 8,000 fit, the last 2,000 test).

Run from the repository root (two or three fits per seed; about a minute each
on MNIST-10k on 2 cores)::

    python benchmarks/refit.py --task mnist10k --seeds 0,1,2,3,4
    python benchmarks/refit.py --task digits --seeds 0,1,2,3,4 [--modes keep,continue,scratch]

Writes ``benchmarks/results/refit/refit_<task>[_<tag>].json`` after every fit.
"""

import argparse
import json
import os
import platform
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ablation import RANDOM_SEED_OFFSET, TASKS, fit_once, load_task, save_report  # noqa: E402
from results_path import result_path, tagged_name  # noqa: E402

MODES = {"keep": False, "continue": "continue", "scratch": "scratch"}
"""Each mode's ``refit`` argument."""


def paired(runs, modes):
    """Per mode: mean test accuracy and seconds, and the mean and sd of its per-seed difference to ``keep``."""
    summary = {}
    by_seed = {}
    for run in runs:
        by_seed.setdefault(run["seed"], {})[run["mode"]] = run
    for mode in modes:
        rows = [seeds[mode] for seeds in by_seed.values() if mode in seeds]
        if not rows:
            continue
        entry = {
            "seeds": len(rows),
            "test_accuracy_mean": round(statistics.fmean(run["test_accuracy"] for run in rows), 4),
            "fit_seconds_mean": round(statistics.fmean(run["fit_seconds"] for run in rows), 1),
        }
        differences = [seeds[mode]["test_accuracy"] - seeds["keep"]["test_accuracy"]
                       for seeds in by_seed.values() if mode in seeds and "keep" in seeds]
        if mode != "keep" and differences:
            entry["minus_keep_mean"] = round(statistics.fmean(differences), 4)
            entry["minus_keep_sd"] = round(statistics.stdev(differences), 4) if len(differences) > 1 else None
            entry["better_than_keep"] = sum(difference > 0 for difference in differences)
            entry["worse_than_keep"] = sum(difference < 0 for difference in differences)
        summary[mode] = entry
    return summary


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=TASKS, default="digits")
    parser.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated estimator seeds")
    parser.add_argument("--modes", default="keep,continue", help=f"comma-separated, of {', '.join(MODES)}")
    parser.add_argument("--search-space", default="{}", help="JSON dict given to every fit's search_space")
    parser.add_argument("--tag", default="", help="suffix of the results file")
    parser.add_argument("--data-dir", default=os.path.join(here, "..", "..", "shared", "data", "mnist10k"))
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    if not seeds or not modes or any(mode not in MODES for mode in modes):
        parser.error(f"--modes must name some of {', '.join(MODES)} and --seeds some integers")
    modes = ["keep", *(mode for mode in MODES if mode in modes and mode != "keep")]  # keep: the reference
    search_space = json.loads(args.search_space)

    import autoarch
    from autoarch.darts import random_genotype
    from autoarch.tuning import space as space_module

    task_data = load_task(args.task, args.data_dir)
    x_fit = task_data[0]
    image_shape = tuple(x_fit.shape[1:]) + ((1,) if x_fit.ndim == 3 else ())
    space = space_module.narrow_space(space_module.default_space(len(x_fit), image_shape, gpu=False), search_space)
    primitives = search_space.get("primitives") or space_module.default_primitives(gpu=False)
    nodes = space["nodes"].default

    result_file = result_path("refit", tagged_name(f"refit_{args.task}", args.tag))
    report = {
        "benchmark": "refit",
        "task": args.task,
        "seeds": seeds,
        "modes": {mode: MODES[mode] for mode in modes},
        "search_space": search_space,
        "runs": [],
        "summary": {},
        "autoarch": autoarch.__version__,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
    }
    for seed in seeds:
        cell = random_genotype(primitives, nodes, seed=RANDOM_SEED_OFFSET + seed)
        for mode in modes:
            figures = fit_once(task_data, seed, search_space, cell, verbose=0, refit=MODES[mode])
            run = {"mode": mode, "seed": seed, **figures}
            report["runs"].append(run)
            report["summary"] = paired(report["runs"], modes)
            save_report(report, result_file)
            print(f"{args.task} seed {seed} {mode}: test {run['test_accuracy']:.4f}, holdout "
                  f"{run['holdout_score']:.4f}, fit {run['fit_seconds']:.1f} s", flush=True)
    print(json.dumps(report["summary"], indent=1))
    print(f"written to {os.path.relpath(result_file)}")


if __name__ == "__main__":
    main()
