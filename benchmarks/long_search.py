"""Benchmark: resident memory and seconds per trial over a long search (issue 18).

Fits `ImageClassifier(tuner=..., max_trials=N, seed=0)` on the first 600 of
scikit-learn's digits and records, when each trial ends (the line the tuner
logs then), the process's resident memory (``VmRSS``, not the peak), the
trial's own seconds (from ``result.json``) and the oracle's own time to
propose the next trial (``Oracle.create_trial``, timed around keras-tuner's
call). Prints a line per trial and a summary; writes JSON to
``benchmarks/results/long_search/long_search_<preset>_<tuner>_<N>.json``.

``--devices N`` gives the estimator ``devices=N`` (on a CPU machine, N
logical CPU devices: every trial runs under a ``MirroredStrategy``).
``--distributed`` starts a chief and one worker of a keras-tuner distributed
search on this machine (``KERASTUNER_*`` variables, a free local port, one
shared project folder); the worker runs the trials and each process writes its
own results (``..._chief.json``, ``..._worker.json``).

``--oracle-only`` measures the Bayesian oracle alone over autoarch's default
space for these digits: it proposes ``N`` trials, each given a random score
(nothing trains), and its seconds per proposal are recorded, so the oracle's
own cost at 100 trials is known without 100 trainings.

Presets: ``tiny`` (the issue's settings: 2 search epochs, 4 training epochs,
300 search samples), ``test`` (the end-to-end tests' smallest networks, a few
seconds of computing per trial and the rest tracing) and ``defaults``
(autoarch's own defaults for the data).

Targets (issue 18): resident memory after trial 100 at most 1.2x that after
trial 3; the median of the last ten trials' seconds within 1.2x of trials
3-12's.

Run from the repository root::

    python benchmarks/long_search.py [--trials 100] [--preset tiny] [--tuner random]
    python benchmarks/long_search.py --trials 30 --preset defaults --tuner bayesian
    python benchmarks/long_search.py --trials 100 --oracle-only
    python benchmarks/long_search.py --trials 20 --preset test --devices 2
    python benchmarks/long_search.py --trials 20 --preset test --distributed
"""

import argparse
import ctypes
import ctypes.util
import json
import logging
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time

from results_path import result_path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PRESETS = {
    "tiny": {"search_epochs": 2, "train_epochs": 4, "search_samples": 300},
    # The end-to-end tests' settings (tests/integration/conftest.py): a trial is mostly tracing.
    "test": {
        "init_channels": 4, "cells": 3, "nodes": 2, "search_epochs": 1, "search_samples": 200,
        "partial_channels": 1, "network_channels": 4, "network_cells": 3, "train_epochs": 2,
        "batch_size": 32, "random_crop": False,
    },
    "defaults": {},
}


def resident_mb():
    """The process's resident memory now, in MB (``VmRSS`` from ``/proc/self/status``)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def c_heap_mb():
    """glibc's heap now, in MB: ``{"heap_in_use_mb", "heap_free_mb"}`` (``mallinfo2``), or {} elsewhere.

    In use is what live allocations hold (TensorFlow's graphs and buffers
    among them); free is what the allocator keeps for later allocations. Taken
    right after the tuner's own garbage collection and ``malloc_trim``, it
    tells memory that something still uses from memory the allocator only keeps.
    """
    try:
        mallinfo2 = ctypes.CDLL(ctypes.util.find_library("c")).mallinfo2
    except (OSError, AttributeError, TypeError):
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {"heap_in_use_mb": round((info.uordblks + info.hblkhd) / 2**20, 1),
            "heap_free_mb": round(info.fordblks / 2**20, 1)}


class TrialEnds(logging.Handler):
    """Records memory and time whenever the tuner logs a trial's end line."""

    def __init__(self, started):
        super().__init__()
        self.started = started
        self.ends = []

    def emit(self, record):
        if record.getMessage().startswith("trial "):
            self.ends.append({"rss_mb": round(resident_mb(), 1), **c_heap_mb(),
                              "elapsed": round(time.monotonic() - self.started, 1)})
            print(f"  after trial {len(self.ends)}: {self.ends[-1]['rss_mb']:.0f} MB, {self.ends[-1]['elapsed']:.0f} s")
            sys.stdout.flush()


def time_oracle(oracle_class, seconds):
    """Wrap ``oracle_class.create_trial`` so each call's seconds are appended to ``seconds``."""
    original = oracle_class.create_trial

    def timed(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return original(self, *args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - started)

    oracle_class.create_trial = timed


def ratio(later, earlier):
    return round(later / earlier, 3) if earlier else None


def oracle_only(trials, seed, samples):
    """Seconds of each ``create_trial`` of autoarch's Bayesian oracle, given random scores."""
    import keras_tuner
    import numpy as np

    from autoarch.tuning import space as space_module
    from autoarch.tuning.oracles import make_oracle

    space = space_module.default_space(samples, (8, 8, 1))
    oracle = make_oracle("bayesian", keras_tuner.Objective("val_accuracy", "max"), trials, seed=seed)
    hp = keras_tuner.HyperParameters()
    space_module.declare(hp, space)
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as directory:
        oracle._set_project_dir(directory, "oracle_only")
        oracle.hyperparameters = hp
        seconds = []
        for _ in range(trials):
            started = time.perf_counter()
            trial = oracle.create_trial("tuner0")
            seconds.append(time.perf_counter() - started)
            if trial.status != "RUNNING":
                break
            oracle.update_trial(trial.trial_id, {"val_accuracy": float(rng.uniform(0.8, 1.0))})
            trial.status = "COMPLETED"
            oracle.end_trial(trial)
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    parser.add_argument("--tuner", default="random")
    parser.add_argument("--samples", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--oracle-only", action="store_true")
    parser.add_argument("--devices", type=int, default=None, help="the estimator's devices=")
    parser.add_argument("--distributed", action="store_true", help="a chief and one worker on this machine")
    parser.add_argument("--role", choices=("chief", "worker"), help=argparse.SUPPRESS)
    parser.add_argument("--directory", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.distributed:
        launch_distributed(args)
        return
    if args.oracle_only:
        seconds = oracle_only(args.trials, args.seed, args.samples)
        figures = {
            "benchmark": "long_search_oracle_only",
            "tuner": "bayesian",
            "trials": len(seconds),
            "median_seconds_first_10": round(statistics.median(seconds[:10]), 4),
            "median_seconds_last_10": round(statistics.median(seconds[-10:]), 4),
            "max_seconds": round(max(seconds), 4),
            "seconds": [round(s, 4) for s in seconds],
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        }
        write_results(figures, f"long_search_oracle_bayesian_{args.trials}.json")
        return

    if args.devices:
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):  # N logical CPU devices, before TensorFlow starts
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.devices)

    import keras_tuner
    import numpy as np
    from sklearn.datasets import load_digits

    import autoarch

    digits = load_digits()
    x, y = digits.images[: args.samples].astype(np.float32), digits.target[: args.samples]
    oracle_seconds = []
    time_oracle(keras_tuner.Oracle, oracle_seconds)
    started = time.monotonic()
    ends = TrialEnds(started)
    logging.getLogger("autoarch").addHandler(ends)
    before = resident_mb()
    with tempfile.TemporaryDirectory() as scratch:
        clf = autoarch.ImageClassifier(
            max_trials=args.trials,
            tuner=args.tuner,
            seed=args.seed,
            search_space=PRESETS[args.preset] or None,
            directory=args.directory or scratch,
            devices=args.devices,
            verbose=1,
        )
        clf.fit(x, y)
        fit_seconds = time.monotonic() - started
        rows = clf.results_
    after_fit = resident_mb()
    trials = [
        {
            "trial": position + 1,
            "status": row["status"],
            "seconds": row["seconds"],
            "oracle_seconds": round(oracle_seconds[position], 3) if position < len(oracle_seconds) else None,
            **ends.ends[position],
        }
        for position, row in enumerate(rows)
        if position < len(ends.ends)
    ]
    rss = [t["rss_mb"] for t in trials]
    seconds = [t["seconds"] for t in trials if t["seconds"] is not None]
    figures = {
        "benchmark": "long_search",
        "preset": args.preset,
        "search_space": PRESETS[args.preset],
        "tuner": args.tuner,
        "devices": args.devices,
        "role": args.role,
        "samples": args.samples,
        "seed": args.seed,
        "max_trials": args.trials,
        "completed": sum(t["status"] == "COMPLETED" for t in trials),
        "fit_seconds": round(fit_seconds, 1),
        "rss_before_fit_mb": round(before, 1),
        "rss_after_fit_mb": round(after_fit, 1),
        "rss_after_trial_3_mb": rss[2] if len(rss) >= 3 else None,
        "rss_after_last_trial_mb": rss[-1] if rss else None,
        "rss_ratio_last_to_3": ratio(rss[-1], rss[2]) if len(rss) >= 3 else None,
        "median_seconds_trials_3_12": statistics.median(seconds[2:12]) if len(seconds) >= 12 else None,
        "median_seconds_last_10": statistics.median(seconds[-10:]) if len(seconds) >= 10 else None,
        "median_oracle_seconds_first_10": statistics.median(oracle_seconds[:10]) if oracle_seconds else None,
        "median_oracle_seconds_last_10": statistics.median(oracle_seconds[-10:]) if oracle_seconds else None,
        "trials": trials,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": sys.version.split()[0],
    }
    if figures["median_seconds_trials_3_12"] and figures["median_seconds_last_10"]:
        figures["seconds_ratio_last_10_to_3_12"] = ratio(
            figures["median_seconds_last_10"], figures["median_seconds_trials_3_12"]
        )
    print(
        f"{len(trials)} trials in {fit_seconds:.0f} s; resident memory after trial 3 "
        f"{figures['rss_after_trial_3_mb']} MB, after the last {figures['rss_after_last_trial_mb']} MB "
        f"(x{figures['rss_ratio_last_to_3']}); trial seconds, median of 3-12 {figures['median_seconds_trials_3_12']}, "
        f"of the last ten {figures['median_seconds_last_10']}; oracle seconds per trial, first ten "
        f"{figures['median_oracle_seconds_first_10']}, last ten {figures['median_oracle_seconds_last_10']}"
    )
    suffix = (f"_devices{args.devices}" if args.devices else "") + (f"_{args.role}" if args.role else "")
    write_results(figures, f"long_search_{args.preset}_{args.tuner}_{args.trials}{suffix}.json")


def launch_distributed(args):
    """Run this benchmark as a chief and one worker process sharing one project folder."""
    import socket
    import subprocess

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with tempfile.TemporaryDirectory() as directory:
        command = [
            sys.executable, os.path.abspath(__file__), "--trials", str(args.trials), "--preset", args.preset,
            "--tuner", args.tuner, "--samples", str(args.samples), "--seed", str(args.seed),
            "--directory", directory,
        ] + (["--devices", str(args.devices)] if args.devices else [])
        environment = {**os.environ, "KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(port),
                       "AUTOARCH_CHIEF_TOKEN": secrets.token_urlsafe(24)}
        chief = subprocess.Popen(command + ["--role", "chief"], env={**environment, "KERASTUNER_TUNER_ID": "chief"})
        time.sleep(5)  # the chief serves the oracle before the worker asks it for trials
        worker = subprocess.Popen(
            command + ["--role", "worker"], env={**environment, "KERASTUNER_TUNER_ID": "worker0"}
        )
        codes = {"worker": worker.wait(), "chief": chief.wait()}
    if any(codes.values()):
        raise SystemExit(f"a process failed: exit codes {codes}")


def write_results(figures, name):
    """Write ``figures`` to ``benchmarks/results/long_search/<name>`` and print them, less the per-trial lists."""
    with open(result_path("long_search", name), "w") as file:
        json.dump(figures, file, indent=1)
    print(json.dumps({k: v for k, v in figures.items() if k not in ("trials", "seconds") or isinstance(v, int)}))


if __name__ == "__main__":
    main()
