"""Who may talk to the chief: the token on every call, and TLS (issue 17, "who may talk to the chief").

A real gRPC server on 127.0.0.1 with keras-tuner's oracle servicer behind
autoarch's `TokenCheck`, as `autoarch.tuning.distributed.serve` builds it, and
real clients: with the token, without it, with a wrong one, and over TLS with a
certificate made by ``openssl``. The chief and workers as processes, with a
stranger calling in during their search, are in ``tests/integration/test_distributed.py``.
"""

import collections
import logging
import re
import shutil
import socket
import subprocess
from concurrent import futures

import grpc
import keras_tuner
import pytest
from keras_tuner.src import protos

from autoarch.tuning import chief_access, distributed
from autoarch.tuning.distributed import Leases
from autoarch.tuning.oracles import make_oracle

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TOKEN = "the-shared-token"
VARIABLES = (chief_access.TOKEN_ENV, chief_access.TLS_CERT_ENV, chief_access.TLS_KEY_ENV,
             "KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


@pytest.fixture(autouse=True)
def no_settings(monkeypatch):
    for name in VARIABLES:  # set, then deleted: monkeypatch puts back what was there, also what chief_token sets
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _oracle(tmp_path):
    """A random-search oracle of three trials over one hyperparameter, in ``tmp_path/project``."""
    oracle = make_oracle("random", keras_tuner.Objective("val_accuracy", "max"), 3, seed=0)
    oracle._set_project_dir(str(tmp_path), "project")
    hp = keras_tuner.HyperParameters()
    hp.Int("width", 1, 1000, default=5)
    oracle.update_space(hp)
    return oracle


class Clock:
    """Seconds that pass only when the test says so."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _chief(tmp_path, token, leases=None):
    """keras-tuner's oracle served as `distributed.serve` serves it; returns ``(server, address)``."""
    if leases is None:
        leases = Leases(_oracle(tmp_path))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), interceptors=[chief_access.TokenCheck(token)])
    protos.get_service_grpc().add_OracleServicer_to_server(distributed._Servicer(leases), server)
    address = f"127.0.0.1:{_free_port()}"
    assert chief_access.add_port(server, address)
    server.start()
    return server, address


def _space(channel):
    return protos.get_service_grpc().OracleStub(channel).GetSpace(protos.get_service().GetSpaceRequest(), timeout=10)


def _create_trial(channel):
    request = protos.get_service().CreateTrialRequest(tuner_id="stranger")
    return protos.get_service_grpc().OracleStub(channel).CreateTrial(request, timeout=10)


def test_calls_without_the_right_token_are_refused_and_logged(tmp_path, monkeypatch, caplog):
    server, address = _chief(tmp_path, TOKEN)
    try:
        with caplog.at_level(logging.WARNING, logger="autoarch"):
            with grpc.insecure_channel(address) as stranger:
                with pytest.raises(grpc.RpcError) as refused:
                    _create_trial(stranger)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            monkeypatch.setenv(chief_access.TOKEN_ENV, "a-wrong-token")
            with chief_access.channel(address) as wrong:
                with pytest.raises(grpc.RpcError) as refused:
                    _create_trial(wrong)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert re.search(r"the chief refused a call to '\S*/CreateTrial': no token", caplog.text), caplog.text
        assert re.search(r"the chief refused a call to '\S*/CreateTrial': a wrong token", caplog.text), caplog.text

        monkeypatch.setenv(chief_access.TOKEN_ENV, TOKEN)
        with chief_access.channel(address) as worker:
            assert _space(worker).hyperparameters  # answered
            trial = _create_trial(worker).trial
            assert trial.trial_id == "0"  # the refused calls took no trial
    finally:
        server.stop(grace=None)


class _CallDetails(collections.namedtuple("_CallDetails", ("method", "invocation_metadata"))):
    """What gRPC hands an interceptor about a call: its method path and metadata."""


def test_a_caller_without_the_token_cannot_write_lines_into_the_log_nor_flood_it(caplog):
    clock = Clock()
    check = chief_access.TokenCheck(TOKEN, clock=clock)
    forged = "/x/CreateTrial\nINFO autoarch: trial 7 COMPLETED val_accuracy 1.0" + "y" * 500
    with caplog.at_level(logging.WARNING, logger="autoarch"):
        for _ in range(1500):
            check.intercept_service(lambda details: pytest.fail("a call without the token went through"),
                                    _CallDetails(forged, ()))
        lines = caplog.text.splitlines()
        assert len(caplog.records) == chief_access.REFUSAL_LOG_LINES
        assert not any(line.startswith("INFO") for line in lines)
        assert all(len(line) < 300 and "\\n" in line for line in lines)  # quoted, cut short
        caplog.clear()
        clock.now += chief_access.REFUSAL_LOG_SECONDS
        check.intercept_service(lambda details: None, _CallDetails("/x/GetSpace", ()))
    assert len(caplog.records) == 1
    assert f"({1500 - chief_access.REFUSAL_LOG_LINES} more refused since the last line)" in caplog.text


def _stub(channel):
    return protos.get_service_grpc().OracleStub(channel)


def _copy(trial, status):
    """What a worker sends: its own copy of ``trial``, ended as ``status``."""
    copy = keras_tuner.engine.trial.Trial.from_proto(trial.to_proto())
    copy.status = status
    return copy


def _refused(call, request):
    with pytest.raises(grpc.RpcError) as refused:
        call(request, timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value
    return refused.value.details()


def test_bad_calls_from_a_token_holder_are_refused_and_the_chief_keeps_working(tmp_path, monkeypatch):
    oracle = _oracle(tmp_path)
    clock = Clock()
    leases = Leases(oracle, timeout=60, clock=clock)
    server, address = _chief(tmp_path, TOKEN, leases)
    service = protos.get_service()
    monkeypatch.setenv(chief_access.TOKEN_ENV, TOKEN)
    try:
        with chief_access.channel(address) as channel:
            stub = _stub(channel)
            silent = stub.CreateTrial(service.CreateTrialRequest(tuner_id="silent"), timeout=10).trial
            values = dict(oracle.trials[silent.trial_id].hyperparameters.values)

            # Every call keras-tuner's own servicer let through to break the oracle's state or lock.
            assert "no trial 'nope'" in _refused(stub.UpdateTrial, service.UpdateTrialRequest(
                trial_id="nope", metrics={"val_accuracy": 0.5}))
            assert "lack the objective 'val_accuracy'" in _refused(stub.UpdateTrial, service.UpdateTrialRequest(
                trial_id=silent.trial_id, metrics={"loss": 0.5}))
            assert "no trial 'nope'" in _refused(stub.GetTrial, service.GetTrialRequest(trial_id="nope"))
            unknown = keras_tuner.engine.trial.Trial(oracle.get_space(), trial_id=silent.trial_id, status="RUNNING")
            assert "not 'RUNNING'" in _refused(stub.EndTrial, service.EndTrialRequest(trial=unknown.to_proto()))
            wiped = keras_tuner.engine.trial.Trial(keras_tuner.HyperParameters(), trial_id=silent.trial_id,
                                                   status="COMPLETED")
            assert "would change its hyperparameters 'width'" in _refused(
                stub.EndTrial, service.EndTrialRequest(trial=wiped.to_proto()))
            unscored = _copy(oracle.get_trial(silent.trial_id), "COMPLETED")
            assert "no 'val_accuracy' was reported" in _refused(
                stub.EndTrial, service.EndTrialRequest(trial=unscored.to_proto()))
            # Nothing changed: the trial still runs, with its hyperparameters.
            assert oracle.trials[silent.trial_id].status == "RUNNING"
            assert oracle.trials[silent.trial_id].hyperparameters.values == values

            # The chief's loop is not blocked: the silent worker's trial is taken back ...
            clock.now += 61
            assert leases.reap() == [("silent", silent.trial_id)]
            # ... and a real worker runs the search to the end, the lost trial included.
            done = []
            while True:
                trial = stub.CreateTrial(service.CreateTrialRequest(tuner_id="worker"), timeout=10).trial
                if trial.status == protos.get_proto().TrialStatus.STOPPED:
                    break
                stub.UpdateTrial(service.UpdateTrialRequest(
                    trial_id=trial.trial_id, metrics={"val_accuracy": 0.5}), timeout=10)
                ended = _copy(oracle.get_trial(trial.trial_id), "COMPLETED")
                stub.EndTrial(service.EndTrialRequest(trial=ended.to_proto()), timeout=10)
                done.append(trial.trial_id)
        assert silent.trial_id in done and len(done) == 3
        assert all(oracle.trials[trial_id].status == "COMPLETED" for trial_id in done)
        clock.now += 2 * distributed.QUIET_SECONDS
        assert leases.finished()
    finally:
        server.stop(grace=None)


def test_a_worker_with_a_wrong_token_is_told_before_any_work(tmp_path, monkeypatch):
    server, address = _chief(tmp_path, TOKEN)
    host, port = address.split(":")
    for name, value in (("KERASTUNER_ORACLE_IP", host), ("KERASTUNER_ORACLE_PORT", port),
                        ("KERASTUNER_TUNER_ID", "worker0"), (chief_access.TOKEN_ENV, "a-wrong-token")):
        monkeypatch.setenv(name, value)
    try:
        with pytest.raises(RuntimeError, match=r"refused it: start every worker with the chief's AUTOARCH_CHIEF_TOKEN"):
            distributed.join_project(str(tmp_path / "project"), {"task": "classification"}, timeout=10)
    finally:
        server.stop(grace=None)


def test_a_chief_without_a_token_makes_one_and_says_it(monkeypatch, caplog):
    with caplog.at_level(logging.WARNING, logger="autoarch"):
        token = chief_access.chief_token()
    assert len(token) >= 24
    assert f"{chief_access.TOKEN_ENV}={token}" in caplog.text
    assert chief_access.chief_token() == token  # set for this process and its children


@pytest.mark.parametrize(
    "settings, match",
    [
        ({chief_access.TLS_CERT_ENV: "chief.pem"}, "both AUTOARCH_CHIEF_TLS_CERT and AUTOARCH_CHIEF_TLS_KEY"),
        ({chief_access.TLS_CERT_ENV: "missing.pem", chief_access.TLS_KEY_ENV: "missing.key"},
         "AUTOARCH_CHIEF_TLS_CERT='missing.pem' is not a file"),
    ],
)
def test_tls_settings_that_cannot_work_are_refused_before_any_work(monkeypatch, settings, match):
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=match):
        distributed.role()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a test certificate")
def test_over_tls_only_a_client_that_trusts_the_chiefs_certificate_gets_in(tmp_path, monkeypatch):
    certificate, key = tmp_path / "chief.pem", tmp_path / "chief.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(certificate)],
        check=True, capture_output=True,
    )
    monkeypatch.setenv(chief_access.TLS_CERT_ENV, str(certificate))
    monkeypatch.setenv(chief_access.TLS_KEY_ENV, str(key))
    server, address = _chief(tmp_path, TOKEN)
    try:
        monkeypatch.setenv(chief_access.TOKEN_ENV, TOKEN)
        with chief_access.channel(address) as worker:  # TLS, the chief's certificate trusted, the token
            assert _space(worker).hyperparameters
        with grpc.insecure_channel(address) as plain:  # the chief speaks TLS only
            with pytest.raises(grpc.RpcError) as refused:
                _space(plain)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        monkeypatch.delenv(chief_access.TOKEN_ENV)
        with chief_access.channel(address) as no_token:  # TLS alone is not enough
            with pytest.raises(grpc.RpcError) as refused:
                _space(no_token)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        server.stop(grace=None)
