"""Chief and workers: keras-tuner's distributed search, made to survive a lost worker.

keras-tuner runs one search over several processes: a *chief* serves the
oracle over gRPC and runs no trial; *workers* ask it for trials, run them and
report their metrics. The role comes from keras-tuner's environment variables
(``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT``),
so the same script runs in every process. All processes must see the same
project folder: the workers write the trial files the chief reads.

keras-tuner 1.4.8 never takes a trial back from a worker that died: the trial
stays in the oracle's ``ongoing_trials`` and the chief never finishes. This
module adds the smallest missing piece, `Leases`, to the chief: a worker sends
a heartbeat every `HEARTBEAT_SECONDS` while it runs a trial, and a trial whose
worker was silent for longer than the timeout is ended as ``INVALID`` through
the oracle's own ``end_trial``. keras-tuner's retry queue then gives it to the
next worker that asks; once it has been lost ``max_retries_per_trial + 1``
times it fails, with the reason. So that a trial that comes back still finds a
worker, a worker that asks for a trial while other trials run is told to wait
(``IDLE``) rather than to stop.
"""

import contextlib
import logging
import os
import threading
import time
from concurrent import futures

import grpc
from keras_tuner.src import protos
from keras_tuner.src.distribute import oracle_chief
from keras_tuner.src.distribute import utils as keras_tuner_distribute
from keras_tuner.src.engine import oracle as oracle_module
from keras_tuner.src.engine import trial as trial_module

from autoarch import project
from autoarch.tuning import chief_access

__all__ = [
    "FINAL_FIT_ENV",
    "TIMEOUT_ENV",
    "HEARTBEAT_SECONDS",
    "CHIEF_WAIT_SECONDS",
    "role",
    "tuner_id",
    "final_fit_owner",
    "does_final_fit",
    "worker_timeout",
    "not_fitted_message",
    "Leases",
    "serve",
    "open_project",
    "write_identity",
    "join_project",
    "wait_for_chief_end",
    "connect_client",
    "Heartbeat",
]

log = logging.getLogger("autoarch")

FINAL_FIT_ENV = "AUTOARCH_FINAL_FIT"
"""Environment variable: the ``KERASTUNER_TUNER_ID`` of the process that makes the
final model (default ``"chief"``: the chief, whatever its id). Set it to the same
value in every process."""

TIMEOUT_ENV = "AUTOARCH_WORKER_TIMEOUT"
"""Environment variable read by the chief: seconds without a word from a worker
after which its trial goes back to the queue (default 60)."""

DEFAULT_TIMEOUT = 60.0
HEARTBEAT_SECONDS = 2.0
"""How often a worker tells the chief that it still runs its trial."""

IDLE_SECONDS = 1.0
"""How long a worker that was told to wait pauses before it asks again."""

QUIET_SECONDS = 10.0
"""The chief stops serving only when no worker it has not stopped asked within this time."""

CHIEF_WAIT_SECONDS = 600.0
"""How long a worker waits for the chief to answer before it gives up with an error."""

_POLL_SECONDS = 0.5
_IDENTITY_WAIT_SECONDS = 30.0


# --------------------------------------------------------------------------- roles


def role():
    """The part this process plays: ``"chief"``, ``"worker"``, or None (no distribution).

    keras-tuner's rule: with ``KERASTUNER_ORACLE_IP`` set, a process whose
    ``KERASTUNER_TUNER_ID`` contains ``"chief"`` is the chief, any other a worker.

    Raises:
        RuntimeError: ``KERASTUNER_ORACLE_IP`` is set without ``KERASTUNER_ORACLE_PORT``
            or ``KERASTUNER_TUNER_ID`` (keras-tuner's check).
        ValueError: ``AUTOARCH_WORKER_TIMEOUT`` is not a number of seconds >= 6,
            or the TLS settings cannot work (`autoarch.tuning.chief_access.check_settings`).
    """
    if not keras_tuner_distribute.has_chief_oracle():
        return None
    worker_timeout()
    part = "chief" if keras_tuner_distribute.is_chief_oracle() else "worker"
    chief_access.check_settings(part)
    return part


def tuner_id():
    """This process's ``KERASTUNER_TUNER_ID`` (keras-tuner's default ``"tuner0"`` without one)."""
    return os.environ.get("KERASTUNER_TUNER_ID", "tuner0")


def final_fit_owner():
    """The tuner id named by ``AUTOARCH_FINAL_FIT``, or ``"chief"`` (the default)."""
    return os.environ.get(FINAL_FIT_ENV, "").strip() or "chief"


def does_final_fit():
    """Whether this process makes the final model: always without distribution; otherwise
    only the process that ``AUTOARCH_FINAL_FIT`` names (the chief by default)."""
    current = role()
    if current is None:
        return True
    owner = final_fit_owner()
    return current == "chief" if owner == "chief" else tuner_id() == owner


def worker_timeout():
    """``AUTOARCH_WORKER_TIMEOUT`` in seconds (default 60).

    Raises:
        ValueError: not a number, or less than three heartbeats (6 s).
    """
    text = os.environ.get(TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is None or not seconds >= 3 * HEARTBEAT_SECONDS:
        raise ValueError(
            f"{TIMEOUT_ENV} must be a number of seconds >= {3 * HEARTBEAT_SECONDS:g}, got {text!r}"
        )
    return seconds


def not_fitted_message(estimator_name, project_dir):
    """What ``predict`` says in a process that took part in the search but made no final model."""
    owner = final_fit_owner()
    return (
        f"this {estimator_name} took part in a distributed search as {role()} {tuner_id()!r} "
        f"and has results_, but no model: {owner!r} makes the final model ({FINAL_FIT_ENV}). "
        f"Once it has finished, load it with autoarch.load({project_dir!r})"
    )


def _address():
    return f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"


def connect_client(client):
    """Send the calls of keras-tuner's ``OracleClient`` (a worker's oracle) through `chief_access.channel`."""
    client.stub = protos.get_service_grpc().OracleStub(chief_access.channel(_address()))


# --------------------------------------------------------------------------- the chief


def _locked(oracle, function, *args):
    """Run ``function`` under the oracle's lock, the one keras-tuner's ``synchronized`` takes.

    Unlike ``synchronized``, the lock is released when ``function`` raises.
    """
    name = threading.current_thread().name
    if oracle_module.THREADS[oracle] == name:
        return function(*args)
    with oracle_module.LOCKS[oracle]:
        oracle_module.THREADS[oracle] = name
        try:
            return function(*args)
        finally:
            oracle_module.THREADS[oracle] = None


class Leases:
    """The chief's record of which worker runs which trial, and when each was last heard from.

    Every method holds the oracle's lock, so the gRPC thread and the chief's
    loop never see the oracle half-updated. Nothing here changes what a trial
    is or how it is scored: trials start and end only through the oracle's own
    ``create_trial`` and ``end_trial``.

    Args:
        oracle: the chief's `keras_tuner.Oracle`.
        timeout: seconds of silence after which a worker's trial is taken back.
        deadline: a ``clock`` value after which no trial starts (None: no limit).
        clock: returns the time in seconds (default `time.monotonic`).

    Attributes:
        joined: every tuner id that has asked for a trial.
        lost: ``(tuner_id, trial_id)`` of every trial taken back, in order.
        error: keras-tuner's error if the oracle ended the search (too many
            consecutive failures of a user's oracle), else None.
    """

    def __init__(self, oracle, timeout=DEFAULT_TIMEOUT, deadline=None, clock=time.monotonic):
        self.oracle = oracle
        self.timeout = float(timeout)
        self.deadline = deadline
        self.clock = clock
        self.joined = set()
        self.lost = []
        self.error = None
        self._heard = {}
        self._stopped = False
        self._started = clock()

    def _hear(self, tuner):
        self._heard[tuner] = self.clock()

    def _past_deadline(self):
        return self.deadline is not None and self.clock() >= self.deadline

    def _trial(self, status):
        return trial_module.Trial(self.oracle.get_space(), status=status)

    def create_trial(self, tuner):
        """The answer to worker ``tuner`` asking for a trial.

        The oracle's own answer, except: no trial starts after the deadline or
        after the oracle failed (``STOPPED``); and "stop" becomes "wait"
        (``IDLE``) while other workers still run trials, since a lost one
        comes back to the queue.
        """
        return _locked(self.oracle, self._create_trial, tuner)

    def _create_trial(self, tuner):
        oracle = self.oracle
        self._hear(tuner)
        self.joined.add(tuner)
        if (self.error or self._past_deadline()) and tuner not in oracle.ongoing_trials:
            oracle.tuner_ids.discard(tuner)
            self._stopped = True
            return self._trial(trial_module.TrialStatus.STOPPED)
        trial = oracle.create_trial(tuner)
        if trial.status == trial_module.TrialStatus.STOPPED:
            if any(other != tuner for other in oracle.ongoing_trials):
                oracle.tuner_ids.add(tuner)
                return self._trial(trial_module.TrialStatus.IDLE)
            self._stopped = True
        return trial

    def heard_about(self, trial_id):
        """A request about ``trial_id`` came (a heartbeat, its metrics or its end): its worker lives."""
        _locked(self.oracle, self._heard_about, trial_id)

    def _heard_about(self, trial_id):
        for tuner, trial in self.oracle.ongoing_trials.items():
            if trial.trial_id == trial_id:
                self._hear(tuner)

    def end_trial(self, trial):
        """End ``trial`` through the oracle; an oracle that ends the search is recorded in ``error``.

        A worker taken for lost may still end its trial while the trial waits
        for its retry: a completed result is kept (the retry is dropped), any
        other is ignored (the retry runs).

        Returns:
            None, or why the call was refused with nothing changed: an unknown
            trial; one that neither runs nor waits for its retry; a status
            other than ``COMPLETED``, ``INVALID`` or ``FAILED``;
            hyperparameters that differ from the trial's; or ``COMPLETED``
            without the objective among its reported metrics.
        """
        return _locked(self.oracle, self._checked_end, trial)

    def _checked_end(self, trial):
        problem = self._end_problem(trial)
        if problem is None:
            self._end_trial(trial)
        return problem

    def _end_trial(self, trial):
        oracle = self.oracle
        if trial.trial_id in oracle._retry_queue and not any(
            ongoing.trial_id == trial.trial_id for ongoing in oracle.ongoing_trials.values()
        ):
            # A late end from a worker taken for lost: keep a completed result, drop the retry.
            if trial.status != trial_module.TrialStatus.COMPLETED:
                return
            oracle._retry_queue.remove(trial.trial_id)
        try:
            self.oracle.end_trial(trial)
        except RuntimeError as error:  # keras-tuner: too many consecutive failures
            self.error = str(error)
            for tuner, ongoing in list(self.oracle.ongoing_trials.items()):
                if ongoing.trial_id == trial.trial_id:
                    self.oracle.ongoing_trials.pop(tuner)
            self.oracle.save()

    def update_trial(self, trial_id, metrics, step=0):
        """A worker's metrics for ``trial_id``, through the oracle's ``update_trial``.

        Returns:
            ``(trial, problem)``: the updated trial and None, or None and why
            the call was refused (nothing changed): an unknown trial, one that
            neither runs nor waits for its retry, or metrics without the objective.
        """
        return _locked(self.oracle, self._update_trial, trial_id, dict(metrics), step)

    def _update_trial(self, trial_id, metrics, step):
        problem = self._unknown(trial_id) or self._not_reporting(trial_id)
        missing = [name for name in _objective_names(self.oracle) if name not in metrics]
        if problem is None and missing:
            problem = f"the metrics of trial {trial_id!r} lack the objective {', '.join(map(repr, missing))}"
        if problem is not None:
            return None, problem
        return self.oracle.update_trial(trial_id, metrics, step=step), None

    def _end_problem(self, trial):
        trial_id = trial.trial_id
        problem = self._unknown(trial_id) or self._not_reporting(trial_id)
        if problem is not None:
            return problem
        if trial.status not in _END_STATUSES:
            return f"a trial ends as {', '.join(_END_STATUSES)}, not {trial.status!r}"
        kept = self.oracle.trials[trial_id]
        changed = sorted(name for name, value in kept.hyperparameters.values.items()
                         if trial.hyperparameters.values.get(name, _MISSING) != value)
        if changed:
            return f"trial {trial_id!r} would change its hyperparameters {', '.join(map(repr, changed))}"
        missing = [name for name in _objective_names(self.oracle) if not kept.metrics.exists(name)]
        if trial.status == trial_module.TrialStatus.COMPLETED and missing:
            return f"trial {trial_id!r} cannot be COMPLETED: no {', '.join(map(repr, missing))} was reported"
        return None

    def check_known(self, trial_id):
        """Why a call about ``trial_id`` is refused (no such trial), or None."""
        return _locked(self.oracle, self._unknown, trial_id)

    def _unknown(self, trial_id):
        return None if trial_id in self.oracle.trials else f"no trial {_shown(trial_id)} in this search"

    def _not_reporting(self, trial_id):
        """Why ``trial_id`` may not report: it neither runs nor waits for its retry (a late worker's report)."""
        if trial_id in self.oracle._retry_queue:
            return None
        if any(trial.trial_id == trial_id for trial in self.oracle.ongoing_trials.values()):
            return None
        return f"trial {trial_id!r} does not run (it is {self.oracle.trials[trial_id].status})"

    def reap(self):
        """Take back the trials of workers silent for longer than the timeout.

        Each ends as ``INVALID`` through ``oracle.end_trial``, with the reason
        as its message: keras-tuner's retry queue gives it to the next worker
        that asks, or marks it ``FAILED`` once it has run
        ``max_retries_per_trial + 1`` times.

        Returns:
            ``[(tuner_id, trial_id), ...]`` taken back now.
        """
        return _locked(self.oracle, self._reap)

    def _reap(self):
        now, taken = self.clock(), []
        for tuner, trial in list(self.oracle.ongoing_trials.items()):
            silent = now - self._heard.get(tuner, self._started)
            if silent <= self.timeout:
                continue
            trial.status = trial_module.TrialStatus.INVALID
            trial.message = (
                f"its worker {tuner!r} was not heard from for {silent:.0f} s "
                f"(killed, crashed or cut off; {TIMEOUT_ENV}={self.timeout:g})"
            )
            self._end_trial(trial)
            self.oracle.tuner_ids.discard(tuner)
            taken.append((tuner, trial.trial_id))
        self.lost.extend(taken)
        return taken

    def finished(self):
        """Whether the chief may stop serving.

        No trial runs; the search is over (the oracle said stop, ``max_trials``
        trials exist and none waits for a retry, the deadline passed, or the
        oracle failed); and every worker not yet told to stop has been silent
        for `QUIET_SECONDS` (it left: one that waits asks every second).
        """
        return _locked(self.oracle, self._finished)

    def _finished(self):
        oracle = self.oracle
        if oracle.ongoing_trials:
            return False
        remaining = oracle.remaining_trials()
        complete = self._stopped or (remaining is not None and remaining <= 0)
        if not (self.error or self._past_deadline() or (complete and not oracle._retry_queue)):
            return False
        now = self.clock()
        return all(now - self._heard.get(tuner, self._started) > QUIET_SECONDS for tuner in oracle.tuner_ids)


_END_STATUSES = (trial_module.TrialStatus.COMPLETED, trial_module.TrialStatus.INVALID, trial_module.TrialStatus.FAILED)
_MISSING = object()
_SHOWN_CHARACTERS = 60


def _objective_names(oracle):
    objective = oracle.objective
    return list(getattr(objective, "name_to_direction", {objective.name: None}))


def _shown(text):
    return chief_access.quoted(text, _SHOWN_CHARACTERS)


class _Servicer(oracle_chief.OracleServicer):
    """keras-tuner's gRPC servicer, with every request about a trial counted as a sign of life,
    every change under the oracle's lock, and calls that would break the oracle's state refused."""

    def __init__(self, leases, on_trial_end=None):
        super().__init__(leases.oracle)
        self.leases = leases
        self.on_trial_end = on_trial_end

    def CreateTrial(self, request, context):
        trial = self.leases.create_trial(request.tuner_id)
        return protos.get_service().CreateTrialResponse(trial=trial.to_proto())

    def UpdateTrial(self, request, context):
        self.leases.heard_about(request.trial_id)
        trial, problem = self.leases.update_trial(request.trial_id, request.metrics, step=request.step)
        if problem is not None:
            _refuse(context, problem)
        return protos.get_service().UpdateTrialResponse(trial=trial.to_proto())

    def EndTrial(self, request, context):
        self.leases.heard_about(request.trial.trial_id)
        trial = trial_module.Trial.from_proto(request.trial)
        problem = self.leases.end_trial(trial)
        if problem is not None:
            _refuse(context, problem)
        if self.on_trial_end is not None:
            try:
                self.on_trial_end(request.trial.trial_id)
            except Exception:  # a report must never break the search
                log.exception("could not report the end of trial %s", request.trial.trial_id)
        return protos.get_service().EndTrialResponse()

    def GetTrial(self, request, context):
        self.leases.heard_about(request.trial_id)
        problem = self.leases.check_known(request.trial_id)
        if problem is not None:
            _refuse(context, problem)
        return super().GetTrial(request, context)


def _refuse(context, problem):
    """End a call with ``INVALID_ARGUMENT`` and ``problem``, logged once, quoted (see `_shown`)."""
    log.warning("the chief refused a call: %s", problem)
    context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)


def serve(oracle, deadline=None, on_trial_end=None):
    """The chief's search: serve ``oracle`` to the workers until the search is over.

    Replaces keras-tuner's ``oracle_chief.start_server`` (same servicer, same
    protocol) with a loop that takes back the trials of silent workers (see
    `Leases`), stops at the deadline, and shuts the server down when it
    returns, after saving the oracle.

    Args:
        oracle: the chief's oracle.
        deadline: a `time.monotonic` value after which no trial starts (None: no limit).
        on_trial_end: called with the trial id each time a worker ends a trial.

    Returns:
        The `Leases` (``joined`` and ``lost`` say who took part and what was retried).

    Raises:
        RuntimeError: the chief cannot listen on the address, or keras-tuner's
            oracle ended the search (too many consecutive failures).
    """
    leases = Leases(oracle, worker_timeout(), deadline)
    address = _address()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1),
                         interceptors=[chief_access.TokenCheck(chief_access.chief_token())])
    protos.get_service_grpc().add_OracleServicer_to_server(_Servicer(leases, on_trial_end), server)
    try:
        bound = chief_access.add_port(server, address)
    except RuntimeError:
        bound = 0
    if not bound:
        raise RuntimeError(
            f"the chief cannot listen on {address} (KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT): "
            "is the port in use?"
        )
    server.start()
    log.info("chief %r: serving the oracle on %s", tuner_id(), address)
    try:
        while True:
            time.sleep(_POLL_SECONDS)
            for tuner, trial_id in leases.reap():
                log.warning(
                    "worker %r was not heard from for over %g s: trial %s goes back to the queue",
                    tuner, leases.timeout, trial_id,
                )
            if leases.finished():
                break
    finally:
        _locked(oracle, oracle.save)
        server.stop(grace=5).wait()
    owner = final_fit_owner()
    if owner != "chief" and owner not in leases.joined:
        log.warning(
            "%s=%r, but no worker with that id took part: no process makes the final model",
            FINAL_FIT_ENV, owner,
        )
    if leases.error:
        raise RuntimeError(leases.error)
    return leases


# --------------------------------------------------------------------------- the project


def open_project(project_dir, identity, overwrite):
    """Check the project folder before any work, as this process's role asks.

    A worker waits for the chief's project and checks that it was made for
    the same data (`join_project`); it never writes or deletes it. Any other
    process checks its own project (`autoarch.project.check_project`).

    Raises:
        ValueError: the project was made for other data, or is not a project.
        RuntimeError: a worker found no chief, or cannot see its project.
    """
    if role() == "worker":
        join_project(project_dir, identity)
    else:
        project.check_project(project_dir, identity, overwrite)


def project_lock(project_dir, wait=False):
    """The lock a fit holds on its project (`autoarch.project.ProjectLock`); none for a worker.

    Workers share the chief's project by design; the chief (or a process
    without distribution) is its one writer. With ``wait``, a fit waits for
    another process fitting the same project instead of being refused.
    """
    if role() == "worker":
        return contextlib.nullcontext()
    return project.ProjectLock(project_dir, wait=wait)


def write_identity(project_dir, identity):
    """Record what the project is for, unless this process is a worker (the chief has done it).

    Call it once the tuner is made: keras-tuner's ``overwrite`` deletes the folder then.
    """
    if role() != "worker":
        project.write_identity(project_dir, identity)


# --------------------------------------------------------------------------- the workers


def join_project(project_dir, identity, timeout=CHIEF_WAIT_SECONDS):
    """A worker's start: wait for the chief, then find its project made for the same data.

    The chief answers only once it has checked (or, with ``overwrite``,
    replaced) the project and written its identity, so a worker never reads a
    stale project. Writes nothing.

    Args:
        project_dir: ``directory/project_name``, as the chief sees it.
        identity: what this worker's fit is (task, image shape, classes).
        timeout: seconds to wait for the chief.

    Raises:
        RuntimeError: no chief answered in time, or the project folder is not
            visible here (it must be shared).
        ValueError: the chief's project was made for other data.
    """
    address = _address()
    log.info("worker %r: waiting for the chief at %s", tuner_id(), address)
    with chief_access.channel(address) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise RuntimeError(
                f"worker {tuner_id()!r}: no chief answered at {address} within {timeout:g} s. Start "
                "the chief (KERASTUNER_TUNER_ID=chief) with the same KERASTUNER_ORACLE_IP and "
                "KERASTUNER_ORACLE_PORT"
            ) from None
        try:  # one call, so that a worker the chief refuses says why before any work
            protos.get_service_grpc().OracleStub(channel).GetSpace(protos.get_service().GetSpaceRequest(), timeout=60)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise RuntimeError(
                    f"worker {tuner_id()!r}: the chief at {address} refused it: start every worker with the "
                    f"chief's {chief_access.TOKEN_ENV}"
                ) from None
            # Anything else is for keras-tuner's own calls to meet and report.
    give_up = time.monotonic() + _IDENTITY_WAIT_SECONDS  # a shared file system may show it late
    while True:
        stored = project.read_identity(project_dir)
        if stored == identity or time.monotonic() > give_up:
            break
        time.sleep(1.0)
    if stored is None:
        raise RuntimeError(
            f"worker {tuner_id()!r}: the chief runs, but {project_dir!r} holds no autoarch project: "
            "every process must see the chief's project folder at the same path (a shared directory)"
        )
    different = project.differences(stored, identity)
    if different:
        raise ValueError(
            f"worker {tuner_id()!r}: the chief's project {project_dir!r} was made for other data "
            f"({different}): every process must fit the same data"
        )


def wait_for_chief_end(poll=1.0):
    """Block until the chief has stopped serving: the search is over (or the chief is gone)."""
    with chief_access.channel(_address()) as channel:
        stub = protos.get_service_grpc().OracleStub(channel)
        while True:
            try:
                stub.GetSpace(protos.get_service().GetSpaceRequest(), timeout=30)
            except grpc.RpcError as error:
                if error.code() == grpc.StatusCode.UNAVAILABLE:
                    return
            time.sleep(poll)


class Heartbeat:
    """A worker's background thread that tells the chief it still runs ``trial_id``.

    Every ``interval`` seconds it asks the chief for the trial (keras-tuner's
    read-only ``GetTrial``), which the chief counts as a sign of life. A beat
    that fails is simply skipped.

    Args:
        trial_id: the trial this worker runs.
        interval: seconds between beats.
    """

    def __init__(self, trial_id, interval=HEARTBEAT_SECONDS):
        self.trial_id = trial_id
        self.interval = float(interval)
        self._stop = threading.Event()
        self._channel = chief_access.channel(_address())
        self._thread = threading.Thread(target=self._beat, name=f"autoarch-heartbeat-{trial_id}", daemon=True)

    def start(self):
        """Start beating; returns self."""
        self._thread.start()
        return self

    def _beat(self):
        stub = protos.get_service_grpc().OracleStub(self._channel)
        request = protos.get_service().GetTrialRequest(trial_id=self.trial_id)
        while not self._stop.wait(self.interval):
            try:
                stub.GetTrial(request, timeout=self.interval)
            except grpc.RpcError:  # the chief is busy or gone: the next beat tries again
                pass
            except ValueError:  # the channel was closed by stop()
                return

    def stop(self):
        """Stop beating and close the connection."""
        self._stop.set()
        self._channel.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2 * self.interval)
