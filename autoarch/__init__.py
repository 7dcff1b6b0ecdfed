"""autoarch: AutoML for images that searches the network architecture (DARTS + keras-tuner)."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from autoarch.darts import Genotype  # noqa: E402  (registers every serializable layer)

__version__ = "0.1.0"

__all__ = ["Genotype", "__version__"]
