"""Benchmark: test accuracy against the time budget, and whether fits keep to it (issue 19).

For each seed and each budget, fits ``ImageClassifier(time_limit=B, seed=S)``
with its other defaults (``max_trials=10``) in a fresh Python process, as a
user's script would, and records the whole fit's seconds (from the call, as
``fit_seconds_``), how far past the budget it ended, the trials that ran and
completed, which trials the final model averages, and the test accuracy.
With ``--autokeras PY`` (the python that ``../shared/tools/autokeras/setup.sh``
prints) AutoKeras 3.0 then fits the same split with 1 and 3 trials
(``--autokeras-trials``); it has no time limit, so its points are placed at
the wall time it took.

Tasks: ``digits`` (first 1,500 of scikit-learn's digits fit, the 297 images
of other writers test) and ``mnist10k`` (``../shared/data/mnist10k``: first
8,000 fit, last 2,000 test), split as the AutoKeras runner splits them.
Results go to ``benchmarks/results/anytime/anytime_<task>[_<tag>].json``; a run
resumes the points already in that file (``--seeds ""`` runs only AutoKeras).

``digits:300`` (first 300 fit, last 297 test) is the small one. ``--cpu-hog N``
runs N processes that keep a core busy beside every autoarch fit, as on a
user's busy machine, to check that fits keep to their budget there too.

Run from the repository root, on a quiet machine::

    python benchmarks/anytime.py digits --budgets 30,60,120,240,480 --seeds 0,1,2
        [--autokeras "$(../shared/tools/autokeras/setup.sh)"] [--tag TAG] [--max-trials N] [--cpu-hog N]
"""

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fixed_costs import AUTOKERAS_RUN, ROOT, load  # noqa: E402  (the tasks' shared splits)
from results_path import result_path, tagged_name  # noqa: E402

ALLOWED_OVERSHOOT = (0.02, 1.0)
"""The issue's target: a fit ends within the budget plus 2% plus 1 s."""


def one_fit(task, budget, seed, max_trials=10):
    """Fit autoarch once in this process; returns the point's figures."""
    import tempfile
    import time

    import numpy as np

    import autoarch

    x_fit, y_fit, x_test, y_test = load(task)
    with tempfile.TemporaryDirectory() as directory:
        clf = autoarch.ImageClassifier(time_limit=budget, seed=seed, max_trials=max_trials, directory=directory,
                                       verbose=0)
        started = time.monotonic()
        clf.fit(x_fit, y_fit)
        seconds = time.monotonic() - started
        accuracy = float(np.mean(clf.predict(x_test) == y_test))
    rows = clf.results_
    best = next(row for row in rows if row["rank"] == 1)
    return {
        "budget": budget,
        "seed": seed,
        "max_trials": max_trials,
        "fit_seconds": round(seconds, 2),
        "over_budget_seconds": round(seconds - budget, 2),
        "within_target": seconds <= budget * (1 + ALLOWED_OVERSHOOT[0]) + ALLOWED_OVERSHOOT[1],
        "trials": len(rows),
        "completed": sum(row["status"] == "COMPLETED" for row in rows),
        "trials_cut_by_time_limit": sum(bool(row.get("stopped_by_time_limit")) for row in rows),
        "searches_skipped": sum(bool(row.get("search_skipped")) for row in rows),
        "trials_without_search": [row["trial_id"] for row in rows if row.get("search_skipped")],
        "best_trial": best["trial_id"],
        "best_holdout_score": best["score"],
        "ensemble_trials": clf.ensemble_trials_,
        "test_accuracy": round(accuracy, 4),
        "parameters": int(clf.model_.count_params()),
    }


def run_point(task, budget, seed, max_trials=10):
    """`one_fit` in a fresh process (each fit pays its own start, as a user's script does)."""
    arguments = f"{task!r}, {budget!r}, {seed!r}, {max_trials!r}"
    code = f"import json, anytime; print(json.dumps(anytime.one_fit({arguments})))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=os.path.dirname(os.path.abspath(__file__)),
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))},
    )
    if done.returncode:
        return {"budget": budget, "seed": seed, "error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _busy():
    while True:
        pass


@contextlib.contextmanager
def cpu_hog(processes):
    """``processes`` processes that each keep a core busy while the block runs (0: none)."""
    hogs = [multiprocessing.Process(target=_busy, daemon=True) for _ in range(processes)]
    for hog in hogs:
        hog.start()
    try:
        yield
    finally:
        for hog in hogs:
            hog.terminate()
            hog.join()


def run_autokeras(python, task, trials, seed, timeout):
    """AutoKeras's point (``trials`` trials, 10 epochs), or a note that it did not finish in ``timeout`` s."""
    try:
        done = subprocess.run(
            [python, AUTOKERAS_RUN, task, "--max-trials", str(trials), "--seed", str(seed)],
            capture_output=True, text=True, check=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"max_trials": trials, "seed": seed, "error": f"did not finish within {timeout} s"}
    return {"max_trials": trials, "seed": seed, **json.loads(done.stdout.strip().splitlines()[-1])}


def summary(points):
    """Per budget: accuracy mean and standard deviation over seeds, and the worst overshoot."""
    table = {}
    for budget in sorted({point["budget"] for point in points if "error" not in point}):
        here = [point for point in points if point["budget"] == budget and "error" not in point]
        accuracies = [point["test_accuracy"] for point in here]
        table[str(budget)] = {
            "seeds": len(here),
            "test_accuracy_mean": round(statistics.mean(accuracies), 4),
            "test_accuracy_sd": round(statistics.stdev(accuracies), 4) if len(accuracies) > 1 else None,
            "fit_seconds_max": max(point["fit_seconds"] for point in here),
            "all_within_target": all(point["within_target"] for point in here),
            "trials_mean": round(statistics.mean(point["completed"] for point in here), 1),
        }
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("task", choices=["digits", "digits:300", "mnist10k"])
    parser.add_argument("--budgets", default="30,60,120,240,480")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--tag", default="")
    parser.add_argument("--max-trials", type=int, default=10, help="the estimator's max_trials (default 10, its own)")
    parser.add_argument("--autokeras", help="python of AutoKeras's venv (../shared/tools/autokeras/setup.sh)")
    parser.add_argument("--autokeras-trials", default="1,3")
    parser.add_argument("--autokeras-timeout", type=int, default=900)
    parser.add_argument("--cpu-hog", type=int, default=0, help="processes keeping a core busy beside each fit")
    args = parser.parse_args()
    path = result_path("anytime", tagged_name(f"anytime_{args.task.replace(':', '_')}", args.tag))
    figures = {"benchmark": "anytime", "task": args.task, "points": [], "autokeras": []}
    if os.path.exists(path):
        with open(path) as file:
            figures = json.load(file)
    figures["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    done = {(point["budget"], point["seed"]) for point in figures["points"] if "error" not in point}

    def save():
        figures["summary"] = summary(figures["points"])
        with open(path, "w") as file:
            json.dump(figures, file, indent=1)

    for seed in [int(s) for s in args.seeds.split(",") if s]:
        for budget in [float(b) for b in args.budgets.split(",") if b]:
            if (budget, seed) in done:
                continue
            with cpu_hog(args.cpu_hog):
                point = run_point(args.task, budget, seed, args.max_trials)
            point["cpu_hog"] = args.cpu_hog
            figures["points"] = [p for p in figures["points"] if (p["budget"], p["seed"]) != (budget, seed)] + [point]
            print(json.dumps(point), flush=True)
            save()
    if args.autokeras and not os.path.isfile(AUTOKERAS_RUN):
        raise SystemExit(f"no AutoKeras runner at {AUTOKERAS_RUN}: run this from the repository next to ../shared")
    if args.autokeras:
        for trials in [int(t) for t in args.autokeras_trials.split(",")]:
            point = run_autokeras(args.autokeras, args.task, trials, 1, args.autokeras_timeout)
            figures["autokeras"] = [p for p in figures["autokeras"] if p["max_trials"] != trials] + [point]
            print(json.dumps(point), flush=True)
            save()
    save()
    print(json.dumps(figures["summary"], indent=1))


if __name__ == "__main__":
    sys.exit(main())
