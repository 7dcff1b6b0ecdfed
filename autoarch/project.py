"""The project directory: what a project was made for, checked before anything is written.

A project directory (``directory/project_name``) holds keras-tuner's oracle and
trials, autoarch's per-trial files, the final model and ``autoarch.json``: the
task, image shape and classes it was made for. A rerun may resume it only for
the same task and data layout; nothing in a folder autoarch did not make is ever
deleted.
"""

import json
import os

__all__ = ["IDENTITY_FILE", "FINAL_MODEL", "check_project", "write_identity", "read_identity", "differences"]

IDENTITY_FILE = "autoarch.json"
FINAL_MODEL = os.path.join("final", "model.keras")


def read_identity(project_dir):
    """The identity stored in ``project_dir``, or None when there is none."""
    path = os.path.join(project_dir, IDENTITY_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as file:
        return json.load(file)


def differences(stored, identity):
    """How a project's stored identity differs from this fit's, as one line ("" when they match)."""
    different = sorted(key for key in set(stored) | set(identity) if stored.get(key) != identity.get(key))
    return "; ".join(
        f"{key}: project has {stored.get(key)!r}, this fit has {identity.get(key)!r}" for key in different
    )


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
            shape or set of classes.
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


def write_identity(project_dir, identity):
    """Record ``identity`` in ``project_dir`` (created if needed)."""
    os.makedirs(project_dir, exist_ok=True)
    with open(os.path.join(project_dir, IDENTITY_FILE), "w") as file:
        json.dump(identity, file, indent=1)
