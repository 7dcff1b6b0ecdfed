"""`autoarch.tuning.ranking`: the one ranking, and the ranks ``results_`` carry."""

import keras_tuner

from autoarch.tuning.ranking import best_row, direction_of, rank_key, rank_rows, ranked_trials
from autoarch.tuning.tuner import read_results
from tests.test_tuner import _finished_oracle


def test_rank_key_puts_better_scores_then_lower_losses_first():
    assert rank_key("max", 0.9, 0.3) < rank_key("max", 0.8, 0.1)
    assert rank_key("min", 0.2, None) < rank_key("min", 0.3, 0.1)
    assert rank_key("max", 0.9, 0.1) < rank_key("max", 0.9, 0.2) < rank_key("max", 0.9, None)
    assert rank_key("max", 0.9, float("nan")) == rank_key("max", 0.9, None)


def test_direction_of_a_name():
    assert direction_of("val_loss") == "min" and direction_of("val_accuracy") == "max"


def test_read_results_rows_carry_the_rank_of_ranked_trials(tmp_path):
    objective = keras_tuner.Objective("val_accuracy", "max")
    oracle = _finished_oracle(
        tmp_path,
        objective,
        [{"val_accuracy": 0.7}, {"val_accuracy": 0.9, "val_loss": 0.2}, None, {"val_accuracy": 0.9, "val_loss": 0.1}],
    )
    rows = read_results(oracle, oracle._project_dir)
    ranked = [trial.trial_id for trial in ranked_trials(oracle)]
    assert [row["trial_id"] for row in sorted((r for r in rows if r["rank"]), key=lambda r: r["rank"])] == ranked
    assert [row["rank"] for row in rows] == [3, 2, None, 1]
    assert {(row["objective"], row["direction"]) for row in rows} == {("val_accuracy", "max")}
    assert best_row(rows) is rows[3]


def test_rank_rows_ranks_completed_rows_with_the_same_tie_rules():
    rows = [
        {"trial_id": "0", "status": "COMPLETED", "score": 0.5},
        {"trial_id": "1", "status": "FAILED", "score": None},
        {"trial_id": "2", "status": "COMPLETED", "score": 0.2},
        {"trial_id": "3", "status": "COMPLETED", "score": 0.2},
        {"trial_id": "4", "status": "COMPLETED", "score": 0.2},
    ]
    rank_rows(rows, "min", losses={"3": 0.1, "4": 0.1})
    assert [row["rank"] for row in rows] == [4, None, 3, 1, 2]


def test_best_row_of_rows_saved_before_ranks_uses_the_objective_direction():
    rows = [
        {"trial_id": "0", "status": "COMPLETED", "score": 0.5},
        {"trial_id": "1", "status": "COMPLETED", "score": 0.2},
        {"trial_id": "2", "status": "COMPLETED", "score": 0.2},
    ]
    assert best_row(rows, "val_loss") is rows[1]
    assert best_row(rows, "val_accuracy") is rows[0]
    assert best_row(rows) is rows[0]
    assert "rank" not in rows[0]  # the caller's rows are left as they were
    assert best_row([{"trial_id": "0", "status": "FAILED", "score": None}]) is None
    assert best_row([]) is None
