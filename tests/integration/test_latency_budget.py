"""``max_latency_ms`` end to end (issue 16): the budget holds before training, after measuring, and in the final model."""

import os

import pytest

import autoarch
from autoarch.darts import DARTS_V2
from autoarch.plots import plot_pareto

from ..test_latency import synthetic_table
from .conftest import TrainingCounter, tiny_classifier, tiny_space

SETTINGS = tiny_space()
SIZE = dict(init_channels=SETTINGS["network_channels"], layers=SETTINGS["network_cells"], stem_multiplier=3,
            stem_stride=1)


def _phone_table():
    """A table "measured on a phone" for the tiny space's one network size, with `DARTS_V2`'s four nodes."""
    return synthetic_table(nodes=len(DARTS_V2.normal) // 2, shape=(8, 8, 1), outputs=10, size=SIZE)


def test_a_table_from_another_device_holds_the_budget_by_its_estimates(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    table = _phone_table()
    estimate = table.estimate_ms(DARTS_V2, (8, 8, 1), 10, **SIZE)

    # Room for one network of DARTS_V2, not two: the ensemble keeps one member.
    one = tiny_classifier(tmp_path, max_trials=2, ensemble_size=3, max_latency_ms=1.5 * estimate, latency_target=table)
    one.fit(x, y)
    assert [row["latency_estimate_ms"] for row in one.results_] == [pytest.approx(estimate)] * 2
    assert [row["latency_ms"] for row in one.results_] == [None, None]  # nothing to measure a phone with here
    assert len(one.ensemble_trials_) == 1
    assert one.latency_ms_ == pytest.approx(estimate)
    assert one.latency_measurement_["estimated"] and one.latency_measurement_["target"] == "a phone"
    assert "(estimated, budget" in one._repr_html_()

    # Below the one network: the trial fails before its training, and fit says what was reached.
    trainings = TrainingCounter()
    tight = tiny_classifier(tmp_path / "tight", max_latency_ms=0.9 * estimate, latency_target=table)
    with pytest.raises(RuntimeError, match=rf"no trial met max_latency_ms={0.9 * estimate:g}: the smallest latency "
                                           rf"reached was {estimate:.3g} ms \(estimated, trial 0\).*over the latency budget"):
        tight.fit(x, y, callbacks=[trainings])
    assert trainings.count == 0


def test_this_machines_latency_is_measured_for_every_trial_and_the_final_model(tmp_path, digits_uint8, monkeypatch):
    """A real search with the latency term, measured in the TFLite interpreter; the cache is reused."""
    monkeypatch.setenv("AUTOARCH_CACHE_DIR", str(tmp_path / "cache"))
    x, y, _, _ = digits_uint8
    # Two operations keep the latency table short: its one conversion to TFLite costs about 1.5 s
    # per model in it (an operation at each shape, a network per operation, two random cells).
    space = tiny_space(primitives=["max_pool_3x3", "sep_conv_3x3"])
    clf = autoarch.ImageClassifier(max_trials=1, tuner="random", seed=0, directory=str(tmp_path), verbose=0,
                                   search_space=space, ensemble_size=1, max_latency_ms=5.0)
    clf.fit(x, y)
    row = clf.results_[0]
    assert row["status"] == "COMPLETED"
    assert 0 < row["latency_ms"] <= 5.0 and row["latency_estimate_ms"] > 0
    assert 0 < clf.latency_ms_ and clf.latency_measurement_["target"] == "tflite-cpu"
    assert clf.latency_measurement_["threads"] == 1 and not clf.latency_measurement_.get("estimated")
    cached = os.listdir(tmp_path / "cache" / "latency")
    assert len(cached) == 1 and cached[0].endswith(".json")

    from autoarch.display import trial_table_text

    table = trial_table_text(clf.results_, "val_accuracy")
    assert "ms meas/est" in table[0] and f"{row['latency_ms']:.3g} / " in table[1]
    assert "latency" in clf._repr_html_() and "ms (measured / estimated)" in clf._repr_html_()

    # The export records the measured latency, and load restores it.
    restored = autoarch.load(clf.export(str(tmp_path / "model.keras"), format="keras"))
    assert restored.latency_ms_ == clf.latency_ms_ and restored.latency_measurement_ == clf.latency_measurement_

    figure = plot_pareto(clf)
    axes = figure.axes[0]
    assert axes.get_xlabel().startswith("latency")
    assert any(line.get_label() == "budget" for line in axes.get_lines())


def test_a_tight_budget_gives_the_first_trial_a_network_size_that_fits(tmp_path, digits_uint8):
    """The default 8 channels cannot meet ``max_flops`` with room to choose: the searched first trial gets 4."""
    from autoarch.darts.costs import edge_costs
    from autoarch.runtime import gpu_present
    from autoarch.tuning.budget_sizes import ROOM
    from autoarch.tuning.space import search_primitives

    x, y, _, _ = digits_uint8
    space = tiny_space(network_channels=[8, 4])
    primitives = search_primitives(space, gpu_present())
    floors = {channels: edge_costs(primitives, space["nodes"], (8, 8, 1), 10, init_channels=channels,
                                   layers=space["network_cells"]).cheapest() for channels in (8, 4)}
    budget = floors[4] / ROOM
    assert floors[8] > ROOM * budget  # 8 channels would leave the search no room
    clf = tiny_classifier(tmp_path, genotype=None, search_space=space, max_flops=int(budget))
    clf.fit(x[:300], y[:300])
    (row,) = clf.results_
    assert row["status"] == "COMPLETED"
    assert row["hyperparameters"]["network_channels"] == 4
    assert row["flops"] <= budget
