"""Benchmark of several devices per trial: images per second on 1 versus N devices.

What is measured
----------------
Two training steps, each on 1 device and on N devices under the
``tf.distribute.MirroredStrategy`` that ``ImageClassifier(devices=N)`` uses
(`autoarch.runtime.device_strategy`):

* ``search``: one first-order DARTS search step of
  ``SearchNetwork(shape, 10, channels, layers, nodes=nodes)`` on paired batches
  (`autoarch.data.paired_search_dataset`), built and compiled inside the
  strategy scope;
* ``network``: one training step (Adam, sparse cross-entropy, accuracy) of the
  discrete network ``build_network(DARTS_V2, shape, 10, network_channels,
  network_layers)``, built and compiled inside the strategy scope.

Each (stage, device count) runs in its own subprocess (this script re-invoked
with ``--single``), so the logical CPU devices of an N-device run are
configured before TensorFlow starts and never affect the 1-device run. The
data is random (``np.random.default_rng(0)``); ``--batch-size`` is the global
batch, split evenly over the devices. The compiled train function
(``model.train_function``, what ``fit`` calls once per step) is driven with
an iterator over the (distributed) dataset. The first step runs through
``fit`` (which builds the compiled metrics inside the strategy scope, then
traces the step): ``first_call_seconds``, never timed. ``--warmup-steps`` more
steps run untimed (``warmup_seconds``), then ``--steps`` steps are timed; after
each the returned metrics are converted to numpy, so every timed step has
finished.
``images_per_second = batch_size * steps / timed seconds`` (training-batch
images; the search's validation batch is not counted, as in
``benchmarks/search_step.py``), and ``speedup`` is that figure over the same
stage's 1-device figure.

Devices: all GPUs when TensorFlow sees any (``--devices 1,<gpus>`` by default),
else logical CPU devices (``--devices 1,2``). Logical CPU devices share the
same cores, so on CPU the figure shows the cost of the strategy (split
batches, the all-reduces of gradients and of every batch norm's statistics),
not a speedup. CPU runs use `autoarch.runtime.configure_cpu_threads`.

How to run
----------
From the repository root::

    python benchmarks/devices.py                         # defaults, all GPUs or 2 CPU devices
    python benchmarks/devices.py --channels 4 --layers 3 --nodes 2 --batch-size 32 \\
        --image-size 16 --network-channels 8 --network-layers 5 --steps 5   # small CPU run

It prints one JSON line per run as it finishes, then a table, and writes all
runs plus machine information to ``--output`` (default
``benchmarks/results/devices/devices_<cpu|gpu>.json``). The test suite never runs it.
"""

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from results_path import result_path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NUM_CLASSES = 10
RESULT_MARKER = "DEVICES_RESULT "
STAGES = ("search", "network")


# --------------------------------------------------------------------------- child


def run_single(config):
    """Run one (stage, device count) in this process and return its result dict."""
    import tensorflow as tf

    devices = config["devices"]
    if config["kind"] == "cpu":
        if devices > 1:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
        from autoarch.runtime import configure_cpu_threads

        configure_cpu_threads()

    import numpy as np

    from autoarch.darts import DARTS_V2, SearchNetwork, build_network
    from autoarch.data import paired_search_dataset
    from autoarch.runtime import device_strategy

    strategy = device_strategy(devices)
    batch, steps, warmup = config["batch_size"], config["steps"], config["warmup_steps"]
    shape = (config["image_size"], config["image_size"], config["image_channels"])
    samples = (1 + warmup + steps) * batch
    rng = np.random.default_rng(0)
    x = rng.random((samples,) + shape, dtype=np.float32)
    y = rng.integers(0, NUM_CLASSES, samples).astype(np.int32)

    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        if config["stage"] == "search":
            x_val = rng.random((samples,) + shape, dtype=np.float32)
            dataset = paired_search_dataset(x, y, x_val, y, batch_size=batch, seed=0)
            model = SearchNetwork(
                shape, NUM_CLASSES, config["channels"], config["layers"], nodes=config["nodes"], seed=0
            )
            model.compile()
        else:
            dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch).prefetch(2)
            model = build_network(
                DARTS_V2, shape, NUM_CLASSES, config["network_channels"], config["network_layers"], seed=0
            )
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    # The first step through fit, which builds the compiled metrics in the
    # strategy's scope before tracing the step.
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=1, shuffle=False, verbose=0)
    first_call = time.perf_counter() - start
    if strategy is not None:
        dataset = strategy.experimental_distribute_dataset(dataset)
    train_function, iterator = model.train_function, iter(dataset)

    def step():
        return {name: float(np.asarray(value)) for name, value in train_function(iterator).items()}

    start = time.perf_counter()
    for _ in range(warmup):
        step()
    warmup_seconds = time.perf_counter() - start
    step_seconds = []
    for _ in range(steps):
        began = time.perf_counter()
        logs = step()
        step_seconds.append(time.perf_counter() - began)
    timed = sum(step_seconds)
    return {
        "images_per_second": batch * steps / timed,
        "seconds_per_step": timed / steps,
        "first_call_seconds": first_call,
        "warmup_seconds": warmup_seconds,
        "step_seconds": step_seconds,
        "replicas": 1 if strategy is None else strategy.num_replicas_in_sync,
        "final_logs": logs,
    }


# --------------------------------------------------------------------------- parent


def _count_gpus():
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Images per second of the search and training steps on 1 versus N devices.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--devices", help="device counts, comma-separated (default: 1,<GPUs> or 1,2 on CPU)")
    parser.add_argument("--stages", default="search,network", help="stages, comma-separated")
    parser.add_argument("--channels", type=int, default=8, help="search: init channels")
    parser.add_argument("--layers", type=int, default=5, help="search: cells")
    parser.add_argument("--nodes", type=int, default=4, help="search: nodes per cell")
    parser.add_argument("--network-channels", type=int, default=16, help="network: init channels")
    parser.add_argument("--network-layers", type=int, default=8, help="network: cells")
    parser.add_argument("--batch-size", type=int, default=64, help="global batch (split over the devices)")
    parser.add_argument("--image-size", type=int, default=28, help="height = width")
    parser.add_argument("--image-channels", type=int, default=3, help="image channels")
    parser.add_argument("--steps", type=int, default=10, help="timed steps")
    parser.add_argument("--warmup-steps", type=int, default=2, help="untimed steps after the traced call")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    parser.add_argument("--output", type=Path, help="JSON results file (default: results/devices/devices_<kind>.json)")
    parser.add_argument("--single", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.single is not None:
        return args
    args.stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    if not args.stages or any(s not in STAGES for s in args.stages):
        parser.error(f"--stages must name some of {', '.join(STAGES)}")
    gpus = _count_gpus()
    args.kind = "gpu" if gpus else "cpu"
    if args.devices is None:
        args.devices = [1, gpus] if gpus > 1 else [1, 2] if not gpus else [1]
    else:
        args.devices = [int(d) for d in args.devices.split(",") if d.strip()]
    if any(d < 1 for d in args.devices) or (gpus and max(args.devices) > gpus):
        parser.error(f"--devices must be between 1 and {gpus or 'any'}, got {args.devices}")
    if any(args.batch_size % d for d in args.devices):
        parser.error(f"--batch-size {args.batch_size} must split evenly over {args.devices} devices")
    if args.output is None:
        args.output = Path(result_path("devices", f"devices_{args.kind}.json"))
    return args


def run_child(config, timeout):
    """Run one configuration in a subprocess; always returns a row."""
    command = [sys.executable, os.path.abspath(__file__), "--single", json.dumps(config)]
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"config": config, "status": "timeout", "wall_seconds": time.monotonic() - started}
    row = {"config": config, "wall_seconds": time.monotonic() - started}
    results = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if done.returncode != 0 or not results:
        row.update(status="failed", error="\n".join(done.stderr.strip().splitlines()[-20:]))
    else:
        row.update(status="ok", **json.loads(results[-1][len(RESULT_MARKER) :]))
    return row


def _machine():
    import keras
    import tensorflow as tf

    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
    }


def _table(rows):
    lines = [
        f"{'stage':<8} {'devices':>7} {'images/s':>10} {'speedup':>8} {'s/step':>8} {'first call s':>13}  status"
    ]
    for row in rows:
        config = row["config"]
        if row["status"] != "ok":
            lines.append(f"{config['stage']:<8} {config['devices']:>7} {'-':>10} {'-':>8} {'-':>8} {'-':>13}  {row['status']}")
            continue
        speedup = "-" if row.get("speedup") is None else f"{row['speedup']:.2f}"
        lines.append(
            f"{config['stage']:<8} {config['devices']:>7} {row['images_per_second']:>10.1f} {speedup:>8} "
            f"{row['seconds_per_step']:>8.3f} {row['first_call_seconds']:>13.1f}  ok"
        )
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    if args.single is not None:
        print(RESULT_MARKER + json.dumps(run_single(json.loads(args.single))), flush=True)
        return 0
    common = {
        key: getattr(args, key)
        for key in (
            "kind", "channels", "layers", "nodes", "network_channels", "network_layers",
            "batch_size", "image_size", "image_channels", "steps", "warmup_steps",
        )
    }
    rows, single = [], {}
    for stage in args.stages:
        for devices in args.devices:
            row = run_child({**common, "stage": stage, "devices": devices}, args.timeout)
            if row["status"] == "ok":
                if devices == 1:
                    single[stage] = row["images_per_second"]
                row["speedup"] = row["images_per_second"] / single[stage] if stage in single else None
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "step_seconds"}), flush=True)
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(json.dumps({"machine": _machine(), "runs": rows}, indent=2) + "\n")
    print()
    print(_table(rows))
    print(f"\nwrote {args.output}")
    return 0 if all(row["status"] == "ok" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
