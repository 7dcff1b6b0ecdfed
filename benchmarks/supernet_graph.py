"""Benchmark: the size of the supernet's traced search step, and what its first call costs (issue 14).

Builds the default CPU supernet of a digits search (8x8x1 images, 8 channels,
3 cells, 3 nodes, the CPU's six operations, batch 32, first order), calls its
compiled train function once (which traces and instantiates the step), then
ten more times, then once more after `autoarch.runtime.clear_kernel_cache`
(which instantiates it again without tracing). Reports the graph nodes of
the traced step (the step function and its architecture-update branch), the
first call's wall and CPU seconds, the mean later step, the re-instantiation,
and the metrics after the eleven steps (equal metrics mean equal arithmetic).

Run it several times, alternating the code versions to compare, in fresh
processes (``PYTHONPATH`` selects the code)::

    python benchmarks/supernet_graph.py --tag after
    PYTHONPATH=/path/to/old/checkout python benchmarks/supernet_graph.py --tag before

Prints one JSON line; ``--output`` also writes it to a file (the runs the docs quote:
``benchmarks/results/supernet_graph/supernet_graph_pairs.jsonl``).
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

PRIMITIVES = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3")


def traced_nodes():
    """Nodes of the largest traced functions now in TensorFlow's library: the step and its branches."""
    from tensorflow.python.eager import context

    eager = context.context()
    sizes = sorted((len(eager.get_function_def(name).node_def) for name in eager.list_function_names()), reverse=True)
    return sizes[:2]


def measure():
    """The figures of one fresh supernet (see the module docstring)."""
    import keras
    import numpy as np

    from autoarch.darts import SearchNetwork
    from autoarch.data import paired_search_dataset
    from autoarch.runtime import clear_kernel_cache, configure_cpu_threads

    configure_cpu_threads()
    rng = np.random.default_rng(0)
    x = rng.random((64, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, 64)
    batches = iter(paired_search_dataset(x, y, x, y, batch_size=32, seed=0).repeat())
    keras.utils.set_random_seed(0)
    network = SearchNetwork((8, 8, 1), 10, init_channels=8, layers=3, nodes=3, primitives=PRIMITIVES, seed=0)
    network.compile()
    network.make_train_function()
    wall, cpu = time.perf_counter(), time.process_time()
    network.train_function(batches)
    first_wall, first_cpu = time.perf_counter() - wall, time.process_time() - cpu
    started = time.perf_counter()
    for _ in range(10):
        logs = network.train_function(batches)
    step = (time.perf_counter() - started) / 10
    clear_kernel_cache()
    started = time.perf_counter()
    network.train_function(batches)
    return {
        "graph_nodes": traced_nodes(),
        "first_call_seconds": round(first_wall, 2),
        "first_call_cpu_seconds": round(first_cpu, 2),
        "step_seconds": round(step, 4),
        "reinstantiation_seconds": round(time.perf_counter() - started, 2),
        "metrics_after_11_steps": {name: float(value) for name, value in logs.items()},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="", help="a label for the line (which code ran)")
    parser.add_argument("--output", help="also write the JSON line to this file")
    args = parser.parse_args()
    line = json.dumps({"benchmark": "supernet_graph", "tag": args.tag, **measure()})
    print(line)
    if args.output:
        with open(args.output, "w") as file:
            file.write(line + "\n")


if __name__ == "__main__":
    main()
