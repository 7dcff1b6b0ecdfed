"""Distributed search end to end: a real chief and two workers over gRPC on 127.0.0.1.

Each process is a subprocess in its own session, with a hard time limit, and
its whole process group is killed in a ``finally`` whatever happens. The first
test runs ``examples/distributed_search.py`` as a user does; the second starts
the three processes itself and SIGKILLs a worker in the middle of a trial.
"""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import grpc
import keras_tuner
import numpy as np
import pytest

import autoarch
from autoarch.darts import DARTS_V2

from .conftest import TINY_SPACE, tiny_space, read_json_or_none

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "distributed_search.py"
HARD_LIMIT = 600  # seconds for any one process
WORKERS = ("worker0", "worker1")
TOKEN = "a-token-the-chief-and-its-workers-share"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_env(**extra):
    """This environment without any distribution settings, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KERASTUNER_", "AUTOARCH_"))
    }
    return {**env, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow", "AUTOARCH_CHIEF_TOKEN": TOKEN, **extra}


def _trials(project):
    """trial id -> (trial.json, result.json) for every trial folder."""
    found = {}
    for name in sorted(os.listdir(project)):
        if name.startswith("trial_"):
            folder = os.path.join(project, name)
            found[name[len("trial_"):]] = (
                read_json_or_none(os.path.join(folder, "trial.json")),
                read_json_or_none(os.path.join(folder, "result.json")),
            )
    return found


def _tail(path, characters=3000):
    try:
        with open(path, errors="replace") as file:
            return f"--- {os.path.basename(path)}\n" + file.read()[-characters:]
    except FileNotFoundError:
        return f"--- {os.path.basename(path)}: none"


class Group:
    """Subprocesses, each in its own session; `close` kills every process group left."""

    def __init__(self):
        self.processes = {}
        self.logs = {}

    def start(self, name, command, env, cwd, log):
        self.logs[name] = log
        with open(log, "w") as output:
            self.processes[name] = subprocess.Popen(
                command, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self.processes[name]

    def kill(self, name):
        os.killpg(self.processes[name].pid, signal.SIGKILL)
        return self.processes[name].wait(timeout=60)

    def wait(self, names, give_up):
        for name in names:
            try:
                self.processes[name].wait(timeout=max(1.0, give_up - time.monotonic()))
            except subprocess.TimeoutExpired:
                pytest.fail(f"{name} still runs after the time limit\n{self.output()}")
        return {name: self.processes[name].returncode for name in names}

    def output(self):
        return "\n".join(_tail(log) for log in self.logs.values())

    def close(self):
        for process in self.processes.values():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait(timeout=60)


def _check_final_model(project, x_test, y_test):
    clf = autoarch.load(project)
    labels = clf.predict(x_test)
    assert labels.shape == (len(x_test),)
    accuracy = float(np.mean(labels == y_test))
    assert accuracy > 0.2, accuracy  # ten classes: chance is 0.1
    return clf


# --------------------------------------------------------------------------- 1


def test_a_chief_and_two_workers_run_the_search_and_one_final_fit(tmp_path):
    group = Group()
    try:
        launcher = group.start(
            "launcher",
            [sys.executable, str(EXAMPLE), "--max-trials", "3", "--directory", "projects",
             "--search-space", json.dumps(TINY_SPACE), "--timeout", str(HARD_LIMIT - 60)],
            env=_clean_env(),
            cwd=tmp_path,
            log=tmp_path / "launcher.log",
        )
        code = group.wait(["launcher"], time.monotonic() + HARD_LIMIT)["launcher"]
    finally:
        group.close()
    out = (tmp_path / "launcher.log").read_text()
    logs = tmp_path / "projects" / "distributed_logs"
    assert code == 0, group.output() + "\n".join(_tail(logs / f"{n}.log") for n in ("chief", *WORKERS))
    assert launcher.returncode == 0
    for name in ("chief", *WORKERS):
        assert f"{name}: exit code 0" in out, out

    project = tmp_path / "projects" / "distributed"
    trials = _trials(project)
    assert sorted(trials) == ["0", "1", "2"]
    for trial_id, (trial, result) in trials.items():
        assert trial["status"] == "COMPLETED", (trial_id, trial["status"])
        assert result["status"] == "COMPLETED" and result["worker"] in WORKERS, result
        assert all(type(value) is float for value in result["metrics"].values()), result["metrics"]
    ran = [result["worker"] for _, result in trials.values()]
    # Each worker ran at least one trial. Both start together and a tiny trial takes 5-20 s here, so a
    # worker that took none would have been over two trials late: broken, not merely stalled for seconds.
    assert set(ran) == set(WORKERS), ran
    oracle = read_json_or_none(project / "oracle.json")
    assert sorted(oracle["end_order"]) == ["0", "1", "2"] and oracle["ongoing_trials"] == {}

    # Only the chief made the final model; the workers report results and no model.
    assert "chief: made the final model" in (logs / "chief.log").read_text()
    for name in WORKERS:
        text = (logs / f"{name}.log").read_text()
        assert f"{name}: no model here; 3 trials in results_" in text, text[-2000:]
        assert "final fit" not in text
    assert os.listdir(project / "final") == ["model.keras"]
    assert (project / "chief.json").is_file() and all((project / f"{n}.json").is_file() for n in WORKERS)

    accuracy = float(out.split("Test accuracy on held-out digits:")[1].split()[0])
    assert accuracy > 0.3, out  # chance is 0.1
    clf = autoarch.load(project)
    assert [row["worker"] for row in clf.results_] == ran
    assert [row["status"] for row in clf.results_] == ["COMPLETED"] * 3


# --------------------------------------------------------------------------- 2


_FIT = """
import json, os, sys
import numpy as np
import autoarch
from autoarch.darts import DARTS_V2

data = np.load(sys.argv[1])
clf = autoarch.ImageClassifier(
    max_trials=3, tuner="random", seed=0, directory=sys.argv[2], project_name="image_classifier", overwrite=True,
    search_space=json.loads(sys.argv[3]), genotype=DARTS_V2, verbose=2, refit="continue",
).fit(data["x"], data["y"])
print("RESULTS", json.dumps({
    "model": hasattr(clf, "model_"), "statuses": [row["status"] for row in clf.results_],
    "workers": [row["worker"] for row in clf.results_],
}), flush=True)
"""


def test_a_worker_killed_mid_trial_loses_nothing(tmp_path, digits_uint8):
    # Also: the final fit handed to a worker (AUTOARCH_FINAL_FIT), the chief then only serves.
    x, y, x_test, y_test = digits_uint8
    np.savez(tmp_path / "digits.npz", x=x, y=y)
    script = tmp_path / "fit.py"
    script.write_text(_FIT)
    project = tmp_path / "image_classifier"
    env = _clean_env(
        KERASTUNER_ORACLE_IP="127.0.0.1",
        KERASTUNER_ORACLE_PORT=str(_free_port()),
        AUTOARCH_WORKER_TIMEOUT="15",
        AUTOARCH_FINAL_FIT="worker1",
    )
    space = json.dumps(tiny_space(train_epochs=4))
    command = [sys.executable, str(script), str(tmp_path / "digits.npz"), str(tmp_path), space]
    group = Group()
    try:
        for name in ("chief", *WORKERS):
            group.start(name, command, {**env, "KERASTUNER_TUNER_ID": name}, tmp_path, tmp_path / f"{name}.log")
        give_up = time.monotonic() + HARD_LIMIT
        killed = None
        while killed is None:  # SIGKILL worker0 once it runs a trial
            for trial_id, (_, result) in (_trials(project) if project.is_dir() else {}).items():
                if result and result["worker"] == "worker0" and result["status"] == "RUNNING":
                    killed = trial_id
            if killed is None:
                if any(group.processes[name].poll() is not None for name in ("chief", "worker0")):
                    pytest.fail("a process ended before worker0 ran a trial\n" + group.output())
                if time.monotonic() > give_up:
                    pytest.fail("worker0 never ran a trial\n" + group.output())
                time.sleep(0.1)
        assert group.kill("worker0") == -signal.SIGKILL
        codes = group.wait(["chief", "worker1"], give_up)
    finally:
        group.close()
    assert codes == {"chief": 0, "worker1": 0}, group.output()

    # Every trial completed once; the killed one was run again by worker1.
    trials = _trials(project)
    assert sorted(trials) == ["0", "1", "2"], group.output()
    for trial_id, (trial, result) in trials.items():
        assert trial["status"] == "COMPLETED", (trial_id, trial, group.output())
        assert result["status"] == "COMPLETED", (trial_id, result)
    assert trials[killed][1]["worker"] == "worker1"
    oracle = read_json_or_none(project / "oracle.json")
    assert sorted(oracle["end_order"]) == ["0", "1", "2"]
    assert oracle["retry_queue"] == [] and oracle["ongoing_trials"] == {}
    assert oracle["run_times"][killed] == 2  # lost once, then completed
    chief = (tmp_path / "chief.log").read_text()
    assert f"worker 'worker0' was not heard from for over 15 s: trial {killed} goes back to the queue" in chief

    results = {}
    for name in ("chief", "worker1"):
        line = next(line for line in (tmp_path / f"{name}.log").read_text().splitlines() if line.startswith("RESULTS"))
        results[name] = json.loads(line[len("RESULTS"):])
    assert results["worker1"]["model"] and not results["chief"]["model"]
    assert "'worker1' makes the final model" in chief
    assert "final fit" in (tmp_path / "worker1.log").read_text()
    for name in results:
        assert results[name]["statuses"] == ["COMPLETED"] * 3
        assert results[name]["workers"] == [trials[t][1]["worker"] for t in ("0", "1", "2")]
    _check_final_model(str(project), x_test, y_test)


def test_workers_started_before_the_chief_wait_for_it(tmp_path, digits_uint8):
    """Issue 17, item 11: processes may start in any order; here both workers start first."""
    x, y, x_test, y_test = digits_uint8
    np.savez(tmp_path / "digits.npz", x=x, y=y)
    script = tmp_path / "fit.py"
    # The workers' "waiting for the chief" line goes to their logs, so the chief starts only once both wait.
    script.write_text("import logging; logging.basicConfig(level=logging.INFO)\n" + _FIT)
    project = tmp_path / "image_classifier"
    env = _clean_env(KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(_free_port()))
    command = [sys.executable, str(script), str(tmp_path / "digits.npz"), str(tmp_path), json.dumps(TINY_SPACE)]
    group = Group()
    try:
        give_up = time.monotonic() + HARD_LIMIT
        for name in WORKERS:
            group.start(name, command, {**env, "KERASTUNER_TUNER_ID": name}, tmp_path, tmp_path / f"{name}.log")
        waiting = set()
        while waiting != set(WORKERS):
            for name in WORKERS:
                if f"worker {name!r}: waiting for the chief" in (tmp_path / f"{name}.log").read_text():
                    waiting.add(name)
                elif group.processes[name].poll() is not None:
                    pytest.fail(f"{name} ended before the chief started\n" + group.output())
            if time.monotonic() > give_up:
                pytest.fail("the workers never waited for the chief\n" + group.output())
            time.sleep(0.2)
        assert not project.exists()  # nothing written before the chief is there
        group.start("chief", command, {**env, "KERASTUNER_TUNER_ID": "chief"}, tmp_path, tmp_path / "chief.log")
        refused = _strangers_call(env["KERASTUNER_ORACLE_PORT"], tmp_path / "chief.log", give_up)
        codes = group.wait(["chief", *WORKERS], give_up)
    finally:
        group.close()
    assert codes == {"chief": 0, "worker0": 0, "worker1": 0}, group.output()
    trials = _trials(project)
    assert sorted(trials) == ["0", "1", "2"], group.output()
    assert all(result["status"] == "COMPLETED" and result["worker"] in WORKERS for _, result in trials.values())
    _check_final_model(str(project), x_test, y_test)
    # Strangers without the token, or with a wrong one, were refused and logged; the search did not notice.
    assert refused == [grpc.StatusCode.UNAUTHENTICATED] * 2
    chief = (tmp_path / "chief.log").read_text()
    assert "the chief refused a call to" in chief and "no token" in chief and "a wrong token" in chief


def _strangers_call(port, chief_log, give_up):
    """Once the chief serves, ask it for a trial without the token and with a wrong one; the status codes."""
    from keras_tuner.src import protos

    while "serving the oracle" not in chief_log.read_text():
        if time.monotonic() > give_up:
            pytest.fail("the chief never served")
        time.sleep(0.2)
    codes = []
    for metadata in ((), (("autoarch-chief-token", "a-wrong-token"),)):
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            request = protos.get_service().CreateTrialRequest(tuner_id="stranger")
            try:
                protos.get_service_grpc().OracleStub(channel).CreateTrial(request, timeout=30, metadata=metadata)
                codes.append(grpc.StatusCode.OK)
            except grpc.RpcError as error:
                codes.append(error.code())
    return codes


# --------------------------------------------------------------------------- 3


class RecordingOracle(keras_tuner.oracles.RandomSearchOracle):
    """keras-tuner's random search that keeps what each trial reported."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reports = []

    def update_trial(self, trial_id, metrics, step=0):
        self.reports.append((dict(metrics), step))
        return super().update_trial(trial_id, metrics, step=step)


def test_trial_metrics_are_plain_floats_for_grpc(tmp_path, digits_uint8):
    # keras-tuner sends them to the chief as protobuf map<string, double>.
    x, y, _, _ = digits_uint8
    oracle = RecordingOracle(objective=keras_tuner.Objective("val_accuracy", "max"), max_trials=1, seed=1)
    clf = autoarch.ImageClassifier(
        tuner=oracle, directory=tmp_path, search_space=tiny_space(train_epochs=1), genotype=DARTS_V2,
        refit=False, verbose=0,
    )
    clf.fit(x, y)
    assert [row["status"] for row in clf.results_] == ["COMPLETED"]
    assert not oracle.reports  # the estimator ran a copy of it
    ((metrics, step),) = clf.tuner_.oracle.reports
    assert set(metrics) == {"val_accuracy", "val_loss", "val_accuracy_se", "val_loss_se"}
    for name, value in metrics.items():
        assert type(name) is str and type(value) is float, (name, type(value))
    assert type(step) is int
    from keras_tuner.src import protos

    request = protos.get_service().UpdateTrialRequest(trial_id="0", metrics=metrics, step=step)
    assert dict(request.metrics) == metrics  # float64 on the wire: nothing rounded
