"""Compiled networks kept between the trials of one fit, so a repeated shape is not traced again.

Tracing a DARTS supernet's bilevel step costs seconds on a CPU, and it is the
same graph for every trial whose search has the same shapes (image size,
batch size, cell count, widths, operations): a trial of an evolution search
that only mutated a learning rate, for example. `CompiledNetworks` keeps the
last trial's compiled network under a key of those shapes; the next trial
with the same key takes it and restarts it from freshly initialised weights
(`autoarch.darts.SearchNetwork.restart`) instead of compiling a new one.
"""

__all__ = ["CompiledNetworks"]


class CompiledNetworks:
    """At most one compiled network per kind (``"search"``), under the key of its shapes.

    Only the latest network of each kind is kept, so the memory held between
    trials is bounded by one network and its traced step.
    """

    def __init__(self):
        self._kept = {}

    def holds(self, kind, key):
        """Whether a network of ``kind`` is kept under ``key`` (`take` would return it)."""
        return kind in self._kept and self._kept[kind][0] == key

    def take(self, kind, key):
        """The kept network of ``kind`` if it was kept under ``key``, else None; either way it is no longer kept."""
        kept_key, network = self._kept.pop(kind, (None, None))
        return network if kept_key == key else None

    def keep(self, kind, key, network):
        """Keep ``network`` for a later trial of ``kind`` with the same ``key`` (replacing the one kept before)."""
        self._kept[kind] = (key, network)

    def clear(self):
        """Let go of every kept network."""
        self._kept.clear()
