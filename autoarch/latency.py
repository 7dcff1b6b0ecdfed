"""Measured latency: what each operation of the search space costs on a device, and what a model costs.

Hardware-aware search (issue 16) weighs the latency of the network a user
will run. A `LatencyTable` holds, per operation and per shape the final
network uses (channels, height, width, stride), the milliseconds one image
takes, measured the way the model will be served: each operation is built
as a tiny Keras model, converted exactly as ``export(format="tflite")``
converts (`autoarch.export.tflite_flat_buffer`), and timed in the TFLite
interpreter on one thread, float32, after a warm-up: many runs in blocks,
the fastest block's median, less an empty model's (the interpreter's cost
per call). Many operations share one conversion: each is a signature of one
flat buffer.

An operation timed alone also pays for the call into the interpreter and
for copying its input in and its output out; a network pays those once. So
each operation's figure is its model's time less that of a model with only
a ReLU on the same input. A network is more than its operations timed one
by one, too: the stem, each
cell's preprocessing, the sums and concatenations of its nodes and the
output layer cost too, and an operation inside a network does not cost
exactly what it costs alone (on this 2-core machine, small operations cost
about 1.5 times more inside a network). So each network size is calibrated
once: whole networks of that size are measured as well (for each
operation a network whose every edge is that operation, and
`CALIBRATION_NETWORKS` random cells, which together weigh as much as the
others, since searches derive mixed cells), and a bounded least squares fit
of their measured latencies to the sums of their operations' table entries,
operation by operation, gives the size's fixed part
(`LatencyTable.fixed_ms`) and how much each operation costs inside such a
network relative to alone (`LatencyTable.scale`, between `SCALE_BOUNDS`).
Estimates are ``fixed + sum(scale[operation] * table[operation, shape])``.

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
from autoarch.darts.derivation import random_genotype
from autoarch.darts.genotype import Genotype
from autoarch.darts.network import build_network
from autoarch.darts.operations import make_operation
from autoarch.darts.primitives import PRIMITIVES
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
"""The fewest timed runs per measurement, after `WARMUP` untimed ones."""

BLOCKS = 5
"""A measurement's runs come in this many blocks; the fastest block's median counts."""

WARMUP = 5
"""Untimed runs before a measurement (the interpreter allocates and packs weights on its first runs)."""

MIN_SECONDS = 0.1
"""Small models run until their timed runs add up to this many seconds (at most `MAX_RUNS` a block)."""

MAX_RUNS = 2000
"""The most timed runs of one block."""

MODEL_BLOCKS, MODEL_SECONDS = 15, 3.0
"""A whole model's measurement is spread over this many blocks and about this many seconds, to see past a slow spell."""

CALIBRATION_NETWORKS = 2
"""Random cells measured as whole networks, beside one per operation, to calibrate a network size."""

SCALE_BOUNDS = (0.25, 4.0)
"""The least and most an operation inside a network may cost relative to alone, in a calibration."""

_ALL_OPERATIONS = tuple(name for name in PRIMITIVES if name != "none")

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
        networks: ``{size: (fixed ms, {operation: scale})}``: the
            calibration of a network size (`fixed_ms`, `scale`), keyed by
            `size_key`.
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
                       "stem_stride": 1, "ms": 0.21,
                       "scale": {"sep_conv_3x3": 1.1, "max_pool_3x3": 0.8}}, ...]}

    (an operation missing from ``"scale"``, or a record without it, has scale
    1: inside the network it costs what the table says; a number applies to
    every operation).
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
        return self._network(nodes, input_shape, num_outputs, init_channels, layers, stem_multiplier, stem_stride)[0]

    def scale(self, name, nodes, input_shape, num_outputs, init_channels=16, layers=8, stem_multiplier=3,
              stem_stride=1):
        """What operation ``name`` costs inside a network of this size, as a multiple of its table entry.

        Raises:
            ValueError: the table has no entry for this size.
        """
        scales = self._network(nodes, input_shape, num_outputs, init_channels, layers, stem_multiplier,
                               stem_stride)[1]
        return scales.get(name, 1.0)

    def _network(self, *size):
        key = size[0] if len(size) == 1 else self.size_key(*size)
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
        fixed, scales = self._network(self.size_key(nodes, input_shape, num_outputs, **size))
        return edge_costs(primitives, nodes, input_shape, num_outputs,
                          operation_cost_of=lambda name, *shape: scales.get(name, 1.0) * self.operation_ms(name, *shape),
                          fixed=float(fixed), **size)

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
            for name in set(primitives) | {"skip_connect"}:  # the calibration always has an all-skip network
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
        for channels, height, width in {key[1:4] for key in operations}:
            models[("baseline", channels, height, width)] = _baseline_model(channels, height, width)
        calibration = {key: _calibration_genotypes(primitives, key[0]) for key in networks}
        for key, genotypes in calibration.items():
            for i, genotype in enumerate(genotypes):
                models[("network", i) + key] = _network_model(genotype, **dict(zip(_SIZE_KEYS, key)))
        timings = _time_models(models, threads=here["threads"])
        for key in operations:
            self.operations[key] = max(0.0, timings[("operation",) + key] - timings[("baseline",) + key[1:4]])
        for key, genotypes in calibration.items():
            size = dict(zip(_SIZE_KEYS, key))
            features = _calibration_features(self, genotypes, size)
            measured = [timings[("network", i) + key] for i in range(len(genotypes))]
            # Searches derive mixed cells: the random ones weigh as much as all the uniform ones together.
            uniform = len(genotypes) - CALIBRATION_NETWORKS
            weights = [1.0] * uniform + [uniform / CALIBRATION_NETWORKS] * CALIBRATION_NETWORKS
            self.networks[key] = _calibrate(features, measured, weights)
        if self.path:
            self.save()
        return time.monotonic() - started

    def to_dict(self):
        """The table as a JSON-ready dict (see the class docstring)."""
        return {
            "fingerprint": self.fingerprint,
            "operations": [
                {"operation": k[0], "channels": k[1], "height": k[2], "width": k[3], "stride": k[4], "ms": ms}
                for k, ms in sorted(self.operations.items())
            ],
            "networks": [
                {**dict(zip(_SIZE_KEYS, (k[0], list(k[1]), *k[2:]))), "ms": fixed, "scale": dict(sorted(scales.items()))}
                for k, (fixed, scales) in sorted(self.networks.items())
            ],
        }

    @classmethod
    def from_dict(cls, data):
        """A table from `to_dict`'s dict.

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
                cls.size_key(*(r[name] for name in _SIZE_KEYS)): (_milliseconds(r["ms"]), _scales(r.get("scale", {})))
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
            json.dump(self.to_dict(), file, indent=1)
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
        table = cls.from_dict(data)
        table.path = path
        return table


def _milliseconds(value):
    value = float(value)
    if not (value >= 0 and np.isfinite(value)):
        raise ValueError(f"a latency must be a number >= 0, got {value!r}")
    return value


def _scales(value):
    """``{operation: scale}`` from a record's ``"scale"``: a dict, or one number for every operation."""
    if isinstance(value, dict):
        return {str(name): _scale(scale) for name, scale in value.items()}
    scale = _scale(value)
    return {name: scale for name in _ALL_OPERATIONS}


def _scale(value):
    value = float(value)
    if not (value > 0 and np.isfinite(value)):
        raise ValueError(f"a scale must be a number > 0, got {value!r}")
    return value


def _calibration_features(table, genotypes, size):
    """``{operation: [the sum of its table entries in each genotype's network]}``."""
    size = dict(size)
    nodes, shape, outputs = size.pop("nodes"), size.pop("input_shape"), size.pop("num_outputs")
    names = sorted({name for genotype in genotypes for name, _ in genotype.normal + genotype.reduce})
    features = {}
    for name in names:
        only = edge_costs(names, nodes, shape, outputs, fixed=0.0, **size,
                          operation_cost_of=lambda op, *at, name=name: table.operation_ms(op, *at) if op == name else 0.0)
        features[name] = [only.of(genotype) for genotype in genotypes]
    return features


def _calibrate(features, measured, weights=None):
    """``(fixed, {operation: scale})``: ``measured = fixed + sum(scale * features)`` by weighted bounded least squares."""
    from scipy.optimize import lsq_linear

    names = [name for name, column in features.items() if any(value > 0 for value in column)]
    root = np.sqrt(np.ones(len(measured)) if weights is None else np.asarray(weights, float))[:, None]
    matrix = root * np.column_stack([np.ones(len(measured))] + [np.asarray(features[name]) for name in names])
    low, high = SCALE_BOUNDS
    fit = lsq_linear(matrix, root[:, 0] * np.asarray(measured, float),
                     bounds=([0.0] + [low] * len(names), [np.inf] + [high] * len(names)))
    return float(fit.x[0]), {name: float(scale) for name, scale in zip(names, fit.x[1:])}


def _calibration_genotypes(primitives, nodes):
    """A network per operation (every edge that operation) and `CALIBRATION_NETWORKS` seeded random cells."""
    usable = [name for name in primitives if name != "none"]
    uniform = [_uniform_genotype(name, nodes) for name in sorted(set(usable) | {"skip_connect"})]
    return uniform + [random_genotype(usable, nodes, seed=seed) for seed in range(CALIBRATION_NETWORKS)]


def _uniform_genotype(name, nodes):
    """Every edge is operation ``name``; node ``j`` sums it on states ``j`` and ``j + 1`` (inputs and nodes alike)."""
    cell = [(name, index) for node in range(nodes) for index in (node, node + 1)]
    concat = list(range(2, 2 + nodes))
    return Genotype(normal=cell, normal_concat=concat, reduce=cell, reduce_concat=concat)


def _operation_model(name, channels, height, width, stride):
    inputs = keras.Input((height, width, channels), batch_size=1)
    return keras.Model(inputs, make_operation(name, channels, stride)(inputs, training=False))


def _network_model(genotype, nodes, input_shape, num_outputs, init_channels, layers, stem_multiplier, stem_stride):
    return build_network(genotype, input_shape, num_outputs, init_channels=init_channels,
                         layers=layers, stem_multiplier=stem_multiplier, stem_stride=stem_stride, drop_path=False)


def _baseline_model(channels, height, width):
    """A ReLU on a ``height`` x ``width`` x ``channels`` input: what any one-operation model costs beyond its operation."""
    inputs = keras.Input((height, width, channels), batch_size=1)
    return keras.Model(inputs, keras.layers.ReLU()(inputs))


def _empty_model():
    inputs = keras.Input((1, 1, 1), batch_size=1)
    return keras.Model(inputs, inputs * 1.0)


def _time_models(models, threads=1):
    """Median milliseconds per call of each model, less the empty model's: one conversion, one signature each."""
    timings = _raw_timings({**models, ("empty",): _empty_model()}, threads)
    empty = timings.pop(("empty",))
    return {key: max(0.0, ms - empty) for key, ms in timings.items()}


def _raw_timings(models, threads):
    """Milliseconds per call of each one-input model (batch 1), all converted at once (`_time_signatures`)."""
    import tensorflow as tf

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
    timings = _time_signatures(tflite_flat_buffer(archive, list(names.values())), list(names.values()), threads)
    return {key: timings[name] for key, name in names.items()}


def _interpreter(flat_buffer, threads):
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        return tf.lite.Interpreter(model_content=flat_buffer, num_threads=threads)


def _time_signatures(flat_buffer, signature_keys, threads):
    """The latency of each signature (`_timed_blocks`), their blocks interleaved so a slow spell hits them all alike."""
    interpreter = _interpreter(flat_buffer, threads)
    calls = {}
    for key in signature_keys:
        runner = interpreter.get_signature_runner(key)
        (name, detail), = runner.get_input_details().items()
        images = np.random.default_rng(0).random(tuple(detail["shape"]), dtype=np.float32)
        calls[key] = (lambda runner, name, images: lambda: runner(**{name: images}))(runner, name, images)
    return {key: ms for key, (ms, _) in _timed_blocks(calls).items()}


def _timed_blocks(calls, blocks=None, seconds=None):
    """``{key: (ms, runs)}``: the fastest of ``blocks`` block medians of each call, after a warm-up.

    Each block runs a call `RUNS` / ``blocks`` times at least, and more
    until its runs add up to ``seconds`` / ``blocks`` (defaults `BLOCKS`
    and `MIN_SECONDS`).

    Another process, or the host of a virtual machine, only ever slows a
    run down: the fastest block median is the latency without them.
    """
    blocks, seconds = blocks or BLOCKS, seconds or MIN_SECONDS
    medians = {key: [] for key in calls}
    runs = dict.fromkeys(calls, 0)
    for key, call in calls.items():
        for _ in range(WARMUP):
            call()
    for _ in range(blocks):
        for key, call in calls.items():
            times = []
            while len(times) < RUNS // blocks or (sum(times) < seconds / blocks and len(times) < MAX_RUNS):
                start = time.perf_counter()
                call()
                times.append(time.perf_counter() - start)
            medians[key].append(statistics.median(times))
            runs[key] += len(times)
    return {key: (1e3 * min(medians[key]), runs[key]) for key in calls}


def measure_model_ms(model, threads=1):
    """Milliseconds per image of ``model`` as ``export(format="tflite")`` writes it, on this machine's CPU.

    One image at a time, in the TFLite interpreter on ``threads`` threads:
    after a warm-up, runs for about `MODEL_SECONDS` in `MODEL_BLOCKS` blocks,
    the fastest block's median, less the interpreter's cost per call (an empty model's).

    Returns:
        ``(ms, how)``: the latency and a dict saying how it was measured.
    """
    flat_buffer = tflite_model(model)
    interpreter = _interpreter(flat_buffer, threads)
    runner = interpreter.get_signature_runner("serving_default")
    (name, detail), = runner.get_input_details().items()
    images = np.random.default_rng(0).random((1, *detail["shape_signature"][1:]), dtype=np.float32)
    (total, runs), = _timed_blocks({"model": lambda: runner(**{name: images})}, MODEL_BLOCKS, MODEL_SECONDS).values()
    empty = _empty_ms(threads)
    how = {**device_fingerprint(threads), "runs": runs, "batch": 1, "empty_model_ms": empty}
    return max(0.0, total - empty), how


@functools.lru_cache(maxsize=None)
def _empty_ms(threads):
    """The interpreter's cost per call, measured once per process."""
    return _raw_timings({"empty": _empty_model()}, threads)["empty"]
