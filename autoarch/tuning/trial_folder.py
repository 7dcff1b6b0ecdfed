"""A trial's folder in a project, and every file autoarch and keras-tuner keep there.

keras-tuner makes one folder per trial, ``<project>/trial_<id>``, and writes
its ``trial.json`` (hyperparameters, status, score, metrics) there. autoarch
adds the derived genotype, the trained network's weights, the holdout
predictions (for ensemble selection), the search's alpha history and a
``result.json`` (timing, size, status, failure reason, worker). `TrialFolder`
is the one place that knows these names and formats: the tuner writes through
it, and the final fit, the ensemble selection and the plots read through it.
"""

import contextlib
import io
import json
import os

import numpy as np

from autoarch.darts.genotype import Genotype

__all__ = [
    "TrialFolder",
    "trial_folders",
    "write_json",
    "alphas_to_json",
    "RESULT_FILE",
    "GENOTYPE_FILE",
    "WEIGHTS_FILE",
    "ALPHAS_FILE",
    "PREDICTIONS_FILE",
    "STATE_FILE",
]

PREFIX = "trial_"
"""keras-tuner's name of a trial folder: ``trial_<id>``."""

RESULT_FILE = "result.json"
"""autoarch's record of a trial: status, timing, size, genotype, failure reason, worker."""

GENOTYPE_FILE = "genotype.json"
"""The trial's genotype (searched, fixed, or continued from another trial)."""

WEIGHTS_FILE = "network.weights.h5"
"""The trial's trained network."""

ALPHAS_FILE = "alphas.json"
"""The softmaxed architecture weights after each search epoch (trials that searched)."""

PREDICTIONS_FILE = "holdout_predictions.npz"
"""The holdout's targets and the trial network's predictions."""

STATE_FILE = "trial.json"
"""keras-tuner's own record of the trial (read only)."""


def write_json(path, value):
    """Write ``value`` as JSON at ``path`` atomically (a reader never sees half a file)."""
    temporary = f"{path}.tmp"
    with open(temporary, "w") as file:
        json.dump(value, file, indent=1)
    os.replace(temporary, path)


def alphas_to_json(history, primitives):
    """Each epoch's weights of ``history`` as lists, with the operation names of their columns."""
    return [
        {**{key: np.asarray(value).tolist() for key, value in epoch.items()}, "primitives": list(primitives)}
        for epoch in history
    ]


class TrialFolder:
    """One trial's folder: where its files are, and how they are read and written.

    Args:
        path: the folder, ``<project>/trial_<id>`` (see `of`).
    """

    def __init__(self, path):
        self.path = os.fspath(path)

    @classmethod
    def of(cls, project_dir, trial_id):
        """The folder of trial ``trial_id`` (as keras-tuner names it) in ``project_dir``."""
        return cls(os.path.join(os.fspath(project_dir), f"{PREFIX}{trial_id}"))

    def __repr__(self):
        return f"TrialFolder({self.path!r})"

    @property
    def trial_id(self):
        """The trial id in the folder's name (``"03"`` for ``trial_03``)."""
        name = os.path.basename(os.path.normpath(self.path))
        return name[len(PREFIX):] if name.startswith(PREFIX) else name

    def exists(self):
        """Whether the folder is there."""
        return os.path.isdir(self.path)

    def file(self, name):
        """The path of the file ``name`` in this folder."""
        return os.path.join(self.path, name)

    @property
    def weights_path(self):
        """Where the trained network's weights are (``network.weights.h5``)."""
        return self.file(WEIGHTS_FILE)

    def write_weights(self, network):
        """Save ``network``'s weights as Keras's ``.weights.h5``, built in memory and written in one plain write.

        HDF5 that fails to write its own file (a full disk) leaves file handles
        that no later close can end, and the process crashed at exit
        (SIGSEGV, after dozens of h5py tracebacks). Built in memory, the file
        reaches the disk through Python's own write, whose ``OSError`` is clean.
        """
        buffer = _weights_in_memory(network)
        if buffer is None:  # a Keras without the in-memory store: its own writer
            network.save_weights(self.weights_path)
            return
        with open(self.weights_path, "wb") as file:
            file.write(buffer.getbuffer())

    def discard_weights(self):
        """Remove the network's weights: a failed trial has none, though a write cut short may have left part."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.weights_path)

    @property
    def alphas_path(self):
        """Where the alpha history is (``alphas.json``)."""
        return self.file(ALPHAS_FILE)

    # ------------------------------------------------------------ autoarch's files

    def read_result(self):
        """The trial's ``result.json`` as a dict, or ``{}`` before it was written (or when it is unreadable)."""
        path = self.file(RESULT_FILE)
        if not os.path.exists(path):
            return {}
        try:
            with open(path) as file:
                result = json.load(file)
        except ValueError:
            return {}
        return result if isinstance(result, dict) else {}

    def damage(self):
        """Why this completed trial's folder cannot be used, or None when it can.

        A completed trial needs a readable ``result.json`` and ``genotype.json``,
        and its network's weights (an HDF5 file); holdout predictions, when
        present, must be a readable ``.npz``. Checks signatures and JSON only,
        so it is cheap enough to run on every resume.
        """
        if not self.read_result():
            return f"{RESULT_FILE} is missing or unreadable"
        try:
            self.read_genotype()
        except (OSError, ValueError):
            return f"{GENOTYPE_FILE} is missing or unreadable"
        if not _starts_with(self.weights_path, _HDF5_SIGNATURE):
            return f"the network's weights ({WEIGHTS_FILE}) are missing or unreadable"
        predictions = self.file(PREDICTIONS_FILE)
        if os.path.exists(predictions) and not _starts_with(predictions, _ZIP_SIGNATURE):
            return f"{PREDICTIONS_FILE} is unreadable"
        return None

    def write_result(self, record):
        """Write the trial's ``result.json`` (atomically)."""
        write_json(self.file(RESULT_FILE), record)

    def read_genotype(self):
        """The trial's `Genotype`."""
        with open(self.file(GENOTYPE_FILE)) as file:
            return Genotype.from_json(file.read())

    def write_genotype(self, genotype):
        """Write the trial's genotype as JSON."""
        with open(self.file(GENOTYPE_FILE), "w") as file:
            file.write(genotype.to_json())

    def write_alphas(self, history, primitives):
        """Write the search's alpha history (see `alphas_to_json`)."""
        write_json(self.alphas_path, alphas_to_json(history, primitives))

    def has_alphas(self):
        """Whether the trial ran a search and wrote its alpha history."""
        return os.path.isfile(self.alphas_path)

    def read_predictions(self):
        """``(targets, predictions)`` on the holdout, or None if the trial saved none."""
        path = self.file(PREDICTIONS_FILE)
        if not os.path.isfile(path):
            return None
        with np.load(path) as saved:
            return saved["targets"], saved["predictions"]

    def write_predictions(self, targets, predictions):
        """Write the holdout's ``targets`` and the trial network's ``predictions``."""
        with open(self.file(PREDICTIONS_FILE), "wb") as file:
            np.savez(file, targets=targets, predictions=predictions)

    # ------------------------------------------------------------ keras-tuner's file

    def read_state(self):
        """keras-tuner's ``trial.json`` as a dict, or ``{}`` when missing or unreadable."""
        path = self.file(STATE_FILE)
        if not os.path.isfile(path):
            return {}
        try:
            with open(path, encoding="utf-8") as file:
                state = json.load(file)
        except ValueError:
            return {}
        return state if isinstance(state, dict) else {}

    def continued_trial_id(self):
        """The id of the trial whose network this one continued (Hyperband's ``tuner/trial_id``), or None."""
        values = (self.read_state().get("hyperparameters") or {}).get("values") or {}
        previous = values.get("tuner/trial_id")
        return str(previous) if previous else None


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_ZIP_SIGNATURE = b"PK"


def _starts_with(path, signature):
    try:
        with open(path, "rb") as file:
            return file.read(len(signature)) == signature
    except OSError:
        return False


def trial_folders(project_dir):
    """The trial folders of ``project_dir``, sorted by name (keras-tuner pads ids, so by id)."""
    project_dir = os.fspath(project_dir)
    if not os.path.isdir(project_dir):
        return []
    return [
        TrialFolder(os.path.join(project_dir, name))
        for name in sorted(os.listdir(project_dir))
        if name.startswith(PREFIX) and os.path.isdir(os.path.join(project_dir, name))
    ]


def _weights_in_memory(network):
    """``network``'s ``.weights.h5`` as an `io.BytesIO`, the way ``save_weights`` makes it; None when
    this Keras lacks the internals (``saving_lib.H5IOStore`` on a ``BytesIO``) it needs."""
    try:
        from keras.src.saving import saving_lib

        store = saving_lib.H5IOStore(io.BytesIO(), mode="w")
        save_state = saving_lib._save_state
    except (ImportError, AttributeError, TypeError):
        return None
    try:
        save_state(network, weights_store=store, assets_store=None, inner_path="", visited_saveables=set())
    finally:
        store.close()
    return store.path_or_io
