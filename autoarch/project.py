"""The project directory: what a project was made for, checked before anything is written.

A project directory (``directory/project_name``) holds keras-tuner's oracle and
trials, autoarch's per-trial files, the final model and ``autoarch.json``: the
task, image shape and classes it was made for. A rerun may resume it only for
the same task and data layout; nothing in a folder autoarch did not make is ever
deleted.

The final model (`FINAL_MODEL`) is a ``.keras`` file whose metadata records
what `autoarch.load` needs to restore the estimator (`save_final_model`,
`read_model_metadata`).
"""

import contextlib
import glob
import hashlib
import json
import logging
import os
import socket
import time

from autoarch.export import export_keras, read_keras_metadata

log = logging.getLogger("autoarch")

__all__ = [
    "IDENTITY_FILE",
    "FINAL_MODEL",
    "UNWRITTEN_LOCK_SECONDS",
    "project_path",
    "identity",
    "check_project",
    "write_identity",
    "read_identity",
    "differences",
    "short_fingerprint",
    "plain_search_space",
    "ProjectLock",
    "jsonable_params",
    "save_final_model",
    "read_model_metadata",
]

UNWRITTEN_LOCK_SECONDS = 10.0
"""A lock file still empty or garbled after this long was left by a writer that failed
(a full disk) or died between creating and writing it: it is taken over."""

IDENTITY_FILE = "autoarch.json"
FINAL_MODEL = os.path.join("final", "model.keras")


def project_path(directory, project_name):
    """``directory/project_name``, with the current folder for a ``directory`` of None."""
    return os.path.join(os.fspath(directory or "."), project_name)


def identity(task, image_shape, **details):
    """What a fit is, as stored in `IDENTITY_FILE`: ``task``, ``image_shape`` and ``details``.

    Args:
        task: ``"classification"`` or ``"regression"``.
        image_shape: ``(height, width, channels)``.
        **details: JSON-able values that must match too (``classes``, ``outputs``).
    """
    return {"task": task, "image_shape": [int(v) for v in image_shape], **details}


def short_fingerprint(identity):
    """Ten hex digits of SHA-256 over ``identity`` (the default project folder's suffix)."""
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def plain_search_space(search_space):
    """A user's ``search_space`` as JSON values that keep its meaning: a ``(min, max)`` range
    becomes ``{"range": [min, max]}`` so that it differs from a list of choices."""
    if isinstance(search_space, dict):
        return {str(key): plain_search_space(value) for key, value in sorted(search_space.items())}
    if isinstance(search_space, tuple):
        return {"range": [plain_search_space(value) for value in search_space]}
    if isinstance(search_space, list):
        return [plain_search_space(value) for value in search_space]
    if isinstance(search_space, (str, int, float, bool)) or search_space is None:
        return search_space
    return repr(search_space)


def read_identity(project_dir):
    """The identity stored in ``project_dir``, or None when there is none."""
    path = os.path.join(project_dir, IDENTITY_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as file:
        return json.load(file)


def differences(stored, identity):
    """How a project's stored identity differs from this fit's, as one line ("" when they match).

    Fingerprints show their first ten hex digits, and any value longer than
    80 characters is cut.
    """
    different = sorted(key for key in set(stored) | set(identity) if stored.get(key) != identity.get(key))
    return "; ".join(
        f"{key}: project has {_short(stored.get(key))}, this fit has {_short(identity.get(key))}" for key in different
    )


def _short(value):
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return repr(value[:10] + "...")
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_project(project_dir, identity, overwrite):
    """Refuse a project directory this fit may not use; writes nothing.

    Args:
        project_dir: ``directory/project_name``.
        identity: a JSON-able dict of what this fit is (task, image shape, classes).
        overwrite: the fit will delete and recreate the project.

    Raises:
        ValueError: the path or its parent is a file; the folder holds files but is not an
            autoarch project (it is never deleted, even with ``overwrite``); or,
            without ``overwrite``, the project was made for another task, image
            shape or set of classes, or its keras-tuner records (``oracle.json``,
            a ``trial.json``) are damaged.
    """
    parent = os.path.dirname(project_dir)
    if parent and os.path.exists(parent) and not os.path.isdir(parent):
        raise ValueError(f"directory {parent!r} is a file, expected a folder for the projects")
    if not os.path.exists(project_dir):
        return
    if not os.path.isdir(project_dir):
        raise ValueError(f"the project path {project_dir!r} is a file, expected a folder")
    stored = read_identity(project_dir)
    if stored is None:
        if os.listdir(project_dir):
            raise ValueError(
                f"{project_dir!r} exists and is not an autoarch project (no {IDENTITY_FILE}); "
                "autoarch neither uses nor deletes it: choose another directory or project_name"
            )
        return
    if overwrite:
        return
    details = differences(stored, identity)
    if details:
        raise ValueError(
            f"the project {project_dir!r} was made for other data ({details}). Nothing was "
            "changed: pass overwrite=True to replace it, or choose another project_name"
        )
    _check_search_records(project_dir)


def _check_search_records(project_dir):
    """Refuse a project whose keras-tuner records (``oracle.json``, ``trial_*/trial.json``) do not
    parse: keras-tuner's reload would stop with a bare JSON error naming no file."""
    records = [os.path.join(project_dir, "oracle.json")]
    records += sorted(glob.glob(os.path.join(glob.escape(project_dir), "trial_*", "trial.json")))
    for path in records:
        try:
            with open(path, encoding="utf-8") as file:
                json.load(file)
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as error:  # ValueError: JSONDecodeError and UnicodeDecodeError
            raise ValueError(
                f"the project's search record {path!r} is damaged ({error}), so its search cannot "
                "resume. Nothing was changed: pass overwrite=True to start the project again, or "
                "choose another project_name"
            ) from None


def write_identity(project_dir, identity):
    """Record ``identity`` in ``project_dir`` (created if needed)."""
    os.makedirs(project_dir, exist_ok=True)
    with open(os.path.join(project_dir, IDENTITY_FILE), "w") as file:
        json.dump(identity, file, indent=1)


def jsonable_params(params):
    """An estimator's parameters as JSON values for the model's metadata.

    A genotype (anything with ``to_json``) becomes its JSON; a value JSON cannot
    hold (an oracle, for example) becomes its ``repr``.
    """
    found = {}
    for key, value in params.items():
        if hasattr(value, "to_json"):
            value = value.to_json()
        try:
            json.dumps(value)
        except TypeError:
            value = repr(value)
        found[key] = value
    return found


def save_final_model(project_dir, model, metadata):
    """Save the final model with its metadata as `FINAL_MODEL` in ``project_dir``, replacing any."""
    path = os.path.join(project_dir, FINAL_MODEL)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    export_keras(model, path, metadata, overwrite=True)


def read_model_metadata(path, estimators):
    """The ``.keras`` file of a project folder or an export, and the metadata autoarch stored in it.

    Args:
        path: ``directory/project_name`` of a finished fit, or a ``.keras`` file.
        estimators: the estimator names the metadata may name.

    Returns:
        ``(file, metadata)``.

    Raises:
        ValueError: no model file there, or a Keras file without autoarch's
            metadata for one of ``estimators``.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, FINAL_MODEL)
    if not os.path.isfile(path):
        raise ValueError(f"no autoarch model at {path!r}: expected a project folder or a .keras export")
    metadata = read_keras_metadata(path)
    if not metadata or metadata.get("estimator") not in estimators:
        raise ValueError(f"{path!r} is a Keras file without autoarch's metadata")
    return path, metadata


class ProjectLock:
    """One writer per project: a lock file next to the project folder, holding the writer's pid.

    ``directory/project_name.lock`` is created atomically when a fit starts
    writing and removed when it ends, so a second process fitting the same
    project at the same time is refused instead of writing beside the first.
    A lock left by a process that no longer runs on this machine (killed), or
    left empty for `UNWRITTEN_LOCK_SECONDS` (a writer that failed on a full
    disk), is taken over. It sits beside the folder, not in it, so ``overwrite=True``,
    which deletes the folder, cannot delete it.

    Args:
        project_dir: ``directory/project_name``.
        wait: wait while another running process holds the lock, instead of
            refusing. For projects named after their fit's identity: two
            processes fitting the same data alike (as ``GridSearchCV`` does
            with ``n_jobs=2`` over ``max_trials``) then take turns, and the
            second resumes what the first finished.
    """

    POLL_SECONDS = 1.0
    """How often a waiting lock looks again."""

    def __init__(self, project_dir, wait=False):
        self.path = os.path.normpath(os.fspath(project_dir)) + ".lock"
        self.wait = bool(wait)
        self.held = False

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc_info):
        self.release()

    def holder(self):
        """``{"pid", "host"}`` of the process holding the lock, or None when there is none."""
        try:
            with open(self.path) as file:
                return json.load(file)
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}  # being written, or garbled: treated as held by an unknown process

    def acquire(self):
        """Take the lock (waiting for it with ``wait``).

        Raises:
            RuntimeError: another running process holds it (without ``wait``).
            OSError: the lock file cannot be made or written (a read-only folder, a
                full disk), with its path; none is left behind.
        """
        try:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
        except OSError as error:
            raise self._unwritable(error) from error
        attempts, announced = 0, False
        while attempts < 3:
            attempts += 1
            try:
                descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                holder = self.holder()
                if holder is None:
                    continue  # released meanwhile
                if not holder and self._unwritten_for() > UNWRITTEN_LOCK_SECONDS:
                    holder = {"pid": None, "host": socket.gethostname(), "stale": True}
                if _running(holder) and self.wait:
                    if not announced:
                        log.info("waiting for pid %s on %r, which is fitting the same project %r",
                                 holder.get("pid", "?"), holder.get("host", "?"), self.path[:-5])
                        announced = True
                    time.sleep(self.POLL_SECONDS)
                    attempts = 0
                    continue
                if _running(holder):
                    raise RuntimeError(
                        f"the project {self.path[:-5]!r} is being fitted by another process "
                        f"(pid {holder.get('pid', '?')} on {holder.get('host', '?')!r}, see {self.path!r}): "
                        "wait for it to end, or choose another project_name. If no such process "
                        "runs any more, delete the lock file."
                    ) from None
                try:
                    os.remove(self.path)  # a dead process's lock: take it over
                except FileNotFoundError:
                    pass
                continue
            except OSError as error:  # a read-only or full folder: say which, before any work
                raise self._unwritable(error) from error
            try:
                with os.fdopen(descriptor, "w") as file:
                    json.dump({"pid": os.getpid(), "host": socket.gethostname()}, file)
            except OSError as error:  # a full disk: leave no empty lock behind to block the next fit
                with contextlib.suppress(OSError):
                    os.remove(self.path)
                raise OSError(error.errno, f"could not write the lock file {self.path!r}: {error.strerror}") from error
            self.held = True
            return
        raise RuntimeError(f"could not take the lock {self.path!r}: other processes keep taking it")

    def _unwritable(self, error):
        return OSError(error.errno, f"cannot write the project's lock file {self.path!r} ({error.strerror}): "
                                    "choose a directory this process may write to")

    def _unwritten_for(self):
        """Seconds since the lock file was last written (0 when it is gone)."""
        try:
            return time.time() - os.stat(self.path).st_mtime
        except OSError:
            return 0.0

    def release(self):
        """Give the lock back (only if this object holds it)."""
        if self.held:
            self.held = False
            try:
                os.remove(self.path)
            except FileNotFoundError:
                pass


def _running(holder):
    """Whether the process of a lock's ``holder`` may still run (unknown hosts and pids: yes)."""
    if holder.get("stale"):
        return False
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname() or not isinstance(pid, int):
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
