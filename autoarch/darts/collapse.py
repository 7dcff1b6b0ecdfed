"""`CollapseGuard`: stop a DARTS search that is collapsing or has settled."""

import logging

import keras

__all__ = ["CollapseGuard"]

logger = logging.getLogger(__name__)


class CollapseGuard(keras.callbacks.Callback):
    """Stop the search early when skip connections take over or the architecture settles.

    The rule, checked after every epoch in which the architecture trained (warm-up
    epochs are ignored), on the genotype derived *without* any skip cap:

    1. **Skip collapse** (DARTS+'s criterion): the normal cell holds more than
       ``max_skip_connections`` skip connections. Parameter-free skips crowding the
       normal cell is the known failure mode of DARTS; the search stops before it
       deepens.
    2. **Settled**: the derived genotype has not changed for ``patience``
       consecutive epochs; more search would only cost time.

    After training, ``stopped_epoch`` (or None) and ``reason`` (``"skip_collapse"``,
    ``"settled"`` or None) say what happened.

    Args:
        max_skip_connections: skips tolerated in the normal cell.
        patience: epochs with an unchanged genotype before stopping (None: never).
    """

    def __init__(self, max_skip_connections=2, patience=3):
        super().__init__()
        if not isinstance(max_skip_connections, int) or max_skip_connections < 0:
            raise ValueError(f"max_skip_connections must be >= 0, got {max_skip_connections!r}")
        if patience is not None and patience < 1:
            raise ValueError(f"patience must be >= 1 or None, got {patience!r}")
        self.max_skip_connections = max_skip_connections
        self.patience = patience

    def on_train_begin(self, logs=None):
        self.stopped_epoch = None
        self.reason = None
        self._last = None
        self._unchanged = 0

    def on_epoch_end(self, epoch, logs=None):
        if epoch < getattr(self.model, "arch_warmup_epochs", 0):
            return
        genotype = self.model.genotype()
        skips = genotype.count("skip_connect", "normal")
        if skips > self.max_skip_connections:
            self._stop(epoch, "skip_collapse", f"{skips} skip connections in the normal cell")
            return
        self._unchanged = self._unchanged + 1 if genotype == self._last else 0
        self._last = genotype
        if self.patience is not None and self._unchanged >= self.patience:
            self._stop(epoch, "settled", f"genotype unchanged for {self._unchanged} epochs")

    def _stop(self, epoch, reason, detail):
        self.stopped_epoch, self.reason = epoch, reason
        self.model.stop_training = True
        logger.info("CollapseGuard stopped the search after epoch %d: %s", epoch + 1, detail)
