"""Benchmark of the full DARTS search step: images per second and peak memory.

What is measured
----------------
One call of ``SearchNetwork.train_step`` is one DARTS search step: the
architecture update on a validation batch (first or second order), then the
weight update on a training batch. The script builds
``SearchNetwork(input_shape, 10, channels, layers, partial_channels=K, seed=0)``,
compiles it with ``compile(second_order=..., jit_compile=...)`` (DARTS paper
optimizers), and drives the compiled train function (``model.train_function``,
the function ``fit`` calls once per step) with an iterator over
``autoarch.data.paired_search_dataset`` built from random data
(``np.random.default_rng(0)``, 10 classes).

* The first call traces the step (and compiles it with XLA when ``--xla on``);
  its wall time is reported as ``first_call_seconds`` and, less one timed
  step, as ``trace_seconds``. It is never part of the timing.
* ``--warmup-steps`` further steps run untimed (allocator and thread-pool
  warm-up), then ``--steps`` steps are timed. After each step the returned
  metrics (which depend on both updates) are converted to numpy, so every timed
  step has finished executing before the clock is read. The script also checks
  that the architecture and the weights really changed during the timed steps
  (``arch_updated``, ``weights_updated``).
* ``images_per_second`` = ``batch_size * steps / timed seconds``: it counts
  the *training-batch* images of each step only. The validation batch that the
  architecture step consumes is not counted, as in the reference DARTS figures
  below. ``seconds_per_step`` is the mean timed step; ``min``/``max`` are in
  ``step_seconds``.
* ``peak_rss_mb`` is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (KiB on
  Linux) of the process that ran that configuration alone: every configuration
  runs in its own subprocess (this script re-invoked with ``--single``), so a
  crash, an out-of-memory kill or a timeout (``--timeout``) of one
  configuration is a failed row, not the end of the benchmark. The parent
  also records the child's peak from ``os.wait4`` (``child_peak_rss_mb``),
  which is available for failed rows too. ``baseline_rss_mb`` is the resident
  memory after building and compiling the model, before the first step;
  ``peak_rss_after_first_call_mb`` the peak when the traced first call has
  returned (if it equals ``peak_rss_mb``, the peak was set by tracing or the
  first step, not by the steady-state steps); ``rss_after_steps_mb`` the
  resident memory at the end.

How to run
----------
From the repository root (TensorFlow uses every core it is given)::

    python benchmarks/search_step.py --preset reference-large
    python benchmarks/search_step.py --preset reference-small --orders first --xla off,on
    python benchmarks/search_step.py --preset quick --partial-channels 1,2   # smoke test

Each configuration is the product of ``--orders`` x ``--partial-channels`` x
``--xla``; K must divide ``--channels``. Presets set the network and image
size; explicit ``--channels`` etc. override them:

* ``reference-large``: 16 channels, 8 cells, batch 64, 32x32x3 (the default);
* ``reference-small``: 8 channels, 5 cells, batch 64, 28x28x3;
* ``quick``: 4 channels, 3 cells, batch 16, 16x16x3 (smoke tests only).

The script prints one JSON line per run as it finishes (keys ``config``,
``images_per_second``, ``peak_rss_mb``, ``seconds_per_step``,
``trace_seconds``, ``steps``, ``status``, ...), then a table, and writes all
runs plus machine information (CPU count, TensorFlow and Keras versions,
platform) to ``--output`` (default ``benchmarks/results/search_step/search_step.json``),
rewritten after every run.

Reference figures
-----------------
The PyTorch reference DARTS first-order search step (K=1, no XLA), on a
2-core CPU machine of this kind, measured:

* 16 channels, 8 cells, batch 64, 32x32x3 (``reference-large``):
  3.0 images/s, 9.4 GB peak resident memory;
* 8 channels, 5 cells, batch 64, 28x28x3 (``reference-small``):
  12 images/s, 2.5 GB peak resident memory.

This script is a manual benchmark; the test suite never runs it.
"""

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results_path import result_path

# Before anything can import TensorFlow, here and in every child.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NUM_CLASSES = 10
RESULT_MARKER = "SEARCH_STEP_RESULT "

PRESETS = {
    "reference-large": {
        "channels": 16,
        "layers": 8,
        "batch_size": 64,
        "image_size": 32,
        "image_channels": 3,
    },
    "reference-small": {
        "channels": 8,
        "layers": 5,
        "batch_size": 64,
        "image_size": 28,
        "image_channels": 3,
    },
    "quick": {
        "channels": 4,
        "layers": 3,
        "batch_size": 16,
        "image_size": 16,
        "image_channels": 3,
    },
}
DEFAULT_SHAPE = PRESETS["reference-large"]

# PyTorch reference DARTS, first order, K=1, 2-core CPU.
REFERENCES = {
    "reference-large": {"images_per_second": 3.0, "peak_rss_mb": 9.4 * 1024},
    "reference-small": {"images_per_second": 12.0, "peak_rss_mb": 2.5 * 1024},
}


# --------------------------------------------------------------------------- child


def _rss_now_mb():
    """Current resident memory in MB (Linux /proc), or None."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def _peak_rss_mb():
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # KiB on Linux, bytes on macOS.
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def run_single(config):
    """Run one configuration in this process and return its result dict."""
    import numpy as np

    import keras  # noqa: F401  (imports TensorFlow with the log level set)
    from autoarch.darts import SearchNetwork
    from autoarch.data import paired_search_dataset
    from autoarch.runtime import configure_cpu_threads

    if config.get("threads", "tensorflow") == "autoarch":
        configure_cpu_threads()

    batch = config["batch_size"]
    steps, warmup = config["steps"], config["warmup_steps"]
    shape = (config["image_size"], config["image_size"], config["image_channels"])

    # One batch per half for the traced call, then warm-up and timed steps.
    samples = (1 + warmup + steps) * batch
    rng = np.random.default_rng(0)
    x_train = rng.random((samples,) + shape, dtype=np.float32)
    x_val = rng.random((samples,) + shape, dtype=np.float32)
    y_train = rng.integers(0, NUM_CLASSES, samples).astype(np.int32)
    y_val = rng.integers(0, NUM_CLASSES, samples).astype(np.int32)
    dataset = paired_search_dataset(x_train, y_train, x_val, y_val, batch_size=batch, seed=0)
    del x_train, x_val

    model = SearchNetwork(
        shape,
        NUM_CLASSES,
        config["channels"],
        config["layers"],
        partial_channels=config["partial_channels"],
        seed=0,
    )
    model.compile(second_order=config["order"] == "second", jit_compile=config["xla"])
    model.make_train_function()
    train_function = model.train_function
    iterator = iter(dataset)
    baseline_rss = _rss_now_mb()

    def step():
        logs = train_function(iterator)
        # Synchronise: the metrics depend on both updates of the step.
        return {name: float(np.asarray(value)) for name, value in logs.items()}

    start = time.perf_counter()
    step()
    first_call = time.perf_counter() - start
    peak_after_first_call = _peak_rss_mb()

    for _ in range(warmup):
        step()

    arch_before = [np.array(v) for v in model.arch_variables]
    weights_before = [np.array(v) for v in model.weight_variables]
    step_seconds = []
    start = time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        logs = step()
        step_seconds.append(time.perf_counter() - t0)
    timed = time.perf_counter() - start

    arch_updated = any(
        not np.array_equal(b, np.array(v)) for b, v in zip(arch_before, model.arch_variables)
    )
    weights_updated = any(
        not np.array_equal(b, np.array(v)) for b, v in zip(weights_before, model.weight_variables)
    )
    seconds_per_step = timed / steps
    return {
        "images_per_second": batch * steps / timed,
        "peak_rss_mb": _peak_rss_mb(),
        "seconds_per_step": seconds_per_step,
        "trace_seconds": max(first_call - seconds_per_step, 0.0),
        "first_call_seconds": first_call,
        "timed_seconds": timed,
        "step_seconds": {
            "min": min(step_seconds),
            "max": max(step_seconds),
            "all": step_seconds,
        },
        "baseline_rss_mb": baseline_rss,
        "peak_rss_after_first_call_mb": peak_after_first_call,
        "rss_after_steps_mb": _rss_now_mb(),
        "arch_updated": arch_updated,
        "weights_updated": weights_updated,
        "final_logs": logs,
        "parameters": {
            "weights": int(sum(np.prod(v.shape) for v in model.weight_variables)),
            "architecture": int(sum(np.prod(v.shape) for v in model.arch_variables)),
        },
    }


# --------------------------------------------------------------------------- parent


def _csv(kind, choices=None):
    def parse(text):
        values = [kind(item.strip()) for item in text.split(",") if item.strip()]
        if not values:
            raise argparse.ArgumentTypeError("expected a comma-separated list")
        if choices is not None:
            bad = [v for v in values if v not in choices]
            if bad:
                raise argparse.ArgumentTypeError(f"{bad} not in {sorted(choices)}")
        return values

    return parse


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Images per second and peak memory of the DARTS search step.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="network and image size (explicit flags override it); "
        "without one: reference-large",
    )
    shape_help = " (default: from --preset, else reference-large: {})"
    parser.add_argument("--channels", type=int, help="init channels" + shape_help.format(16))
    parser.add_argument("--layers", type=int, help="cells" + shape_help.format(8))
    parser.add_argument("--batch-size", type=int, help="per half" + shape_help.format(64))
    parser.add_argument("--image-size", type=int, help="height = width" + shape_help.format(32))
    parser.add_argument("--image-channels", type=int, help="image channels" + shape_help.format(3))
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument(
        "--warmup-steps", type=int, default=1, help="untimed steps after the traced call"
    )
    parser.add_argument(
        "--orders",
        type=_csv(str, {"first", "second"}),
        default=["first", "second"],
        help="architecture gradient orders, comma-separated",
    )
    parser.add_argument(
        "--partial-channels",
        type=_csv(int),
        default=[1, 4],
        help="PC-DARTS K values, comma-separated (each must divide --channels)",
    )
    parser.add_argument(
        "--xla",
        type=_csv(str, {"off", "on"}),
        default=["off", "on"],
        help="jit_compile settings, comma-separated",
    )
    parser.add_argument(
        "--threads",
        type=_csv(str, {"autoarch", "tensorflow"}),
        default=["autoarch"],
        help="CPU threading: 'autoarch' (autoarch.runtime.configure_cpu_threads: one core "
        "per op, ops side by side) or 'tensorflow' (TensorFlow's default)",
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds per configuration"
    )
    parser.add_argument("--output", type=Path, help="JSON results file (default: results/search_step/search_step.json)")
    parser.add_argument("--single", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.single is not None:
        return args
    if args.output is None:
        args.output = Path(result_path("search_step", "search_step.json"))

    preset = PRESETS[args.preset] if args.preset else DEFAULT_SHAPE
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    for key in ("channels", "layers", "batch_size", "image_size", "image_channels", "steps"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')} must be >= 1")
    if args.warmup_steps < 0:
        parser.error("--warmup-steps must be >= 0")
    if any(k < 1 for k in args.partial_channels):
        parser.error("--partial-channels must be >= 1")
    return args


def _configs(args):
    for order, k, xla, threads in itertools.product(
        args.orders, args.partial_channels, args.xla, args.threads
    ):
        yield {
            "name": f"{order} K={k} xla={xla} threads={threads}",
            "threads": threads,
            "preset": args.preset,
            "order": order,
            "partial_channels": k,
            "xla": xla == "on",
            "channels": args.channels,
            "layers": args.layers,
            "batch_size": args.batch_size,
            "image_size": args.image_size,
            "image_channels": args.image_channels,
            "steps": args.steps,
            "warmup_steps": args.warmup_steps,
        }


def _tail(path, lines=25):
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def run_child(config, timeout):
    """Run one configuration in a subprocess; always returns a row."""
    row = {"config": config, "steps": config["steps"]}
    if config["channels"] % config["partial_channels"]:
        row.update(
            status="skipped",
            error=f"partial_channels {config['partial_channels']} does not divide "
            f"channels {config['channels']}",
        )
        return row

    command = [sys.executable, os.path.abspath(__file__), "--single", json.dumps(config)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    with tempfile.TemporaryDirectory(prefix="search_step_") as tmp:
        out_path, err_path = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            start = time.monotonic()
            process = subprocess.Popen(command, stdout=out, stderr=err, env=env)
            timed_out = False
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() - start > timeout:
                    timed_out = True
                    process.kill()
                    pid, status, usage = os.wait4(process.pid, 0)
                    break
                time.sleep(0.2)
            process.returncode = os.waitstatus_to_exitcode(status)
        row["wall_seconds"] = time.monotonic() - start
        row["child_peak_rss_mb"] = (
            usage.ru_maxrss / 2**20 if sys.platform == "darwin" else usage.ru_maxrss / 1024
        )
        result = None
        for line in Path(out_path).read_text(errors="replace").splitlines():
            if line.startswith(RESULT_MARKER):
                result = json.loads(line[len(RESULT_MARKER) :])
        if timed_out:
            row.update(status="timeout", error=f"killed after {timeout:g} s")
        elif process.returncode != 0 or result is None:
            code = process.returncode
            reason = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            row.update(status="failed", error=f"{reason}\n{_tail(err_path)}".strip())
        else:
            row.update(status="ok", **result)
    row.setdefault("images_per_second", None)
    row.setdefault("peak_rss_mb", None)
    return row


def _version(distribution):
    try:
        from importlib.metadata import version

        return version(distribution)
    except Exception:  # noqa: BLE001
        return None


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_total_mb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def machine_info():
    """Machine description without importing TensorFlow in the parent."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = None
    return {
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable,
        "cpu_model": _cpu_model(),
        "memory_total_mb": _memory_total_mb(),
        "tensorflow": _version("tensorflow") or _version("tensorflow-cpu"),
        "keras": _version("keras"),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def format_table(rows):
    header = ("config", "status", "img/s", "s/step", "trace s", "peak RSS MB", "vs ref img/s")
    lines = []
    for row in rows:
        config = row["config"]
        reference = REFERENCES.get(config.get("preset"))
        ratio = None
        if reference and row.get("images_per_second"):
            ratio = row["images_per_second"] / reference["images_per_second"]
        lines.append(
            (
                config["name"],
                row["status"],
                _fmt(row.get("images_per_second"), ".2f"),
                _fmt(row.get("seconds_per_step"), ".3f"),
                _fmt(row.get("trace_seconds"), ".1f"),
                _fmt(row.get("peak_rss_mb") or row.get("child_peak_rss_mb"), ".0f"),
                "-" if ratio is None else f"{ratio:.2f}x",
            )
        )
    widths = [max(len(str(r[i])) for r in [header, *lines]) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths))]
    out.append("  ".join("-" * w for w in widths))
    for r in lines:
        out.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))
    return "\n".join(out)


def main(argv=None):
    args = parse_args(argv)
    if args.single is not None:
        result = run_single(json.loads(args.single))
        print(RESULT_MARKER + json.dumps(result), flush=True)
        return 0

    machine = machine_info()
    shape = (
        f"{args.channels} channels, {args.layers} cells, batch {args.batch_size}, "
        f"{args.image_size}x{args.image_size}x{args.image_channels}"
    )
    print(
        f"DARTS search step: {shape}; {args.warmup_steps} warm-up + {args.steps} timed steps; "
        f"{machine['cpu_count']} CPUs, TensorFlow {machine['tensorflow']}, "
        f"Keras {machine['keras']}",
        file=sys.stderr,
        flush=True,
    )
    rows = []
    report = {"machine": machine, "runs": rows}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    for config in _configs(args):
        print(f"running {config['name']} ...", file=sys.stderr, flush=True)
        row = run_child(config, args.timeout)
        rows.append(row)
        print(json.dumps(row), flush=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n")

    print()
    print(f"DARTS search step, {shape} (images/s counts training-batch images only)")
    print(format_table(rows))
    reference = REFERENCES.get(args.preset)
    if reference:
        print(
            f"reference (PyTorch DARTS, first order, 2 cores): "
            f"{reference['images_per_second']:g} images/s, "
            f"{reference['peak_rss_mb'] / 1024:g} GB peak"
        )
    for row in rows:
        if row["status"] != "ok":
            print(f"\n{row['config']['name']}: {row['status']}: {row['error']}")
    print(f"\nwrote {args.output}")
    return 0 if all(row["status"] in ("ok", "skipped") for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
