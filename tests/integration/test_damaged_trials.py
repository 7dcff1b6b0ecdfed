"""A resume finds a damaged trial folder: it runs that trial again, it neither crashes nor scores it (issue 17)."""

import os
import subprocess
import sys

import numpy as np
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

    x, y, x_test, _ = digits_uint8
    write_weights = TrialFolder.write_weights

    def disk_fills_at_trial_1(folder, network):
        if os.path.basename(folder.path) != "trial_1":
            return write_weights(folder, network)
        with open(folder.weights_path, "wb") as file:
            file.write(b"\x89HDF\r\n\x1a\n half a file")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), folder.weights_path)

    monkeypatch.setattr(TrialFolder, "write_weights", disk_fills_at_trial_1)
    space = {"learning_rate": (1e-3, 1e-2)}
    first = tiny_classifier(tmp_path, max_trials=2, project_name="project", search_space=tiny_space(**space))
    first.fit(x, y)
    project = first.project_dir_
    full = first.results_[1]
    assert full["status"] == "FAILED" and "No space left on device" in full["reason"], full
    assert not os.path.exists(os.path.join(project, "trial_1", WEIGHTS_FILE))  # no partial weights left
    assert first.results_[0]["status"] == "COMPLETED" and first.ensemble_trials_ == ["0"]
    kept = os.stat(os.path.join(project, "trial_0", WEIGHTS_FILE)).st_mtime_ns

    monkeypatch.setattr(TrialFolder, "write_weights", write_weights)  # space is back
    trainings = TrainingCounter()
    again = tiny_classifier(tmp_path, max_trials=2, project_name="project", search_space=tiny_space(**space))
    again.fit(x, y, callbacks=[trainings])
    assert trainings.count == 2  # trial 1 again, then the final fit; trial 0 is kept as it was
    assert [row["status"] for row in again.results_] == ["COMPLETED", "COMPLETED"]
    assert again.results_[1]["hyperparameters"] == full["hyperparameters"]
    assert os.stat(os.path.join(project, "trial_0", WEIGHTS_FILE)).st_mtime_ns == kept
    assert again.predict(x_test).shape == (len(x_test),)


FULL_DISK_FIT = """
import resource, signal, sys
import numpy as np
sys.path.insert(0, {tests!r})
from integration.conftest import tiny_classifier
data = np.load({data!r})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG), as one on a full disk does
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))  # the small files fit, no network does
tiny_classifier({directory!r}, project_name="project").fit(data["x"], data["y"])
"""


def test_a_disk_that_fills_during_hdf5_writes_ends_the_fit_with_an_oserror_not_a_crash(tmp_path, digits_uint8):
    """Issue 36: HDF5 failing to write its own file crashed the process at exit (SIGSEGV, 139)."""
    x, y, x_test, _ = digits_uint8
    np.savez(tmp_path / "data.npz", x=x, y=y)
    script = FULL_DISK_FIT.format(tests=os.path.dirname(os.path.dirname(__file__)), data=str(tmp_path / "data.npz"),
                                  directory=str(tmp_path / "projects"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "OSError: [Errno 28] the disk is full: no trial could save its network" in done.stderr, done.stderr[-3000:]
    assert "Exception ignored" not in done.stderr  # no half-closed HDF5 file left for the exit to trip on
    # Nothing blocks the next fit: no lock is left, and the trial runs again.
    again = tiny_classifier(tmp_path / "projects", project_name="project").fit(x, y)
    assert [row["status"] for row in again.results_] == ["COMPLETED"]
    assert again.predict(x_test).shape == (len(x_test),)
