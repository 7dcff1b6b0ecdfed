"""Image folders stream (issue 15): ``fit(folder)`` never holds the folder's images in memory.

A fresh process fits a small folder twice (the first fit of a process
has one-off costs), then a folder of 3,000 noise images (64x64 RGB: 35 MiB
as uint8, 281 MiB as the float64 pixels an in-memory read computes its
statistics from), and reports its peak resident memory after each fit.
Measured on the 2-core machine: reading the folder into memory (the code
before streaming) raised the peak by 600 MiB; streaming it, by 84 MiB, of
which 30-50 MiB any further fit of the process adds (graphs, allocator).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from .conftest import tiny_space

pytestmark = pytest.mark.slow

_FIT_TWO_FOLDERS = """
import json, resource, sys
import autoarch
from autoarch.darts import DARTS_V2

def fit(folder, name):
    clf = autoarch.ImageClassifier(
        max_trials=1, genotype=DARTS_V2, directory=sys.argv[3], project_name=name, seed=0, verbose=0,
        ensemble_size=1, search_space=json.loads(sys.argv[4]),
    ).fit(folder)
    assert clf.image_shape_ == (64, 64, 3) and list(clf.classes_) == ["a", "b"], (clf.image_shape_, clf.classes_)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB

fit(sys.argv[1], "small")
small = fit(sys.argv[1], "small_again")
large = fit(sys.argv[2], "large")
print("PEAKS", json.dumps({"small": small, "large": large}), flush=True)
"""

LARGE_IMAGES = 3000


def _noise_folder(root, count, seed):
    """``count`` 64x64 RGB PNGs of noise (incompressible), half in class ``a``, half in ``b``."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        folder = root / ("a" if index % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        (folder / f"{index:05d}.png").write_bytes(tf.io.encode_png(image).numpy())
    return root


def test_a_folder_larger_than_the_memory_it_may_use_fits_with_bounded_peak_memory(tmp_path):
    small = _noise_folder(tmp_path / "small", 200, seed=0)
    large = _noise_folder(tmp_path / "large", LARGE_IMAGES, seed=1)
    space = tiny_space(train_epochs=1, network_channels=2, network_cells=2, batch_size=64)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env = {key: value for key, value in env.items() if not key.startswith("KERASTUNER_")}
    done = subprocess.run(
        [sys.executable, "-c", _FIT_TWO_FOLDERS, str(small), str(large), str(tmp_path / "projects"), json.dumps(space)],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    peaks = json.loads(done.stdout.split("PEAKS")[1])
    as_float64 = LARGE_IMAGES * 64 * 64 * 3 * 8 / 2**20  # 281 MiB, what an in-memory read holds at least
    assert peaks["large"] - peaks["small"] < 0.6 * as_float64, (peaks, as_float64)
