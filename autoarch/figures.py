"""The bottom floor of every picture: a standalone figure returned, or saved as a PNG.

It imports nothing of autoarch, so the genotype's cell drawing
(`autoarch.darts.Genotype.plot`) and the search plots (`autoarch.plots`)
both use it without an import pointing up.
"""

import os
import pathlib

__all__ = ["figure_or_png"]


def figure_or_png(fig, path, dpi):
    """Return ``fig`` when ``path`` is None; otherwise save it as a PNG at ``path``.

    Parent folders are created, and the figure is cleared after saving.

    Returns:
        matplotlib.figure.Figure | str: the figure, or the path written.
    """
    if path is None:
        return fig
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path, format="png", dpi=dpi)
    finally:
        fig.clear()  # release the artists; no pyplot figure exists to close
    return os.fspath(path)
