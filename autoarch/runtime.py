"""Process-wide TensorFlow state: CPU threads, the devices a trial trains on, the
traced graphs a finished trial must not leave behind, and seeding that keeps
the kernels a later trial reuses."""

import contextlib
import gc
import logging
import os
import random

from autoarch.parameters import is_integer

__all__ = [
    "configure_cpu_threads",
    "gpu_present",
    "resolve_devices",
    "device_strategy",
    "released_graphs",
    "release_free_heap",
    "clear_kernel_cache",
    "seed_keeping_kernels",
]

logger = logging.getLogger(__name__)


def configure_cpu_threads(inter_op_threads=None):
    """Give each TensorFlow op one core and run independent ops side by side.

    A DARTS supernet is thousands of small operations (eight candidates on each of
    dozens of edges), many independent of each other. Splitting each op across
    cores (TensorFlow's default) costs more in synchronisation than it gains;
    running independent ops in parallel instead made the search step about 1.45x
    faster on a 2-core machine (``benchmarks/search_step.py --threads``). It does
    not apply when a GPU is visible.

    Must be called before TensorFlow runs its first operation; it is process-wide
    and cannot be undone later.

    Args:
        inter_op_threads: ops run side by side (default: the CPU count).

    Returns:
        True if the setting was applied, False if a GPU is visible or TensorFlow
        had already started (nothing changes then).
    """
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return False
    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads or os.cpu_count())
    except RuntimeError:
        logger.debug("TensorFlow already started: CPU threading left as it is")
        return False
    return True


def _logical_count(kind):
    """Logical devices of ``kind`` ("CPU" or "GPU"), read without starting TensorFlow."""
    import tensorflow as tf

    return sum(
        len(tf.config.get_logical_device_configuration(device) or [None])
        for device in tf.config.list_physical_devices(kind)
    )


def gpu_present():
    """Whether TensorFlow sees a GPU (the default search space and operations depend on it)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _visible_devices():
    """``(kind, count)``: the GPUs when any is visible, else the CPU's logical devices."""
    gpus = _logical_count("GPU")
    return ("GPU", gpus) if gpus else ("CPU", _logical_count("CPU"))


def resolve_devices(devices):
    """Check a ``devices`` argument and return the device names it means.

    Args:
        devices: None (TensorFlow's default device), an integer ``n >= 1`` (the
            first ``n`` GPUs, or with no GPU the first ``n`` logical CPU devices),
            or a non-empty list of distinct device names such as
            ``["/gpu:0", "/gpu:1"]``.

    Returns:
        None for one default device (``None`` or ``1``), else the list of
        canonical device names (``"/device:GPU:0"``, ...).

    Raises:
        ValueError: ``devices`` has the wrong type, or asks for devices that are
            not there (the message says how many there are). TensorFlow is not
            started, so logical devices can still be configured afterwards.
    """
    import tensorflow as tf

    if devices is None:
        return None
    kind, available = _visible_devices()
    if is_integer(devices):
        count = int(devices)
        if count < 1:
            raise ValueError(f"devices must be >= 1, got {devices!r}")
        if count == 1:
            return None
        if count > available:
            hint = (
                "; with no GPU, split the CPU first: tf.config.set_logical_device_configuration("
                "tf.config.list_physical_devices('CPU')[0], [tf.config.LogicalDeviceConfiguration()] * n) "
                "before TensorFlow starts"
                if kind == "CPU"
                else ""
            )
            raise ValueError(
                f"devices={count} asks for {count} devices, but {available} {kind} "
                f"device(s) are visible{hint}"
            )
        return [f"/device:{kind}:{i}" for i in range(count)]
    if not isinstance(devices, (list, tuple)) or not devices or not all(isinstance(d, str) for d in devices):
        raise ValueError(
            "devices must be None, an integer >= 1 or a non-empty list of device names "
            f"like ['/gpu:0', '/gpu:1'], got {devices!r}"
        )
    names = []
    for name in devices:
        try:
            spec = tf.DeviceSpec.from_string(name)
        except ValueError:
            spec = None
        if spec is None or spec.device_type is None or spec.device_index is None:
            raise ValueError(f"devices: expected names like '/gpu:0' or '/cpu:1', got {name!r}")
        device_type = spec.device_type.upper()
        if device_type not in ("CPU", "GPU"):
            raise ValueError(f"devices: only CPU and GPU devices are supported, got {name!r}")
        count = _logical_count(device_type)
        if spec.device_index >= count:
            raise ValueError(f"devices: {name!r} is not there: {count} {device_type} device(s) are visible")
        names.append(f"/device:{device_type}:{spec.device_index}")
    if len(set(names)) != len(names):
        raise ValueError(f"devices must not repeat a device, got {list(devices)!r}")
    return names


_STRATEGIES = {}


def device_strategy(devices):
    """The ``tf.distribute.MirroredStrategy`` over ``devices``, or None for one device.

    Args:
        devices: as for `resolve_devices`.

    Returns:
        None when ``devices`` means the default device, else a
        ``MirroredStrategy``. One strategy is made per device list and process
        and then reused: TensorFlow's collective all-reduce numbers its
        operations per strategy, so two strategies using collectives in one
        process would collide. A strategy over a device list other than the
        first one uses ``ReductionToOneDevice`` (no collectives) for that reason.

    Raises:
        ValueError: as `resolve_devices`.
    """
    import tensorflow as tf

    names = resolve_devices(devices)
    if names is None:
        return None
    key = tuple(names)
    if key not in _STRATEGIES:
        options = {} if not _STRATEGIES else {"cross_device_ops": tf.distribute.ReductionToOneDevice()}
        _STRATEGIES[key] = tf.distribute.MirroredStrategy(names, **options)
    return _STRATEGIES[key]


_CUSTOM_GRADIENT_PREFIX = "CustomGradient-"


def _gradient_registry():
    """TensorFlow's global registry of gradient functions (a dict), or None if this TensorFlow has none."""
    from tensorflow.python.framework import ops

    registry = getattr(ops, "_gradient_registry", None)
    return getattr(registry, "_registry", None)


@contextlib.contextmanager
def released_graphs():
    """On exit, let go of the graphs traced inside the block, which TensorFlow would keep forever.

    In a traced function, ``tf.custom_gradient`` registers its gradient in a
    process-wide registry under a fresh name and never removes it, and that
    gradient's closure holds tensors of the traced graph
    (tensorflow/tensorflow#97697; still so in TensorFlow 2.21). Keras's
    TensorFlow optimizers pass every traced training step through it (they
    all-reduce the gradients, even on one device), so each model trained with
    ``fit`` pins its whole training graph: about 0.4 GB per trial of a tiny
    search, so a 100-trial search would need tens of GB
    (``benchmarks/long_search.py``).

    On exit this removes the registry entries made inside the block, then
    collects the garbage, so a graph whose model is gone is freed. Graphs traced
    inside the block stay callable: their entries would only be needed to build
    a new symbolic gradient through them, which is done while tracing, not
    after. Entries made before the block are left alone. Last, the C heap's
    free pages go back to the system (`release_free_heap`).
    """
    registry = _gradient_registry()
    before = set(registry) if registry is not None else set()
    try:
        yield
    finally:
        if registry is not None:
            for name in [n for n in registry if n not in before and n.startswith(_CUSTOM_GRADIENT_PREFIX)]:
                del registry[name]
        gc.collect()
        release_free_heap()


def release_free_heap():
    """Give the C heap's free pages back to the system (glibc's ``malloc_trim``; elsewhere nothing).

    TensorFlow frees a finished trial's graphs and buffers, but glibc keeps the
    freed pages in its arenas, so the process's resident memory stays at its
    high-water mark. Over the first 30 trials of a tiny search
    (``benchmarks/long_search.py --preset tiny``) this lowered the resident
    memory after each trial by about 0.4 GB (1.58 instead of 1.95 GB after
    trial 30). Over 100 such trials memory ended at 1.13x what it was after
    trial 3, against 1.24x without it; about 2 MB a trial still stays.
    """
    if _malloc_trim is not None:
        _malloc_trim(0)


def _find_malloc_trim():
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


_malloc_trim = _find_malloc_trim()


def clear_kernel_cache():
    """Drop TensorFlow's cache of the kernels it instantiated for eager calls and traced functions.

    The cache keeps an instantiated (optimized) copy of every traced function
    that was called, also after the function itself is gone: about 20-40 MB
    per trial of a tiny search that never came back. Clearing it costs the next
    call of a function that is still alive a re-instantiation (about 4 s for a
    trial's network on 2 CPU cores, against about 8 s to trace it again), so
    the tuner clears it only between trials, and not before a trial that
    reuses a network it keeps (`autoarch.tuning.tuner.DartsTuner.run_trial`).
    """
    from tensorflow.python.eager import context

    context.context().clear_kernel_cache()


def seed_keeping_kernels(seed):
    """Seed Python, NumPy, Keras and TensorFlow as `keras.utils.set_random_seed` does, but keep TensorFlow's kernel cache.

    `keras.utils.set_random_seed` sets TensorFlow's global seed, and
    TensorFlow clears its kernel cache whenever that seed is set (to restart
    stateful random kernels such as ``tf.random.uniform``). A network whose
    traced step is still alive then pays its instantiation again on its next
    call: 13 s instead of 0.8 s for a digits supernet's first search epoch on
    2 CPU cores (``benchmarks/kernel_cache.py``). autoarch's traced steps draw
    their randomness from Keras seed generators (stateless kernels whose
    state is a variable), so keeping their kernels changes no random stream.

    Afterwards the random state is the one `keras.utils.set_random_seed`
    leaves: Python's and NumPy's generators, Keras's global seed and seed
    generator, and TensorFlow's global seed and the generator of its operation
    seeds are set as it sets them (a test compares the two). Falls back to
    `keras.utils.set_random_seed` where TensorFlow's eager context has no
    operation-seed generator to set (a TensorFlow that changed its internals).

    Args:
        seed: an int.
    """
    import keras
    import numpy as np
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils
    from tensorflow.python.eager import context

    eager = context.context()
    if not (hasattr(eager, "_seed") and hasattr(eager, "_rng")):
        keras.utils.set_random_seed(seed)
        return
    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    # What TensorFlow's Context._set_global_seed does, less its TFE_ContextClearCaches.
    eager._seed = seed
    eager._rng = random.Random(seed)
