"""The final model averages the networks of trials chosen on the holdout (``ensemble_size``).

Real training of `DARTS_V2` at tiny size on digits (no search stage); the
trials differ in their learning rate. A callback records every training's
starting and ending weights, so the tests can tell which network each final
fit continued.
"""

import os

import keras
import numpy as np
import pytest

import autoarch
from autoarch.darts import DARTS_V2
from autoarch.darts.costs import network_cost
from autoarch.tuning.ensemble import holdout_loss, load_predictions

from .conftest import tiny_space
from .test_refit import TrainingRecorder, _same

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _classifier(tmp_path, **params):
    settings = dict(
        max_trials=3,
        tuner="random",
        seed=0,
        directory=tmp_path,
        search_space=tiny_space(train_epochs=2, learning_rate=(1e-3, 1e-2)),
        genotype=DARTS_V2,
        verbose=0,
    )
    settings.update(params)
    return autoarch.ImageClassifier(**settings)


def _members(model):
    return [layer for layer in model.layers if layer.name.startswith("darts_network")]


def test_the_final_model_averages_the_best_trials_continued_networks(tmp_path, digits_uint8):
    x, y, x_test, y_test = digits_uint8
    recorder = TrainingRecorder()
    estimator = _classifier(tmp_path, ensemble_size=2, refit="continue")
    estimator.fit(x, y, callbacks=[recorder])

    # The best trial first, then the one whose saved holdout predictions
    # lowered the holdout loss of the average.
    assert len(estimator.ensemble_trials_) == 2
    best, second = estimator.ensemble_trials_
    best_row = next(row for row in estimator.results_ if row["trial_id"] == best)
    assert best_row["rank"] == 1  # the ranking's incumbent (autoarch.tuning.ranking), not merely the top score
    assert estimator.best_hyperparameters_ == best_row["hyperparameters"]
    saved = {t: load_predictions(os.path.join(estimator.project_dir_, f"trial_{t}")) for t in (best, second)}
    targets = saved[best][0]
    alone = holdout_loss(targets, saved[best][1], regression=False)
    averaged = holdout_loss(targets, (saved[best][1] + saved[second][1]) / 2, regression=False)
    assert averaged < alone

    # Three trial trainings, then one continued training per member, best first.
    trial_ids = [row["trial_id"] for row in estimator.results_]
    trials, finals = recorder.trainings[:3], recorder.trainings[3:]
    assert len(finals) == 2
    for member, final in zip(estimator.ensemble_trials_, finals):
        assert _same(final["begin"], trials[trial_ids.index(member)]["end"])

    networks = _members(estimator.model_)
    assert [network.name for network in networks] == ["darts_network_0", "darts_network_1"]
    normalized = estimator.model_.get_layer("normalize")(x_test.astype(np.float32)[..., None])
    expected = np.mean([keras.ops.convert_to_numpy(network(normalized)) for network in networks], axis=0)
    np.testing.assert_allclose(estimator.predict_proba(x_test), expected, atol=1e-5)
    assert estimator.score(x_test, y_test) > 0.3
    assert f"average of trials {', '.join(estimator.ensemble_trials_)}" in estimator._repr_html_()

    restored = autoarch.load(estimator.project_dir_)
    assert restored.ensemble_trials_ == estimator.ensemble_trials_
    np.testing.assert_allclose(restored.predict_proba(x_test), estimator.predict_proba(x_test), atol=1e-6)


def test_after_a_resume_the_members_continue_from_their_saved_weights(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    first = TrainingRecorder()
    kept = _classifier(tmp_path, max_trials=2, ensemble_size=2, refit=False)
    kept.fit(x, y, callbacks=[first])
    assert len(first.trainings) == 2  # no final fit

    second = TrainingRecorder()
    resumed = _classifier(tmp_path, max_trials=2, ensemble_size=2, refit="continue")
    resumed.fit(x, y, callbacks=[second])
    assert resumed.ensemble_trials_ == kept.ensemble_trials_
    trial_ids = [row["trial_id"] for row in kept.results_]
    assert len(second.trainings) == len(resumed.ensemble_trials_)
    for member, final in zip(resumed.ensemble_trials_, second.trainings):
        assert _same(final["begin"], first.trainings[trial_ids.index(member)]["end"])


def test_one_member_and_max_model_size_bound_the_ensemble(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    single = _classifier(tmp_path, max_trials=2, ensemble_size=1)
    single.fit(x, y)
    assert len(single.ensemble_trials_) == 1
    assert [layer.name for layer in _members(single.model_)] == ["darts_network"]

    # Every trial trains the same genotype at the same width, so each network has
    # this many parameters; a limit below two of them leaves one member. The
    # rerun resumes the same project: only its final fit runs.
    size = single.results_[0]["parameters"]
    bounded = _classifier(tmp_path, max_trials=2, ensemble_size=3, max_model_size=2 * size - 1)
    bounded.fit(x, y)
    assert len(bounded.ensemble_trials_) == 1
    assert sum(layer.count_params() for layer in _members(bounded.model_)) <= 2 * size - 1


def test_max_flops_bounds_the_ensemble_and_fails_costlier_trials_before_training(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    single = _classifier(tmp_path, max_trials=2, ensemble_size=1)
    single.fit(x, y)
    settings = tiny_space()
    flops = network_cost(
        DARTS_V2, (8, 8, 1), 10, init_channels=settings["network_channels"], layers=settings["network_cells"]
    ).flops
    assert [row["flops"] for row in single.results_] == [flops, flops]

    # The rerun resumes the same project: a limit below two networks leaves one member.
    bounded = _classifier(tmp_path, max_trials=2, ensemble_size=3, max_flops=2 * flops - 1)
    bounded.fit(x, y)
    assert len(bounded.ensemble_trials_) == 1

    # A limit below one network fails every trial, before its training, with the reason.
    trainings = TrainingRecorder()
    with pytest.raises(RuntimeError, match=rf"too costly: the derived network takes {flops} multiply-adds per image"):
        _classifier(tmp_path / "tight", max_trials=1, max_flops=flops - 1).fit(x, y, callbacks=[trainings])
    assert trainings.trainings == []


@pytest.mark.parametrize("size", [0, -1, 1.5, True, "3", None])
def test_bad_ensemble_size_is_refused_before_anything_is_written(tmp_path, digits_uint8, size):
    x, y, _, _ = digits_uint8
    with pytest.raises(ValueError, match="ensemble_size must be an integer >= 1"):
        _classifier(tmp_path, ensemble_size=size).fit(x, y)
    assert os.listdir(tmp_path) == []
