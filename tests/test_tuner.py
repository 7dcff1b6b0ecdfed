"""The oracles `make_oracle` builds."""

import keras_tuner
import pytest

from autoarch.tuning.oracles import TUNERS, make_oracle
from autoarch.tuning.ranking import best_trial, ensemble_candidates, ranked_trials

OBJECTIVE = keras_tuner.Objective("val_accuracy", "max")


@pytest.mark.parametrize("name", TUNERS)
@pytest.mark.parametrize("seed", [0, 5])
def test_a_seed_fixes_the_oracle_seed_zero_included(name, seed):
    # keras-tuner reads seed=0 as "draw a random seed"; autoarch's seed 0 must not.
    first, second = (make_oracle(name, OBJECTIVE, 3, seed=seed, max_epochs=4) for _ in range(2))
    assert first.seed == second.seed


@pytest.mark.parametrize("name", TUNERS)
def test_unknown_and_known_names(name):
    assert isinstance(make_oracle(name, OBJECTIVE, 3, seed=None, max_epochs=4), keras_tuner.Oracle)
    with pytest.raises(ValueError, match="random"):
        make_oracle("grid", OBJECTIVE, 3)


def _finished_oracle(tmp_path, objective, metrics, continues=None):
    """A real random-search oracle whose trials ended with ``metrics`` (one dict per trial; None: failed).

    ``continues`` maps a trial's position to the position of the trial it
    continues (as Hyperband's ``tuner/trial_id`` says).
    """
    oracle = make_oracle("random", objective, len(metrics), seed=0)
    oracle._set_project_dir(str(tmp_path), "project")
    space = keras_tuner.HyperParameters()
    space.Float("learning_rate", 1e-3, 1e-2)
    oracle.update_space(space)
    ids = []
    for position, values in enumerate(metrics):
        trial = oracle.create_trial("tuner0")
        ids.append(trial.trial_id)
        if position in (continues or {}):
            trial.hyperparameters.values["tuner/trial_id"] = ids[continues[position]]
        if values is None:
            trial.status = "FAILED"
        else:
            oracle.update_trial(trial.trial_id, values)
            trial.status = "COMPLETED"
        oracle.end_trial(trial)
    return oracle


def test_best_trial_breaks_ties_by_the_holdout_loss_then_by_order(tmp_path):
    objective = keras_tuner.Objective("val_accuracy", "max")
    oracle = _finished_oracle(
        tmp_path / "a",
        objective,
        [
            {"val_accuracy": 0.9, "val_loss": 0.30},
            {"val_accuracy": 0.95, "val_loss": 0.20},
            {"val_accuracy": 0.95, "val_loss": 0.10},
            {"val_accuracy": 0.95, "val_loss": 0.10},
        ],
    )
    ids = list(oracle.trials)
    assert best_trial(oracle).trial_id == ids[2]
    # keras-tuner's own choice keeps the first of equal scores.
    assert oracle.get_best_trials(1)[0].trial_id == ids[1]

    loss = keras_tuner.Objective("val_loss", "min")
    oracle = _finished_oracle(tmp_path / "b", loss, [{"val_loss": 0.5}, {"val_loss": 0.2}, {"val_loss": 0.2}])
    assert best_trial(oracle).trial_id == list(oracle.trials)[1]


def test_best_trial_is_none_without_a_completed_trial(tmp_path):
    oracle = make_oracle("random", keras_tuner.Objective("val_accuracy", "max"), 2, seed=0)
    oracle._set_project_dir(str(tmp_path), "project")
    assert best_trial(oracle) is None


def test_ranked_trials_put_the_best_first_and_leave_failed_trials_out(tmp_path):
    objective = keras_tuner.Objective("val_accuracy", "max")
    oracle = _finished_oracle(
        tmp_path,
        objective,
        [{"val_accuracy": 0.7}, {"val_accuracy": 0.9, "val_loss": 0.2}, None, {"val_accuracy": 0.9, "val_loss": 0.1}],
    )
    ids = list(oracle.trials)
    assert oracle.trials[ids[2]].status == "FAILED"
    assert [trial.trial_id for trial in ranked_trials(oracle)] == [ids[3], ids[1], ids[0]]


def test_ensemble_candidates_are_ranked_with_one_trial_per_hyperband_lineage(tmp_path):
    objective = keras_tuner.Objective("val_accuracy", "max")
    scores = [0.80, 0.85, 0.95, 0.90, 0.70]
    # Trial 2 continues trial 1's network, so trial 1 is not a candidate of its own.
    oracle = _finished_oracle(tmp_path, objective, [{"val_accuracy": s} for s in scores], continues={2: 1})
    ids = list(oracle.trials)
    assert [t.trial_id for t in ensemble_candidates(oracle)] == [ids[2], ids[3], ids[0], ids[4]]
