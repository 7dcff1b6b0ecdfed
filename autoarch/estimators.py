"""`ImageClassifier` and `ImageRegressor`: the scikit-learn-style facades, and `load`.

The estimators live in `autoarch.classifier` and `autoarch.regressor`, their
shared fit in `autoarch.image_estimator`; this module gathers them and
restores a fitted one from disk.
"""

import os

import keras

from autoarch import project
from autoarch.classifier import ImageClassifier
from autoarch.darts import Genotype
from autoarch.image_estimator import _ImageEstimator  # noqa: F401  (for old imports)
from autoarch.regressor import ImageRegressor
from autoarch.tuning.final_fit import (  # noqa: F401  (the CONTINUE_* shares: re-exported for old imports)
    CONTINUE_EPOCH_SHARE,
    CONTINUE_LEARNING_RATE_SHARE,
)

__all__ = ["ImageClassifier", "ImageRegressor", "load"]


def load(path):
    """A fitted estimator from a project folder or a ``.keras`` file from ``export``.

    Args:
        path: ``directory/project_name`` of a finished fit, or a ``.keras`` file
            written by ``export(path, format="keras")``.

    Returns:
        An `ImageClassifier` or `ImageRegressor` that predicts, scores and
        exports like the one that was fitted (labels decoded as in fit). Loaded
        from a project folder, its ``project_dir_`` is that folder, as after
        ``fit`` (the trials' files, for `autoarch.plots`, are there).

    Raises:
        ValueError: the path holds no autoarch model.
    """
    folder = os.fspath(path) if os.path.isdir(path) else None
    path, metadata = project.read_model_metadata(path, ("ImageClassifier", "ImageRegressor"))
    cls = ImageClassifier if metadata["estimator"] == "ImageClassifier" else ImageRegressor
    valid = cls().get_params()
    saved = {k: v for k, v in metadata["params"].items() if k in valid}
    estimator = cls(**{k: v for k, v in saved.items() if not (isinstance(v, str) and v.startswith("<"))})
    estimator.model_ = keras.saving.load_model(path)
    estimator.image_shape_ = tuple(metadata["image_shape"])
    estimator.best_genotype_ = Genotype.from_json(metadata["best_genotype"])
    estimator.best_hyperparameters_ = metadata["best_hyperparameters"]
    estimator.results_ = metadata["results"]
    estimator.ensemble_trials_ = metadata.get("ensemble_trials")  # None in files saved before ensembles
    if metadata.get("latency_ms") is not None:  # fitted with a latency budget
        estimator.latency_ms_, estimator.latency_measurement_ = metadata["latency_ms"], metadata["latency_measurement"]
    estimator._set_encoder(cls._encoder_class.from_dict(metadata))
    if folder is not None:
        estimator.project_dir_ = folder
    return estimator
