"""MkDocs hook: the documentation's pictures and generated tables, made by autoarch itself.

Registered under ``hooks:`` in ``mkdocs.yml``. At every build:

- ``on_files`` draws PNG files with the library and adds them to the site as
  generated files under ``figures/`` (nothing is written into ``docs/``), so
  pages link to them like any other image and ``mkdocs build --strict`` checks
  those links:

  - ``figures/darts_v2.png``: the DARTS paper's CIFAR-10 cells
    (``autoarch.darts.DARTS_V2``), drawn by ``Genotype.plot``;
  - ``figures/mnist_genotype.png`` and ``figures/digits_genotype.png``: the
    genotypes the benchmarks found (``benchmarks/results/{mnist,digits}/*.json``);
  - ``figures/alphas_normal.png`` and ``figures/alphas_reduce.png``: the alpha
    history of one trial (``docs/data/alphas.json``, a trial's ``alphas.json``),
    drawn by ``autoarch.plots.plot_alpha_history``;
  - ``figures/trial_scores.png``: the trials of one fit (``docs/data/results.json``,
    an estimator's ``results_``), drawn by ``autoarch.plots.plot_trial_scores``;
  - ``figures/long_search.png``: resident memory and seconds after each trial of
    two 100-trial searches (``benchmarks/results/long_search/long_search_{test,tiny}_random_100.json``);
  - ``figures/anytime.png``: test accuracy against the time budget on digits and
    MNIST-10k, with AutoKeras's points, before and after time-limited fits
    began with a random-cell baseline
    (``benchmarks/results/anytime/anytime_{digits,mnist10k}{,_baseline_first}.json``);
  - ``figures/latency.png``: test accuracy against measured latency with and without a
    latency budget (``benchmarks/results/latency/latency_mnist10k_sizes_budget_sizes.json``).

- ``on_page_markdown`` replaces the marker ``<!-- autoarch:settings-table -->``
  with the table of the outer search space's defaults, computed by
  ``autoarch.tuning.space.default_space``.

A picture that cannot be drawn (a missing data file, an import error) is
logged as a warning, which fails ``mkdocs build --strict``; the page that shows
it then also reports the missing image.

autoarch (and with it TensorFlow) is imported only inside the drawing
functions, when the build runs.
"""

import importlib.util
import json
import logging
import os
import re
import tempfile

from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.figures")

FIGURES = "figures"
SETTINGS_MARKER = "<!-- autoarch:settings-table -->"

# The data the examples of the settings table are computed for: MNIST's benchmark.
TABLE_SAMPLES, TABLE_SHAPE = 8000, (28, 28, 1)


def _root(config):
    return os.path.dirname(os.path.abspath(config["config_file_path"]))


def _result_file(config, script, name):
    """The path of a benchmark's result file, as ``benchmarks/results_path.py`` places it."""
    location = os.path.join(_root(config), "benchmarks", "results_path.py")
    spec = importlib.util.spec_from_file_location("autoarch_benchmark_results_path", location)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.result_path(script, name)


def _import_autoarch():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import autoarch

    return autoarch


# ----------------------------------------------------------------- genotypes


_NODE = re.compile(r"^\s*node\s+\d+\s*<-\s*(\w+)\((\d+)\),\s*(\w+)\((\d+)\)\s*$")
_CELL = re.compile(r"^(normal|reduce):\s*\(concat\s+([\d,\s]+)\)\s*$")


def parse_genotype(text):
    """A `Genotype` from its JSON or from its ``str()`` text (what the benchmarks store)."""
    from autoarch import Genotype

    text = text.strip()
    if text.startswith("{"):
        return Genotype.from_json(text)
    fields, cell = {}, None
    for line in text.splitlines():
        if not line.strip():
            continue
        header = _CELL.match(line)
        if header:
            cell = header.group(1)
            fields[cell] = []
            fields[f"{cell}_concat"] = [int(v) for v in header.group(2).replace(",", " ").split()]
            continue
        node = _NODE.match(line)
        if node is None or cell is None:
            raise ValueError(f"not a line of a genotype's text form: {line!r}")
        first_op, first_input, second_op, second_input = node.groups()
        fields[cell] += [(first_op, int(first_input)), (second_op, int(second_input))]
    return Genotype.from_dict(fields)


def _draw_genotype(genotype, title):
    def draw(path):
        return genotype().plot(path, dpi=90, title=title)

    return draw


def _darts_v2():
    return _import_autoarch().darts.DARTS_V2


def _benchmark_genotype(config, name):
    def load():
        _import_autoarch()
        with open(_result_file(config, name, f"{name}.json")) as file:
            return parse_genotype(json.load(file)["genotype"])

    return load


# ----------------------------------------------------------------- search pictures


def _data_file(config, name):
    return os.path.join(config["docs_dir"], "data", name)


def _draw_alphas(config, cell):
    def draw(path):
        _import_autoarch()
        from autoarch.plots import plot_alpha_history, read_alpha_history

        history = read_alpha_history(_data_file(config, "alphas.json"))
        return plot_alpha_history(
            history, path, cell=cell, dpi=90, title=f"{cell} cell: operation weights after each search epoch"
        )

    return draw


def _draw_trial_scores(config):
    def draw(path):
        _import_autoarch()
        from autoarch.plots import plot_trial_scores

        with open(_data_file(config, "results.json")) as file:
            results = json.load(file)
        return plot_trial_scores(results, path, dpi=90, title="holdout score of each trial")

    return draw


def _draw_long_search(runs):
    """``runs``: ``(label, results path)`` of each 100-trial search to draw."""

    def draw(path):
        from matplotlib.figure import Figure

        from autoarch.figures import figure_or_png

        fig = Figure(figsize=(8, 3.2))
        memory, seconds = fig.subplots(1, 2)
        for label, results in runs:
            with open(results) as file:
                trials = json.load(file)["trials"]
            numbers = [t["trial"] for t in trials]
            memory.plot(numbers, [t["rss_mb"] / 1024 for t in trials], marker=".", label=label)
            seconds.plot(numbers, [t["seconds"] for t in trials], marker=".", linestyle="none", label=label)
        memory.set(xlabel="trial", ylabel="resident memory (GB)", ylim=(0, None), title="memory after each trial")
        seconds.set(xlabel="trial", ylabel="seconds", ylim=(0, None), title="seconds of each trial")
        memory.legend(fontsize="small")
        fig.tight_layout()
        return figure_or_png(fig, path, dpi=90)

    return draw


def _draw_anytime(runs):
    """``runs``: ``(task, [(label, results path, colour), ...])`` of ``benchmarks/anytime.py``, a panel per task.

    Each results file is drawn as the mean of its seeds at each budget, with
    every fit as a dot at its own seconds; AutoKeras's points come from the
    first file that has them.
    """

    def draw(path):
        from matplotlib.figure import Figure
        from matplotlib.ticker import NullFormatter

        from autoarch.figures import figure_or_png

        fig = Figure(figsize=(4.5 * len(runs), 3.4))
        axes = fig.subplots(1, len(runs), squeeze=False)[0]
        for axis, (task, curves) in zip(axes, runs):
            peers = []
            for label, results, colour in curves:
                with open(results) as file:
                    figures = json.load(file)
                points = [point for point in figures["points"] if "error" not in point]
                budgets = sorted({point["budget"] for point in points})
                accuracy = {b: [p["test_accuracy"] * 100 for p in points if p["budget"] == b] for b in budgets}
                axis.plot([p["fit_seconds"] for p in points], [p["test_accuracy"] * 100 for p in points],
                          marker=".", linestyle="none", color=colour, alpha=0.4)
                means = [sum(accuracy[b]) / len(accuracy[b]) for b in budgets]
                axis.plot(budgets, means, marker="o", color=colour, label=label)
                peers = peers or figures.get("autokeras", [])
            for peer in peers:
                if "error" not in peer:
                    axis.plot(peer["fit_s"], peer["test_acc"] * 100, marker="s", linestyle="none",
                              label=f"AutoKeras, {peer['max_trials']} trial(s), at its wall time")
            axis.set(xscale="log", xlabel="seconds (budget; dots: each fit's own)", ylabel="test accuracy (%)",
                     title=task)
            axis.set_xticks([8, 15, 30, 60, 120, 240, 480, 1800],
                            labels=["8", "15", "30", "60", "120", "240", "480", "1800"])
            axis.xaxis.set_minor_formatter(NullFormatter())
            axis.legend(fontsize="x-small", loc="lower right")
        fig.tight_layout()
        return figure_or_png(fig, path, dpi=90)

    return draw


def _draw_latency(runs):
    """Test accuracy against measured latency of ``benchmarks/latency.py``'s fits (``runs``: result files), each budget drawn."""

    def draw(path):
        from matplotlib.figure import Figure

        from autoarch.figures import figure_or_png

        points = []
        for results in runs:
            with open(results) as file:
                points += json.load(file)["points"]
        fig = Figure(figsize=(6, 3.6))
        axis = fig.subplots()
        colours = {None: "tab:blue", 0.5: "tab:orange", 0.25: "tab:red"}
        markers = {0: "o", 1: "s", 2: "^"}
        for point in points:
            fraction = point.get("fraction")
            colour = colours.get(fraction, "tab:gray")
            if fraction is not None:
                axis.axvline(point["max_latency_ms"], color=colour, linestyle="--", linewidth=0.8)
            if "latency_ms" in point:
                label = "no budget" if fraction is None else f"budget {fraction:g} x unconstrained"
                axis.plot(point["latency_ms"], point["test_accuracy"] * 100, marker=markers.get(point["seed"], "o"),
                          color=colour,
                          linestyle="none", label=f"{label}, seed {point['seed']}")
        axis.set(xlabel="measured latency (ms per image, TFLite, 1 thread)", ylabel="test accuracy (%)",
                 title="MNIST-10k: accuracy against a latency budget (dashed)")
        axis.legend(fontsize="x-small")
        fig.tight_layout()
        return figure_or_png(fig, path, dpi=90)

    return draw


def _figures(config):
    """``(file name, draw(path), data files it needs)`` of every picture."""
    long_search = [
        ("--preset test", _result_file(config, "long_search", "long_search_test_random_100.json")),
        ("--preset tiny", _result_file(config, "long_search", "long_search_tiny_random_100.json")),
    ]
    anytime = [
        (task, [("autoarch, first trial searched (earlier code), mean of seeds", _result_file(config, "anytime", f"anytime_{task}.json"), "tab:gray"),
                ("autoarch, first trial a random-cell baseline, mean of seeds",
                 _result_file(config, "anytime", f"anytime_{task}_baseline_first.json"), "tab:blue")])
        for task in ("digits", "mnist10k")
    ]
    latency = [_result_file(config, "latency", "latency_mnist10k_sizes_budget_sizes.json")]
    return [
        ("darts_v2.png", _draw_genotype(_darts_v2, "DARTS-V2 (the DARTS paper's CIFAR-10 cells)"), []),
        (
            "mnist_genotype.png",
            _draw_genotype(_benchmark_genotype(config, "mnist"), "found by the MNIST benchmark"),
            [_result_file(config, "mnist", "mnist.json")],
        ),
        (
            "digits_genotype.png",
            _draw_genotype(_benchmark_genotype(config, "digits"), "found by the digits benchmark"),
            [_result_file(config, "digits", "digits.json")],
        ),
        ("alphas_normal.png", _draw_alphas(config, "normal"), [_data_file(config, "alphas.json")]),
        ("alphas_reduce.png", _draw_alphas(config, "reduce"), [_data_file(config, "alphas.json")]),
        ("trial_scores.png", _draw_trial_scores(config), [_data_file(config, "results.json")]),
        ("long_search.png", _draw_long_search(long_search), [path for _, path in long_search]),
        ("anytime.png", _draw_anytime(anytime), [path for _, curves in anytime for _, path, _ in curves]),
        ("latency.png", _draw_latency(latency), latency),
    ]


def on_files(files, config):
    """Draw every picture and add it to the site as ``figures/<name>``."""
    with tempfile.TemporaryDirectory(prefix="autoarch-docs-") as scratch:
        for name, draw, needs in _figures(config):
            missing = [path for path in needs if not os.path.isfile(path)]
            if missing:
                log.warning(
                    "figures hook: %s is not drawn: missing %s", name, ", ".join(os.path.relpath(p) for p in missing)
                )
                continue
            path = os.path.join(scratch, name)
            try:
                draw(path)
                with open(path, "rb") as file:
                    content = file.read()
            except Exception as error:  # any failure is reported, and fails a strict build
                log.warning("figures hook: %s is not drawn: %s: %s", name, type(error).__name__, error)
                continue
            files.append(File.generated(config, f"{FIGURES}/{name}", content=content))
    return files


# ----------------------------------------------------------------- settings table


def _describe(spec):
    """One cell of the settings table: the default, then what else may be tried."""
    default = f"`{spec.default!r}`"
    if spec.kind == "fixed":
        return f"{default} (fixed)"
    if spec.kind == "boolean":
        return f"{default}, or `{not spec.default!r}`"
    if spec.kind == "choice":
        return f"{default} of " + ", ".join(f"`{v!r}`" for v in spec.values)
    low, high = spec.values
    scale = ", log scale" if spec.log else ""
    return f"{default} in [`{low!r}`, `{high!r}`]{scale}"


def settings_table():
    """The Markdown table of every outer setting: what it sets, CPU and GPU defaults."""
    _import_autoarch()
    from autoarch.tuning.space import SETTINGS, default_space

    cpu = default_space(TABLE_SAMPLES, TABLE_SHAPE, gpu=False)
    gpu = default_space(TABLE_SAMPLES, TABLE_SHAPE, gpu=True)
    rows = [
        "| setting | what it sets | CPU | GPU |",
        "|---|---|---|---|",
    ]
    for name, meaning in SETTINGS.items():
        rows.append(f"| `{name}` | {meaning} | {_describe(cpu[name])} | {_describe(gpu[name])} |")
    return "\n".join(rows)


def on_page_markdown(markdown, page, config, files):
    """Replace the settings-table marker with the table computed by the library."""
    if SETTINGS_MARKER not in markdown:
        return markdown
    try:
        table = settings_table()
    except Exception as error:
        log.warning("figures hook: the settings table is not generated: %s: %s", type(error).__name__, error)
        return markdown
    return markdown.replace(SETTINGS_MARKER, table)
