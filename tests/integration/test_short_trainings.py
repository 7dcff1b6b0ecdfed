"""Short trainings give right answers (issue 35).

A network trained for a few dozen steps used to come back with its batch
norms' moving statistics still near their start (mean 0, variance 1), and in
inference mode scored far below its own training mode, down to chance. Every
trained network's statistics are now recomputed with its final weights
(`autoarch.darts.batch_statistics`); and a final model within noise of chance
says so. Real fits of `DARTS_V2` at tiny size on digits.
"""

import logging

import keras
import numpy as np
import pytest

import autoarch
from autoarch.darts import DARTS_V2, build_network
from autoarch.darts.network import set_drop_path_rate
from autoarch.tuning.trial_folder import TrialFolder

from .conftest import tiny_space

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _accuracies(network, images, labels):
    """``(inference-mode, training-mode)`` accuracy of ``network`` on ``images``, in one batch.

    Training mode normalizes with the batch's own statistics (drop path off,
    so only the normalization differs) and updates the moving ones: it goes
    last, and the network is not used afterwards.
    """
    set_drop_path_rate(network, 0.0)
    inference = np.argmax(keras.ops.convert_to_numpy(network(images, training=False)), axis=1)
    training = np.argmax(keras.ops.convert_to_numpy(network(images, training=True)), axis=1)
    return float(np.mean(inference == labels)), float(np.mean(training == labels))


def test_networks_trained_for_a_few_steps_predict_in_inference_mode_as_in_training(tmp_path, digits_uint8, caplog):
    x, y, _, _ = digits_uint8
    # 480 images at batch 32 for 1 epoch: 15 steps a trial; each final fit continues a member for ~19 steps.
    estimator = autoarch.ImageClassifier(
        max_trials=3, tuner="random", seed=0, directory=tmp_path, genotype=DARTS_V2, verbose=0,
        search_space=tiny_space(train_epochs=1, learning_rate=(3e-3, 1e-2)), ensemble_size=2, refit="continue",
    )
    with caplog.at_level(logging.WARNING, logger="autoarch"):
        estimator.fit(x, y)
    assert "within noise of chance" not in caplog.text  # a learnable task: no chance warning
    assert not any(row["at_chance"] for row in estimator.results_)
    assert len(estimator.ensemble_trials_) == 2

    normalized = estimator.model_.get_layer("normalize")(x.astype(np.float32)[..., None])
    checked = []
    for trial_id in estimator.ensemble_trials_:  # the trial's network as scored and saved
        network = build_network(DARTS_V2, (8, 8, 1), 10, init_channels=4, layers=3, drop_path=False)
        network.load_weights(TrialFolder.of(estimator.project_dir_, trial_id).weights_path)
        checked.append((f"trial {trial_id}", network))
    members = [layer for layer in estimator.model_.layers if layer.name.startswith("darts_network")]
    checked += [(f"final fit of member {i}", member) for i, member in enumerate(members)]
    assert len(checked) == 4
    for name, network in checked:
        inference, training = _accuracies(network, normalized, y)
        assert training > 0.3, (name, training)  # it learnt something in its few steps
        assert abs(inference - training) <= 0.01, (name, inference, training)


def test_two_epochs_on_a_few_hundred_images_give_a_usable_model(tmp_path, digits_uint8):
    x, y, x_test, y_test = digits_uint8
    estimator = autoarch.ImageClassifier(max_trials=1, seed=0, directory=tmp_path, genotype=DARTS_V2, verbose=0)
    estimator.fit(x[:300], y[:300], epochs=2)
    assert estimator.score(x_test, y_test) > 0.5  # chance is 0.1


def test_labels_at_random_give_a_chance_warning_in_the_log_the_results_and_the_summary(tmp_path, digits_uint8,
                                                                                     caplog):
    x, y, _, _ = digits_uint8
    shuffled = np.random.default_rng(0).permutation(y)
    estimator = autoarch.ImageClassifier(
        max_trials=1, seed=0, directory=tmp_path, genotype=DARTS_V2, verbose=0, search_space=tiny_space(),
    )
    with caplog.at_level(logging.WARNING, logger="autoarch"):
        estimator.fit(x, shuffled)
    assert "the final model has not learnt this task" in caplog.text
    assert "more time (time_limit), more training epochs" in caplog.text
    (row,) = estimator.results_
    assert row["at_chance"] is True
    assert 0.1 <= row["chance_score"] <= 0.12  # the holdout's majority class
    assert "within noise of chance" in estimator._repr_html_()


def test_a_fit_cut_short_by_a_small_time_limit_gives_a_usable_model(tmp_path, digits_uint8):
    # 300 digits in 10 s: the trial's training is cut after a few epochs (it used to score 12-36%).
    x, y, x_test, y_test = digits_uint8
    estimator = autoarch.ImageClassifier(max_trials=1, seed=0, directory=tmp_path, time_limit=10, verbose=0)
    estimator.fit(x[:300], y[:300])
    assert estimator.score(x_test, y_test) > 0.5  # chance is 0.1
