"""The project directory: what it was made for is checked before anything is written."""

import errno
import json
import os
import re
import time

import pytest

from autoarch import project
from autoarch.project import IDENTITY_FILE, check_project, read_identity, write_identity

CLASSIFIER = {"task": "classification", "image_shape": [8, 8, 1], "classes": [0, 1, 2]}


def snapshot(root):
    """Every folder and file under ``root``: relative path -> (bytes, mtime)."""
    found = {}
    for folder, _, files in os.walk(root):
        found[os.path.relpath(folder, root) + os.sep] = os.stat(folder).st_mtime_ns
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as file:
                found[os.path.relpath(path, root)] = (file.read(), os.stat(path).st_mtime_ns)
    return found


def test_identity_round_trip_creates_the_folder(tmp_path):
    folder = tmp_path / "a" / "p"
    assert read_identity(folder) is None
    write_identity(folder, CLASSIFIER)
    assert (folder / IDENTITY_FILE).is_file()
    assert read_identity(folder) == CLASSIFIER
    other = {"task": "regression", "image_shape": [16, 16, 3], "outputs": 2}
    write_identity(folder, other)
    assert read_identity(folder) == other
    assert os.listdir(folder) == [IDENTITY_FILE]


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_missing_folder_is_fine_and_not_created(tmp_path, overwrite):
    folder = tmp_path / "projects" / "p"
    assert check_project(folder, CLASSIFIER, overwrite) is None
    assert not (tmp_path / "projects").exists()


@pytest.mark.parametrize("overwrite", [False, True])
def test_an_empty_folder_is_fine(tmp_path, overwrite):
    folder = tmp_path / "p"
    folder.mkdir()
    check_project(folder, CLASSIFIER, overwrite)
    assert os.listdir(folder) == []


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("content", ["file", "folder"])
def test_a_foreign_folder_is_refused_even_with_overwrite(tmp_path, overwrite, content):
    folder = tmp_path / "p"
    folder.mkdir()
    if content == "file":
        (folder / "notes.txt").write_text("the user's own file")
    else:
        (folder / "data").mkdir()
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=r"is not an autoarch project \(no autoarch\.json\).*neither uses nor deletes"):
        check_project(folder, CLASSIFIER, overwrite)
    assert snapshot(tmp_path) == before


def test_the_same_identity_is_accepted(tmp_path):
    folder = tmp_path / "p"
    write_identity(folder, CLASSIFIER)
    (folder / "trial_0").mkdir()
    before = snapshot(tmp_path)
    check_project(folder, dict(CLASSIFIER), False)
    assert snapshot(tmp_path) == before


def test_a_mismatch_is_refused_and_names_only_the_differing_keys(tmp_path):
    folder = tmp_path / "p"
    write_identity(folder, CLASSIFIER)
    (folder / "oracle.json").write_text("{}")
    before = snapshot(tmp_path)
    other = {"task": "classification", "image_shape": [16, 16, 1], "classes": [0, 1]}
    with pytest.raises(ValueError) as raised:
        check_project(folder, other, False)
    message = str(raised.value)
    assert "image_shape: project has [8, 8, 1], this fit has [16, 16, 1]" in message
    assert "classes: project has [0, 1, 2], this fit has [0, 1]" in message
    assert "task:" not in message
    assert "overwrite=True" in message and "Nothing was changed" in message
    assert snapshot(tmp_path) == before


def test_a_key_only_one_side_has_is_a_difference(tmp_path):
    folder = tmp_path / "p"
    write_identity(folder, CLASSIFIER)
    regression = {"task": "regression", "image_shape": [8, 8, 1], "outputs": 1}
    with pytest.raises(ValueError) as raised:
        check_project(folder, regression, False)
    message = str(raised.value)
    assert "task: project has 'classification', this fit has 'regression'" in message
    assert "outputs: project has None, this fit has 1" in message
    assert "classes: project has [0, 1, 2], this fit has None" in message
    assert "image_shape" not in message


def test_overwrite_allows_a_mismatch_and_writes_nothing(tmp_path):
    folder = tmp_path / "p"
    write_identity(folder, CLASSIFIER)
    (folder / "trial_0").mkdir()
    before = snapshot(tmp_path)
    check_project(folder, {"task": "regression", "image_shape": [9, 9, 3], "outputs": 2}, True)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_file_path_is_refused(tmp_path, overwrite):
    path = tmp_path / "p"
    path.write_text("not a folder")
    with pytest.raises(ValueError, match=r"project path '.*/p' is a file, expected a folder"):
        check_project(os.fspath(path), CLASSIFIER, overwrite)
    assert path.read_text() == "not a folder"


def test_the_final_model_lives_in_the_project():
    assert project.FINAL_MODEL == os.path.join("final", "model.keras")
    assert IDENTITY_FILE == "autoarch.json"


def test_the_short_fingerprint_follows_every_value_and_ignores_key_order():
    one = {"task": "classification", "seed": 0, "search_space": {"a": 1}}
    assert project.short_fingerprint(one) == project.short_fingerprint(dict(reversed(list(one.items()))))
    assert project.short_fingerprint(one) != project.short_fingerprint({**one, "seed": 1})
    assert len(project.short_fingerprint(one)) == 10


def test_a_range_and_a_list_of_the_same_bounds_are_different_spaces():
    as_range = project.plain_search_space({"learning_rate": (1e-3, 1e-2)})
    as_choice = project.plain_search_space({"learning_rate": [1e-3, 1e-2]})
    assert as_range == {"learning_rate": {"range": [1e-3, 1e-2]}}
    assert as_range != as_choice


def test_differences_shorten_fingerprints_and_long_values():
    stored = {"data": "a" * 64, "genotype": "x" * 200}
    line = project.differences(stored, {"data": "b" * 64, "genotype": None})
    assert "data: project has 'aaaaaaaaaa...', this fit has 'bbbbbbbbbb...'" in line
    assert "genotype: project has '" + "x" * 76 + "..., this fit has None" in line


# ------------------------------------------------------------------ the project lock on a full disk


def test_a_lock_that_cannot_be_written_is_a_clear_oserror_and_leaves_no_file(tmp_path, monkeypatch):
    def full_disk(*args, **kwargs):  # the write of the lock's holder fails as on a full disk
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(project.json, "dump", full_disk)
    with pytest.raises(OSError, match=r"could not write the lock file .*p\.lock.*No space left on device") as error:
        project.ProjectLock(tmp_path / "p").acquire()
    assert error.value.errno == errno.ENOSPC
    assert not (tmp_path / "p.lock").exists()
    monkeypatch.undo()
    with project.ProjectLock(tmp_path / "p"):  # the next fit takes it
        assert (tmp_path / "p.lock").exists()


def test_an_empty_lock_left_by_a_failed_writer_is_taken_over_but_a_fresh_one_is_not(tmp_path):
    path = tmp_path / "p.lock"
    path.write_text("")
    with pytest.raises(RuntimeError, match="being fitted by another process"):  # maybe being written now
        project.ProjectLock(tmp_path / "p").acquire()
    old = time.time() - project.UNWRITTEN_LOCK_SECONDS - 1
    os.utime(path, (old, old))
    with project.ProjectLock(tmp_path / "p"):
        assert json.loads(path.read_text())["pid"] == os.getpid()
    assert not path.exists()


@pytest.mark.parametrize("record", ["oracle.json", os.path.join("trial_1", "trial.json")])
def test_a_damaged_keras_tuner_record_is_refused_naming_the_file(tmp_path, record):
    write_identity(tmp_path / "p", CLASSIFIER)
    for name in ("oracle.json", os.path.join("trial_0", "trial.json"), os.path.join("trial_1", "trial.json")):
        (tmp_path / "p" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "p" / name).write_text('{"trial_id": "0"}')
    (tmp_path / "p" / record).write_text('{"trial_id": "1", "hyperpa')  # cut short by a kill
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=rf"search record .*{re.escape(record)}.* is damaged .*overwrite=True"):
        check_project(str(tmp_path / "p"), CLASSIFIER, overwrite=False)
    check_project(str(tmp_path / "p"), CLASSIFIER, overwrite=True)  # it will be replaced: no complaint
    assert snapshot(tmp_path) == before


def test_a_folder_this_process_cannot_write_to_is_a_clear_oserror():
    folder = "/sys/autoarch-test"  # refused even to root, unlike a chmod-ed temporary folder
    if not os.path.ismount("/sys"):
        pytest.skip("needs Linux's /sys, where nobody may make folders")
    with pytest.raises(OSError, match=r"cannot write the project's lock file '/sys/autoarch-test/p\.lock' .*"
                                      r"choose a directory this process may write to"):
        project.ProjectLock(os.path.join(folder, "p")).acquire()
