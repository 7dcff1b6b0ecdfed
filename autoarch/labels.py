"""Targets in the user's own form: `LabelEncoding` for classes, `TargetScaling` for regression.

Both learn from ``fit``'s targets, encode them for training, and are saved in
a model's metadata (``to_dict``) and restored from it (``from_dict``), so a
loaded estimator decodes predictions as the fitted one did.
"""

import keras
import numpy as np
from sklearn.preprocessing import LabelEncoder

from autoarch.validation import check_targets

__all__ = ["LabelEncoding", "TargetScaling"]


class LabelEncoding:
    """Map labels (ints, strings, bools, or one-hot rows) to ``0..n_classes-1`` and back.

    1-D labels use scikit-learn's `LabelEncoder`, so ``classes_`` is sorted and
    ``decode`` returns the original dtype (ints stay ints of the same dtype,
    strings stay strings). A one-hot matrix maps to its column index and decodes
    to one-hot rows of the same dtype; ``classes_`` is then the column indices.

    Use it after `autoarch.validation.check_labels`.
    """

    def fit(self, y):
        """Learn the classes of ``y``; returns self."""
        y = np.asarray(y)
        self.one_hot_ = y.ndim == 2
        self.dtype_ = y.dtype
        if self.one_hot_:
            self.classes_ = np.arange(y.shape[1])
        else:
            self._encoder = LabelEncoder().fit(y)
            self.classes_ = self._encoder.classes_
        return self

    @property
    def n_classes(self):
        """Number of classes."""
        return len(self.classes_)

    @property
    def n_outputs(self):
        """The network's outputs: one probability per class (``n_classes``), as `TargetScaling.n_outputs` counts targets."""
        return self.n_classes

    def encode(self, y):
        """Integer class indices (int32) of ``y``.

        Raises:
            ValueError: a label not seen by ``fit``.
        """
        y = np.asarray(y)
        if self.one_hot_:
            if y.ndim != 2 or y.shape[1] != self.n_classes:
                raise ValueError(
                    f"expected one-hot labels with {self.n_classes} columns, got shape {y.shape}"
                )
            return np.argmax(y, axis=1).astype(np.int32)
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(
                f"labels {unknown[:5].tolist()} were not seen in fit; known classes: "
                f"{self.classes_[:10].tolist()}"
            )
        return self._encoder.transform(y).astype(np.int32)

    def decode(self, indices):
        """Labels in the form and dtype given to ``fit`` for class ``indices``."""
        indices = np.asarray(indices, dtype=np.int64)
        if self.one_hot_:
            return np.eye(self.n_classes, dtype=self.dtype_)[indices]
        return self.classes_[indices].astype(self.dtype_, copy=False)

    def to_dict(self):
        """The fitted encoding as JSON-able values: ``classes``, ``label_dtype``, ``one_hot``."""
        return {
            "classes": self.classes_.tolist(),
            "label_dtype": self.dtype_.str,
            "one_hot": bool(self.one_hot_),
        }

    @classmethod
    def from_dict(cls, values):
        """The encoding that `to_dict` gave ``values``."""
        encoding = cls()
        encoding.one_hot_ = values["one_hot"]
        encoding.dtype_ = np.dtype(values["label_dtype"])
        classes = np.asarray(values["classes"]).astype(encoding.dtype_ if not encoding.one_hot_ else np.int64)
        if encoding.one_hot_:
            encoding.classes_ = classes
        else:
            encoding.fit(classes)
        return encoding


class TargetScaling:
    """Standardise regression targets for training; the model gives them back in their own units.

    ``fit`` learns each target column's mean and standard deviation (1 for a
    constant column); ``encode`` gives the standardised columns, and
    `output_layer` the layer that turns the network's outputs back into the
    user's units inside the model.

    Use it after `autoarch.validation.check_targets`.
    """

    def fit(self, y):
        """Learn the mean and scale of each column of ``y``; returns self."""
        columns = check_targets(y, len(y)).reshape(len(y), -1)
        self.ndim_ = np.ndim(y)
        self.mean_ = columns.mean(axis=0)
        self.scale_ = np.where(columns.std(axis=0) > 0, columns.std(axis=0), 1.0)
        return self

    @property
    def n_outputs(self):
        """Number of target columns."""
        return len(self.mean_)

    def encode(self, y):
        """The standardised targets ``(n, n_outputs)`` as float32.

        Raises:
            ValueError: targets that `autoarch.validation.check_targets` refuses.
        """
        columns = check_targets(y, len(y)).reshape(len(y), -1)
        return ((columns - self.mean_) / self.scale_).astype(np.float32)

    def output_layer(self, outputs):
        """``outputs`` (standardised) in the targets' own units, through a `keras.layers.Rescaling`."""
        return keras.layers.Rescaling(
            scale=self.scale_.astype(np.float32).tolist(),
            offset=self.mean_.astype(np.float32).tolist(),
            name="targets",
        )(outputs)

    def to_dict(self):
        """The fitted scaling as JSON-able values: ``target_mean``, ``target_scale``, ``target_ndim``."""
        return {
            "target_mean": self.mean_.tolist(),
            "target_scale": self.scale_.tolist(),
            "target_ndim": int(self.ndim_),
        }

    @classmethod
    def from_dict(cls, values):
        """The scaling that `to_dict` gave ``values``."""
        scaling = cls()
        scaling.mean_ = np.asarray(values["target_mean"])
        scaling.scale_ = np.asarray(values["target_scale"])
        scaling.ndim_ = values["target_ndim"]
        return scaling
