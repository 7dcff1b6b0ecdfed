"""`TrialFolder`: the one reader and writer of a trial folder's files."""

import json

import numpy as np

from autoarch.darts import DARTS_V2
from autoarch.tuning.trial_folder import (
    ALPHAS_FILE,
    GENOTYPE_FILE,
    PREDICTIONS_FILE,
    RESULT_FILE,
    TrialFolder,
    trial_folders,
)


def test_of_names_the_folder_as_keras_tuner_does(tmp_path):
    folder = TrialFolder.of(tmp_path, "03")
    assert folder.path == str(tmp_path / "trial_03")
    assert folder.trial_id == "03"
    assert folder.weights_path == str(tmp_path / "trial_03" / "network.weights.h5")
    assert not folder.exists()


def test_files_round_trip_under_their_names(tmp_path):
    (tmp_path / "trial_1").mkdir()
    folder = TrialFolder.of(tmp_path, 1)
    assert folder.read_result() == {} and folder.read_predictions() is None and not folder.has_alphas()

    folder.write_result({"status": "RUNNING"})
    folder.write_genotype(DARTS_V2)
    folder.write_predictions(np.arange(3), np.eye(3))
    folder.write_alphas([{"epoch": 0, "normal": np.ones((2, 8)), "reduce": np.zeros((2, 8))}], ["none"] * 8)

    assert json.loads((tmp_path / "trial_1" / RESULT_FILE).read_text()) == {"status": "RUNNING"}
    assert folder.read_result() == {"status": "RUNNING"}
    assert (tmp_path / "trial_1" / GENOTYPE_FILE).is_file() and folder.read_genotype() == DARTS_V2
    targets, predictions = folder.read_predictions()
    assert (tmp_path / "trial_1" / PREDICTIONS_FILE).is_file()
    assert targets.tolist() == [0, 1, 2] and np.array_equal(predictions, np.eye(3))
    (alphas,) = json.loads((tmp_path / "trial_1" / ALPHAS_FILE).read_text())
    assert folder.has_alphas() and alphas["epoch"] == 0 and alphas["primitives"] == ["none"] * 8
    assert not list((tmp_path / "trial_1").glob("*.tmp"))  # JSON is written atomically


def test_keras_tuners_state_and_the_continued_trial(tmp_path):
    folder = TrialFolder.of(tmp_path, "2")
    assert folder.read_state() == {} and folder.continued_trial_id() is None
    (tmp_path / "trial_2").mkdir()
    (tmp_path / "trial_2" / "trial.json").write_text("not json")
    assert folder.read_state() == {}
    state = {"trial_id": "2", "hyperparameters": {"values": {"tuner/trial_id": "0"}}}
    (tmp_path / "trial_2" / "trial.json").write_text(json.dumps(state))
    assert folder.read_state() == state and folder.continued_trial_id() == "0"


def test_trial_folders_lists_only_trial_folders_sorted(tmp_path):
    for name in ("trial_1", "trial_0", "other"):
        (tmp_path / name).mkdir()
    (tmp_path / "trial_9").write_text("a file")
    assert [folder.trial_id for folder in trial_folders(tmp_path)] == ["0", "1"]
    assert trial_folders(tmp_path / "missing") == []
