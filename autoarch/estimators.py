"""`ImageClassifier` and `ImageRegressor`: the scikit-learn-style facades.

They validate everything first, delegate the search to `autoarch.tuning`,
retrain the best genotype (the final fit) and decode predictions back into the
user's own label form. `load` restores a fitted estimator.
"""

import contextlib
import json
import logging
import os
import sys
import time

import keras
import keras_tuner
import numpy as np
import tensorflow as tf
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score, log_loss, mean_absolute_error, mean_squared_error, r2_score

from autoarch import project
from autoarch.darts import Genotype, validate_primitives
from autoarch.data import search_splits
from autoarch.display import estimator_html, plain
from autoarch.export import EXPORT_FORMATS, export_keras, export_model, read_keras_metadata
from autoarch.inputs import read_images, read_training_data
from autoarch.labels import LabelEncoding
from autoarch.parameters import Checked, Constraint, check_parameters, integer
from autoarch.runtime import configure_cpu_threads, device_strategy, released_graphs, resolve_devices
from autoarch.tuning import distributed
from autoarch.tuning import space as space_module
from autoarch.tuning.final_fit import (  # noqa: F401  (the CONTINUE_* shares: re-exported for old imports)
    CONTINUE_EPOCH_SHARE,
    CONTINUE_LEARNING_RATE_SHARE,
    REFIT_MODES,
    final_fit,
)
from autoarch.tuning.trial import make_task
from autoarch.tuning.tuner import TUNERS, make_tuner
from autoarch.validation import check_labels

__all__ = ["ImageClassifier", "ImageRegressor", "load"]

log = logging.getLogger("autoarch")

_VALIDATION_SPLIT = Constraint(lambda value: isinstance(value, (int, float)) and 0 < value <= 0.5, "in (0, 0.5]")
"""What ``fit``'s ``validation_split`` accepts (checked when no ``validation_data`` is given)."""


@contextlib.contextmanager
def _output(verbose):
    """Show autoarch's log lines on stdout while verbose, unless logging is configured."""
    handler = None
    if verbose and not log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    level = log.level
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)
        if handler is not None:
            log.removeHandler(handler)


def _gpu_present():
    return bool(tf.config.list_physical_devices("GPU"))


class _ImageEstimator(BaseEstimator):
    """Shared fit/predict/export logic; see `ImageClassifier` for the arguments."""

    _regression = False
    _objectives = ()

    def __init__(
        self,
        max_trials=10,
        tuner="bayesian",
        objective=None,
        directory=None,
        project_name=None,
        overwrite=False,
        seed=None,
        time_limit=None,
        max_model_size=None,
        search_space=None,
        verbose=1,
        refit="continue",
        ensemble_size=3,
        allow_flips=False,
        genotype=None,
        devices=None,
    ):
        self.max_trials = max_trials
        self.tuner = tuner
        self.objective = objective
        self.directory = directory
        self.project_name = project_name
        self.overwrite = overwrite
        self.seed = seed
        self.time_limit = time_limit
        self.max_model_size = max_model_size
        self.search_space = search_space
        self.verbose = verbose
        self.refit = refit
        self.ensemble_size = ensemble_size
        self.allow_flips = allow_flips
        self.genotype = genotype
        self.devices = devices

    # ------------------------------------------------------------ checking

    _parameter_table = {
        "max_trials": integer(1),
        "tuner": Constraint(
            lambda value: isinstance(value, keras_tuner.Oracle) or value in TUNERS,
            f"one of {', '.join(repr(t) for t in TUNERS)} or a keras_tuner.Oracle",
        ),
        "objective": Checked(lambda estimator, value: estimator._checked_objective()),
        "time_limit": Constraint(
            lambda value: value is None or (isinstance(value, (int, float)) and value > 0),
            "a number of seconds > 0 or None",
        ),
        "max_model_size": Constraint(
            lambda value: value is None or (isinstance(value, (int, np.integer)) and value >= 1),
            "a parameter count >= 1 or None",
        ),
        "search_space": Constraint(
            lambda value: value is None or isinstance(value, dict), "a dict or None", shown=lambda v: type(v).__name__
        ),
        "refit": Constraint(
            lambda value: any(value is mode or value == mode for mode in REFIT_MODES),
            "'continue', 'scratch', True or False",
        ),
        "ensemble_size": integer(1),
        "verbose": Constraint(lambda value: value in (0, 1, 2, False, True), "0, 1 or 2"),
        "genotype": Checked(lambda estimator, value: value is None or estimator._fixed_genotype()),
        "devices": Checked(lambda estimator, value: resolve_devices(value)),
    }
    """What each parameter accepts, checked in this order by `check_parameters`."""

    def _check_params(self):
        check_parameters(self, self._parameter_table)
        return self._objective()

    def _checked_objective(self):
        objective = self._objective()
        if objective.name not in self._objectives:
            raise ValueError(
                f"objective must be one of {', '.join(self._objectives)}, got {objective.name!r}"
            )
        return objective

    def _objective(self):
        objective = self.objective or self._objectives[0]
        if isinstance(objective, keras_tuner.Objective):
            return objective
        if not isinstance(objective, str):
            raise ValueError(f"objective must be a metric name or keras_tuner.Objective, got {objective!r}")
        return keras_tuner.Objective(objective, "min" if objective.endswith("loss") else "max")

    def _fixed_genotype(self):
        if isinstance(self.genotype, Genotype):
            return self.genotype
        if isinstance(self.genotype, str):
            return Genotype.from_json(self.genotype)
        raise ValueError(f"genotype must be a Genotype or its JSON, got {type(self.genotype).__name__}")

    def _project_dir(self):
        name = self.project_name or ("image_regressor" if self._regression else "image_classifier")
        return os.path.join(os.fspath(self.directory or "."), name)


    # ------------------------------------------------------------ fitting

    def fit(self, x, y=None, validation_split=0.2, validation_data=None, callbacks=None):
        """Search architectures and hyperparameters, then train the final model.

        With keras-tuner's ``KERASTUNER_*`` environment variables set, this
        process is the chief or a worker of a distributed search: the chief
        serves the oracle, workers run the trials, and only one process (the
        chief, or the one ``AUTOARCH_FINAL_FIT`` names) makes the final model.
        The others get ``results_`` and ``project_dir_`` but no model: their
        ``predict`` raises `NotFittedError` and says where the model is (see
        the "Scaling out" guide).

        Args:
            x: images: a numpy array ``(n, h, w)`` or ``(n, h, w, c)`` (uint8 or
                float, any size from 8x8, 1 to 4 channels), a list of arrays, a
                `tf.data.Dataset` of ``(image, label)`` elements or batches, or
                a folder with one subfolder of images per class.
            y: labels (arrays and lists only): ints, strings, bools or one-hot
                rows; float targets for the regressor.
            validation_split: share of the data held out to score trials.
            validation_data: ``(x_val, y_val)`` (or a dataset) that scores trials
                instead of a holdout.
            callbacks: Keras callbacks given to every network training (the
                trials' and the final fit).

        Returns:
            self.

        Raises:
            ValueError: bad arguments or data, refused before any work and
                before anything is written.
            RuntimeError: every trial failed (the message gives the reasons).
        """
        started = time.monotonic()
        objective = self._check_params()
        distributed.role()  # refuses bad distribution environment variables before any work
        if validation_data is None:
            _VALIDATION_SPLIT.check("validation_split", validation_split)
        primitives = validate_primitives(
            (self.search_space or {}).get("primitives", space_module.default_primitives(_gpu_present()))
        )
        data = read_training_data(x, y, check=self._check_labels)
        targets, outputs = self._encode_fit_targets(data.labels)
        validation = None if validation_data is None else self._read_validation(validation_data, data)
        splits = self._search_splits(data, targets, 0.0 if validation is not None else float(validation_split))
        space = space_module.narrow_space(
            space_module.default_space(len(data), data.image_shape, _gpu_present(), self.allow_flips),
            self.search_space,
        )
        identity, project_dir = self._identity(data), self._project_dir()
        distributed.open_project(project_dir, identity, self.overwrite)

        # Nothing was written before this line.
        configure_cpu_threads()
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed)
        with _output(self.verbose), released_graphs():
            tuner = make_tuner(
                self.tuner, objective, self.max_trials, space, project_dir,
                seed=self.seed, overwrite=self.overwrite, verbose=self.verbose, keep_networks=self.ensemble_size,
            )
            distributed.write_identity(project_dir, identity)
            task = make_task(
                data, targets, splits, validation,
                regression=self._regression,
                num_outputs=outputs,
                primitives=primitives,
                seed=self.seed,
                deadline=None if self.time_limit is None else started + self.time_limit,
                callbacks=list(callbacks or []),
                max_model_size=self.max_model_size,
                genotype=None if self.genotype is None else self._fixed_genotype(),
                strategy=device_strategy(self.devices),
            )
            tuner.search(task)
            self.results_ = tuner.results()
            self.project_dir_ = project_dir
            self._final_fit_elsewhere = not distributed.does_final_fit()
            if self._final_fit_elsewhere:
                self.__dict__.pop("model_", None)
                log.info("search over: %r makes the final model", distributed.final_fit_owner())
            else:
                self._keep(final_fit(
                    tuner, task, space, self.results_,
                    refit=self.refit, ensemble_size=self.ensemble_size, max_model_size=self.max_model_size,
                    seed=self.seed, verbose=int(self.verbose), output_layer=self._output_layer,
                ), project_dir)
        self.fit_seconds_ = time.monotonic() - started
        return self

    def _search_splits(self, data, targets, holdout_fraction):
        # Stratify on the user's own labels, so an error names their classes.
        strata = data.labels if data.labels.ndim == 1 and not self._regression else targets
        return search_splits(
            strata if not self._regression else np.zeros(len(targets)),
            holdout_fraction=holdout_fraction,
            seed=self.seed,
            stratify=not self._regression,
        )

    def _keep(self, final, project_dir):
        """Store the final fit's model and what it is made of, and save it in the project."""
        self.best_genotype_ = final.best_genotype
        self.best_hyperparameters_ = final.best_hyperparameters
        self.ensemble_trials_ = final.ensemble_trials
        self.model_ = final.model
        path = os.path.join(project_dir, project.FINAL_MODEL)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        export_keras(self.model_, path, self._metadata(), overwrite=True)

    # ------------------------------------------------------------ task specific hooks

    def _identity(self, data):
        raise NotImplementedError

    def _encode_fit_targets(self, labels):
        raise NotImplementedError

    def _read_validation(self, validation_data, data):
        if isinstance(validation_data, tf.data.Dataset):
            val = read_training_data(
                validation_data, name="validation_data", check=self._check_labels, labels_name="validation_data labels"
            )
        else:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be (x_val, y_val) or a tf.data.Dataset of pairs")
            val = read_training_data(
                validation_data[0],
                validation_data[1],
                name="validation_data",
                check=self._check_labels,
                labels_name="validation_data labels",
            )
        if tuple(val.image_shape) != tuple(data.image_shape):
            raise ValueError(
                f"validation_data: expected images of shape {tuple(data.image_shape)} as in x, "
                f"got {tuple(val.image_shape)}"
            )
        return val, self._encode_targets(val.labels)

    def _output_layer(self, outputs):
        return outputs

    # ------------------------------------------------------------ using the model

    def _check_fitted(self):
        if not hasattr(self, "model_") and getattr(self, "_final_fit_elsewhere", False):
            raise NotFittedError(distributed.not_fitted_message(type(self).__name__, self.project_dir_))
        if not hasattr(self, "model_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit before using it"
            )

    def _predict_raw(self, x):
        self._check_fitted()
        images = read_images(x, tuple(self.image_shape_))
        return self.model_.predict(images, verbose=0, batch_size=256)

    def export_model(self):
        """The final `keras.Model`: raw images (as given to fit) in, predictions out."""
        self._check_fitted()
        return self.model_

    def export(self, path, format="saved_model", overwrite=False):
        """Export the final model.

        Args:
            path: a folder for ``"saved_model"`` (signatures ``serve`` /
                ``serving_default`` on float32 images and ``serve_uint8``), a
                ``.keras`` file (loads after ``import autoarch``; `load` restores
                the estimator from it), or a ``.tflite`` file.
            format: one of ``"saved_model"``, ``"keras"``, ``"tflite"``.
            overwrite: replace an existing file or folder.

        Returns:
            The path written.
        """
        self._check_fitted()
        if format not in EXPORT_FORMATS:
            raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {format!r}")
        metadata = self._metadata() if format == "keras" else None
        return export_model(self.model_, path, format=format, metadata=metadata, overwrite=overwrite)

    # ------------------------------------------------------------ notebook display

    def _repr_html_(self):
        """Return an HTML summary for notebooks (Jupyter and IPython display it).

        Before ``fit``: the class name, "not fitted" and the parameters. After:
        the task, classes, image shape, trial counts, best score and
        objective, fit time, parameter count, one table row per trial, and the
        best genotype's cells (see `Genotype._repr_html_`). This replaces
        scikit-learn's estimator diagram for autoarch's estimators.

        Returns:
            str: The HTML snippet; never raises for a missing attribute.
        """
        return estimator_html(self)

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        """Return the notebook display bundle: plain text and `_repr_html_`.

        IPython asks for this before ``_repr_html_``; scikit-learn's version
        would return its estimator diagram instead of autoarch's summary.
        """
        return {"text/plain": repr(self), "text/html": self._repr_html_()}

    def _metadata(self):
        return {
            "estimator": type(self).__name__,
            "params": _jsonable_params(self.get_params()),
            "image_shape": list(self.image_shape_),
            "best_genotype": self.best_genotype_.to_json(),
            "best_hyperparameters": self.best_hyperparameters_,
            "ensemble_trials": self.ensemble_trials_,
            "results": self.results_,
            **self._task_metadata(),
        }


def _jsonable_params(params):
    found = {}
    for key, value in params.items():
        if isinstance(value, Genotype):
            value = value.to_json()
        try:
            json.dumps(value)
        except TypeError:
            value = repr(value)
        found[key] = value
    return found


class ImageClassifier(ClassifierMixin, _ImageEstimator):
    """Find a network architecture for an image classification task, and train it.

    Each trial runs a DARTS search (cells of mixed operations, bilevel training),
    derives a genotype, trains that network and scores it on a holdout;
    keras-tuner chooses each trial's outer hyperparameters. The best trial's
    network, and those of the trials chosen to join it, then train a little
    longer on all the data (see ``refit``), and the final model averages
    their predictions (see ``ensemble_size``).

    Args:
        max_trials: trials to run (>= 1).
        tuner: ``"random"``, ``"bayesian"``, ``"hyperband"``, ``"evolution"``, or
            a `keras_tuner.Oracle`. Named oracles try the defaults first.
        objective: ``"val_accuracy"`` (default) or ``"val_loss"``, or a
            `keras_tuner.Objective` on one of them.
        directory: where the project folder goes (default: the current folder).
        project_name: the project folder (default ``"image_classifier"``).
        overwrite: delete the project and start afresh; otherwise a rerun
            resumes, and completed trials are not redone.
        seed: seeds Python, numpy, Keras and the oracle; the same seed on CPU
            gives the same genotypes and predictions.
        time_limit: seconds for the whole fit: no trial starts after it, a
            running stage stops at an epoch end, the best so far is used.
        max_model_size: most parameters of a derived network; larger ones fail
            their trial with the reason recorded. The final model (all the
            ensemble's networks together) stays within it too.
        search_space: fix or narrow settings of `autoarch.tuning.space.SETTINGS`:
            a value fixes, a list is a choice, a ``(min, max)`` tuple a range;
            ``"primitives"`` sets the candidate operations.
        verbose: 0 silent; 1 a progress bar per stage and a line per trial;
            2 one line per epoch instead of bars (for logs).
        refit: how each network of the final model is trained on all the
            data (the holdout included) after the search: ``"continue"``
            (default) trains the trial's network further, for an eighth of its
            epochs; ``"scratch"`` (or True) retrains the trial's genotype from
            scratch; False keeps the trial's network as it is.
        ensemble_size: the most trials' networks the final model averages.
            The best trial's comes first; another trial joins while its
            holdout predictions lower the holdout loss of the average
            (ensemble selection, see `autoarch.tuning.ensemble`). 1 gives
            the best trial's network alone.
        allow_flips: left-right flips keep the label, so augmentation may flip.
        genotype: a fixed `Genotype` (or its JSON) to train instead of searching.
        devices: the devices each trial trains on, under
            ``tf.distribute.MirroredStrategy`` (every batch split across them,
            batch norm synchronized): None (default) or 1 for TensorFlow's
            default device, an integer ``n`` for the first ``n`` GPUs (with no
            GPU, the first ``n`` logical CPU devices), or a list of names such
            as ``["/gpu:0", "/gpu:1"]``. Checked before any work; the
            exported model does not depend on it.

    Attributes:
        classes_: the classes, in the order of ``predict_proba``'s columns.
        best_genotype_: the best trial's genotype (the first network of the
            final model).
        best_hyperparameters_: the best trial's outer hyperparameters.
        ensemble_trials_: the trial ids whose networks the final model
            averages, best first.
        model_: the final `keras.Model` (raw images in, probabilities out).
        results_: one dict per trial: ``trial_id``, ``hyperparameters``,
            ``genotype``, ``score``, ``parameters``, ``seconds``, ``status``,
            ``reason`` (why it failed), ``worker``, ``rank`` (1 for the best
            trial, None for one that did not complete; see
            `autoarch.tuning.ranking`), and the ``objective`` and
            ``direction`` of ``score``.
    """

    _objectives = ("val_accuracy", "val_loss")
    _check_labels = staticmethod(check_labels)

    def _encode_fit_targets(self, labels):
        self._encoding = LabelEncoding().fit(labels)
        self.classes_ = self._encoding.classes_
        return self._encoding.encode(labels), self._encoding.n_classes

    def _encode_targets(self, labels):
        return self._encoding.encode(labels)

    def _identity(self, data):
        self.image_shape_ = tuple(int(v) for v in data.image_shape)
        return {
            "task": "classification",
            "image_shape": list(self.image_shape_),
            "classes": [plain(c) for c in self.classes_],
        }

    def _task_metadata(self):
        return {
            "classes": [plain(c) for c in self.classes_],
            "label_dtype": self._encoding.dtype_.str,
            "one_hot": bool(self._encoding.one_hot_),
        }

    def predict_proba(self, x):
        """Class probabilities ``(n, n_classes)``, columns in the order of ``classes_``."""
        return self._predict_raw(x)

    def predict(self, x):
        """Labels in the form ``y`` had in fit (same dtype; one-hot stays one-hot)."""
        self._check_fitted()
        return self._encoding.decode(np.argmax(self.predict_proba(x), axis=1))

    def evaluate(self, x, y):
        """``{"loss": cross-entropy, "accuracy": ...}`` on ``(x, y)``."""
        self._check_fitted()
        proba = self.predict_proba(x)
        truth = self._encoding.encode(y)
        return {
            "loss": float(log_loss(truth, proba, labels=np.arange(len(self.classes_)))),
            "accuracy": float(accuracy_score(truth, np.argmax(proba, axis=1))),
        }

    def score(self, x, y, sample_weight=None):
        """Accuracy on ``(x, y)``."""
        self._check_fitted()
        truth = self._encoding.encode(y)
        return float(accuracy_score(truth, np.argmax(self.predict_proba(x), axis=1), sample_weight=sample_weight))


class ImageRegressor(RegressorMixin, _ImageEstimator):
    """Find a network architecture for image regression (1-D or ``(n, k)`` targets).

    The same search as `ImageClassifier`, with a mean squared error loss; targets
    are standardised for training and the model outputs them in their own units.
    The objective is ``"val_loss"`` (default) or ``"val_r2"``; ``score`` is R².
    See `ImageClassifier` for the arguments and attributes (no ``classes_``).
    """

    _regression = True
    _objectives = ("val_loss", "val_r2")

    @staticmethod
    def _check_labels(y, count, name="y"):
        return _check_targets(y, count, name)

    def _encode_fit_targets(self, labels):
        targets = _check_targets(labels, len(labels))
        self._target_ndim = np.ndim(labels)
        columns = targets.reshape(len(targets), -1)
        self._target_mean = columns.mean(axis=0)
        self._target_scale = np.where(columns.std(axis=0) > 0, columns.std(axis=0), 1.0)
        return self._encode_targets(labels), columns.shape[1]

    def _encode_targets(self, labels):
        columns = _check_targets(labels, len(labels)).reshape(len(labels), -1)
        return ((columns - self._target_mean) / self._target_scale).astype(np.float32)

    def _identity(self, data):
        self.image_shape_ = tuple(int(v) for v in data.image_shape)
        return {"task": "regression", "image_shape": list(self.image_shape_), "outputs": int(len(self._target_mean))}

    def _task_metadata(self):
        return {
            "target_mean": self._target_mean.tolist(),
            "target_scale": self._target_scale.tolist(),
            "target_ndim": int(self._target_ndim),
        }

    def _output_layer(self, outputs):
        return keras.layers.Rescaling(
            scale=self._target_scale.astype(np.float32).tolist(),
            offset=self._target_mean.astype(np.float32).tolist(),
            name="targets",
        )(outputs)

    def predict(self, x):
        """Predicted targets, 1-D when ``y`` was 1-D."""
        values = self._predict_raw(x)
        return values[:, 0] if self._target_ndim == 1 else values

    def evaluate(self, x, y):
        """``{"loss": MSE, "mae": ..., "r2": ...}`` on ``(x, y)``."""
        predicted = self.predict(x)
        truth = _check_targets(y, len(predicted))
        return {
            "loss": float(mean_squared_error(truth, predicted)),
            "mae": float(mean_absolute_error(truth, predicted)),
            "r2": float(r2_score(truth, predicted)),
        }

    def score(self, x, y, sample_weight=None):
        """R² of the predictions on ``(x, y)``."""
        return float(r2_score(_check_targets(y, None), self.predict(x), sample_weight=sample_weight))


def _check_targets(y, count, name="y"):
    array = np.asarray(y)
    if array.ndim not in (1, 2) or array.shape[0] == 0:
        raise ValueError(f"{name}: expected a 1-D or 2-D array of targets, got shape {array.shape}")
    if count is not None and array.shape[0] != count:
        raise ValueError(f"{name}: expected one target per image ({count}), got {array.shape[0]}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"{name}: regression targets must be numbers, got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: regression targets must be finite, found NaN or infinite values")
    return array


def load(path):
    """A fitted estimator from a project folder or a ``.keras`` file from ``export``.

    Args:
        path: ``directory/project_name`` of a finished fit, or a ``.keras`` file
            written by ``export(path, format="keras")``.

    Returns:
        An `ImageClassifier` or `ImageRegressor` that predicts, scores and
        exports like the one that was fitted (labels decoded as in fit).

    Raises:
        ValueError: the path holds no autoarch model.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, project.FINAL_MODEL)
    if not os.path.isfile(path):
        raise ValueError(f"no autoarch model at {path!r}: expected a project folder or a .keras export")
    metadata = read_keras_metadata(path)
    if not metadata or metadata.get("estimator") not in ("ImageClassifier", "ImageRegressor"):
        raise ValueError(f"{path!r} is a Keras file without autoarch's metadata")
    cls = ImageClassifier if metadata["estimator"] == "ImageClassifier" else ImageRegressor
    params = dict(metadata["params"])
    valid = cls().get_params()
    estimator = cls(**{k: v for k, v in params.items() if k in valid and not (isinstance(v, str) and v.startswith("<"))})
    estimator.model_ = keras.saving.load_model(path)
    estimator.image_shape_ = tuple(metadata["image_shape"])
    estimator.best_genotype_ = Genotype.from_json(metadata["best_genotype"])
    estimator.best_hyperparameters_ = metadata["best_hyperparameters"]
    estimator.results_ = metadata["results"]
    estimator.ensemble_trials_ = metadata.get("ensemble_trials")  # None in files saved before ensembles
    if cls is ImageClassifier:
        dtype = np.dtype(metadata["label_dtype"])
        encoding = LabelEncoding()
        encoding.one_hot_ = metadata["one_hot"]
        encoding.dtype_ = dtype
        classes = np.asarray(metadata["classes"]).astype(dtype if not encoding.one_hot_ else np.int64)
        if encoding.one_hot_:
            encoding.classes_ = classes
        else:
            encoding.fit(classes)
        estimator._encoding = encoding
        estimator.classes_ = encoding.classes_
    else:
        estimator._target_mean = np.asarray(metadata["target_mean"])
        estimator._target_scale = np.asarray(metadata["target_scale"])
        estimator._target_ndim = metadata["target_ndim"]
    return estimator
