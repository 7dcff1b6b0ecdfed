"""Benchmark: accuracy against a latency budget on this machine's CPU (issue 16).

For each seed, fits ``ImageClassifier(max_trials=1, ensemble_size=1, seed=S)``
on MNIST-10k (``../shared/data/mnist10k``: first 8,000 fit, last 2,000 test)
with ``--search-space`` (the network size) first without a budget, then with
``max_latency_ms`` at each ``--fractions`` share of that unconstrained model's
measured latency. Every fit runs in a fresh process, one after the other.

For each fit it records the test accuracy, the final model's latency per
image measured as ``export(format="tflite")`` writes it (TFLite interpreter,
one thread, float32; `autoarch.latency.measure_model_ms`), the estimate from
this machine's latency table, parameters, multiply-adds, the fit's seconds
and the genotype; a budget no trial met is recorded with the fit's error
(the smallest latency it reached). The latency table lives in a fresh cache
folder per run, so its measurement is part of the first budgeted fit's time
(``table_seconds``).

Results go to ``benchmarks/results/latency/latency_mnist10k[_<tag>].json``. Run from
the repository root, on a quiet machine::

    python benchmarks/latency.py --seeds 0,1 [--fractions 0.5,0.25] [--search-space JSON] [--tag TAG]
        [--budget-trials N]

The unconstrained fit takes ``--search-space``'s defaults (one trial); the
budgeted fits get ``--budget-trials`` trials, so that a search space with
choices of network size lets the outer search find a size that can meet the
budget.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixed_costs import load  # noqa: E402  (the tasks' shared splits)
from results_path import result_path, tagged_name  # noqa: E402

SEARCH_SPACE = {"stem_stride": 1, "nodes": 4, "network_channels": 16, "network_cells": 4, "train_epochs": 6}
"""The network size: the CPU default at full resolution (stem stride 1) with four nodes, so that the cells'
operations, not the interpreter's cost per call or the stem, decide the latency."""


def one_fit(seed, search_space, max_latency_ms, cache, max_trials=1):
    """Fit once in this process; returns the point's figures."""
    import time

    import numpy as np

    os.environ["AUTOARCH_CACHE_DIR"] = cache
    import autoarch
    from autoarch.latency import cached_table, measure_model_ms
    from autoarch.tuning.cost_budgets import network_size
    from autoarch.tuning.space import search_primitives

    x_fit, y_fit, x_test, y_test = load("mnist10k")
    point = {"seed": seed, "max_latency_ms": max_latency_ms, "max_trials": max_trials}
    with tempfile.TemporaryDirectory() as directory:
        clf = autoarch.ImageClassifier(max_trials=max_trials, ensemble_size=1, seed=seed, directory=directory, verbose=0,
                                       search_space=search_space, max_latency_ms=max_latency_ms)
        started = time.monotonic()
        try:
            clf.fit(x_fit, y_fit)
        except RuntimeError as error:
            return {**point, "fit_seconds": round(time.monotonic() - started, 1), "failed": str(error)}
        seconds = time.monotonic() - started
        accuracy = float(np.mean(clf.predict(x_test) == y_test))
    row = next(row for row in clf.results_ if row["trial_id"] == clf.ensemble_trials_[0])
    measured, how = (clf.latency_ms_, clf.latency_measurement_) if max_latency_ms else measure_model_ms(clf.model_)
    settings = clf.best_hyperparameters_
    table = cached_table()
    size = network_size(settings)
    table_seconds = table.measure(search_primitives(search_space, False), int(settings["nodes"]), (28, 28, 1), 10,
                                  **size)
    estimate = table.estimate_ms(clf.best_genotype_, (28, 28, 1), 10, **size)
    return {
        **point,
        "fit_seconds": round(seconds, 1),
        "test_accuracy": round(accuracy, 4),
        "latency_ms": round(measured, 4),
        "latency_estimate_ms": round(estimate, 4),
        "trial_latency_ms": row.get("latency_ms"),
        "within_budget": None if not max_latency_ms else measured <= max_latency_ms,
        "parameters": int(clf.model_.count_params()),
        "flops": row["flops"],
        "genotype": clf.best_genotype_.to_json(),
        "search_confidence": row.get("search_confidence"),
        "network_size": size,
        "trials": [{key: r.get(key) for key in ("trial_id", "status", "score", "latency_ms", "latency_estimate_ms",
                                                "reason")} | {"size": network_size(r["hyperparameters"])}
                   for r in clf.results_],
        "measured_with": how,
        "table_seconds_after_fit": round(table_seconds, 1),
    }


def run_point(seed, search_space, max_latency_ms, cache, max_trials=1):
    """`one_fit` in a fresh process."""
    arguments = f"{seed}, {search_space!r}, {max_latency_ms!r}, {cache!r}, {max_trials}"
    code = f"import json, latency; print(json.dumps(latency.one_fit({arguments})))"
    done = subprocess.run([sys.executable, "-c", code], cwd=os.path.dirname(os.path.abspath(__file__)),
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--fractions", default="0.5,0.25")
    parser.add_argument("--search-space", default=json.dumps(SEARCH_SPACE))
    parser.add_argument("--tag", default="")
    parser.add_argument("--budget-trials", type=int, default=1, help="max_trials of the budgeted fits (default 1)")
    args = parser.parse_args()
    search_space = json.loads(args.search_space)
    path = result_path("latency", tagged_name("latency_mnist10k", args.tag))
    figures = {"benchmark": "latency", "task": "mnist10k", "search_space": search_space, "points": [],
               "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()}}
    cache = tempfile.mkdtemp(prefix="autoarch-latency-benchmark-")
    for seed in [int(s) for s in args.seeds.split(",") if s]:
        free = run_point(seed, search_space, None, cache)
        figures["points"].append(free)
        print(json.dumps(free), flush=True)
        for fraction in [float(f) for f in args.fractions.split(",") if f]:
            point = run_point(seed, search_space, round(fraction * free["latency_ms"], 4), cache, args.budget_trials)
            point["fraction"] = fraction
            figures["points"].append(point)
            print(json.dumps(point), flush=True)
        with open(path, "w") as file:
            json.dump(figures, file, indent=1)
    print(path)


if __name__ == "__main__":
    main()
