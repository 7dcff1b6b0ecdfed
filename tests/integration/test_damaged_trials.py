"""A resume finds a damaged trial folder: it runs that trial again, it neither crashes nor scores it (issue 17)."""

import os

import pytest

from autoarch.tuning.trial_folder import RESULT_FILE, WEIGHTS_FILE, TrialFolder

from .conftest import TrainingCounter, tiny_classifier, tiny_space

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_a_truncated_result_and_missing_weights_make_their_trials_run_again(tmp_path, digits_uint8):
    x, y, x_test, _ = digits_uint8
    first = tiny_classifier(tmp_path, max_trials=2, project_name="project")
    first.fit(x, y)
    project = first.project_dir_
    with open(os.path.join(project, "trial_0", RESULT_FILE), "r+") as file:
        file.truncate(len(file.read()) // 2)
    os.remove(os.path.join(project, "trial_1", WEIGHTS_FILE))
    assert TrialFolder(os.path.join(project, "trial_0")).damage() == f"{RESULT_FILE} is missing or unreadable"
    assert "weights" in TrialFolder(os.path.join(project, "trial_1")).damage()

    trainings = TrainingCounter()
    again = tiny_classifier(tmp_path, max_trials=2, project_name="project")
    again.fit(x, y, callbacks=[trainings])

    assert trainings.count == 3  # both trials again, then the final fit of the one member
    assert [row["status"] for row in again.results_] == ["COMPLETED", "COMPLETED"]
    assert [row["trial_id"] for row in again.results_] == ["0", "1"]
    assert all(TrialFolder(os.path.join(project, f"trial_{i}")).damage() is None for i in (0, 1))
    assert again.predict(x_test).shape == (len(x_test),)


def test_an_intact_project_resumes_without_running_a_trial(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    tiny_classifier(tmp_path, max_trials=1, project_name="project").fit(x, y)
    trainings = TrainingCounter()
    tiny_classifier(tmp_path, max_trials=1, project_name="project").fit(x, y, callbacks=[trainings])
    assert trainings.count == 1  # the final fit only


def test_a_full_disk_fails_the_trial_keeps_the_others_and_a_rerun_runs_it_again(tmp_path, digits_uint8, monkeypatch):
    """Issue 17: a write of a trial's weights raises ENOSPC after writing part of the file (fault injected)."""
    import errno

    import keras

    x, y, x_test, _ = digits_uint8
    save_weights = keras.Model.save_weights

    def disk_fills_at_trial_1(model, path, *args, **kwargs):
        if os.path.basename(os.path.dirname(path)) != "trial_1":
            return save_weights(model, path, *args, **kwargs)
        with open(path, "wb") as file:
            file.write(b"\x89HDF\r\n\x1a\n half a file")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    monkeypatch.setattr(keras.Model, "save_weights", disk_fills_at_trial_1)
    space = {"learning_rate": (1e-3, 1e-2)}
    first = tiny_classifier(tmp_path, max_trials=2, project_name="project", search_space=tiny_space(**space))
    first.fit(x, y)
    project = first.project_dir_
    full = first.results_[1]
    assert full["status"] == "FAILED" and "No space left on device" in full["reason"], full
    assert not os.path.exists(os.path.join(project, "trial_1", WEIGHTS_FILE))  # no partial weights left
    assert first.results_[0]["status"] == "COMPLETED" and first.ensemble_trials_ == ["0"]
    kept = os.stat(os.path.join(project, "trial_0", WEIGHTS_FILE)).st_mtime_ns

    monkeypatch.setattr(keras.Model, "save_weights", save_weights)  # space is back
    trainings = TrainingCounter()
    again = tiny_classifier(tmp_path, max_trials=2, project_name="project", search_space=tiny_space(**space))
    again.fit(x, y, callbacks=[trainings])
    assert trainings.count == 2  # trial 1 again, then the final fit; trial 0 is kept as it was
    assert [row["status"] for row in again.results_] == ["COMPLETED", "COMPLETED"]
    assert again.results_[1]["hyperparameters"] == full["hyperparameters"]
    assert os.stat(os.path.join(project, "trial_0", WEIGHTS_FILE)).st_mtime_ns == kept
    assert again.predict(x_test).shape == (len(x_test),)
