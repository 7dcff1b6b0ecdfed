"""A resume finds a damaged trial folder: it runs that trial again, it neither crashes nor scores it (issue 17)."""

import os

import keras
import pytest

from autoarch.tuning.trial_folder import RESULT_FILE, WEIGHTS_FILE, TrialFolder

from .conftest import tiny_classifier

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


class Trainings(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.count = 0

    def on_train_begin(self, logs=None):
        self.count += 1


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

    trainings = Trainings()
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
    trainings = Trainings()
    tiny_classifier(tmp_path, max_trials=1, project_name="project").fit(x, y, callbacks=[trainings])
    assert trainings.count == 1  # the final fit only
