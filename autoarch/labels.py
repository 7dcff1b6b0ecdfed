"""`LabelEncoding`: class labels to integer indices and back, in the user's own form."""

import numpy as np
from sklearn.preprocessing import LabelEncoder

__all__ = ["LabelEncoding"]


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
