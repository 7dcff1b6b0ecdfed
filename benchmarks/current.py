"""Build ``benchmarks/results/current/<script>.json``: the figures the docs quote now.

Each benchmark's record holds the headline figures that ``docs/benchmarks.md``
quotes, copied from the result files the scripts wrote (never typed in), each
with the file it comes from, the key inside that file, and what that file says
about its machine (``machine``, ``cpu_extensions``) and code (the autoarch git
commit, where the script recorded one). Older result files record less (a bare
``"x86_64, 2 cores"``, no commit), so each record also carries, under
``as_documented``, the machine and code the docs state for those runs.

``SOURCES`` below is the one place that says which figures are current: when a
benchmark is rerun and the docs quote the new file, change its entry and run::

    python benchmarks/current.py

It reads JSON only (nothing trains) and rewrites every record.
"""

import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from results_path import RESULTS, result_path  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

AVX2 = "2-core AMD EPYC with AVX2 only (TensorFlow runs Eigen's kernels)"
AVX512_EPYC = "2-core AMD EPYC with AVX-512 (VNNI, BF16: oneDNN on)"
XEON = "2-core Intel Xeon with AVX-512"
SUITE_TASKS = ("faces", "digits", "mnist3k", "photos", "textures", "scenes", "shapes", "gratings", "scratches")


def figure(name, files, key, combine=None):
    """One quoted figure: ``key`` (a tuple of dict keys and list indices) read from each of ``files``.

    ``files`` are relative to ``benchmarks/results/``. With several files,
    ``combine`` says what the docs quote: ``"mean"``, ``"sum"`` or ``"list"``.
    """
    files = [files] if isinstance(files, str) else list(files)
    if len(files) > 1 and combine not in ("mean", "sum", "list"):
        raise ValueError(f"{name}: several files need combine='mean', 'sum' or 'list'")
    return {"name": name, "files": files, "key": tuple(key), "combine": combine}


def _suite_figures():
    figures = []
    for task in SUITE_TASKS:
        path = f"suite/suite_{task}.json"
        for side in ("autoarch", "autokeras", "autoarch_equal_time"):
            figures.append(figure(f"{task}: {side} test accuracy, mean over seeds 0-2", path,
                                  ("summary", f"{side}_test_acc_mean")))
            figures.append(figure(f"{task}: {side} test accuracy, sd over seeds 0-2", path,
                                  ("summary", f"{side}_test_acc_sd")))
        for side in ("autoarch", "autokeras"):
            figures.append(figure(f"{task}: {side} fit seconds, mean", path, ("summary", f"{side}_fit_s_mean")))
    return figures


def _seeds(pattern, seeds):
    """File names of seeds ``seeds`` where seed 0's has no ``_seed`` part: ``pattern`` holds ``{seed}``."""
    return [pattern.format(seed=f"_seed{s}" if s else "") for s in seeds]


def _anytime_figures(task):
    path = f"anytime/anytime_{task}_baseline_first.json"
    return [
        figure(f"{task}, {budget:g} s budget: test accuracy {stat}, seeds 0-2", path,
               ("summary", f"{float(budget)}", f"test_accuracy_{stat}"))
        for budget in (30, 60, 120, 240, 480)
        for stat in ("mean", "sd")
    ] + [figure(f"{task}: every fit within budget + 2% + 1 s", path, ("summary", "480.0", "all_within_target"))]


_FIXED_COSTS_RUNS = {  # the fixed_costs.py runs the docs quote, by seed
    "mnist10k": _seeds("fixed_costs/fixed_costs_mnist10k{seed}_precise_bn.json", (0, 1, 2)),
    "side_by_side": _seeds("fixed_costs/fixed_costs_mnist10k{seed}_avx512_session_start_autokeras.json", (0, 1, 2)),
    "epochs2": _seeds("fixed_costs/fixed_costs_mnist10k_400{seed}_epochs2_wide.json", range(5)),
    "limit10": _seeds("fixed_costs/fixed_costs_digits_300{seed}_limit10.json", (0, 1, 2)),
}

SOURCES = {
    "suite": {
        "as_documented": {"machine": AVX2, "code": "a247cde", "date": "December 2026"},
        "figures": _suite_figures(),
    },
    "fixed_costs": {
        "as_documented": {
            "machine": f"{AVX2} (precise_bn, epochs2_wide, limit10); {AVX512_EPYC} (avx512_session_start_autokeras)",
            "code": "precise_bn and limit10: a247cde and later; epochs2_wide: f863d6a; "
                    "avx512_session_start_autokeras: dd3ab26",
            "date": "December 2026",
        },
        "figures": [
            figure("MNIST-10k at defaults: test accuracy per seed 0-2",
                   _FIXED_COSTS_RUNS["mnist10k"],
                   ("test_accuracy",), "list"),
            figure("MNIST-10k at defaults: test accuracy, mean of seeds 0-2",
                   _FIXED_COSTS_RUNS["mnist10k"],
                   ("test_accuracy",), "mean"),
            figure("MNIST-10k at defaults: fit seconds per seed 0-2",
                   _FIXED_COSTS_RUNS["mnist10k"],
                   ("fit_seconds",), "list"),
            figure("MNIST-10k at defaults, seed 0: peak resident MB before the fit-image check",
                   "fixed_costs/fixed_costs_mnist10k_precise_bn_memory.json", ("peak_rss_mb",)),
            figure("MNIST-10k against AutoKeras, side by side: autoarch fit seconds, sum of seeds 0-2",
                   _FIXED_COSTS_RUNS["side_by_side"],
                   ("fit_seconds",), "sum"),
            figure("MNIST-10k against AutoKeras, side by side: AutoKeras fit seconds, sum of seeds 0-2",
                   _FIXED_COSTS_RUNS["side_by_side"],
                   ("autokeras", "fit_s"), "sum"),
            figure("MNIST-10k against AutoKeras, side by side: autoarch test accuracy per seed 0-2",
                   _FIXED_COSTS_RUNS["side_by_side"],
                   ("test_accuracy",), "list"),
            figure("MNIST-10k against AutoKeras, side by side: AutoKeras test accuracy per seed 0-2",
                   _FIXED_COSTS_RUNS["side_by_side"],
                   ("autokeras", "test_acc"), "list"),
            figure("fit(epochs=2) on 400 MNIST images: test accuracy per seed 0-4",
                   _FIXED_COSTS_RUNS["epochs2"],
                   ("test_accuracy",), "list"),
            figure("fit(epochs=2) on 400 MNIST images: test accuracy, mean of seeds 0-4",
                   _FIXED_COSTS_RUNS["epochs2"],
                   ("test_accuracy",), "mean"),
            figure("300 digits, time_limit=10: test accuracy per seed 0-2",
                   _FIXED_COSTS_RUNS["limit10"],
                   ("test_accuracy",), "list"),
            figure("300 digits, time_limit=10: fit seconds per seed 0-2",
                   _FIXED_COSTS_RUNS["limit10"],
                   ("fit_seconds",), "list"),
        ],
    },
    "search_step": {
        "as_documented": {"machine": "2-core AMD EPYC, 24 GiB (its vector extensions were not recorded)",
                          "code": "not recorded", "date": "2026",
                          "reference": "PyTorch DARTS, first order: 3.0 images/s and 9.4 GB (large), "
                                       "12 images/s and 2.5 GB (small)"},
        "figures": [
            figure("large, first order, K=1: images/s", "search_step/search_step_large_first.json",
                   ("runs", 0, "images_per_second")),
            figure("large, first order, K=1: peak RSS MB", "search_step/search_step_large_first.json",
                   ("runs", 0, "peak_rss_mb")),
            figure("large, first order, K=4: images/s", "search_step/search_step_large_first_k4.json",
                   ("runs", 0, "images_per_second")),
            figure("small, first order, K=1 (final code): images/s",
                   "search_step/search_step_small_first_k1_final.json", ("runs", 0, "images_per_second")),
            figure("small, first order, K=1 (final code): peak RSS MB",
                   "search_step/search_step_small_first_k1_final.json", ("runs", 0, "peak_rss_mb")),
        ],
    },
    "latency": {
        "as_documented": {"machine": "2-core AMD EPYC (vector extensions not recorded)", "code": "a094ed6",
                          "date": "1-2 December 2026"},
        "figures": [
            figure(f"seed {seed}, {label}: {what}", "latency/latency_mnist10k_sizes_budget_sizes.json",
                   ("points", 3 * seed + offset, key))
            for seed in (0, 1, 2)
            for offset, label in ((0, "no budget"), (1, "half the latency"))
            for what, key in (("test accuracy", "test_accuracy"), ("measured ms", "latency_ms"))
        ],
    },
    "anytime": {
        "as_documented": {"machine": XEON, "code": "2bd1636 and later, before refit=False (the final fit was "
                                                   "refit='continue')", "date": "1 December 2026"},
        "figures": _anytime_figures("digits") + _anytime_figures("mnist10k"),
    },
    "ablation": {
        "as_documented": {"machine": f"precise_bn runs and digits_colour: {AVX2} / AMD EPYC; mnist10k baseline: "
                                     f"{XEON}",
                          "code": "digits precise_bn: ce0f27a; digits_colour precise_bn: f863d6a; "
                                  "mnist10k precise_bn: d024292; mnist10k perturbation: c7700e4",
                          "date": "2026"},
        "figures": [
            figure(f"{task}: {variant} test accuracy {stat}", path, ("summary", variant, f"test_accuracy_{stat}"))
            for task, path, variants in (
                ("digits, seeds 0-4", "ablation/ablation_digits_precise_bn.json",
                 ("searched", "random", "random_equal_time")),
                ("MNIST-10k, seeds 0-2", "ablation/ablation_mnist10k_baseline.json",
                 ("searched", "random", "random_equal_time", "darts_v2")),
                ("coloured digits, seeds 0-2", "ablation/ablation_digits_colour_baseline.json",
                 ("searched", "random", "random_equal_time", "darts_v2")),
                ("MNIST-10k after the batch-norm fix, seeds 0-2", "ablation/ablation_mnist10k_precise_bn.json",
                 ("searched", "random", "random_equal_time")),
                ("coloured digits after the batch-norm fix, seeds 0-4",
                 "ablation/ablation_digits_colour_precise_bn.json", ("searched", "random", "random_equal_time")),
            )
            for variant in variants
            for stat in ("mean", "std")
        ],
    },
    "refit": {
        "as_documented": {"machine": "2-core AMD EPYC, 24 GiB", "code": "f8c79ce", "date": "1 December 2026"},
        "figures": [
            figure(f"{task}: {mode} test accuracy, mean of seeds 0-4", f"refit/refit_{task}.json",
                   ("summary", mode, "test_accuracy_mean"))
            for task in ("digits", "mnist10k") for mode in ("keep", "continue")
        ] + [
            figure("digits: scratch test accuracy, mean of seeds 0-4", "refit/refit_digits.json",
                   ("summary", "scratch", "test_accuracy_mean")),
        ],
    },
    "mnist": {
        "as_documented": {"machine": "2-core AMD EPYC", "code": "2026-11-28/29 (not recorded)",
                          "date": "November 2026"},
        "figures": [figure(f"max_trials=1, seed 0: {key}", "mnist/mnist.json", (key,))
                    for key in ("test_accuracy", "fit_seconds", "parameters", "peak_rss_mb")],
    },
    "digits": {
        "as_documented": {"machine": "2-core AMD EPYC", "code": "2026-11-28/29 (not recorded)",
                          "date": "November 2026"},
        "figures": [figure(f"max_trials=3, seed 0: {key}", "digits/digits.json", (key,))
                    for key in ("test_accuracy", "fit_seconds", "parameters", "peak_rss_mb")],
    },
    "long_search": {
        "as_documented": {"machine": XEON, "code": "a8a7c59 (tiny), later for test", "date": "2026"},
        "figures": [
            figure(f"{run}: {key}", f"long_search/long_search_{run}.json", (key,))
            for run in ("test_random_100", "tiny_random_100", "defaults_bayesian_30")
            for key in ("rss_ratio_last_to_3", "seconds_ratio_last_10_to_3_12")
        ],
    },
}


def _read(path, key):
    """``(the value at key, the whole file)`` of one result file."""
    with open(path) as file:
        data = json.load(file)
    value = data
    for part in key:
        value = value[part]
    return value, data


def _machine(data):
    """The machine as the result file records it: its string, or the dict some scripts write."""
    machine = data.get("machine") if isinstance(data, dict) else None
    if isinstance(machine, dict):
        name = machine.get("cpu_model") or machine.get("processor") or "?"
        return f"{name}, {machine.get('cpu_count') or machine.get('cpus')} cores"
    return machine


def _source(relative, data):
    source = {"file": os.path.relpath(os.path.join(RESULTS, relative), ROOT), "machine": _machine(data)}
    if isinstance(data, dict):
        if data.get("cpu_extensions"):
            source["cpu_extensions"] = data["cpu_extensions"]
        if isinstance(data.get("autoarch_git"), dict):
            source["commit"] = data["autoarch_git"].get("commit")
    return source


def build(script, spec):
    """The record of one benchmark script: its documented context and every figure with its sources."""
    figures = []
    for entry in spec["figures"]:
        values, sources = [], []
        for relative in entry["files"]:
            value, data = _read(os.path.join(RESULTS, relative), entry["key"])
            values.append(value)
            sources.append(_source(relative, data))
        combine = entry["combine"]
        if combine == "mean":
            value = round(statistics.mean(values), 6)
        elif combine == "sum":
            value = round(sum(values), 6)
        elif combine == "list":
            value = values
        else:
            value = values[0]
        figures.append({"name": entry["name"], "value": value, "key": list(entry["key"]),
                        **({"combine": combine} if combine else {}), "sources": sources})
    return {"benchmark": script, "built_by": "benchmarks/current.py", "quoted_in": "docs/benchmarks.md",
            "as_documented": spec["as_documented"], "figures": figures}


def main():
    for script, spec in SOURCES.items():
        path = result_path("current", f"{script}.json")
        with open(path, "w") as file:
            json.dump(build(script, spec), file, indent=1)
            file.write("\n")
        print(f"{os.path.relpath(path, ROOT)}: {len(spec['figures'])} figures")


if __name__ == "__main__":
    main()
