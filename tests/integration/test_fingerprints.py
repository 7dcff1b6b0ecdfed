"""Every fit is its own: projects are told apart by what decides their trials, and have one writer.

Tiny settings and a genotype given, so a trial is a few seconds of training.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from autoarch.project import IDENTITY_FILE, ProjectLock

from .conftest import tiny_classifier, tiny_space


def _classifier(directory, **params):
    return tiny_classifier(directory, **params)


def _projects(directory):
    return sorted(name for name in os.listdir(directory) if os.path.isdir(os.path.join(directory, name)))


def _trial_seconds(project_dir):
    with open(os.path.join(project_dir, "trial_0", "result.json")) as file:
        return json.load(file)["seconds"]


def test_other_data_gets_its_own_project_and_the_same_data_resumes(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    first = _classifier(tmp_path).fit(x[:300], y[:300])
    other = _classifier(tmp_path).fit(x[300:], y[300:])
    assert first.project_dir_ != other.project_dir_
    assert os.path.basename(first.project_dir_).startswith("image_classifier-")
    with open(os.path.join(other.project_dir_, IDENTITY_FILE)) as file:
        assert json.load(file)["data"] != first_identity(first)["data"]
    # The same data again: the same folder, and the finished trial is not run again.
    seconds = _trial_seconds(first.project_dir_)
    again = _classifier(tmp_path).fit(x[:300], y[:300])
    assert again.project_dir_ == first.project_dir_
    assert _trial_seconds(again.project_dir_) == seconds
    assert [row["trial_id"] for row in again.results_] == [row["trial_id"] for row in first.results_]
    assert _projects(tmp_path) == sorted(os.path.basename(p) for p in (first.project_dir_, other.project_dir_))
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".lock")]  # released


def first_identity(estimator):
    with open(os.path.join(estimator.project_dir_, IDENTITY_FILE)) as file:
        return json.load(file)


def test_a_chosen_project_name_refuses_other_data_and_says_what_differs(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    _classifier(tmp_path, project_name="mine").fit(x[:300], y[:300])
    before = sorted(os.listdir(tmp_path / "mine"))
    with pytest.raises(ValueError, match=r"made for other data \(data: project has"):
        _classifier(tmp_path, project_name="mine").fit(x[300:], y[300:])
    with pytest.raises(ValueError, match="seed: project has 0, this fit has 1"):
        _classifier(tmp_path, project_name="mine", seed=1).fit(x[:300], y[:300])
    assert sorted(os.listdir(tmp_path / "mine")) == before


def test_cross_validation_folds_run_their_own_trials(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    scores = cross_val_score(_classifier(tmp_path), x[:400], y[:400], cv=KFold(2, shuffle=True, random_state=0))
    assert np.all(np.isfinite(scores))
    projects = _projects(tmp_path)
    assert len(projects) == 2
    for name in projects:  # each fold trained its own network: its own trial folder
        assert os.path.isfile(os.path.join(tmp_path, name, "trial_0", "result.json"))


def test_grid_search_in_two_processes_completes(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    grid = GridSearchCV(
        _classifier(tmp_path),
        {"search_space": [tiny_space(), tiny_space(learning_rate=1e-2)]},
        cv=2,
        n_jobs=2,
        error_score="raise",
    )
    grid.fit(x[:300], y[:300])
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    assert len(_projects(tmp_path)) == 4 + 1  # two candidates x two folds, and the refit on all


def test_a_second_process_on_the_same_project_is_refused_and_a_dead_ones_lock_is_taken_over(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    project_dir = tmp_path / "shared"
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        lock = ProjectLock(project_dir)
        with open(lock.path, "w") as file:  # as the running process would have written it
            json.dump({"pid": holder.pid, "host": __import__("socket").gethostname()}, file)
        with pytest.raises(RuntimeError, match=rf"being fitted by another process \(pid {holder.pid}"):
            _classifier(tmp_path, project_name="shared").fit(x[:200], y[:200])
        assert not project_dir.exists()  # refused before anything was written
    finally:
        holder.kill()
        holder.wait()
    # The holder is dead now: its lock is stale, the next fit takes it over and releases it.
    _classifier(tmp_path, project_name="shared").fit(x[:200], y[:200])
    assert (project_dir / IDENTITY_FILE).is_file()
    assert not os.path.exists(lock.path)


def test_the_lock_is_atomic_between_two_lockers(tmp_path):
    first, second = ProjectLock(tmp_path / "p"), ProjectLock(tmp_path / "p")
    with first:
        with open(first.path) as file:
            assert json.load(file)["pid"] == os.getpid()
        with pytest.raises(RuntimeError, match="being fitted by another process"):
            second.acquire()
    assert not os.path.exists(first.path)
    with second:
        assert os.path.exists(second.path)


def test_overwrite_deletes_an_autoarch_project_and_starts_again(tmp_path, digits_uint8):
    # Issue 17, item 1 (a folder autoarch did not make is never deleted: test_bad_input.py).
    x, y, _, _ = digits_uint8
    first = _classifier(tmp_path, project_name="mine").fit(x[:300], y[:300])
    first_data = first_identity(first)["data"]
    (tmp_path / "mine" / "left_over.txt").write_text("from the first fit")
    trial_file = tmp_path / "mine" / "trial_0" / "result.json"
    before = trial_file.stat().st_mtime_ns
    # Other data under the same name: refused without overwrite, replaced with it.
    again = _classifier(tmp_path, project_name="mine", overwrite=True).fit(x[300:], y[300:])
    assert again.project_dir_ == first.project_dir_
    assert not (tmp_path / "mine" / "left_over.txt").exists()
    assert trial_file.stat().st_mtime_ns != before  # the trial ran again
    assert first_identity(again)["data"] != first_data  # the project is now the second fit's
    assert [row["status"] for row in again.results_] == ["COMPLETED"]


def test_everything_that_decides_the_trials_gives_its_own_default_project(tmp_path, digits_uint8):
    """Issue 15: each part of the identity (the data is tested above) moves a default-named project.

    No training: the identity and its folder are what ``fit`` computes before it writes anything.
    """
    from autoarch.darts import DARTS_V2, random_genotype

    x, y, x_test, y_test = digits_uint8

    def folder(validation_data=None, validation_split=0.2, search_space=None, **params):
        estimator = _classifier(tmp_path, **params)
        space = tiny_space() if search_space is None else search_space
        encoder, data, _, validation, _ = estimator._read_data(x, y, validation_split, validation_data)
        return estimator._project_dir(estimator._identity(data, validation, validation_split, encoder, space))

    base = folder()
    assert folder() == base  # the same fit, the same folder
    changed = {
        "validation_data": folder(validation_data=(x_test, y_test)),
        "other validation_data": folder(validation_data=(x_test[:150], y_test[:150])),
        "validation_split": folder(validation_split=0.3),
        "seed": folder(seed=1),
        "tuner": folder(tuner="bayesian"),
        "search_space": folder(search_space=tiny_space(train_epochs=3)),
        "genotype": folder(genotype=random_genotype(["max_pool_3x3", "sep_conv_3x3"], 4, seed=0)),
        "no genotype": folder(genotype=None),
        "ensemble_size": folder(ensemble_size=2),
    }
    assert base == folder(genotype=DARTS_V2)  # tiny_classifier's own genotype
    assert len({base, *changed.values()}) == len(changed) + 1, changed
