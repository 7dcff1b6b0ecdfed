"""autoarch: AutoML for images that searches the network architecture (DARTS + keras-tuner)."""

import os
import platform

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
if platform.machine().lower() in ("x86_64", "amd64"):
    # TensorFlow turns its oneDNN kernels on by itself only on CPUs with
    # AVX-512 VNNI, BF16 or AMX. On an AVX2-only CPU they trained MNIST-10k's
    # network 1.9x faster (docs/benchmarks.md). Read once, when TensorFlow
    # loads: an explicit setting, or TensorFlow imported first, wins.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from autoarch.darts import Genotype  # noqa: E402  (registers every serializable layer)
from autoarch.estimators import ImageClassifier, ImageRegressor, load  # noqa: E402

__version__ = "0.1.0"

__all__ = ["ImageClassifier", "ImageRegressor", "Genotype", "load", "__version__"]
