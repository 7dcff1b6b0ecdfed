"""End to end: a fitted estimator's notebook HTML, and the plots of its project."""

import pytest
from IPython.core.interactiveshell import InteractiveShell

import autoarch
from autoarch.tuning.space import CPU_PRIMITIVES
from autoarch.plots import plot_alpha_history, plot_trial_scores, trial_alpha_history

from .conftest import TINY_SPACE

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    with open(path, "rb") as file:
        data = file.read()
    assert data[:8] == PNG_SIGNATURE and len(data) > 5_000


def test_fitted_estimator_displays_and_plots(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    clf = autoarch.ImageClassifier(max_trials=1, search_space=TINY_SPACE, seed=0, verbose=0, directory=tmp_path)
    clf.fit(x, y)

    data, _ = InteractiveShell.instance().display_formatter.format(clf)
    html = data["text/html"]
    (row,) = clf.results_
    for text in (
        "ImageClassifier</b> (fitted)", "classifier, 10 classes", "8 x 8", "1 completed, 0 failed",
        "val_accuracy = ", f"{clf.model_.count_params():,}", "<th style=\"text-align:left\">trial</th>",
        f"<td style=\"text-align:left\"><b>{row['trial_id']}</b></td>", clf.best_genotype_.summary(),
        '<img src="data:image/png;base64,',
    ):
        assert text in html, text

    history = trial_alpha_history(clf.project_dir_)
    assert len(history) == TINY_SPACE["search_epochs"]
    # 2 nodes: 2 + 3 edges; on CPU, the six operations without the 5x5 convolutions.
    assert history[0]["primitives"] == CPU_PRIMITIVES
    assert history[0]["normal"].shape == (5, len(CPU_PRIMITIVES))
    assert len(trial_alpha_history(clf, row["trial_id"])) == len(history)
    assert_png(plot_alpha_history(history, tmp_path / "plots" / "alphas.png"))
    assert_png(plot_trial_scores(clf.results_, tmp_path / "plots" / "trials.png"))
