"""autoarch: AutoML for images that searches the network architecture (DARTS + keras-tuner)."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from autoarch.darts import Genotype  # noqa: E402  (registers every serializable layer)
from autoarch.estimators import ImageClassifier, ImageRegressor, load  # noqa: E402

__version__ = "0.1.0"

__all__ = ["ImageClassifier", "ImageRegressor", "Genotype", "load", "__version__"]
