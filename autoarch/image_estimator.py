"""The shared half of `ImageClassifier` and `ImageRegressor`: check, assemble, delegate.

`_ImageEstimator.fit` checks the parameters and the data before anything is
written, opens the project folder named after the fit's identity, assembles
the `autoarch.tuning.trial.Task` every trial shares, runs the search
(`autoarch.tuning.tuner`) and the final fit (`autoarch.tuning.final_fit`), and
only then sets the fitted attributes. Prediction, scoring helpers and export
are shared too; what differs between classes and values (the target
encoding, the objectives, the output layer) is filled in by the subclasses.
"""

import logging
import math
import os
import time

import keras
import keras_tuner
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError

from autoarch import project
from autoarch.darts import Genotype
from autoarch.data import fit_splits
from autoarch.display import NotebookDisplay, log_output
from autoarch.export import EXPORT_FORMATS, export_model
from autoarch.inputs import (
    check_validation_split,
    read_image_folder,
    read_images,
    read_training_data,
    read_validation_data,
)
from autoarch.latency import LATENCY_TARGETS, LatencyTable, cached_table, device_fingerprint, measure_model_ms
from autoarch.parameters import Checked, Constraint, check_parameters, integer
from autoarch.runtime import configure_cpu_threads, device_strategy, gpu_present, released_graphs, resolve_devices
from autoarch.tuning import distributed
from autoarch.tuning import space as space_module
from autoarch.tuning.budget import TimeBudget
from autoarch.tuning.budget_sizes import sized_for_budgets
from autoarch.tuning.cost_budgets import check_latency_table, latency_is_measured
from autoarch.tuning.final_fit import REFIT_MODES, final_fit, refit_mode, trial_latency
from autoarch.tuning.ranking import as_objective
from autoarch.tuning.trial import make_task
from autoarch.tuning.oracles import TUNERS
from autoarch.tuning.tuner import make_tuner
from autoarch.tuning.user_callbacks import check_callbacks

__all__ = []  # the estimators are public through autoarch.classifier and autoarch.regressor

log = logging.getLogger("autoarch")


FINAL_MEASUREMENT_SECONDS = 10.0
"""Time a time limit must leave for measuring the final model's latency (a TFLite conversion and its runs)."""


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


class _ImageEstimator(NotebookDisplay, BaseEstimator):
    """Shared fit/predict/export logic; see `ImageClassifier` for the arguments."""

    _regression = False
    _objectives = ()
    _default_project_name = None

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
        max_flops=None,
        max_latency_ms=None,
        latency_target="tflite-cpu",
        latency_weight=None,
        search_space=None,
        verbose=1,
        refit=False,
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
        self.max_flops = max_flops
        self.max_latency_ms = max_latency_ms
        self.latency_target = latency_target
        self.latency_weight = latency_weight
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
        "max_flops": Constraint(
            lambda value: value is None or (isinstance(value, (int, np.integer)) and value >= 1),
            "a number of multiply-adds >= 1 or None",
        ),
        "max_latency_ms": Constraint(
            lambda value: value is None or (_is_number(value) and 0 < value < math.inf),
            "a number of milliseconds > 0 or None",
        ),
        "latency_target": Constraint(
            lambda value: isinstance(value, LatencyTable) or (isinstance(value, str) and value in LATENCY_TARGETS),
            f"one of {', '.join(repr(t) for t in LATENCY_TARGETS)} or a LatencyTable",
        ),
        "latency_weight": Constraint(
            lambda value: value is None or (_is_number(value) and 0 < value < math.inf), "a number > 0 or None"
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
        return as_objective(self.objective or self._objectives[0])

    def _fixed_genotype(self):
        if isinstance(self.genotype, Genotype):
            return self.genotype
        if isinstance(self.genotype, str):
            return Genotype.from_json(self.genotype)
        raise ValueError(f"genotype must be a Genotype or its JSON, got {type(self.genotype).__name__}")

    # ------------------------------------------------------------ fitting

    def fit(self, x, y=None, validation_split=0.2, validation_data=None, callbacks=None, epochs=None,
            batch_size=None, verbose=None):
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
            callbacks: Keras callbacks; every network training (each
                trial's, each final fit) gets its own deep copy, with the
                holdout as its validation data where the network did not
                train on it (so ``val_loss`` can be monitored), and
                ``TensorBoard`` / ``CSVLogger`` writing one folder or file
                per training (`autoarch.tuning.user_callbacks`).
            epochs: fixes the training epochs of every trial (the
                ``train_epochs`` setting), as AutoKeras's ``fit`` does;
                None leaves them to the search.
            batch_size: fixes the batch size of every trial (the
                ``batch_size`` setting); None leaves it to the search.
            verbose: this call's verbosity (0, 1 or 2) instead of the
                estimator's ``verbose``.

        Returns:
            self.

        Raises:
            ValueError: bad arguments or data, refused before any work and
                before anything is written.
            RuntimeError: every trial failed (the message gives the reasons).
            OSError: every trial failed because the disk was full, or the
                final model could not be saved (nothing is half written).
        """
        started = time.monotonic()
        objective = self._check_params()
        search_space, verbose = self._fit_options(epochs, batch_size, verbose)
        distributed.role()  # refuses bad distribution environment variables before any work
        check_validation_split(validation_split, validation_data)
        callbacks = check_callbacks(callbacks)
        primitives = space_module.search_primitives(search_space, gpu_present())
        encoder, data, targets, validation, splits = self._read_data(x, y, validation_split, validation_data)
        space = space_module.fit_space(len(data), data.image_shape, search_space, gpu_present(), self.allow_flips,
                                       training_samples=len(splits[0]) + len(splits[1]))
        latency_table = self._latency_table(space, primitives, data.image_shape, encoder.n_outputs)
        identity = self._identity(data, validation, validation_split, encoder, search_space)
        project_dir = self._project_dir(identity)
        distributed.open_project(project_dir, identity, self.overwrite)

        # Nothing was written, and the estimator was not changed, before this line.
        self._forget_fit()
        try:
            self._search_and_keep(encoder, data, targets, validation, splits, space, identity, project_dir,
                                  objective, primitives, started, callbacks, verbose, latency_table)
        except BaseException:
            self._forget_fit()  # a failed fit leaves the estimator unfitted, never half fitted
            raise
        self.fit_seconds_ = time.monotonic() - started
        return self

    def _fit_options(self, epochs, batch_size, verbose):
        """``(search_space, verbose)`` of this ``fit`` call: ``epochs`` and ``batch_size`` fix settings.

        Raises:
            ValueError: ``epochs`` or ``batch_size`` is not an integer >= 1, or
                ``verbose`` is not 0, 1 or 2.
        """
        search_space = dict(self.search_space or {})
        for name, setting, value in (("epochs", "train_epochs", epochs), ("batch_size", "batch_size", batch_size)):
            if value is not None:
                integer(1).check(name, value)
                search_space[setting] = int(value)
        if verbose is None:
            verbose = self.verbose
        elif verbose not in (0, 1, 2, False, True):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        return search_space, verbose

    def _search_and_keep(self, encoder, data, targets, validation, splits, space, identity, project_dir,
                         objective, primitives, started, callbacks, verbose, latency_table):
        """Run the search and the final fit, and set the fitted attributes."""
        configure_cpu_threads()
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed)
        # A project named after the fit's identity is shared only by fits of the same data alike: take turns.
        wait = self.project_name is None
        with log_output(verbose), distributed.project_lock(project_dir, wait), released_graphs():
            task = self._task(data, targets, encoder.n_outputs, splits, validation, primitives, started, callbacks,
                              latency_table)
            space = sized_for_budgets(space, task)
            tuner = make_tuner(
                self.tuner, objective, self.max_trials, space, project_dir,
                seed=self.seed, overwrite=self.overwrite, verbose=verbose, keep_networks=self.ensemble_size,
            )
            distributed.write_identity(project_dir, identity)
            tuner.search(task)
            self._set_encoder(encoder)
            self.image_shape_ = tuple(int(v) for v in data.image_shape)
            self.results_, self.project_dir_ = tuner.results(), project_dir
            self._final_fit_elsewhere = not distributed.does_final_fit()
            if self._final_fit_elsewhere:
                log.info("search over: %r makes the final model", distributed.final_fit_owner())
            else:
                self._keep(final_fit(
                    tuner, task, space, self.results_,
                    refit=self.refit, ensemble_size=self.ensemble_size, max_model_size=self.max_model_size,
                    max_flops=self.max_flops,
                    seed=self.seed, verbose=int(verbose), output_layer=self._output_layer,
                ), project_dir, task)
            tuner.release_memory()
            self.tuner_ = tuner

    def _forget_fit(self):
        """Remove every fitted attribute (``classes_``, ``model_``, ...): the estimator is unfitted."""
        for name in list(vars(self)):
            if (name.endswith("_") and not name.startswith("_")) or name in self._fitted_private:
                delattr(self, name)

    _fitted_private = ("_encoding", "_scaling", "_final_fit_elsewhere")

    def __getstate__(self):
        """What ``pickle`` and ``joblib`` keep: everything but ``tuner_``.

        The tuner holds keras-tuner's live oracle, which does not pickle; an
        unpickled estimator is as one from `autoarch.load`: it predicts,
        scores and exports, and has ``results_`` but no ``tuner_``.
        """
        state = dict(super().__getstate__())  # a copy: Python's own may be the live __dict__
        state.pop("tuner_", None)
        return state

    def __sklearn_is_fitted__(self):
        """Whether a final model exists: ``fit`` succeeded here (or `load` restored one)."""
        return hasattr(self, "model_")

    def __sklearn_tags__(self):
        """scikit-learn's tags: image arrays (3-D or 4-D) in, not 2-D tables; random without a seed."""
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.non_deterministic = self.seed is None
        tags.target_tags.required = True
        return tags

    def _read_data(self, x, y, validation_split, validation_data):
        """The target encoder fitted on ``y``, the checked data, its encoded targets, the validation data and the splits."""
        data = read_training_data(x, y, check=self._check_labels)
        encoder = self._encoder_class().fit(data.labels)
        targets = encoder.encode(data.labels)
        validation = None
        if validation_data is not None:
            validation_images = read_validation_data(validation_data, data.image_shape, check=self._check_labels)
            validation = validation_images, encoder.encode(validation_images.labels)
        holdout_fraction = 0.0 if validation is not None else float(validation_split)
        splits = fit_splits(data.labels, targets, self._regression, holdout_fraction, self.seed)
        return encoder, data, targets, validation, splits

    def _identity(self, data, validation, validation_split, encoder, search_space):
        """What this fit is, for the project folder (and the fitted ``image_shape_``).

        Besides the task, it holds everything that decides the trials: the
        fingerprints of the training and validation data, the holdout share,
        the seed, the tuner, the search space, a fixed genotype and the
        ensemble size. A project resumes only a fit whose identity matches.
        """
        image_shape = tuple(int(v) for v in data.image_shape)
        tuner = self.tuner if isinstance(self.tuner, str) else f"{type(self.tuner).__module__}.{type(self.tuner).__qualname__}"
        return project.identity(
            self._task_name, image_shape, **self._task_identity(encoder),
            data=data.fingerprint,
            validation_data=None if validation is None else validation[0].fingerprint,
            validation_split=None if validation is not None else float(validation_split),
            seed=self.seed,
            tuner=tuner,
            search_space=project.plain_search_space(search_space or {}),
            genotype=None if self.genotype is None else self._fixed_genotype().to_json(),
            ensemble_size=self.ensemble_size,
        )

    def _project_dir(self, identity):
        """``directory/project_name``; without a ``project_name``, one folder per identity."""
        name = self.project_name or f"{self._default_project_name}-{project.short_fingerprint(identity)}"
        return project.project_path(self.directory, name)

    def _latency_table(self, space, primitives, image_shape, num_outputs):
        """The `LatencyTable` of ``latency_target`` (None without ``max_latency_ms``).

        A table of another device must hold every entry the search may
        need; this machine's own (``"tflite-cpu"`` reads it from the cache)
        is completed as trials need it.

        Raises:
            ValueError: a given table lacks entries (see
                `autoarch.tuning.cost_budgets.check_latency_table`).
        """
        if self.max_latency_ms is None:
            return None
        target = self.latency_target
        if not isinstance(target, LatencyTable):
            return cached_table()
        if target.fingerprint != device_fingerprint(target.fingerprint.get("threads", 1)):
            genotype = None if self.genotype is None else self._fixed_genotype()
            check_latency_table(target, space, primitives, tuple(image_shape), num_outputs, genotype)
        return target

    def _measure_latency(self, task):
        """With a latency budget: ``latency_ms_`` of the final model and ``latency_measurement_``, how it was found.

        Measured as the model is exported when the latency table describes
        this machine and the time limit leaves `FINAL_MEASUREMENT_SECONDS`;
        otherwise the sum of the members' latencies (measured, or estimated
        with a table of another device), and ``latency_measurement_`` says so.
        """
        if self.max_latency_ms is None:
            return
        if latency_is_measured(task) and (task.budget is None or task.budget.left() > FINAL_MEASUREMENT_SECONDS):
            self.latency_ms_, self.latency_measurement_ = measure_model_ms(self.model_)
        else:
            rows = {row["trial_id"]: row for row in self.results_}
            self.latency_ms_ = float(sum(trial_latency(rows[trial_id]) for trial_id in self.ensemble_trials_))
            self.latency_measurement_ = {**task.latency_table.fingerprint,
                                         "summed_from_trials": True, "estimated": not latency_is_measured(task)}
        if self.latency_ms_ > self.max_latency_ms:
            log.warning("the final model measures %.3g ms per image, over max_latency_ms=%g (its trials kept to it; "
                        "the difference is the measurement's noise)", self.latency_ms_, self.max_latency_ms)

    def _task(self, data, targets, outputs, splits, validation, primitives, started, callbacks, latency_table=None):
        """The `autoarch.tuning.trial.Task` every trial of this fit shares."""
        task = make_task(
            data, targets, splits, validation,
            regression=self._regression,
            num_outputs=outputs,
            primitives=primitives,
            seed=self.seed,
            budget=None if self.time_limit is None else TimeBudget(self.time_limit, started),
            callbacks=list(callbacks or []),
            max_model_size=self.max_model_size,
            max_flops=self.max_flops,
            max_latency_ms=None if self.max_latency_ms is None else float(self.max_latency_ms),
            latency_table=latency_table,
            latency_weight=None if self.latency_weight is None else float(self.latency_weight),
            genotype=None if self.genotype is None else self._fixed_genotype(),
            baseline_first=self.time_limit is not None and self.max_trials > 1,
            strategy=device_strategy(self.devices),
        )
        task.final_fit_mode = refit_mode(self.refit, task)
        return task

    def _keep(self, final, project_dir, task):
        """Store the final fit's model and what it is made of (its latency too, with a budget), and save it."""
        self.best_genotype_ = final.best_genotype
        self.best_hyperparameters_ = final.best_hyperparameters
        self.ensemble_trials_ = final.ensemble_trials
        self.model_ = final.model
        self._measure_latency(task)
        project.save_final_model(project_dir, self.model_, self._metadata())
        self._warn_if_at_chance()

    def _warn_if_at_chance(self):
        """Log a warning when the best trial's holdout score is within noise of chance (its row's ``at_chance``)."""
        best = next((row for row in self.results_ if row["trial_id"] == self.ensemble_trials_[0]), None)
        if best is None or not best.get("at_chance"):
            return
        chance = ("an R² of 0" if self._regression
                  else f"the majority class's share, {best['chance_score']:.4g}, plus two standard errors")
        log.warning(
            "the final model has not learnt this task: its holdout score is within noise of chance (%s). "
            "Give it more time (time_limit), more training epochs (fit(epochs=...)) or more data", chance,
        )

    def _metadata(self):
        return {
            "estimator": type(self).__name__,
            "params": project.jsonable_params(self.get_params()),
            "image_shape": list(self.image_shape_),
            "best_genotype": self.best_genotype_.to_json(),
            "best_hyperparameters": self.best_hyperparameters_,
            "ensemble_trials": self.ensemble_trials_,
            "results": self.results_,
            **({} if getattr(self, "latency_ms_", None) is None else
               {"latency_ms": self.latency_ms_, "latency_measurement": self.latency_measurement_}),
            **self._task_metadata(),
        }

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

    def _predict_raw(self, x, batch_size=None, verbose=0):
        self._check_fitted()
        images = read_images(x, tuple(self.image_shape_))
        return self.model_.predict(images, verbose=verbose, batch_size=batch_size or 256)

    def _labelled(self, x, y):
        """``(images, labels)`` to score: ``x`` and ``y``, or a dataset of pairs or an image folder alone."""
        if y is None:
            if isinstance(x, (str, os.PathLike)):
                x, y = read_image_folder(x, image_size=tuple(self.image_shape_[:2]))
            else:
                data = read_validation_data(x, tuple(self.image_shape_), check=self._check_labels)
                return (data.images if data.images is not None else data.stream), data.labels
        return x, y

    @staticmethod
    def _metrics_as(metrics, return_dict):
        """Keras's form of ``evaluate``'s result: a list in ``metrics``' order, or the dict itself."""
        return dict(metrics) if return_dict else list(metrics.values())

    def export_model(self):
        """The final `keras.Model`: raw images (as given to fit) in, predictions out.

        A new model object each call, with the final model's layers and
        weights (training it trains the estimator's model too), but its own
        compiled ``predict``: a Keras model traced for one input rank fails on
        the other (``as_list() is not defined on an unknown TensorShape``), so
        a channel-less ``predict`` on what this returns no longer breaks the
        estimator's own `predict`.
        """
        self._check_fitted()
        if not getattr(self.model_, "inputs", None):  # not a functional model: no view to make
            return self.model_
        return keras.Model(self.model_.inputs, self.model_.outputs, name=self.model_.name)

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
