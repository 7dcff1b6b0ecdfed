"""`ImageRegressor`: find a network architecture for image regression, and train it."""

from sklearn.base import RegressorMixin
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from autoarch.image_estimator import _ImageEstimator
from autoarch.labels import TargetScaling
from autoarch.validation import check_targets

__all__ = ["ImageRegressor"]


class ImageRegressor(RegressorMixin, _ImageEstimator):
    """Find a network architecture for image regression (1-D or ``(n, k)`` targets).

    The same search as `ImageClassifier`, with a mean squared error loss; targets
    are standardised for training and the model outputs them in their own units.
    The objective is ``"val_loss"`` (default) or ``"val_r2"``; ``score`` is R².
    See `ImageClassifier` for the arguments and attributes (no ``classes_``).
    """

    _regression = True
    _objectives = ("val_loss", "val_r2")
    _default_project_name = "image_regressor"
    _task_name = "regression"
    _check_labels = staticmethod(check_targets)

    _encoder_class = TargetScaling

    def _set_encoder(self, encoder):
        self._scaling = encoder

    @staticmethod
    def _task_identity(encoder):
        return {"outputs": int(encoder.n_outputs)}

    def _task_metadata(self):
        return self._scaling.to_dict()

    def _output_layer(self, outputs):
        return self._scaling.output_layer(outputs)

    def predict(self, x, batch_size=None, verbose=0):
        """Predicted targets, 1-D when ``y`` was 1-D; arguments as `ImageClassifier.predict_proba`."""
        values = self._predict_raw(x, batch_size, verbose)
        return values[:, 0] if self._scaling.ndim_ == 1 else values

    def evaluate(self, x, y=None, batch_size=None, verbose=0, return_dict=False):
        """``[loss (MSE), mae, r2]`` on ``(x, y)``; arguments as `ImageClassifier.evaluate`."""
        self._check_fitted()
        x, y = self._labelled(x, y)
        predicted = self.predict(x, batch_size, verbose)
        truth = check_targets(y, len(predicted))
        metrics = {
            "loss": float(mean_squared_error(truth, predicted)),
            "mae": float(mean_absolute_error(truth, predicted)),
            "r2": float(r2_score(truth, predicted)),
        }
        return self._metrics_as(metrics, return_dict)

    def score(self, x, y=None, sample_weight=None):
        """R² of the predictions on ``(x, y)`` (``y`` None: ``x`` is a dataset of pairs)."""
        self._check_fitted()
        x, y = self._labelled(x, y)
        return float(r2_score(check_targets(y, None), self.predict(x), sample_weight=sample_weight))
