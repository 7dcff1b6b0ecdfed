"""Pictures of a search: architecture weights over the search epochs, and trial scores over time.

The cells of a genotype are drawn by `autoarch.darts.Genotype.plot`; this module
adds the two other pictures of a search:

- `plot_alpha_history`: for each edge of a cell, the softmax weight of every
  candidate operation after each search epoch (the history a `SearchNetwork`
  records in ``alpha_history`` and each trial writes to ``alphas.json``, read
  back by `read_alpha_history` or `trial_alpha_history`);
- `plot_trial_scores`: each trial's score against the elapsed search time,
  failed trials marked, and the best score so far;
- `plot_pareto` (from `autoarch.pareto_plot`): each trial's score against
  its latency (or multiply-adds), the budget drawn, the final model's
  trials marked.

Like `Genotype.plot`, every function draws on a standalone
``matplotlib.figure.Figure`` with the Agg canvas (pyplot and the global backend
are left alone) and returns the path written if ``path`` is given, else the
Figure (which displays itself in a notebook).

Example:
    >>> from autoarch.plots import plot_alpha_history, plot_trial_scores, trial_alpha_history
    >>> plot_alpha_history(trial_alpha_history(clf.project_dir_), "alphas.png")  # doctest: +SKIP
    >>> plot_trial_scores(clf, "trials.png")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import pathlib

import numpy as np

from autoarch.darts.primitives import PRIMITIVES, num_edges, validate_primitives
from autoarch.figures import figure_or_png
from autoarch.pareto_plot import plot_pareto
from autoarch.parameters import is_integer
from autoarch.tuning.ranking import best_row, rank_key
from autoarch.trial_rows import finite as _finite
from autoarch.trial_rows import results_and_objective as _results_and_objective
from autoarch.tuning.trial_folder import ALPHAS_FILE, TrialFolder, trial_folders

__all__ = [
    "plot_alpha_history",
    "plot_trial_scores",
    "plot_pareto",
    "read_alpha_history",
    "trial_alpha_history",
    "figure_or_png",
]

_CELLS = ("normal", "reduce")
_FAILED_COLOR = "#d62728"


# --------------------------------------------------------------------------- reading


def read_alpha_history(path):
    """Read the alpha history a trial wrote (its ``alphas.json``).

    Args:
        path: A trial folder (``<project>/trial_<id>``) holding ``alphas.json``,
            or the path of such a file.

    Returns:
        list[dict]: One dict per recorded search epoch, in the form of
        ``SearchNetwork.alpha_history``: ``"epoch"`` (int, counted from 0) and
        ``"normal"`` / ``"reduce"`` (float arrays ``(num_edges,
        len(primitives))``, the softmaxed operation weights), plus
        ``"normal_edges"`` / ``"reduce_edges"`` (``(num_edges,)``) when the
        search used partial channels, and ``"primitives"`` (the operation
        names of the columns) in files written since autoarch records them.
        The list is empty if the search recorded no epoch.

    Raises:
        FileNotFoundError: if there is no such file, or the folder holds no
            ``alphas.json`` (a trial that reused another trial's genotype, or
            trained a fixed genotype, did not search).
        ValueError: if the file is not JSON, or not a list of epoch objects
            with 2-D ``normal`` and ``reduce`` weights of one shape.
    """
    path = pathlib.Path(os.fsdecode(path))
    if path.is_dir():
        path = pathlib.Path(TrialFolder(path).alphas_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no alpha history at {os.fspath(path)!r}: expected a trial folder holding "
            f"{ALPHAS_FILE} or the path of that file"
        )
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"{os.fspath(path)!r} is not valid JSON: {error}") from None
    return _check_history(data, source=os.fspath(path))


def _check_history(history, source="history"):
    """Return ``history`` as a list of epoch dicts of numpy arrays, or raise ValueError."""
    if isinstance(history, dict) or not isinstance(history, (list, tuple)):
        raise ValueError(
            f"{source}: expected a list of per-epoch dicts (as SearchNetwork.alpha_history), "
            f"got {type(history).__name__}"
        )
    found, shape = [], None
    for position, entry in enumerate(history):
        where = f"{source}[{position}]"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a dict of weights, got {type(entry).__name__}")
        missing = [key for key in _CELLS if key not in entry]
        if missing:
            raise ValueError(f"{where}: missing {missing}; expected the keys 'epoch', 'normal' and 'reduce'")
        epoch = entry.get("epoch", position)
        if not is_integer(epoch) or epoch < 0:
            raise ValueError(f"{where}: 'epoch' must be an integer >= 0, got {epoch!r}")
        record = {"epoch": int(epoch)}
        for key, value in entry.items():
            if key == "epoch":
                continue
            if key == "primitives":
                try:
                    record[key] = validate_primitives(value)
                except ValueError as error:
                    raise ValueError(f"{where}['primitives']: {error}") from None
                continue
            try:
                array = np.asarray(value, dtype=float)
            except (TypeError, ValueError):
                raise ValueError(f"{where}[{key!r}]: expected an array of numbers, got {value!r:.80}") from None
            ndim = 1 if key.endswith("_edges") else 2
            if array.ndim != ndim or 0 in array.shape:
                raise ValueError(f"{where}[{key!r}]: expected a non-empty {ndim}-D array, got shape {array.shape}")
            record[key] = array
        if record["normal"].shape != record["reduce"].shape:
            raise ValueError(
                f"{where}: 'normal' and 'reduce' must have one shape, got "
                f"{record['normal'].shape} and {record['reduce'].shape}"
            )
        if "primitives" in record and len(record["primitives"]) != record["normal"].shape[1]:
            raise ValueError(
                f"{where}: 'primitives' names {len(record['primitives'])} operations, but the weights "
                f"have {record['normal'].shape[1]} columns"
            )
        if shape is not None and record["normal"].shape != shape:
            raise ValueError(f"{where}: weights of shape {record['normal'].shape}, earlier epochs had {shape}")
        shape = record["normal"].shape
        found.append(record)
    return found


def trial_alpha_history(project_dir, trial_id=None):
    """Read the alpha history of one trial of a project.

    Args:
        project_dir: The project folder (``directory/project_name``, the
            estimator's ``project_dir_``), or a fitted estimator (its
            ``project_dir_`` is used).
        trial_id: The trial, as in the ``trial_id`` of ``results_`` (e.g.
            ``"00"``; an int matches the padded id). None (default) takes the best completed trial:
            for an estimator, the trial ranked first in its ``results_``; for
            a folder, the best score in the trials' ``trial.json`` files, in
            the direction of the objective (keras-tuner records it with the
            score's metric), ranked as `autoarch.tuning.ranking` does. A
            Hyperband trial that continued an earlier trial's network did not
            search; its history is that earlier trial's.

    Returns:
        list[dict]: The history, as `read_alpha_history` returns it.

    Raises:
        FileNotFoundError: if the project, the trial or its ``alphas.json`` is
            missing (a trial of a fixed ``genotype=`` fit does not search).
        ValueError: if no trial completed (with ``trial_id=None``), or the
            file is malformed.
    """
    results = None
    if not isinstance(project_dir, (str, bytes, os.PathLike)):
        estimator = project_dir
        project_dir = getattr(estimator, "project_dir_", None)
        if project_dir is None:
            raise ValueError(
                f"expected a project folder or a fitted estimator with project_dir_, got "
                f"{type(estimator).__name__} without one (not fitted, or loaded from a .keras file)"
            )
        results = getattr(estimator, "results_", None)
    project_dir = pathlib.Path(os.fsdecode(project_dir))
    if not project_dir.is_dir():
        raise FileNotFoundError(f"no project folder at {os.fspath(project_dir)!r}")
    if trial_id is None and results:
        best = best_row(results)
        trial_id = None if best is None else best["trial_id"]
    if trial_id is None:
        trial_id = _best_trial_id(project_dir)
    elif is_integer(trial_id):
        # keras-tuner pads ids ("00"); an int matches the folder with that number.
        numbered = [folder.trial_id for folder in trial_folders(project_dir)]
        trial_id = next((i for i in numbered if i.isdigit() and int(i) == trial_id), str(trial_id))
    trial_id = str(trial_id)
    seen = []
    while True:
        folder = TrialFolder.of(project_dir, trial_id)
        if not folder.exists():
            raise FileNotFoundError(
                f"no trial {trial_id!r} in {os.fspath(project_dir)!r} (no folder {os.path.basename(folder.path)})"
            )
        if folder.has_alphas():
            return read_alpha_history(folder.path)
        seen.append(trial_id)
        previous = folder.continued_trial_id()
        if not previous or str(previous) in seen:
            raise FileNotFoundError(
                f"trial {seen[0]!r} of {os.fspath(project_dir)!r} has no {ALPHAS_FILE}: it did not run a search "
                "(a fixed genotype, or it did not get that far)"
            )
        trial_id = str(previous)


def _score_direction(state):
    """The objective's direction ("min" or "max") in a keras-tuner trial state, or None."""
    score = state.get("score")
    if not _finite(score):
        return None
    directions = set()
    for metric in (state.get("metrics") or {}).get("metrics", {}).values():
        for observation in metric.get("observations", []):
            value = observation.get("value")  # a list: one value per execution
            values = value if isinstance(value, list) else [value]
            if values and all(_finite(v) for v in values) and math.isclose(
                float(np.mean(values)), score, rel_tol=1e-9, abs_tol=1e-12
            ):
                directions.add(metric.get("direction"))
    return directions.pop() if len(directions) == 1 else None


def _best_trial_id(project_dir):
    completed = []
    for folder in trial_folders(project_dir):
        state = folder.read_state()
        score = state.get("score")
        if state.get("status") == "COMPLETED" and isinstance(score, (int, float)) and math.isfinite(score):
            trial_id = state.get("trial_id", folder.trial_id)
            completed.append((trial_id, float(score), _score_direction(state), _holdout_loss(state)))
    if not completed:
        raise ValueError(f"no completed trial in {os.fspath(project_dir)!r}: pass trial_id= to choose one")
    directions = {direction for _, _, direction, _ in completed if direction}
    direction = "min" if directions == {"min"} else "max"
    # The one ranking (autoarch.tuning.ranking): ties go to the lower holdout
    # loss, then to the earliest trial (min() keeps the first; folders sort by id).
    return min(completed, key=lambda item: rank_key(direction, item[1], item[3]))[0]


def _holdout_loss(state):
    """The last ``val_loss`` in a keras-tuner trial state, or infinity."""
    try:
        value = state["metrics"]["metrics"]["val_loss"]["observations"][-1]["value"][0]
    except (KeyError, IndexError, TypeError):
        return math.inf
    return float(value) if _finite(value) else math.inf


# --------------------------------------------------------------------------- alphas


def _nodes_from_edges(edges):
    """The node count n with `num_edges(n) == edges`, or None."""
    nodes = int(round((-3 + math.sqrt(9 + 8 * edges)) / 2))  # num_edges(n) is n (n + 3) / 2
    return nodes if nodes >= 1 and num_edges(nodes) == edges else None


def _edge_names(nodes):
    """``(source, target)`` names of each weight row, in the order of the cell's edges.

    Names follow `Genotype.plot`: inputs ``$c_{k-2}$`` and ``$c_{k-1}$``,
    intermediate nodes by their index, 2..nodes+1.
    """
    names = ["$c_{k-2}$", "$c_{k-1}$"] + [str(i + 2) for i in range(nodes)]
    return [(names[source], str(node + 2)) for node in range(nodes) for source in range(node + 2)]


def _operation_names(width, primitives):
    if primitives is None:
        if width == len(PRIMITIVES):
            return PRIMITIVES
        return tuple(f"op{i}" for i in range(width))
    names = validate_primitives(primitives)
    if len(names) != width:
        raise ValueError(
            f"primitives names {len(names)} operations, but the weights have {width} columns "
            f"(one per operation): pass the primitives the search used"
        )
    return names


def plot_alpha_history(history, path=None, *, cell="normal", primitives=None, title=None, dpi=100):
    """Draw how the architecture weights of one cell moved during the search.

    One small plot per edge of the cell, laid out one row per intermediate
    node (row ``i`` has the ``i + 2`` edges into node ``i + 2``). Edges are
    named as in `Genotype.plot` and the genotype's text: ``$c_{k-2}$ → 2`` is
    the edge from the cell before the previous one into the first
    intermediate node, ``2 → 3`` the edge from that node into the next. In each plot, x is the search epoch after which the weights
    were recorded (counted from 1) and y the softmax weight of each
    operation, one line per operation (legend shared below the plots).

    Args:
        history: The history, as ``SearchNetwork.alpha_history`` or
            `read_alpha_history` / `trial_alpha_history` return it (a list of
            dicts with ``"epoch"``, ``"normal"`` and ``"reduce"``), or a path
            `read_alpha_history` accepts.
        path: Where to save a PNG. Parent directories are created. If None,
            nothing is written and the Figure is returned.
        cell: ``"normal"`` or ``"reduce"``.
        primitives: The operation names of the weight columns, in the order
            the search used (``SearchNetwork.primitives``; an estimator's
            ``search_space["primitives"]``). None means the names the
            history records (a trial's ``alphas.json`` does); for a history
            without them, `PRIMITIVES` when the weights have its 8 columns,
            else ``op0``, ``op1``, ... in column order.
        title: The figure title; None gives ``"<cell> cell: operation weights
            per edge"``, ``""`` none.
        dpi: Resolution of the saved PNG.

    Returns:
        str | matplotlib.figure.Figure: The path written to, as a string, if
        ``path`` was given; otherwise the Figure.

    Raises:
        FileNotFoundError: if ``history`` is a path without an alpha history.
        ValueError: if ``cell`` is unknown, the history is empty or malformed,
            its edge count is not that of a DARTS cell (2 + 3 + ... edges), or
            ``primitives`` is invalid or does not match the weight columns.
    """
    if cell not in _CELLS:
        raise ValueError(f"cell must be one of {_CELLS}, got {cell!r}")
    if isinstance(history, (str, bytes, os.PathLike)):
        history = read_alpha_history(history)
    else:
        history = _check_history(history)
    if not history:
        raise ValueError("the alpha history is empty: the search recorded no epoch")
    weights = np.stack([entry[cell] for entry in history])  # (epochs, edges, operations)
    epochs = np.array([entry["epoch"] + 1 for entry in history])
    _, edges, width = weights.shape
    nodes = _nodes_from_edges(edges)
    if nodes is None:
        raise ValueError(
            f"{cell} weights have {edges} rows, which is not the edge count of a DARTS cell "
            "(2 + 3 + ... + (nodes + 1): 2, 5, 9, 14, ...)"
        )
    names = _operation_names(width, primitives if primitives is not None else history[0].get("primitives"))

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = nodes + 1
    fig = Figure(figsize=(2.3 * columns + 0.6, 1.7 * nodes + 1.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_2d(fig.subplots(nodes, columns, sharex=True, sharey=True, squeeze=False))
    # tab10 without its grey, which marks "none" (dotted).
    palette = [f"C{i}" for i in (0, 1, 2, 3, 4, 5, 6, 8, 9)]
    colors, used = [], 0
    for name in names:
        colors.append("0.5" if name == "none" else palette[used % len(palette)])
        used += name != "none"
    lines = []
    edge_names, row = _edge_names(nodes), 0
    for node in range(nodes):
        for column in range(columns):
            ax = axes[node, column]
            if column >= node + 2:
                ax.axis("off")
                continue
            source, target = edge_names[row]
            for op in range(width):
                (line,) = ax.plot(
                    epochs, weights[:, row, op], color=colors[op], marker="o", markersize=2.5,
                    linewidth=1.2, linestyle=":" if names[op] == "none" else "-",
                )
                if row == 0:
                    lines.append(line)
            ax.set_title(f"{source} → {target}", fontsize=9)
            ax.set_ylim(0.0, max(0.3, float(weights.max()) * 1.08))
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            if column == 0:
                ax.set_ylabel("weight", fontsize=8)
            if column == node + 1 or node == nodes - 1:
                ax.xaxis.set_tick_params(labelbottom=True)
                ax.set_xlabel("search epoch", fontsize=8)
            row += 1
    if len(epochs) > 1:
        axes[0, 0].set_xlim(epochs.min() - 0.2, epochs.max() + 0.2)
    else:
        axes[0, 0].set_xlim(epochs[0] - 1, epochs[0] + 1)
    axes[0, 0].xaxis.get_major_locator().set_params(integer=True)
    # About 1.8 inches per legend entry, so the legend never runs past the figure's edges.
    ncol = max(1, min(width, int(fig.get_figwidth() / 1.8)))
    fig.legend(lines, names, loc="outside lower center", ncol=ncol, fontsize=8, frameon=False)
    if title is None:
        title = f"{cell} cell: operation weights per edge"
    if title:
        fig.suptitle(title)
    return figure_or_png(fig, path, dpi)


# --------------------------------------------------------------------------- trials


def plot_trial_scores(results, path=None, *, title=None, dpi=100):
    """Draw each trial's score against the elapsed search time.

    x is the elapsed time in seconds: the trials' ``seconds`` added up in
    start order, each trial drawn where it ended. Completed trials are points
    labelled with their trial id (up to 40 trials); failed, interrupted or
    otherwise unscored trials are red ``x`` marks along the bottom; a step
    line follows the best score so far. The y label is the objective when an
    estimator is given (lower is better for ``val_loss``), else the rows' own
    ``objective`` and ``direction`` (rows of ``results_`` carry them), else
    ``"score"``, higher taken as better.

    Args:
        results: The estimator's ``results_`` (one dict per trial with at
            least ``score``, ``status`` and ``seconds``, as the estimator
            writes them), or a fitted estimator.
        path: Where to save a PNG. Parent directories are created. If None,
            nothing is written and the Figure is returned.
        title: The figure title; None gives ``"Trial scores (<n> completed,
            <m> failed or interrupted)"``, ``""`` none.
        dpi: Resolution of the saved PNG.

    Returns:
        str | matplotlib.figure.Figure: The path written to, as a string, if
        ``path`` was given; otherwise the Figure.

    Raises:
        sklearn.exceptions.NotFittedError: if an estimator is given before
            ``fit`` (it is also a ValueError).
        ValueError: if ``results`` is not a list of trial rows, is empty, or a
            row lacks ``score``, ``status`` or ``seconds``.
    """
    rows, objective, direction = _results_and_objective(results)
    if not rows:
        raise ValueError("results is empty: no trial ran, so there is nothing to plot")
    elapsed = np.cumsum([float(row["seconds"] or 0.0) for row in rows])
    done, failed = [], []
    for i, (x, row) in enumerate(zip(elapsed, rows)):
        if row["status"] == "COMPLETED" and _finite(row["score"]):
            done.append((x, float(row["score"]), str(row.get("trial_id", i))))
        else:
            failed.append(x)

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    if done:
        xs = np.array([x for x, _, _ in done])
        ys = np.array([y for _, y, _ in done])
        best = np.minimum.accumulate(ys) if direction == "min" else np.maximum.accumulate(ys)
        steps_x = np.concatenate([xs, [elapsed[-1]]])
        steps_y = np.concatenate([best, best[-1:]])
        ax.step(steps_x, steps_y, where="post", color="C1", linewidth=1.5, label="best so far")
        ax.scatter(xs, ys, color="C0", zorder=3, label="completed trial")
        if len(done) <= 40:
            for x, y, trial_id in done:
                ax.annotate(trial_id, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        low, high = float(ys.min()), float(ys.max())
        margin = 0.1 * (high - low) if high > low else max(0.05, 0.1 * abs(high))
        ax.set_ylim(low - 2 * margin, high + margin)
    if failed:
        # Marks in axes coordinates along the bottom: failed trials have no score.
        ax.scatter(
            failed, [0.03] * len(failed), transform=ax.get_xaxis_transform(), marker="x",
            color=_FAILED_COLOR, s=50, zorder=3, clip_on=False, label="failed / interrupted",
        )
    ax.set_xlim(0.0, float(elapsed[-1]) * 1.05 or 1.0)
    ax.set_xlabel("elapsed search time (s)")
    ax.set_ylabel(objective or "score")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    if title is None:
        title = f"Trial scores ({len(done)} completed, {len(rows) - len(done)} failed or interrupted)"
    if title:
        ax.set_title(title)
    return figure_or_png(fig, path, dpi)
