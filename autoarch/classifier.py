"""`ImageClassifier`: find a network architecture for image classification, and train it."""

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.metrics import accuracy_score, log_loss

from autoarch.image_estimator import _ImageEstimator
from autoarch.labels import LabelEncoding
from autoarch.validation import check_labels

__all__ = ["ImageClassifier"]


class ImageClassifier(ClassifierMixin, _ImageEstimator):
    """Find a network architecture for an image classification task, and train it.

    Each trial runs a DARTS search (cells of mixed operations, bilevel training),
    derives a genotype, trains that network and scores it on a holdout;
    keras-tuner chooses each trial's outer hyperparameters. The final model
    averages the predictions of the best trial's network and of those chosen
    to join it (see ``ensemble_size``), as their trials trained them or
    trained again on all the data (see ``refit``).

    The fitted attributes (below) are set only when ``fit`` succeeds: bad
    input leaves an earlier fit untouched, a fit that fails later leaves the
    estimator unfitted.

    Args:
        max_trials: trials to run (>= 1).
        tuner: ``"random"``, ``"bayesian"``, ``"hyperband"``, ``"evolution"``, or
            a `keras_tuner.Oracle`. Named oracles try the defaults first. An
            oracle is copied for each fit (the one given runs nothing); its
            own ``max_trials`` and seed are used, with a warning when they
            differ from these.
        objective: ``"val_accuracy"`` (default) or ``"val_loss"``, or a
            `keras_tuner.Objective` on one of them.
        directory: where the project folder goes (default: the current folder).
        project_name: the project folder. Default: ``"image_classifier-"``
            and ten hex digits of the fit's identity (the data's fingerprint,
            the validation data and split, seed, tuner, search space,
            genotype and ensemble size), so a fit on other data, as each fold
            of ``cross_val_score`` is, gets its own folder and the same fit
            resumes its own. A name you choose is refused, with what differs,
            when the project was made for another fit. One process at a time
            may fit a project (a lock file beside it).
        overwrite: delete the project and start afresh; otherwise a rerun
            resumes, and completed trials are not redone.
        seed: seeds Python, numpy, Keras and the oracle; the same seed on CPU
            gives the same genotypes and predictions.
        time_limit: seconds for the whole fit, the final fit and saving
            included: a trial starts only while it is expected to end in
            time, a running stage stops between batches (a training cut short
            still anneals its learning rate), and the best model so far is
            kept (see `autoarch.tuning.budget`).
        max_model_size: most parameters of a derived network; larger ones fail
            their trial with the reason recorded. The final model (all the
            ensemble's networks together) stays within it too.
        max_flops: most multiply-adds per image of a derived network, counted
            as its operations run (`autoarch.darts.costs`); costlier ones fail
            their trial before training, with the reason recorded. The final
            model (all the ensemble's networks together) stays within it too.
        max_latency_ms: most milliseconds per image of the final model on the
            ``latency_target`` (None: no latency budget). The search weighs
            the derived network's expected latency, a network estimated over
            it fails its trial before training, every trained network is
            measured as it will be exported and fails its trial when over it,
            and the final model (the ensemble's networks together) keeps to
            it. When no trial meets it, ``fit`` raises with the smallest
            latency reached. See the "Hardware-aware search" guide.
        latency_target: where the latency counts: ``"tflite-cpu"`` (this
            machine's CPU, the TFLite interpreter on one thread, float32;
            each operation is measured once per shape and cached, see
            `autoarch.latency`), or a `autoarch.latency.LatencyTable`
            measured elsewhere, which must hold every entry the search
            space may need.
        latency_weight: strength of the latency term in the architecture
            loss (None: `autoarch.tuning.cost_budgets.LATENCY_WEIGHT`).
        search_space: fix or narrow settings of `autoarch.tuning.space.SETTINGS`:
            a value fixes, a list is a choice, a ``(min, max)`` tuple a range;
            ``"primitives"`` sets the candidate operations.
        verbose: 0 silent; 1 a progress bar per stage and a line per trial;
            2 one line per epoch instead of bars (for logs).
        refit: whether and how each network of the final model is trained
            on all the data (the holdout included) after the search: False
            (default) keeps the trial's network as it is; ``"scratch"`` (or
            True) retrains the trial's genotype from scratch for the trial's
            epochs (the most accurate in ``benchmarks/refit.py``, at about
            twice a one-trial fit's time); ``"continue"`` trains the trial's
            network further, for an eighth of its epochs.
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
        latency_ms_: with ``max_latency_ms``, the final model's measured
            milliseconds per image, as ``export(format="tflite")`` writes it.
        latency_measurement_: how ``latency_ms_`` was measured (device,
            TensorFlow version, threads, runs).
        results_: one dict per trial: ``trial_id``, ``hyperparameters``,
            ``genotype``, ``score``, ``parameters``, ``flops`` (multiply-adds
            per image), ``latency_ms`` and ``latency_estimate_ms`` (measured
            and estimated, with ``max_latency_ms``), ``seconds``,
            ``epoch_seconds`` and ``first_epoch_seconds`` of its training,
            ``stopped_by_time_limit``,
            ``search_confidence`` (see `autoarch.darts.confidence`; None
            without a search), ``status``,
            ``reason`` (why it failed), ``worker``, ``rank`` (1 for the best
            trial, None for one that did not complete; see
            `autoarch.tuning.ranking`), and the ``objective`` and
            ``direction`` of ``score``.
        tuner_: the keras-tuner tuner of the search, as keras-tuner users
            know it (``tuner_.results_summary()``,
            ``tuner_.oracle.get_best_trials()``); its oracle is the one that
            ran the trials (a copy of an oracle given as ``tuner``). Not
            restored by `load`, nor kept by ``pickle``.
    """

    _objectives = ("val_accuracy", "val_loss")
    _default_project_name = "image_classifier"
    _task_name = "classification"
    _check_labels = staticmethod(check_labels)

    _encoder_class = LabelEncoding

    def _set_encoder(self, encoder):
        self._encoding = encoder
        self.classes_ = encoder.classes_

    @staticmethod
    def _task_identity(encoder):
        return {"classes": encoder.classes_.tolist()}

    def _task_metadata(self):
        return self._encoding.to_dict()

    def predict_proba(self, x, batch_size=None, verbose=0):
        """Class probabilities ``(n, n_classes)``, columns in the order of ``classes_``.

        Args:
            x: images in any form ``fit`` accepts (an array, a list, a
                `tf.data.Dataset`, whose labels are ignored, or an image folder).
            batch_size: images per batch (default 256).
            verbose: Keras's progress display (0 silent).
        """
        return self._predict_raw(x, batch_size, verbose)

    def predict(self, x, batch_size=None, verbose=0):
        """Labels in the form ``y`` had in fit (same dtype; one-hot stays one-hot); see `predict_proba`."""
        self._check_fitted()
        return self._encoding.decode(np.argmax(self.predict_proba(x, batch_size, verbose), axis=1))

    def evaluate(self, x, y=None, batch_size=None, verbose=0, return_dict=False):
        """``[loss, accuracy]`` on ``(x, y)``, as Keras's and AutoKeras's ``evaluate`` return them.

        Args:
            x: images as for `predict`; or, with ``y`` None, a `tf.data.Dataset`
                of ``(image, label)`` pairs or an image folder.
            y: the labels, in the form ``fit`` was given.
            batch_size: images per batch (default 256).
            verbose: Keras's progress display (0 silent).
            return_dict: return ``{"loss": ..., "accuracy": ...}`` instead.

        The loss is the cross-entropy of the predicted probabilities.
        """
        self._check_fitted()
        x, y = self._labelled(x, y)
        proba = self.predict_proba(x, batch_size, verbose)
        truth = self._encoding.encode(y)
        metrics = {
            "loss": float(log_loss(truth, proba, labels=np.arange(len(self.classes_)))),
            "accuracy": float(accuracy_score(truth, np.argmax(proba, axis=1))),
        }
        return self._metrics_as(metrics, return_dict)

    def score(self, x, y=None, sample_weight=None):
        """Accuracy on ``(x, y)`` (``y`` None: ``x`` is a dataset of pairs or an image folder)."""
        self._check_fitted()
        x, y = self._labelled(x, y)
        truth = self._encoding.encode(y)
        return float(accuracy_score(truth, np.argmax(self.predict_proba(x), axis=1), sample_weight=sample_weight))
