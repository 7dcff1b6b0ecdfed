"""`autoarch.tuning.ranking`: the one ranking, and the ranks ``results_`` carry."""

import keras_tuner

from autoarch.tuning.ranking import Entry, best_row, direction_of, ordered, rank_key, rank_rows, ranked_trials
from autoarch.tuning.trial_results import read_results
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


def test_the_incumbent_keeps_the_first_place_unless_beaten_by_more_than_its_standard_error():
    # Trial 0 (the defaults) scores 0.980 +- 0.004: 0.983 is within its noise, 0.990 is not.
    within = [Entry(0, 0.980, 0.07, 0.004, "defaults"), Entry(1, 0.983, 0.06, 0.004, "lucky")]
    assert ordered(within, "max") == ["defaults", "lucky"]
    beyond = [*within, Entry(2, 0.990, 0.05, 0.003, "better")]
    assert ordered(beyond, "max") == ["better", "lucky", "defaults"]
    # A loss objective: lower is better, by more than the error.
    losses = [Entry(0, 0.30, None, 0.02, "a"), Entry(1, 0.29, None, 0.02, "b"), Entry(2, 0.20, None, 0.02, "c")]
    assert ordered(losses, "min")[0] == "c"
    assert ordered(losses[:2], "min") == ["a", "b"]
    # The incumbent changes hands in start order: the challenger must beat the current holder.
    chain = [Entry(0, 0.90, None, 0.01, "a"), Entry(1, 0.92, None, 0.01, "b"), Entry(2, 0.925, None, 0.01, "c")]
    assert ordered(chain, "max") == ["b", "c", "a"]


def test_without_standard_errors_the_ranking_is_by_score_then_loss():
    entries = [Entry(0, 0.90, 0.3, None, "a"), Entry(1, 0.95, 0.2, None, "b"), Entry(2, 0.95, 0.1, None, "c")]
    assert ordered(entries, "max") == ["c", "b", "a"]
    assert ordered([], "max") == []


def test_ranked_trials_read_the_standard_error_of_the_objective(tmp_path):
    objective = keras_tuner.Objective("val_accuracy", "max")
    oracle = _finished_oracle(
        tmp_path,
        objective,
        [
            {"val_accuracy": 0.95, "val_accuracy_se": 0.01, "val_loss": 0.20},
            {"val_accuracy": 0.955, "val_accuracy_se": 0.01, "val_loss": 0.10},
        ],
    )
    ids = list(oracle.trials)
    assert [trial.trial_id for trial in ranked_trials(oracle)] == [ids[0], ids[1]]
    rows = rank_rows(
        [{"trial_id": "a", "status": "COMPLETED", "score": 0.95}, {"trial_id": "b", "status": "COMPLETED", "score": 0.955}],
        "max",
        errors={"a": 0.01, "b": 0.01},
    )
    assert [row["rank"] for row in rows] == [1, 2]
