"""Batch-norm statistics that match a network's final weights ("precise BN").

Keras's batch norm keeps moving averages that start at mean 0 and variance 1
and move by ``1 - momentum`` (0.1 here) a step. After a few dozen steps they
still carry much of that start, and inference uses them: a network trained
for 40 steps could score 90% in training mode and chance in inference mode.
`recompute_batch_norm_statistics` replaces them, after training, by the
average over a sample of training batches of the statistics each batch norm
computes in training mode with the final weights (Wu & Johnson, "Rethinking
'Batch' in BatchNorm", 2021), with no weight update and drop path off.
"""

import keras
import numpy as np

from autoarch.darts.cells import DropPath

__all__ = ["batch_norm_layers", "recompute_batch_norm_statistics"]


def batch_norm_layers(model):
    """Every `keras.layers.BatchNormalization` inside ``model`` (nested layers included), in a fixed order."""
    return [
        layer for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]


def _drop_path_layers(model):
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True) if isinstance(layer, DropPath)]


def recompute_batch_norm_statistics(model, batches):
    """Set every batch norm's moving mean and variance to their averages over ``batches``, in training mode.

    Each batch goes through ``model`` eagerly in training mode (each batch
    norm normalizes with its batch's statistics, as in training) with every
    `DropPath` at rate 0; the batch means and (biased) variances every batch
    norm computes are averaged, weighted by batch size, and become its moving
    statistics. Weights, drop-path rates and momenta are left as they were.
    Under a ``tf.distribute`` strategy the model runs in cross-replica
    context: a synchronized batch norm then takes each whole batch's
    statistics, as it does across the replicas in training.

    Args:
        model: a built `keras.Model`.
        batches: an iterable of image batches, or of ``(images, targets)`` pairs,
            normalised as in training but not augmented. A few large
            batches cost least: each costs an eager call's overhead.

    Returns:
        The number of images the statistics come from (0 when ``model`` has no
        batch norm or ``batches`` is empty; the statistics are then unchanged).
    """
    norms = batch_norm_layers(model)
    if not norms:
        return 0
    drop_paths = _drop_path_layers(model)
    momenta = [norm.momentum for norm in norms]
    rates = [np.asarray(layer.rate) for layer in drop_paths]
    sums = [[np.zeros(norm.moving_mean.shape, np.float64), np.zeros(norm.moving_variance.shape, np.float64)]
            for norm in norms]
    count = 0
    try:
        for norm in norms:
            norm.momentum = 0.0  # the moving statistics become the batch's: read them after each batch
        for layer in drop_paths:
            layer.rate.assign(0.0)
        for batch in batches:
            images = batch[0] if isinstance(batch, (tuple, list)) else batch
            size = int(images.shape[0])
            model(images, training=True)  # eagerly: a trace would cost more than a few large batches
            for total, norm in zip(sums, norms):
                total[0] += size * np.asarray(norm.moving_mean, np.float64)
                total[1] += size * np.asarray(norm.moving_variance, np.float64)
            count += size
    finally:
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum
        for layer, rate in zip(drop_paths, rates):
            layer.rate.assign(rate)
    if count:
        for norm, (mean, variance) in zip(norms, sums):
            norm.moving_mean.assign((mean / count).astype(np.float32))
            norm.moving_variance.assign((variance / count).astype(np.float32))
    return count
