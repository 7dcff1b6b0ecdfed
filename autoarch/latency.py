"""Measured latency: what each operation of the search space costs on a device, and what a model costs.

Hardware-aware search (issue 16) weighs the latency of the network a user
will run. A `LatencyTable` holds, per operation and per shape the final
network uses (channels, height, width, stride), the milliseconds one image
takes, measured the way the model will be served: each operation is built
as a tiny Keras model, converted exactly as ``export(format="tflite")``
converts (`autoarch.export.tflite_flat_buffer`), and timed in the TFLite
interpreter on one thread, float32, after a warm-up, as the median of many
runs minus the median of an empty model's runs (the interpreter's cost per
call). Many operations share one conversion: each is a signature of one
flat buffer.

What does not depend on the cell's choices (the stem, each cell's
preprocessing, the sums and concatenations of its nodes, the output layer)
is measured once per network size as a whole network whose every edge is a
skip connection, less the skip connections themselves
(`LatencyTable.fixed_ms`).

Tables are cached as JSON per device (`device_fingerprint`) under the user's
cache folder (`cache_dir`) and reused across fits; a table can also be built,
saved and loaded by hand, for instance filled from measurements on a phone
and loaded on the machine that searches.
"""

import contextlib
import functools
import hashlib
import json
import os
import platform
import statistics
import tempfile
import time
import warnings

import keras
import numpy as np

from autoarch.darts.costs import edge_costs, edge_shapes
from autoarch.darts.genotype import Genotype
from autoarch.darts.network import build_network
from autoarch.darts.operations import make_operation
from autoarch.darts.primitives import num_edges
from autoarch.export import tflite_flat_buffer, tflite_model

__all__ = [
    "LATENCY_TARGETS",
    "LatencyTable",
    "cache_dir",
    "cached_table",
    "device_fingerprint",
    "measure_model_ms",
]

LATENCY_TARGETS = ("tflite-cpu",)
"""Where a latency can be measured by autoarch itself: the TFLite interpreter on this machine's CPU."""

RUNS = 50
"""Timed runs per measurement (their median counts), after `WARMUP` untimed ones."""

WARMUP = 5

_SIZE_KEYS = ("nodes", "input_shape", "num_outputs", "init_channels", "layers", "stem_multiplier", "stem_stride")


def device_fingerprint(threads=1):
    """What a measured latency depends on: CPU model, machine, TensorFlow version, threads and dtype."""
    import tensorflow as tf

    return {
        "target": "tflite-cpu",
        "cpu": _cpu_model(),
        "machine": platform.machine(),
        "tensorflow": tf.__version__,
        "threads": int(threads),
        "dtype": "float32",
    }


def _cpu_model():
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cache_dir():
    """The folder of autoarch's caches: ``$AUTOARCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/autoarch``, else ``~/.cache/autoarch``."""
    if os.environ.get("AUTOARCH_CACHE_DIR"):
        return os.environ["AUTOARCH_CACHE_DIR"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "autoarch")


def _fingerprint_name(fingerprint):
    text = json.dumps(fingerprint, sort_keys=True)
    return f"latency-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"


def cached_table(fingerprint=None):
    """This device's `LatencyTable` from the cache (an empty one on first use); `LatencyTable.save` keeps it there.

    Args:
        fingerprint: the device (None: `device_fingerprint` of this machine).
    """
    fingerprint = fingerprint or device_fingerprint()
    path = os.path.join(cache_dir(), "latency", _fingerprint_name(fingerprint))
    if os.path.exists(path):
        table = LatencyTable.load(path)
        table.path = path
        return table
    return LatencyTable(fingerprint=fingerprint, path=path)


class LatencyTable:
    """Milliseconds per image of the search space's operations at the shapes a network uses, on one device.

    Args:
        operations: ``{(name, channels, height, width, stride): ms}``.
        networks: ``{size: ms}``: the fixed part of a network size
            (`fixed_ms`), keyed by `size_key`.
        fingerprint: the device the figures come from (`device_fingerprint`
            for this one; any dict for another).
        path: where `save` writes with no argument (the cache file of
            `cached_table`).

    The JSON form (`save`, `load`) lists one record per entry, so a table
    measured elsewhere can be written by hand::

        {"fingerprint": {...},
         "operations": [{"operation": "sep_conv_3x3", "channels": 32, "height": 28,
                         "width": 28, "stride": 1, "ms": 0.046}, ...],
         "networks": [{"nodes": 3, "input_shape": [28, 28, 1], "num_outputs": 10,
                       "init_channels": 32, "layers": 8, "stem_multiplier": 3,
                       "stem_stride": 1, "ms": 0.21}, ...]}
    """

    def __init__(self, operations=None, networks=None, fingerprint=None, path=None):
        self.operations = dict(operations or {})
        self.networks = dict(networks or {})
        self.fingerprint = dict(fingerprint or {})
        self.path = path

    @staticmethod
    def size_key(nodes, input_shape, num_outputs, init_channels=16, layers=8, stem_multiplier=3, stem_stride=1):
        """The key of a network size in ``networks`` (the arguments of `autoarch.darts.build_network`)."""
        return (int(nodes), tuple(int(v) for v in input_shape), int(num_outputs), int(init_channels), int(layers),
                int(stem_multiplier), int(stem_stride))

    def operation_ms(self, name, channels, height, width, stride=1):
        """Milliseconds of operation ``name`` on a ``height`` x ``width`` x ``channels`` input (``none``: 0).

        Raises:
            ValueError: the table has no such entry.
        """
        if name == "none":
            return 0.0
        key = (str(name), int(channels), int(height), int(width), int(stride))
        if key not in self.operations:
            raise ValueError(
                f"the latency table has no entry for {name} on {channels} channels at {height}x{width}, "
                f"stride {stride}; measure it (LatencyTable.measure) or add it to the table"
            )
        return self.operations[key]

    def fixed_ms(self, nodes, input_shape, num_outputs, init_channels=16, layers=8, stem_multiplier=3, stem_stride=1):
        """Milliseconds of everything but the cells' operations in a network of this size.

        Raises:
            ValueError: the table has no entry for this size.
        """
        key = self.size_key(nodes, input_shape, num_outputs, init_channels, layers, stem_multiplier, stem_stride)
        if key not in self.networks:
            raise ValueError(
                f"the latency table has no entry for the network size {dict(zip(_SIZE_KEYS, key))}; "
                "measure it (LatencyTable.measure) or add it to the table"
            )
        return self.networks[key]

    def edge_costs(self, primitives, nodes, input_shape, num_outputs, **size):
        """The network's latency split by edge and operation, a `autoarch.darts.costs.EdgeCosts` in ms.

        ``size``: ``init_channels``, ``layers``, ``stem_multiplier``, ``stem_stride``
        as `autoarch.darts.build_network`.

        Raises:
            ValueError: an operation, shape or size missing from the table.
        """
        fixed = float(self.fixed_ms(nodes, input_shape, num_outputs, **size))
        return edge_costs(primitives, nodes, input_shape, num_outputs, operation_cost_of=self.operation_ms,
                          fixed=fixed, **size)

    def estimate_ms(self, genotype, input_shape, num_outputs, **size):
        """The estimated milliseconds per image of ``genotype``'s network (``size`` as `edge_costs`).

        Raises:
            ValueError: an operation, shape or size missing from the table.
        """
        if isinstance(genotype, str):
            genotype = Genotype.from_json(genotype)
        primitives = sorted({name for name, _ in genotype.normal + genotype.reduce})
        nodes = len(genotype.normal) // 2
        return self.edge_costs(primitives, nodes, input_shape, num_outputs, **size).of(genotype)

    def missing(self, primitives, nodes, input_shape, num_outputs, **size):
        """What the table lacks for this network size: ``(operation keys, size keys)``."""
        operations = set()
        for _, _, channels, height, width, stride in edge_shapes(nodes, input_shape, **size):
            for name in set(primitives) | {"skip_connect"}:  # the skip connections measure the fixed part
                if name != "none":
                    operations.add((name, channels, height, width, stride))
        operations -= set(self.operations)
        key = self.size_key(nodes, input_shape, num_outputs, **size)
        return sorted(operations), [] if key in self.networks else [key]

    def measure(self, primitives, nodes, input_shape, num_outputs, **size):
        """Measure what the table lacks for this network size on this machine, then `save` it when it has a ``path``.

        Returns:
            The seconds the measurement took (0 when nothing was missing).

        Raises:
            ValueError: the table comes from another device than this one.
        """
        operations, networks = self.missing(primitives, nodes, input_shape, num_outputs, **size)
        if not operations and not networks:
            return 0.0
        here = device_fingerprint(self.fingerprint.get("threads", 1))
        if self.fingerprint and self.fingerprint != here:
            raise ValueError(
                f"this latency table was measured on {self.fingerprint}, not on this machine ({here}); "
                "it can only be completed where it was measured"
            )
        self.fingerprint = here
        started = time.monotonic()
        models = {("operation",) + key: _operation_model(*key) for key in operations}
        for key in networks:
            models[("network",) + key] = _skeleton_model(**dict(zip(_SIZE_KEYS, key)))
        timings = _time_models(models, threads=here["threads"])
        for key in operations:
            self.operations[key] = timings[("operation",) + key]
        for key in networks:
            arguments = dict(zip(_SIZE_KEYS, key))
            skips = sum(
                self.operations[("skip_connect", channels, height, width, stride)]
                for _, edge, channels, height, width, stride in edge_shapes(*_edge_shape_arguments(arguments))
                if _skeleton_edge(edge)
            )
            self.networks[key] = max(0.0, timings[("network",) + key] - skips)
        if self.path:
            self.save()
        return time.monotonic() - started

    def to_json(self):
        """The table as a JSON-ready dict (see the class docstring)."""
        return {
            "fingerprint": self.fingerprint,
            "operations": [
                {"operation": k[0], "channels": k[1], "height": k[2], "width": k[3], "stride": k[4], "ms": ms}
                for k, ms in sorted(self.operations.items())
            ],
            "networks": [
                {**dict(zip(_SIZE_KEYS, (k[0], list(k[1]), *k[2:]))), "ms": ms}
                for k, ms in sorted(self.networks.items())
            ],
        }

    @classmethod
    def from_json(cls, data):
        """A table from `to_json`'s dict.

        Raises:
            ValueError: a record without its fields, or a latency that is not a number >= 0.
        """
        try:
            operations = {
                (str(r["operation"]), int(r["channels"]), int(r["height"]), int(r["width"]), int(r["stride"])):
                    _milliseconds(r["ms"])
                for r in data.get("operations", [])
            }
            networks = {
                cls.size_key(*(r[name] for name in _SIZE_KEYS)): _milliseconds(r["ms"])
                for r in data.get("networks", [])
            }
        except (KeyError, TypeError) as error:
            raise ValueError(f"not a latency table: a record lacks {error}") from error
        return cls(operations, networks, data.get("fingerprint"))

    def save(self, path=None):
        """Write the table as JSON to ``path`` (None: its own ``path``), merged with the entries already there.

        The file is replaced atomically, so processes sharing a cache never see half of it.
        """
        path = path or self.path
        if path is None:
            raise ValueError("no path to save the latency table to")
        if os.path.exists(path):
            with contextlib.suppress(ValueError, OSError):
                stored = LatencyTable.load(path)
                if stored.fingerprint == self.fingerprint:
                    self.operations = {**stored.operations, **self.operations}
                    self.networks = {**stored.networks, **self.networks}
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        descriptor, staged = tempfile.mkstemp(prefix=".latency-", dir=os.path.dirname(os.path.abspath(path)))
        with os.fdopen(descriptor, "w") as file:
            json.dump(self.to_json(), file, indent=1)
        os.replace(staged, path)
        return path

    @classmethod
    def load(cls, path):
        """Read a table that `save` wrote (or one written by hand in its format).

        Raises:
            ValueError: the file is not a latency table.
        """
        with open(path) as file:
            try:
                data = json.load(file)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path!r} is not a latency table: {error}") from error
        if not isinstance(data, dict):
            raise ValueError(f"{path!r} is not a latency table: expected a JSON object")
        table = cls.from_json(data)
        table.path = path
        return table


def _milliseconds(value):
    value = float(value)
    if not (value >= 0 and np.isfinite(value)):
        raise ValueError(f"a latency must be a number >= 0, got {value!r}")
    return value


def _edge_shape_arguments(size):
    return (size["nodes"], size["input_shape"], size["init_channels"], size["layers"], size["stem_multiplier"],
            size["stem_stride"])


def _skeleton_edge(edge):
    """Whether the skeleton network (`_skeleton_genotype`) uses alphas row ``edge``: a cell input, 0 or 1."""
    node = 0
    while num_edges(node + 1) <= edge:
        node += 1
    return edge - num_edges(node) < 2


def _skeleton_genotype(nodes):
    """Every node sums skip connections from the cell's two inputs: the cheapest cell with the usual joins."""
    cell = [("skip_connect", index) for _ in range(nodes) for index in (0, 1)]
    concat = list(range(2, 2 + nodes))
    return Genotype(normal=cell, normal_concat=concat, reduce=cell, reduce_concat=concat)


def _operation_model(name, channels, height, width, stride):
    inputs = keras.Input((height, width, channels), batch_size=1)
    return keras.Model(inputs, make_operation(name, channels, stride)(inputs, training=False))


def _skeleton_model(nodes, input_shape, num_outputs, init_channels, layers, stem_multiplier, stem_stride):
    return build_network(_skeleton_genotype(nodes), input_shape, num_outputs, init_channels=init_channels,
                         layers=layers, stem_multiplier=stem_multiplier, stem_stride=stem_stride, drop_path=False)


def _empty_model():
    inputs = keras.Input((1, 1, 1), batch_size=1)
    return keras.Model(inputs, inputs * 1.0)


def _time_models(models, threads=1):
    """Median milliseconds per call of each model, less the empty model's: one conversion, one signature each."""
    import tensorflow as tf

    models = {**models, ("empty",): _empty_model()}
    names = {key: f"m{i}" for i, key in enumerate(models)}
    archive = keras.export.ExportArchive()
    for key, model in models.items():
        archive.track(model)
        shape = (1, *model.inputs[0].shape[1:])
        archive.add_endpoint(
            names[key],
            (lambda m: lambda images: m(images, training=False))(model),
            input_signature=[tf.TensorSpec(shape, tf.float32, name="images")],
        )
    flat_buffer = tflite_flat_buffer(archive, list(names.values()))
    timings = _time_signatures(flat_buffer, list(names.values()), threads)
    empty = timings[names[("empty",)]]
    return {key: max(0.0, timings[names[key]] - empty) for key in models}


def _interpreter(flat_buffer, threads):
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        return tf.lite.Interpreter(model_content=flat_buffer, num_threads=threads)


def _time_signatures(flat_buffer, signature_keys, threads):
    interpreter = _interpreter(flat_buffer, threads)
    timings = {}
    for key in signature_keys:
        runner = interpreter.get_signature_runner(key)
        (name, detail), = runner.get_input_details().items()
        images = np.random.default_rng(0).random(tuple(detail["shape"]), dtype=np.float32)
        timings[key] = _median_ms(lambda: runner(**{name: images}))
    return timings


def _median_ms(call):
    for _ in range(WARMUP):
        call()
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def measure_model_ms(model, threads=1):
    """Milliseconds per image of ``model`` as ``export(format="tflite")`` writes it, on this machine's CPU.

    One image at a time, in the TFLite interpreter on ``threads`` threads, the
    median of `RUNS` runs after a warm-up, less the interpreter's cost per
    call (an empty model's median).

    Returns:
        ``(ms, how)``: the latency and a dict saying how it was measured.
    """
    flat_buffer = tflite_model(model)
    interpreter = _interpreter(flat_buffer, threads)
    runner = interpreter.get_signature_runner("serving_default")
    (name, detail), = runner.get_input_details().items()
    images = np.random.default_rng(0).random((1, *detail["shape_signature"][1:]), dtype=np.float32)
    total = _median_ms(lambda: runner(**{name: images}))
    empty = _empty_ms(threads)
    how = {**device_fingerprint(threads), "runs": RUNS, "batch": 1, "empty_model_ms": empty}
    return max(0.0, total - empty), how


@functools.lru_cache(maxsize=None)
def _empty_ms(threads):
    """The interpreter's cost per call, measured once per process."""
    import tensorflow as tf

    model = _empty_model()
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("empty", lambda images: model(images),
                         input_signature=[tf.TensorSpec((1, 1, 1, 1), tf.float32, name="images")])
    return _time_signatures(tflite_flat_buffer(archive, ["empty"]), ["empty"], threads)["empty"]
