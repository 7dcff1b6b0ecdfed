"""Discrete DARTS architectures: the `Genotype` value, its JSON, summary and drawing.

A genotype describes the two cell types of a DARTS network. Each cell has two
inputs (index 0 is the output of the cell before the previous one, ``c_{k-2}``;
index 1 the previous cell's output, ``c_{k-1}``) and ``nodes`` intermediate
nodes numbered 2..nodes+1. Intermediate node ``i`` (counting from 0) sums two
operations, each applied to one of the indices 0..i+1. The cell output
concatenates the nodes listed in the ``*_concat`` fields.

How a genotype is derived from a search's weights (or drawn at random) is
`autoarch.darts.derivation`. Both depend only on numpy, json and matplotlib,
so genotypes can be read, derived, printed and plotted without TensorFlow.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from autoarch.figures import figure_or_png

from .primitives import PRIMITIVES

__all__ = ["DARTS_V2", "Genotype"]

_CELLS = ("normal", "reduce")
_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")
_ABBREVIATIONS = {
    "max_pool_3x3": "max",
    "avg_pool_3x3": "avg",
    "skip_connect": "skip",
    "sep_conv_3x3": "sep3",
    "sep_conv_5x5": "sep5",
    "dil_conv_3x3": "dil3",
    "dil_conv_5x5": "dil5",
}


def _is_int(value):
    # bool is a subclass of int, but True as an input index is a mistake.
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_cell(name, cell):
    """Return ``cell`` as a tuple of ``(op, index)`` tuples, or raise ValueError."""
    if isinstance(cell, (str, bytes)) or not isinstance(cell, (list, tuple)):
        raise ValueError(
            f"{name} must be a list of (operation, input_index) pairs, got {cell!r}"
        )
    if not cell:
        raise ValueError(f"{name} must have at least one node (two pairs), got an empty cell")
    if len(cell) % 2:
        raise ValueError(
            f"{name} must have two (operation, input_index) pairs per node, "
            f"got an odd number of pairs ({len(cell)})"
        )
    pairs = []
    for position, pair in enumerate(cell):
        node = position // 2
        if isinstance(pair, (str, bytes)) or not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(
                f"{name}[{position}] must be an (operation, input_index) pair, got {pair!r}"
            )
        op, index = pair
        if not isinstance(op, str) or op not in PRIMITIVES or op == "none":
            allowed = tuple(p for p in PRIMITIVES if p != "none")
            raise ValueError(f"{name}[{position}]: expected an operation of {allowed}, got {op!r}")
        if not _is_int(index) or not 0 <= index <= node + 1:
            raise ValueError(
                f"{name}[{position}]: node {node + 2} expects an integer input index "
                f"in 0..{node + 1}, got {index!r}"
            )
        pairs.append((op, int(index)))
    return tuple(pairs)


def _check_concat(name, concat, nodes):
    """Return ``concat`` as a tuple of node indices, or raise ValueError."""
    if isinstance(concat, (str, bytes)) or not isinstance(concat, (list, tuple)):
        raise ValueError(f"{name} must be a list of node indices, got {concat!r}")
    if not concat:
        raise ValueError(f"{name} must list at least one node in 2..{nodes + 1}, got none")
    for index in concat:
        if not _is_int(index) or not 2 <= index <= nodes + 1:
            raise ValueError(
                f"{name}: expected integer node indices in 2..{nodes + 1}, got {index!r}"
            )
    if len(set(concat)) != len(concat):
        raise ValueError(f"{name} must not repeat a node, got {list(concat)}")
    return tuple(int(index) for index in concat)


@dataclass(frozen=True)
class Genotype:
    """A discrete DARTS architecture: one normal cell and one reduction cell.

    The layout is that of the DARTS reference ``Genotype`` namedtuple, so
    published genotypes can be copied in directly. Lists are converted to
    tuples, so a genotype is hashable, comparable with ``==`` and immutable.

    Attributes:
        normal: ``(operation, input_index)`` pairs of the normal cell, two per
            intermediate node, in node order. Intermediate node ``i`` (from 0)
            accepts input indices 0..i+1: 0 and 1 are the cell inputs, 2..i+1
            the earlier intermediate nodes.
        normal_concat: Indices (in 2..nodes+1) of the nodes whose outputs are
            concatenated into the normal cell's output.
        reduce: The reduction cell's pairs, laid out like `normal`.
        reduce_concat: The reduction cell's output nodes, like `normal_concat`.

    Raises:
        ValueError: on construction, if an operation is not in `PRIMITIVES` or
            is ``'none'``, an input index is not an integer in range for its
            node, a cell is empty or has an odd number of pairs, the two cells
            have different node counts, or a concat index is out of range,
            repeated or missing.

    Example:
        >>> g = Genotype(
        ...     normal=[("sep_conv_3x3", 0), ("skip_connect", 1)], normal_concat=[2],
        ...     reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1)], reduce_concat=[2])
        >>> g.nodes
        1
    """

    normal: tuple
    normal_concat: tuple
    reduce: tuple
    reduce_concat: tuple

    def __post_init__(self):
        normal = _check_cell("normal", self.normal)
        reduce = _check_cell("reduce", self.reduce)
        if len(normal) != len(reduce):
            raise ValueError(
                f"normal and reduce must have the same number of nodes, got "
                f"{len(normal) // 2} normal and {len(reduce) // 2} reduce nodes"
            )
        nodes = len(normal) // 2
        object.__setattr__(self, "normal", normal)
        object.__setattr__(self, "reduce", reduce)
        object.__setattr__(
            self, "normal_concat", _check_concat("normal_concat", self.normal_concat, nodes)
        )
        object.__setattr__(
            self, "reduce_concat", _check_concat("reduce_concat", self.reduce_concat, nodes)
        )

    @property
    def nodes(self):
        """int: The number of intermediate nodes per cell."""
        return len(self.normal) // 2

    def to_dict(self):
        """Return the genotype as a JSON-ready dict of lists.

        Returns:
            dict: ``{"normal": [[op, index], ...], "normal_concat": [...],
            "reduce": [...], "reduce_concat": [...]}``.
        """
        return {
            "normal": [[op, index] for op, index in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [[op, index] for op, index in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    def to_json(self):
        """Return the genotype as a JSON object string (see `to_dict`)."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data):
        """Build a genotype from a dict shaped like the output of `to_dict`.

        Args:
            data: A mapping with exactly the keys ``normal``, ``normal_concat``,
                ``reduce`` and ``reduce_concat``.

        Returns:
            Genotype: The validated genotype.

        Raises:
            ValueError: if ``data`` is not a dict, has missing or extra keys,
                or its values are not a valid genotype.
        """
        if not isinstance(data, dict):
            raise ValueError(
                f"expected a genotype object with keys {list(_FIELDS)}, "
                f"got {type(data).__name__}"
            )
        missing = [key for key in _FIELDS if key not in data]
        extra = sorted(str(key) for key in data if key not in _FIELDS)
        if missing or extra:
            raise ValueError(
                f"expected exactly the keys {list(_FIELDS)}; missing {missing}, extra {extra}"
            )
        return cls(**{key: data[key] for key in _FIELDS})

    @classmethod
    def from_json(cls, text):
        """Parse a genotype from JSON text written by `to_json`.

        Only ``json.loads`` is used: nothing is evaluated or unpickled.

        Args:
            text: The JSON text (``str``, ``bytes`` or ``bytearray``).

        Returns:
            Genotype: The validated genotype.

        Raises:
            ValueError: if the text is not valid JSON, repeats a key, is not a
                JSON object, or does not describe a valid genotype
                (see `from_dict` and `Genotype`).
        """
        if not isinstance(text, (str, bytes, bytearray)):
            raise ValueError(f"expected JSON text, got {type(text).__name__}")
        try:
            data = json.loads(text, object_pairs_hook=_unique_keys)
        except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
            raise ValueError(
                f"expected a JSON genotype object, got invalid JSON: {error}"
            ) from None
        return cls.from_dict(data)

    def count(self, operation, cell="normal"):
        """Return how many times ``operation`` is used in one cell.

        Args:
            operation: An operation name from `PRIMITIVES`.
            cell: ``"normal"`` or ``"reduce"``.

        Returns:
            int: The number of pairs of that cell using ``operation``.

        Raises:
            ValueError: if ``operation`` or ``cell`` is unknown.
        """
        if cell not in _CELLS:
            raise ValueError(f"cell must be one of {_CELLS}, got {cell!r}")
        if operation not in PRIMITIVES:
            raise ValueError(f"expected an operation of {PRIMITIVES}, got {operation!r}")
        return sum(op == operation for op, _ in getattr(self, cell))

    def __str__(self):
        lines = []
        for cell in _CELLS:
            pairs = getattr(self, cell)
            concat = ", ".join(str(index) for index in getattr(self, f"{cell}_concat"))
            lines.append(f"{cell}: (concat {concat})")
            for node in range(self.nodes):
                (op_a, in_a), (op_b, in_b) = pairs[2 * node : 2 * node + 2]
                lines.append(f"  node {node + 2} <- {op_a}({in_a}), {op_b}({in_b})")
        return "\n".join(lines)

    def summary(self):
        """Return a one-line abbreviated description for logs.

        Operations are shortened (``sep3``, ``sep5``, ``dil3``, ``dil5``,
        ``max``, ``avg``, ``skip``) and nodes separated by ``|``. The concat
        is appended only when it is not all intermediate nodes.

        Returns:
            str: e.g. ``"normal[sep3(0) skip(1) | sep3(0) sep3(2)] reduce[max(0) max(1) | ...]"``.
        """
        default_concat = tuple(range(2, self.nodes + 2))
        parts = []
        for cell in _CELLS:
            pairs = getattr(self, cell)
            nodes = " | ".join(
                " ".join(f"{_ABBREVIATIONS[op]}({index})" for op, index in pairs[i : i + 2])
                for i in range(0, len(pairs), 2)
            )
            concat = getattr(self, f"{cell}_concat")
            suffix = "" if concat == default_concat else " concat=" + ",".join(map(str, concat))
            parts.append(f"{cell}[{nodes}]{suffix}")
        return " ".join(parts)

    def plot(self, path=None, *, dpi=100, title=None):
        """Draw the normal and reduction cells side by side.

        Inputs are drawn as ``c_{k-2}`` and ``c_{k-1}`` (indices 0 and 1),
        intermediate nodes by their index, 2..nodes+1, as the text form
        (``str``, `summary`) and ``*_concat`` number them, and the output as
        ``c_{k}``. Each edge is labelled with its operation; the
        concatenated nodes have unlabelled arrows into the output.

        Drawing uses a standalone ``matplotlib.figure.Figure`` with the Agg
        canvas, so the global matplotlib backend is left alone and pyplot
        never holds a reference to the figure.

        Args:
            path: Where to save a PNG. Parent directories are created. If
                None, nothing is written and the figure is returned instead
                (handy in notebooks, where a Figure displays itself).
            dpi: Resolution of the saved PNG.
            title: Optional title above both cells.

        Returns:
            str | matplotlib.figure.Figure: The path written to, as a string,
            if ``path`` was given; otherwise the Figure.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(14, 4.6), layout="constrained")
        FigureCanvasAgg(fig)
        for ax, cell in zip(fig.subplots(1, 2), _CELLS):
            _draw_cell(ax, getattr(self, cell), getattr(self, f"{cell}_concat"), f"{cell} cell")
        if title is not None:
            fig.suptitle(title)
        return figure_or_png(fig, path, dpi)

    def _repr_html_(self):
        """Return an HTML summary for notebooks: the `summary` line and the cells as an inline PNG.

        Jupyter and IPython call this to display a genotype; the picture is
        `plot` at 60 dpi, embedded as a base64 ``data:image/png`` ``<img>``.

        Returns:
            str: The HTML snippet.
        """
        import base64
        import html
        import io

        fig = self.plot()
        buffer = io.BytesIO()
        try:
            fig.savefig(buffer, format="png", dpi=60)
        finally:
            fig.clear()
        image = base64.b64encode(buffer.getvalue()).decode("ascii")
        summary = html.escape(self.summary())
        return (
            f'<div class="autoarch-genotype"><code>{summary}</code><br>'
            f'<img src="data:image/png;base64,{image}" alt="{summary}" style="max-width:100%"></div>'
        )


def _unique_keys(pairs):
    keys = [key for key, _ in pairs]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    if duplicated:
        raise ValueError(f"expected each key once, got repeated keys {duplicated}")
    return dict(pairs)


def _draw_cell(ax, pairs, concat, title):
    """Draw one cell on ``ax`` as a left-to-right graph."""
    from matplotlib.patches import Circle, FancyArrowPatch

    nodes = len(pairs) // 2
    radius, width, height = 0.4, 5.0, 2.6
    # Every node sits on one ellipse (inputs on the left, the output on the
    # right, intermediate nodes alternately on the upper and lower arc), so no
    # straight edge between two nodes can pass through a third one.
    angles = [145.0, -145.0]
    for i in range(nodes):
        angle = 112.0 - 77.0 * i / (nodes - 1) if nodes > 1 else 90.0
        angles.append(angle if i % 2 == 0 else -angle)
    angles.append(0.0)
    positions = [
        (width * math.cos(math.radians(a)), height * math.sin(math.radians(a))) for a in angles
    ]
    names = ["$c_{k-2}$", "$c_{k-1}$"] + [str(i + 2) for i in range(nodes)] + ["$c_{k}$"]
    colors = ["#b4eeb4"] * 2 + ["#add8e6"] * nodes + ["#eee8aa"]

    circles = []
    for (x, y), name, color in zip(positions, names, colors):
        circle = Circle((x, y), radius, facecolor=color, edgecolor="black", zorder=3)
        ax.add_patch(circle)
        ax.text(x, y, name, ha="center", va="center", fontsize=10, zorder=4)
        circles.append(circle)

    def arrow(source, target, color, rad=0.0):
        ax.add_patch(
            FancyArrowPatch(
                positions[source], positions[target],
                patchA=circles[source], patchB=circles[target],
                arrowstyle="-|>", mutation_scale=12, color=color, zorder=2,
                connectionstyle=f"arc3,rad={rad}",
            )
        )

    for position, (op, source) in enumerate(pairs):
        target = 2 + position // 2
        # Two operations on the same edge are bent apart so both stay visible.
        twin = pairs[position ^ 1][1] == source
        rad = (0.25 if position % 2 else -0.25) if twin else 0.0
        arrow(source, target, "#333333", rad)
        (x1, y1), (x2, y2) = positions[source], positions[target]
        # Midpoint of the arc3 quadratic Bezier curve (data units, equal aspect).
        x = (x1 + x2) / 2 + rad * (y2 - y1) / 2
        y = (y1 + y2) / 2 - rad * (x2 - x1) / 2
        ax.text(
            x, y, op, ha="center", va="center", fontsize=7, zorder=5,
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
        )
    for index in concat:
        arrow(index, len(positions) - 1, "#999999")

    ax.set_title(title)
    ax.set_xlim(-width - 2 * radius, width + 2 * radius)
    ax.set_ylim(-height - 2 * radius, height + 2 * radius)
    ax.set_aspect("equal")
    ax.axis("off")


DARTS_V2 = Genotype(
    normal=(
        ("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
        ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2),
    ),
    normal_concat=(2, 3, 4, 5),
    reduce=(
        ("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
        ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1),
    ),
    reduce_concat=(2, 3, 4, 5),
)
"""The cell the DARTS paper found on CIFAR-10 (second order), a baseline to train or compare."""


# The derivation lived here before; its names stay importable from this module.
_MOVED_TO_DERIVATION = ("derive_genotype", "random_genotype", "best_operations", "keep_strongest_edges", "_cap_skips")


def __getattr__(name):
    if name in _MOVED_TO_DERIVATION:
        from autoarch.darts import derivation

        return getattr(derivation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
