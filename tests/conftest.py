"""Shared test setup: quiet TensorFlow, the TensorFlow backend, small digits data."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from autoarch.runtime import configure_cpu_threads  # noqa: E402

# As users are advised to: one core per op, independent ops side by side.
configure_cpu_threads()


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's 8x8 digits as float images in [0, 1] with a channel axis, and labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[..., None]
    return x, data.target.astype(np.int32)
