"""autoarch.plots (alpha history and trial scores) and the notebook HTML of genotypes and estimators."""

import base64
import json
import re

import keras
import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn.exceptions import NotFittedError

import autoarch
from autoarch.darts import DARTS_V2, PRIMITIVES, SearchNetwork, num_edges
from autoarch.plots import plot_alpha_history, plot_trial_scores, read_alpha_history, trial_alpha_history
from autoarch.tuning.tuner import ALPHAS_FILE, _alphas_to_json, _write_json

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path, figure_size, dpi):
    """A valid PNG of more than 5 KB whose pixel size is the figure size times dpi."""
    with open(path, "rb") as file:
        data = file.read()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5_000
    height, width = matplotlib.image.imread(path).shape[:2]
    assert (width, height) == tuple(int(round(v * dpi)) for v in figure_size)


def softmax(values):
    values = np.exp(values - values.max(axis=-1, keepdims=True))
    return values / values.sum(axis=-1, keepdims=True)


def synthetic_history(epochs=4, nodes=4, operations=len(PRIMITIVES), seed=0):
    rng = np.random.default_rng(seed)
    edges = num_edges(nodes)
    return [
        {
            "epoch": epoch,
            "normal": softmax(rng.normal(size=(edges, operations))),
            "reduce": softmax(rng.normal(size=(edges, operations))),
        }
        for epoch in range(epochs)
    ]


@pytest.fixture(scope="module")
def network_history():
    """What a tiny SearchNetwork records (partial channels: with edge weights), over 3 'epochs'."""
    network = SearchNetwork((8, 8, 1), 2, init_channels=2, layers=1, nodes=2, partial_channels=2, seed=0)
    rng = np.random.default_rng(1)
    history = []
    for epoch in range(3):
        network.alphas_normal.assign(rng.normal(size=network.alphas_normal.shape).astype("float32"))
        network.alphas_reduce.assign(rng.normal(size=network.alphas_reduce.shape).astype("float32"))
        history.append({"epoch": epoch, **network.operation_weights()})
    return history


def trial_rows():
    """Rows with the keys of the estimator's results_: completed, failed and interrupted trials."""
    rows = []
    for i, (status, score, seconds) in enumerate(
        [("COMPLETED", 0.6, 12.0), ("COMPLETED", 0.8, 10.5), ("FAILED", None, 3.0),
         ("COMPLETED", 0.7, 11.0), ("INTERRUPTED", None, None)]
    ):
        rows.append(
            {
                "trial_id": f"{i:02d}",
                "hyperparameters": {"init_channels": 4, "learning_rate": 0.01},
                "genotype": DARTS_V2.to_json() if status == "COMPLETED" else None,
                "score": score,
                "parameters": 1234 if status == "COMPLETED" else None,
                "seconds": seconds,
                "status": status,
                "reason": None if status == "COMPLETED" else "diverged: <nan> & co",
                "worker": "tuner0",
            }
        )
    return rows


# --------------------------------------------------------------------------- reading alphas


def test_read_alpha_history_round_trips_what_the_tuner_writes(tmp_path, network_history):
    assert set(network_history[0]) == {"epoch", "normal", "reduce", "normal_edges", "reduce_edges"}
    _write_json(str(tmp_path / ALPHAS_FILE), _alphas_to_json(network_history, PRIMITIVES))
    for source in (tmp_path, tmp_path / ALPHAS_FILE, str(tmp_path)):
        read = read_alpha_history(source)
        assert len(read) == len(network_history)
        for got, expected in zip(read, network_history):
            assert got.keys() == {*expected.keys(), "primitives"}
            assert got["primitives"] == PRIMITIVES
            assert got["epoch"] == expected["epoch"] and isinstance(got["epoch"], int)
            for key in ("normal", "reduce", "normal_edges", "reduce_edges"):
                assert isinstance(got[key], np.ndarray)
                np.testing.assert_allclose(got[key], expected[key], rtol=1e-6)


def test_read_alpha_history_refuses_missing_and_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="alphas.json"):
        read_alpha_history(tmp_path)
    with pytest.raises(FileNotFoundError, match="no alpha history"):
        read_alpha_history(tmp_path / "nowhere.json")
    path = tmp_path / "bad.json"
    path.write_text("[{")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_alpha_history(path)
    cases = [
        ({"normal": []}, "expected a list"),
        ([[1, 2]], "expected a dict"),
        ([{"epoch": 0, "normal": [[0.5, 0.5]] * 2}], r"missing \['reduce'\]"),
        ([{"epoch": -1, "normal": [[1.0]] * 2, "reduce": [[1.0]] * 2}], "'epoch' must be an integer"),
        ([{"epoch": 0, "normal": [0.5, 0.5], "reduce": [0.5, 0.5]}], "2-D array"),
        ([{"epoch": 0, "normal": [["a", "b"]] * 2, "reduce": [[0.5, 0.5]] * 2}], "array of numbers"),
        ([{"epoch": 0, "normal": [[0.5, 0.5]] * 2, "reduce": [[1.0]] * 2}], "one shape"),
        (
            [{"epoch": 0, "normal": [[0.5, 0.5]] * 2, "reduce": [[0.5, 0.5]] * 2},
             {"epoch": 1, "normal": [[1.0]] * 2, "reduce": [[1.0]] * 2}],
            "earlier epochs",
        ),
    ]
    for content, message in cases:
        path.write_text(json.dumps(content))
        with pytest.raises(ValueError, match=message):
            read_alpha_history(path)


# --------------------------------------------------------------------------- plotting alphas


def test_plot_alpha_history_writes_png_of_the_dpi_size(tmp_path):
    history = synthetic_history()
    size = plot_alpha_history(history).get_size_inches()
    for dpi in (50, 100):
        target = tmp_path / "deep" / "er" / f"alphas{dpi}.png"
        returned = plot_alpha_history(history, target, cell="reduce", dpi=dpi)
        assert returned == str(target)
        assert_png(target, size, dpi)


def test_plot_alpha_history_returns_a_figure_with_one_plot_per_edge():
    figure = plot_alpha_history(synthetic_history(nodes=4), title="search")
    assert isinstance(figure, Figure)
    titles = [ax.get_title() for ax in figure.axes if ax.axison]
    assert len(titles) == num_edges(4) == 14
    # Nodes are numbered as in the genotype's text: the first intermediate node is 2.
    assert titles[:5] == ["$c_{k-2}$ → 2", "$c_{k-1}$ → 2", "$c_{k-2}$ → 3", "$c_{k-1}$ → 3", "2 → 3"]
    assert titles[-1] == "4 → 5"
    assert [text.get_text() for text in figure.legends[0].get_texts()] == list(PRIMITIVES)
    assert figure._suptitle.get_text() == "search"
    # One line per operation, x = epochs counted from 1, y = the weights of that edge.
    first = figure.axes[0].get_lines()
    assert len(first) == len(PRIMITIVES)
    np.testing.assert_array_equal(first[0].get_xdata(), [1, 2, 3, 4])


def test_plot_alpha_history_from_a_search_network_and_from_a_trial_folder(tmp_path, network_history):
    primitives = ("max_pool_3x3", "skip_connect", "sep_conv_3x3")
    narrow = synthetic_history(epochs=2, nodes=2, operations=3)
    figure = plot_alpha_history(narrow, primitives=primitives)
    assert [t.get_text() for t in figure.legends[0].get_texts()] == list(primitives)
    figure = plot_alpha_history(narrow)  # names unknown: op0, op1, op2
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["op0", "op1", "op2"]
    figure = plot_alpha_history(network_history, cell="reduce")
    assert len([ax for ax in figure.axes if ax.axison]) == num_edges(2) == 5
    _write_json(str(tmp_path / ALPHAS_FILE), _alphas_to_json(network_history, PRIMITIVES))
    assert_png(plot_alpha_history(tmp_path, tmp_path / "a.png"), figure.get_size_inches(), 100)


def test_plot_alpha_history_labels_the_operations_a_history_records(tmp_path):
    primitives = ["none", "avg_pool_3x3", "sep_conv_3x3"]
    narrow = synthetic_history(epochs=2, nodes=2, operations=3)
    _write_json(str(tmp_path / ALPHAS_FILE), _alphas_to_json(narrow, primitives))
    figure = plot_alpha_history(tmp_path)
    assert [t.get_text() for t in figure.legends[0].get_texts()] == primitives
    # Names given to the call win over the recorded ones.
    figure = plot_alpha_history(tmp_path, primitives=["skip_connect", "max_pool_3x3", "dil_conv_3x3"])
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["skip_connect", "max_pool_3x3", "dil_conv_3x3"]
    bad = _alphas_to_json(narrow, primitives)
    bad[1]["primitives"] = ["conv", "avg_pool_3x3", "sep_conv_3x3"]
    with pytest.raises(ValueError, match=r"\[1\]\['primitives'\]: .*unknown operation"):
        plot_alpha_history(bad)
    bad[1]["primitives"] = ["none", "avg_pool_3x3"]
    with pytest.raises(ValueError, match=r"\[1\]: 'primitives' names 2 operations, but the weights have 3 columns"):
        plot_alpha_history(bad)


def test_plot_alpha_history_refuses_bad_input(tmp_path):
    history = synthetic_history(epochs=2, nodes=2)
    with pytest.raises(ValueError, match="cell must be one of"):
        plot_alpha_history(history, cell="normal_edges")
    with pytest.raises(ValueError, match="empty"):
        plot_alpha_history([])
    with pytest.raises(ValueError, match="not the edge count"):
        plot_alpha_history([{"epoch": 0, "normal": np.ones((4, 8)) / 8, "reduce": np.ones((4, 8)) / 8}])
    with pytest.raises(ValueError, match="2 operations, but the weights have 8 columns"):
        plot_alpha_history(history, primitives=["skip_connect", "sep_conv_3x3"])
    with pytest.raises(ValueError, match="unknown operation"):
        plot_alpha_history(history, primitives=["conv"] * 8)
    with pytest.raises(ValueError, match="expected a list"):
        plot_alpha_history({"normal": np.ones((5, 8))})
    with pytest.raises(FileNotFoundError):
        plot_alpha_history(tmp_path)
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- trial scores


def test_plot_trial_scores_writes_png_and_marks_failures(tmp_path):
    rows = trial_rows()
    figure = plot_trial_scores(rows)
    assert isinstance(figure, Figure)
    ax = figure.axes[0]
    assert ax.get_ylabel() == "score"
    completed, failed = ax.collections
    # x: elapsed seconds in start order (a trial without seconds adds nothing).
    np.testing.assert_allclose(completed.get_offsets(), [[12.0, 0.6], [22.5, 0.8], [36.5, 0.7]])
    np.testing.assert_allclose(np.asarray(failed.get_offsets())[:, 0], [25.5, 36.5])
    (best,) = ax.get_lines()
    np.testing.assert_allclose(best.get_ydata(), [0.6, 0.8, 0.8, 0.8])  # best so far, higher is better
    assert "3 completed, 2 failed or interrupted" in ax.get_title()
    target = tmp_path / "a" / "b" / "trials.png"
    assert plot_trial_scores(rows, target, dpi=80) == str(target)
    assert_png(target, figure.get_size_inches(), 80)


def test_plot_trial_scores_takes_an_estimator_and_its_objective(tmp_path):
    regressor = autoarch.ImageRegressor()
    with pytest.raises(NotFittedError, match="not fitted"):
        plot_trial_scores(regressor)
    regressor.results_ = [dict(row, score=1.0 + i) for i, row in enumerate(trial_rows()[:2])]
    figure = plot_trial_scores(regressor, title="")
    ax = figure.axes[0]
    assert ax.get_ylabel() == "val_loss" and ax.get_title() == ""
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [1.0, 1.0, 1.0])  # lower is better


def test_plot_trial_scores_refuses_bad_input():
    with pytest.raises(ValueError, match="results is empty"):
        plot_trial_scores([])
    with pytest.raises(ValueError, match="expected the estimator's results_"):
        plot_trial_scores({"score": 1.0})
    with pytest.raises(ValueError, match=r"missing \['seconds'\]"):
        plot_trial_scores([{"score": 0.5, "status": "COMPLETED"}])
    with pytest.raises(ValueError, match="a dict per trial"):
        plot_trial_scores([0.5])
    # Every trial failed: still a picture, the failures marked.
    figure = plot_trial_scores([row for row in trial_rows() if row["status"] != "COMPLETED"])
    assert len(figure.axes[0].collections) == 1


# --------------------------------------------------------------------------- trial_alpha_history


def write_trial(project, trial_id, status, score, direction="max", history=None, previous=None, loss=None):
    folder = project / f"trial_{trial_id}"
    folder.mkdir(parents=True)
    metrics = {} if score is None else {
        "metrics": {
            "val_accuracy" if direction == "max" else "val_loss": {
                "direction": direction, "observations": [{"value": [score], "step": 0}]
            },
            "other": {"direction": "min", "observations": [{"value": [score + 100.0], "step": 0}]},
        }
    }
    if loss is not None:
        metrics["metrics"]["val_loss"] = {"direction": "min", "observations": [{"value": [loss], "step": 0}]}
    values = {"init_channels": 4} if previous is None else {"tuner/trial_id": previous}
    state = {
        "trial_id": trial_id, "hyperparameters": {"space": [], "values": values}, "metrics": metrics,
        "score": score, "best_step": 0, "status": status, "message": None,
    }
    (folder / "trial.json").write_text(json.dumps(state))
    if history is not None:
        _write_json(str(folder / ALPHAS_FILE), _alphas_to_json(history, PRIMITIVES))


def test_trial_alpha_history_reads_the_best_or_a_chosen_trial(tmp_path):
    histories = {f"0{i}": synthetic_history(epochs=i + 1, nodes=2, seed=i) for i in range(3)}
    write_trial(tmp_path, "00", "COMPLETED", 0.5, history=histories["00"])
    write_trial(tmp_path, "01", "COMPLETED", 0.9, history=histories["01"])
    write_trial(tmp_path, "02", "FAILED", None, history=histories["02"])
    write_trial(tmp_path, "03", "COMPLETED", 0.7, previous="01")  # Hyperband: continued trial 01
    assert len(trial_alpha_history(tmp_path)) == 2  # the best: trial 01
    assert len(trial_alpha_history(str(tmp_path), "02")) == 3
    assert len(trial_alpha_history(tmp_path, 0)) == 1
    assert len(trial_alpha_history(tmp_path, "03")) == 2  # its search was trial 01's
    np.testing.assert_allclose(trial_alpha_history(tmp_path, "03")[1]["normal"], histories["01"][1]["normal"])
    with pytest.raises(FileNotFoundError, match="no trial '07'"):
        trial_alpha_history(tmp_path, "07")
    with pytest.raises(FileNotFoundError, match="no project folder"):
        trial_alpha_history(tmp_path / "missing")
    with pytest.raises(ValueError, match="project_dir_"):
        trial_alpha_history(autoarch.ImageClassifier())


def test_trial_alpha_history_breaks_ties_as_the_estimator_does(tmp_path):
    write_trial(tmp_path, "00", "COMPLETED", 0.9, loss=0.3, history=synthetic_history(epochs=1, nodes=2))
    write_trial(tmp_path, "01", "COMPLETED", 0.9, loss=0.2, history=synthetic_history(epochs=2, nodes=2))
    write_trial(tmp_path, "02", "COMPLETED", 0.9, loss=0.2, history=synthetic_history(epochs=3, nodes=2))
    assert len(trial_alpha_history(tmp_path)) == 2  # equal accuracy: the lower loss, then the earlier


def test_trial_alpha_history_follows_the_objective_direction(tmp_path):
    write_trial(tmp_path, "00", "COMPLETED", 0.5, direction="min", history=synthetic_history(epochs=1, nodes=2))
    write_trial(tmp_path, "01", "COMPLETED", 0.9, direction="min", history=synthetic_history(epochs=2, nodes=2))
    write_trial(tmp_path, "02", "COMPLETED", 0.1, direction="min")  # a fixed genotype: no search
    with pytest.raises(FileNotFoundError, match="trial '02' .* has no alphas.json"):
        trial_alpha_history(tmp_path)  # the best (lowest loss) did not search
    (tmp_path / "trial_02" / "trial.json").write_text(json.dumps({"status": "FAILED", "score": None}))
    assert len(trial_alpha_history(tmp_path)) == 1


def test_trial_alpha_history_needs_a_completed_trial(tmp_path):
    write_trial(tmp_path, "00", "FAILED", None, history=synthetic_history(epochs=1, nodes=2))
    with pytest.raises(ValueError, match="no completed trial"):
        trial_alpha_history(tmp_path)


# --------------------------------------------------------------------------- notebook HTML


def embedded_png(html):
    match = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert match, "no inline PNG"
    data = base64.b64decode(match.group(1))
    assert data[:8] == PNG_SIGNATURE and len(data) > 5_000
    return data


def test_genotype_repr_html_has_the_summary_and_the_cells():
    html = DARTS_V2._repr_html_()
    assert DARTS_V2.summary() in html
    embedded_png(html)


def display_html(obj):
    from IPython.core.interactiveshell import InteractiveShell

    data, _ = InteractiveShell.instance().display_formatter.format(obj)
    return data["text/html"]


def test_estimator_html_before_fit_lists_the_parameters():
    html = display_html(autoarch.ImageClassifier(max_trials=3, directory="<here>"))
    assert "ImageClassifier" in html and "not fitted" in html
    assert "max_trials" in html and "&#x27;&lt;here&gt;&#x27;" in html
    assert "sk-estimator" not in html  # not scikit-learn's diagram


def test_estimator_html_after_fit_shows_trials_and_genotype():
    clf = autoarch.ImageClassifier()
    clf.results_ = trial_rows()
    clf.classes_ = np.arange(30)
    clf.image_shape_ = (8, 8, 1)
    clf.best_genotype_ = DARTS_V2
    clf.fit_seconds_ = 61.25
    clf.project_dir_ = "projects/image_classifier"
    clf.model_ = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    html = display_html(clf)
    assert html == clf._repr_html_()
    for text in (
        "classifier, 30 classes", "0, 1, 2", "... (30 in all)", "8 x 8 x 1",
        "3 completed, 1 failed, 1 interrupted", "val_accuracy = 0.8 (trial 01)", "61.2 s",
        "<td style=\"text-align:left\">15</td>",  # 4 * 3 + 3 parameters
        "<td style=\"text-align:left\">12.0</td>", "<td style=\"text-align:left\">1,234</td>",
        "<td style=\"text-align:left\"><b>10.5</b></td>",  # the best trial's row is bold
        "diverged: &lt;nan&gt; &amp; co", DARTS_V2.summary(), "<th style=\"text-align:left\">val_accuracy</th>",
    ):
        assert text in html, text
    assert "<nan>" not in html
    assert html.count("<tr>") >= len(trial_rows()) + 1
    embedded_png(html)
