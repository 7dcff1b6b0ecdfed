"""The chief's bookkeeping of workers (`Leases`), roles and a worker's project checks.

In process, on a real keras-tuner oracle, with a clock the test moves: a silent
worker's trial goes back to keras-tuner's retry queue and the next worker that
asks runs it; nothing completed is touched. The chief and workers over gRPC are
tested end to end in ``tests/integration/test_distributed.py``.
"""

import os
import socket
from concurrent import futures

import grpc
import keras_tuner
import pytest
from keras_tuner.src.engine.trial import TrialStatus

from autoarch import project
from autoarch.tuning import distributed, space
from autoarch.tuning.distributed import Leases
from autoarch.tuning.oracles import make_oracle
from autoarch.tuning.trial_results import read_results
from autoarch.tuning.tuner import DartsTuner

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

KERASTUNER_ENV = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


class Clock:
    """Seconds that pass only when the test says so."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture(autouse=True)
def no_distribution(monkeypatch):
    for name in (*KERASTUNER_ENV, distributed.FINAL_FIT_ENV, distributed.TIMEOUT_ENV):
        monkeypatch.delenv(name, raising=False)


def make_chief_oracle(tmp_path, max_trials=3, **kwargs):
    oracle = make_oracle("random", keras_tuner.Objective("val_accuracy", "max"), max_trials, seed=0)
    for key, value in kwargs.items():
        setattr(oracle, key, value)
    oracle._set_project_dir(str(tmp_path), "project")
    hp = keras_tuner.HyperParameters()
    hp.Int("width", 1, 1000, default=5)
    oracle.update_space(hp)
    return oracle


def complete(leases, trial_id, accuracy=0.5):
    """What a worker does at the end of a trial that went well: report, then end."""
    oracle = leases.oracle
    leases.heard_about(trial_id)
    oracle.update_trial(trial_id, {"val_accuracy": accuracy, "val_loss": 1.0})
    trial = oracle.get_trial(trial_id)
    trial.status = TrialStatus.COMPLETED
    leases.end_trial(trial)


def test_a_silent_workers_trial_is_retried_by_another_worker(tmp_path):
    clock = Clock()
    oracle = make_chief_oracle(tmp_path, max_trials=3)
    leases = Leases(oracle, timeout=10, clock=clock)
    first = leases.create_trial("worker0")
    second = leases.create_trial("worker1")
    assert (first.trial_id, second.trial_id) == ("0", "1")
    hyperparameters = dict(first.hyperparameters.values)

    clock.now += 6
    leases.heard_about("1")  # worker1's heartbeat; worker0 says nothing
    clock.now += 4
    assert leases.reap() == []  # 10 s is not more than the timeout
    clock.now += 1
    assert leases.reap() == [("worker0", "0")]
    assert leases.lost == [("worker0", "0")]
    assert oracle.trials["0"].status == TrialStatus.INVALID
    assert "worker0" in oracle.trials["0"].message and "not heard from" in oracle.trials["0"].message
    assert oracle._retry_queue == ["0"]
    assert {t: trial.trial_id for t, trial in oracle.ongoing_trials.items()} == {"worker1": "1"}
    assert "worker0" not in oracle.tuner_ids
    assert oracle.end_order == []

    complete(leases, "1", accuracy=0.75)
    retried = leases.create_trial("worker1")
    assert retried.trial_id == "0" and retried.status == TrialStatus.RUNNING
    assert dict(retried.hyperparameters.values) == hyperparameters
    complete(leases, "0", accuracy=0.25)
    last = leases.create_trial("worker1")
    assert last.trial_id == "2"
    complete(leases, "2")

    assert leases.create_trial("worker1").status == TrialStatus.STOPPED
    assert [oracle.trials[t].status for t in "012"] == [TrialStatus.COMPLETED] * 3
    assert sorted(oracle.end_order) == ["0", "1", "2"]
    assert oracle.trials["1"].score == 0.75 and oracle.trials["0"].score == 0.25
    assert leases.finished()
    rows = read_results(oracle, oracle._project_dir)
    assert [row["status"] for row in rows] == ["COMPLETED"] * 3


def test_a_trial_lost_twice_fails_with_the_reason(tmp_path):
    clock = Clock()
    oracle = make_chief_oracle(tmp_path, max_trials=1)
    assert oracle.max_retries_per_trial == 1
    leases = Leases(oracle, timeout=10, clock=clock)
    assert leases.create_trial("worker0").trial_id == "0"
    clock.now += 11
    assert leases.reap() == [("worker0", "0")]
    assert leases.create_trial("worker1").trial_id == "0"
    clock.now += 11
    assert leases.reap() == [("worker1", "0")]

    assert oracle.trials["0"].status == TrialStatus.FAILED
    assert oracle._retry_queue == [] and oracle.end_order == ["0"]
    (row,) = read_results(oracle, oracle._project_dir)
    assert row["status"] == "FAILED"
    assert "worker1" in row["reason"] and "not heard from" in row["reason"]
    clock.now += distributed.QUIET_SECONDS + 1
    assert leases.finished()


def test_a_late_result_from_a_worker_taken_for_lost_is_kept(tmp_path):
    clock = Clock()
    oracle = make_chief_oracle(tmp_path, max_trials=2)
    leases = Leases(oracle, timeout=10, clock=clock)
    leases.create_trial("worker0")
    clock.now += 11
    assert leases.reap() == [("worker0", "0")]
    late = oracle.get_trial("0")
    late.status = TrialStatus.FAILED
    leases.end_trial(late)  # a late failure is ignored: the retry will run
    assert oracle._retry_queue == ["0"] and oracle.end_order == []
    complete(leases, "0", accuracy=0.5)  # a late success is kept: no retry
    assert oracle._retry_queue == [] and oracle.end_order == ["0"]
    assert oracle.trials["0"].status == TrialStatus.COMPLETED and oracle.trials["0"].score == 0.5
    assert leases.create_trial("worker1").trial_id == "1"


def test_stop_becomes_wait_while_another_worker_may_give_its_trial_back(tmp_path):
    clock = Clock()
    oracle = make_chief_oracle(tmp_path, max_trials=2)
    leases = Leases(oracle, timeout=10, clock=clock)
    leases.create_trial("worker0")
    leases.create_trial("worker1")
    complete(leases, "0")

    for _ in range(3):  # every trial exists, but trial 1 still runs: worker0 waits
        clock.now += 1
        leases.heard_about("1")
        assert leases.create_trial("worker0").status == TrialStatus.IDLE
        assert not leases.finished()
    assert "worker0" in oracle.tuner_ids

    clock.now += 11  # worker1 dies; worker0 keeps asking
    assert leases.create_trial("worker0").status == TrialStatus.IDLE
    assert leases.reap() == [("worker1", "1")]
    assert not leases.finished()  # trial 1 waits for a retry
    retried = leases.create_trial("worker0")
    assert (retried.trial_id, retried.status) == ("1", TrialStatus.RUNNING)
    complete(leases, "1")
    assert leases.create_trial("worker0").status == TrialStatus.STOPPED
    assert oracle.tuner_ids == set()
    assert leases.finished()


def test_the_chief_waits_for_workers_it_has_not_stopped_yet(tmp_path):
    clock = Clock()
    oracle = make_chief_oracle(tmp_path, max_trials=1)
    leases = Leases(oracle, timeout=30, clock=clock)
    leases.create_trial("worker0")
    leases.create_trial("worker1")  # no trial left for it: it waits
    complete(leases, "0")
    # Every trial ended, but worker1 (waiting) was not told to stop yet.
    assert not leases.finished()
    assert leases.create_trial("worker1").status == TrialStatus.STOPPED
    assert not leases.finished()  # worker0 will ask once more
    clock.now += distributed.QUIET_SECONDS + 1  # ... unless it left without asking
    assert leases.finished()


def test_after_the_deadline_no_trial_starts_and_running_ones_end(tmp_path):
    clock = Clock()
    oracle = make_chief_oracle(tmp_path, max_trials=5)
    leases = Leases(oracle, timeout=30, deadline=clock.now + 100, clock=clock)
    leases.create_trial("worker0")
    leases.create_trial("worker1")
    clock.now += 100
    complete(leases, "0")
    assert leases.create_trial("worker0").status == TrialStatus.STOPPED
    assert not leases.finished()  # trial 1 still runs: it stops at an epoch end
    complete(leases, "1")
    assert leases.create_trial("worker1").status == TrialStatus.STOPPED
    assert leases.finished()
    assert len(oracle.trials) == 2


def test_an_oracle_that_ends_the_search_stops_every_worker(tmp_path):
    clock = Clock()
    oracle = make_chief_oracle(tmp_path, max_trials=5, max_consecutive_failed_trials=1)
    leases = Leases(oracle, timeout=30, clock=clock)
    trial = leases.create_trial("worker0")
    leases.create_trial("worker1")
    trial.status = TrialStatus.FAILED
    leases.end_trial(trial)  # keras-tuner raises "Number of consecutive failures exceeded"
    assert "consecutive failures" in leases.error
    assert [t for t in oracle.ongoing_trials] == ["worker1"]
    assert leases.create_trial("worker0").status == TrialStatus.STOPPED
    complete(leases, "1")
    assert leases.create_trial("worker1").status == TrialStatus.STOPPED
    assert leases.finished()


# --------------------------------------------------------------------------- roles


def test_roles_come_from_keras_tuners_environment_variables(monkeypatch):
    assert distributed.role() is None and distributed.does_final_fit()
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    with pytest.raises(RuntimeError, match="KERASTUNER_ORACLE_PORT"):
        distributed.role()
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    assert distributed.role() == "chief" and distributed.does_final_fit()
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker0")
    assert distributed.role() == "worker" and not distributed.does_final_fit()

    monkeypatch.setenv(distributed.FINAL_FIT_ENV, "worker0")
    assert distributed.does_final_fit()
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker1")
    assert not distributed.does_final_fit()
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    assert not distributed.does_final_fit()
    assert "'worker0' makes the final model" in distributed.not_fitted_message("ImageClassifier", "p")

    monkeypatch.setenv(distributed.TIMEOUT_ENV, "15")
    assert distributed.worker_timeout() == 15.0
    for bad in ("soon", "1", "-5", "nan"):
        monkeypatch.setenv(distributed.TIMEOUT_ENV, bad)
        with pytest.raises(ValueError, match=distributed.TIMEOUT_ENV):
            distributed.role()


def test_a_worker_never_deletes_the_project_even_with_overwrite(tmp_path, monkeypatch):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "keep.txt").write_text("the chief's")
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "1")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker0")
    oracle = make_oracle("random", keras_tuner.Objective("val_accuracy", "max"), 2)
    tuner = DartsTuner(oracle, space.default_space(100, (8, 8, 1)), str(tmp_path), "project", overwrite=True)
    assert (folder / "keep.txt").read_text() == "the chief's"
    assert tuner.tuner_id == "worker0"
    assert tuner._get_tuner_fname().endswith(os.path.join("project", "worker0.json"))


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_worker_checks_the_chiefs_project_and_writes_nothing(tmp_path, monkeypatch):
    port = _free_port()
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker0")
    monkeypatch.setattr(distributed, "_IDENTITY_WAIT_SECONDS", 0.0)
    folder = str(tmp_path / "project")
    identity = {"task": "classification", "image_shape": [8, 8, 1], "classes": [0, 1]}

    with pytest.raises(RuntimeError, match="no chief answered"):
        distributed.join_project(folder, identity, timeout=0.5)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))  # any server: the channel gets ready
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    try:
        with pytest.raises(RuntimeError, match="shared directory"):
            distributed.join_project(folder, identity, timeout=10)
        assert not os.path.exists(folder)
        project.write_identity(folder, {**identity, "classes": [0, 1, 2]})
        with pytest.raises(ValueError, match=r"other data \(classes: project has \[0, 1, 2\]"):
            distributed.join_project(folder, identity, timeout=10)
        project.write_identity(folder, identity)
        distributed.join_project(folder, identity, timeout=10)
        assert os.listdir(folder) == [project.IDENTITY_FILE]
    finally:
        server.stop(grace=None)
