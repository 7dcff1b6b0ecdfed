"""How autoarch shows a search to people: tables of trials, short genotypes, notebook HTML.

One home for the text and HTML forms: the estimators' notebook display
(`estimator_html`), the command line's trial table (`trial_table_text`), the
one-line form of a genotype in a table (`short_genotype_json`, which is
`Genotype.summary`, the one short form) and
plain values for tables and JSON (`plain`). The best trial is the one
`autoarch.tuning.ranking` ranks first. `NotebookDisplay` gives the estimators
their notebook display, and `log_output` shows autoarch's log lines while a
fit is verbose.
"""

import contextlib
import logging
import sys

import numpy as np

from autoarch.darts import Genotype
from autoarch.parameters import is_integer
from autoarch.tuning.ranking import best_row

__all__ = [
    "NotebookDisplay",
    "log_output",
    "plain",
    "format_number",
    "short_genotype_json",
    "html_table",
    "estimator_html",
    "text_number",
    "confidence_text",
    "latency_text",
    "trial_table_text",
]


_HTML_MAX_CLASSES = 20
_HTML_MAX_TRIALS = 100

_log = logging.getLogger("autoarch")


@contextlib.contextmanager
def log_output(verbose):
    """Show autoarch's log lines on stdout while ``verbose``, unless logging is configured.

    Within the block the ``"autoarch"`` logger's level is INFO when ``verbose``,
    else WARNING; a stdout handler is added only when the logger has none.
    """
    handler = None
    if verbose and not _log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        _log.addHandler(handler)
    level = _log.level
    _log.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        yield
    finally:
        _log.setLevel(level)
        if handler is not None:
            _log.removeHandler(handler)


class NotebookDisplay:
    """The notebook display of autoarch's estimators (a mixin placed before scikit-learn's `BaseEstimator`)."""

    def _repr_html_(self):
        """Return an HTML summary for notebooks (Jupyter and IPython display it).

        Before ``fit``: the class name, "not fitted" and the parameters. After:
        the task, classes, image shape, trial counts, best score and
        objective, fit time, parameter count, one table row per trial, and the
        best genotype's cells (see `Genotype._repr_html_`). This replaces
        scikit-learn's estimator diagram for autoarch's estimators.

        Returns:
            str: The HTML snippet; never raises for a missing attribute.
        """
        return estimator_html(self)

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        """Return the notebook display bundle: plain text and `_repr_html_`.

        IPython asks for this before ``_repr_html_``; scikit-learn's version
        would return its estimator diagram instead of autoarch's summary.
        """
        return {"text/plain": repr(self), "text/html": self._repr_html_()}


def html_table(header, rows, bold_row=None):
    """An HTML table of escaped cells; ``header`` None gives a key/value table."""
    import html

    parts = ['<table style="border-collapse:collapse;text-align:left">']
    if header:
        heads = "".join(f'<th style="text-align:left">{html.escape(str(h))}</th>' for h in header)
        parts.append(f"<tr>{heads}</tr>")
    for index, row in enumerate(rows):
        cells = [html.escape("" if value is None else str(value)) for value in row]
        if index == bold_row:
            cells = [f"<b>{cell}</b>" for cell in cells]
        if header is None:
            cells[0] = f"<b>{cells[0]}</b>"
        parts.append("<tr>" + "".join(f'<td style="text-align:left">{cell}</td>' for cell in cells) + "</tr>")
    parts.append("</table>")
    return "".join(parts)


def format_number(value):
    """Integers with thousands separators, floats to 4 significant digits, anything else as is."""
    if is_integer(value):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return value


def short_genotype_json(text):
    """`Genotype.summary` of a genotype's JSON (``"-"`` for none; unreadable JSON as it is)."""
    if not text:
        return "-"
    try:
        return Genotype.from_json(text).summary()
    except ValueError:
        return text


def estimator_html(estimator):
    """The HTML an estimator shows in a notebook (``_repr_html_``), fitted or not."""
    import html

    name = html.escape(type(estimator).__name__)
    if not hasattr(estimator, "model_"):
        params = sorted(estimator.get_params(deep=False).items())
        return (
            f'<div class="autoarch-estimator"><p><b>{name}</b> (not fitted: call fit)</p>'
            + html_table(("parameter", "value"), [(key, repr(value)) for key, value in params])
            + "</div>"
        )
    results = list(getattr(estimator, "results_", None) or [])
    try:
        objective = estimator._objective()
        objective_name = objective.name
    except (AttributeError, ValueError):
        objective_name = "score"
    best = best_row(results, objective_name)
    best_index = next((index for index, row in enumerate(results) if row is best), None)
    statuses = {}
    for row in results:
        statuses[str(row.get("status")).lower()] = statuses.get(str(row.get("status")).lower(), 0) + 1
    completed = statuses.pop("completed", 0)
    trials = f"{completed} completed, {statuses.pop('failed', 0)} failed" + "".join(
        f", {count} {status}" for status, count in sorted(statuses.items())
    )

    summary = []
    if estimator._regression:
        scaling = getattr(estimator, "_scaling", None)
        summary.append(("task", "regressor" + ("" if scaling is None else f", {scaling.n_outputs} output(s)")))
    else:
        classes = [plain(c) for c in getattr(estimator, "classes_", [])]
        shown = ", ".join(str(c) for c in classes[:_HTML_MAX_CLASSES])
        if len(classes) > _HTML_MAX_CLASSES:
            shown += f", ... ({len(classes)} in all)"
        summary.append(("task", f"classifier, {len(classes)} classes"))
        summary.append(("classes", shown))
    if hasattr(estimator, "image_shape_"):
        summary.append(("image shape", " x ".join(str(v) for v in estimator.image_shape_)))
    summary.append(("trials", trials))
    if best_index is not None:
        row = results[best_index]
        best_score = f"{objective_name} = {format_number(row['score'])} (trial {row.get('trial_id')})"
        if row.get("at_chance"):
            best_score += ": within noise of chance, the model has not learnt the task"
        summary.append(("best score", best_score))
    members = getattr(estimator, "ensemble_trials_", None) or []
    if len(members) > 1:
        summary.append(("final model", f"average of trials {', '.join(str(m) for m in members)}"))
    if getattr(estimator, "fit_seconds_", None) is not None:
        summary.append(("fit time", f"{estimator.fit_seconds_:.1f} s"))
    try:
        summary.append(("model parameters", f"{int(estimator.model_.count_params()):,}"))
    except Exception:  # an unbuilt or foreign model: leave the line out
        pass
    if getattr(estimator, "latency_ms_", None) is not None:
        how = getattr(estimator, "latency_measurement_", None) or {}
        summary.append(("latency", f"{estimator.latency_ms_:.3g} ms per image "
                                   f"({'estimated' if how.get('estimated') else 'measured'}, budget "
                                   f"{format_number(getattr(estimator, 'max_latency_ms', None))} ms)"))
    if getattr(estimator, "project_dir_", None):
        summary.append(("project", estimator.project_dir_))

    latency = any(row.get("latency_ms") is not None or row.get("latency_estimate_ms") is not None for row in results)
    header = ("trial", "status", objective_name, "parameters", "multiply-adds", *(("ms (measured / estimated)",)
              if latency else ()), "seconds", "search confidence", "genotype", "reason")
    rows = [
        (
            row.get("trial_id"),
            row.get("status"),
            f"{format_number(row.get('score'))} (at chance)" if row.get("at_chance") else format_number(row.get("score")),
            format_number(row.get("parameters")),
            format_number(row.get("flops")),
            *((latency_text(row),) if latency else ()),
            None if row.get("seconds") is None else f"{float(row['seconds']):.1f}",
            confidence_text(row.get("search_confidence")),
            short_genotype_json(row.get("genotype")),
            row.get("reason"),
        )
        for row in results[:_HTML_MAX_TRIALS]
    ]
    more = len(results) - len(rows)
    best = getattr(estimator, "best_genotype_", None)
    return (
        f'<div class="autoarch-estimator"><p><b>{name}</b> (fitted)</p>'
        + html_table(None, summary)
        + "<p><b>Trials</b></p>"
        + html_table(header, rows, bold_row=best_index)
        + (f"<p>... and {more} more trials (see results_)</p>" if more > 0 else "")
        + ("<p><b>Best genotype</b></p>" + best._repr_html_() if isinstance(best, Genotype) else "")
        + "</div>"
    )


def latency_text(row):
    """A trial's latency per image for a table: ``"0.31 / 0.29"`` (measured / estimated), ``"-"`` where unknown."""
    def text(value):
        return "-" if value is None else f"{value:.3g}"

    return f"{text(row.get('latency_ms'))} / {text(row.get('latency_estimate_ms'))}"


def confidence_text(confidence):
    """A trial's search confidence for a table: its alpha entropy against a uniform edge's, or None.

    For example ``"entropy 1.79 of 1.79: near uniform"`` (see `autoarch.darts.confidence`).
    """
    if not confidence:
        return None
    verdict = "decided" if confidence["confident"] else "near uniform"
    return f"entropy {confidence['entropy']:.2f} of {confidence['entropy_max']:.2f}: {verdict}"


def plain(value):
    """A numpy scalar as the Python value it holds (for JSON and tables); anything else as is."""
    return value.item() if isinstance(value, np.generic) else value


def trial_table_text(results, objective, best=None):
    """The trials as aligned text: id (``*`` marks ``best``), status, score, size, flops, latency (when any
    trial has one), time, genotype or reason."""
    latency = any(row.get("latency_ms") is not None or row.get("latency_estimate_ms") is not None for row in results)
    header = ("trial", "status", objective, "parameters", "flops", *(("ms meas/est",) if latency else ()), "seconds",
              "genotype / reason")
    rows = [header] + [
        (
            str(row["trial_id"]) + (" *" if row is best else ""),
            str(row["status"]),
            "-" if row["score"] is None else f"{row['score']:.4f}" + (" (at chance)" if row.get("at_chance") else ""),
            text_number(row["parameters"]),
            text_number(row.get("flops")),
            *((latency_text(row),) if latency else ()),
            text_number(row["seconds"]),
            _genotype_or_reason(row),
        )
        for row in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1] for row in rows]


def text_number(value):
    """A count with thousands separators, seconds to 0.1, ``"-"`` for None (for text tables)."""
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:.1f}"


def _genotype_or_reason(row):
    if row["status"] != "COMPLETED" or not row.get("genotype"):
        return str(row.get("reason") or "-")
    return short_genotype_json(row["genotype"])
