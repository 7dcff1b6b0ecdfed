"""The outer search space: keras-tuner hyperparameters around the DARTS search.

`default_space` adapts the ranges to the data (sample count, image size) and to
the hardware (GPU or CPU); `narrow_space` applies a user's ``search_space``;
`declare` turns the result into keras-tuner hyperparameters, and `settings`
reads a trial's values back as one plain dict.
"""

from dataclasses import dataclass

import keras_tuner

from autoarch.darts import PRIMITIVES, validate_primitives
from autoarch.darts.selection import SELECTIONS

__all__ = [
    "Spec",
    "SETTINGS",
    "CPU_PRIMITIVES",
    "CPU_TRAINING_WORK",
    "CPU_NETWORK_CHANNELS",
    "CPU_SHORT_TRAINING_CHANNELS",
    "default_primitives",
    "search_primitives",
    "default_network_channels",
    "default_space",
    "narrow_space",
    "fit_space",
    "possible_values",
    "declare",
    "settings",
    "defaults",
    "max_train_epochs",
    "MIN_TRAIN_STEPS",
    "MIN_BATCH_SIZE",
    "MIN_AUGMENTED_EPOCHS",
    "enough_steps",
]

CPU_PRIMITIVES = tuple(name for name in PRIMITIVES if not name.endswith("5x5"))
"""The candidate operations of a CPU search: DARTS's eight without the two 5x5 convolutions."""


def default_primitives(gpu=False):
    """The candidate operations when ``search_space`` names none.

    On CPU the 5x5 convolutions are left out: the supernet has a quarter fewer
    operations to trace and run, and the derived network trains faster. On the
    MNIST benchmark this made the whole fit 1.5x faster with the same test
    accuracy (98.80% against 98.85%, seed 0; see ``benchmarks/mnist.py``).
    On a GPU all eight of `autoarch.darts.PRIMITIVES` are searched.
    """
    return PRIMITIVES if gpu else CPU_PRIMITIVES


def search_primitives(search_space, gpu=False):
    """The candidate operations of a fit: ``search_space["primitives"]``, else `default_primitives`.

    Raises:
        ValueError: what `autoarch.darts.validate_primitives` refuses.
    """
    return validate_primitives((search_space or {}).get("primitives", default_primitives(gpu)))


CPU_TRAINING_WORK = 8_000 * 8 * 14 * 14 * 16**2
"""On CPU, the most work (images x epochs x pixels after the stem x channels²)
a default network's training may take: that of the MNIST benchmark's default
(8,000 images, 8 epochs, 14x14 after a stride-2 stem, 16 channels)."""

CPU_MAX_TRAIN_EPOCHS = 20
"""On CPU, the most epochs a default network's training gets, however small the
data: on 300 to 1,000 of scikit-learn's digits, 20 epochs scored as the 30-40
of the data-size rule did (20 seeds in all, -0.17 points on average) in 13-26%
less time, and on 1,000 MNIST images they let the network widen (see
`default_network_channels`) for 0.67 points more (docs/benchmarks.md)."""

CPU_NETWORK_CHANNELS = (12, 16, 24)
"""The widths a default CPU network may start with (see `default_network_channels`)."""

CPU_SHORT_TRAINING_CHANNELS = (*CPU_NETWORK_CHANNELS, 36)
"""The widths a default CPU network may start with when the user's ``fit(epochs=N)``
makes its training short (fewer than `MIN_AUGMENTED_EPOCHS` epochs).

A short training costs little, and a wider network learns more in few steps:
on 400 MNIST images with ``fit(epochs=2)``, 36 channels scored 85.7% against
82.5% for the 24 of the default rule, and 48 channels no more (5 and 3 seeds,
docs/benchmarks.md)."""


def default_network_channels(num_samples, train_epochs, cell_side, least, widths=CPU_NETWORK_CHANNELS):
    """The CPU default of ``network_channels``.

    The widest of ``widths`` whose training stays within `CPU_TRAINING_WORK`,
    and at least ``least``. So small data sets get wider networks: they cost
    little, and on digits' new writers 24 channels scored 97.1% against 96.0%
    for 12 (one network of the same genotype, trained on 1,500 images, mean of
    three seeds).

    Args:
        num_samples: training samples.
        train_epochs: the training epochs.
        cell_side: the image side the first cells work at (after the stem).
        least: the width when no wider one fits.
        widths: the candidate widths, narrowest first.
    """
    work = num_samples * train_epochs * cell_side**2
    fitting = [c for c in widths if c >= least and work * c**2 <= CPU_TRAINING_WORK]
    return fitting[-1] if fitting else least


@dataclass(frozen=True)
class Spec:
    """One outer hyperparameter.

    Attributes:
        kind: ``"choice"``, ``"int"``, ``"float"``, ``"boolean"`` or ``"fixed"``.
        default: the value of the first trial (every oracle tries it first).
        values: the choices (``"choice"``), or ``(min, max)`` for ranges.
        log: sample a float range on a log scale.
    """

    kind: str
    default: object
    values: tuple = ()
    log: bool = False


SETTINGS = {
    "init_channels": "channels of the searched network's first cells",
    "cells": "cells of the searched network",
    "nodes": "intermediate nodes per cell",
    "search_epochs": "epochs of the DARTS search",
    "search_learning_rate": "initial SGD learning rate of the search's weights",
    "arch_learning_rate": "Adam learning rate of the architecture weights",
    "second_order": "unrolled (second-order) architecture gradient",
    "partial_channels": "PC-DARTS's K: 1 in K channels goes through the operations",
    "search_image_size": "largest image side during the search (larger images are shrunk to it)",
    "search_samples": "most images in each search half",
    "selection": "how the cell is read from the trained supernet: largest weight or perturbation",
    "network_channels": "channels of the trained network's first cells",
    "network_cells": "cells of the trained network",
    "stem_stride": "stride of the trained network's stem (2 halves the resolution)",
    "train_epochs": "epochs of training the derived network",
    "learning_rate": "initial Adam learning rate of the derived network",
    "batch_size": "samples per batch",
    "random_crop": "pad-and-crop augmentation",
    "cutout": "cutout augmentation",
    "flip": "left-right flip augmentation",
    "drop_path": "final drop-path rate of the derived network",
}
"""Every outer hyperparameter and what it sets."""


def default_space(num_samples, image_shape, gpu=False, allow_flips=False, fixed_epochs=None):
    """The default outer space for this data and hardware.

    On CPU the space is kept small enough for a few trials to finish in minutes
    (second order is fixed off: its trace alone takes minutes); on a GPU the
    networks, epochs and choices grow.

    Args:
        num_samples: training samples given to ``fit``.
        image_shape: ``(height, width, channels)``.
        gpu: a GPU is present.
        allow_flips: left-right flips keep the label (not for digits or text).
        fixed_epochs: the training epochs the user fixed (``fit(epochs=N)``),
            if any. On CPU the default width follows them: fewer than
            `MIN_AUGMENTED_EPOCHS` may widen it up to `CPU_SHORT_TRAINING_CHANNELS`.

    Returns:
        A dict from name (see `SETTINGS`) to `Spec`.
    """
    side = min(image_shape[:2])
    big_images = side >= 24
    # On CPU, 12 px searches are 2-3x cheaper per epoch than 16 px ones.
    search_side = min(side, 32 if gpu else 12)
    # Epochs shrink as data grows so a trial's work stays roughly constant.
    train_epochs = int(min(40, max(8, round(30_000 / max(num_samples, 1)))))
    if gpu:
        return {
            "init_channels": Spec("choice", 16, (8, 16, 24)),
            "cells": Spec("choice", 5, (5, 8)),
            "nodes": Spec("choice", 4, (3, 4)),
            "search_epochs": Spec("int", 10, (5, 25)),
            "search_learning_rate": Spec("float", 0.05, (0.01, 0.1), log=True),
            "arch_learning_rate": Spec("float", 3e-3, (3e-4, 1e-2), log=True),
            "second_order": Spec("boolean", False),
            "partial_channels": Spec("choice", 1, (1, 2, 4)),
            "search_image_size": Spec("fixed", search_side),
            "search_samples": Spec("fixed", 10_000),
            "selection": Spec("fixed", "alpha"),
            "network_channels": Spec("choice", 24, (16, 24, 36)),
            "network_cells": Spec("choice", 8, (5, 8, 11)),
            "stem_stride": Spec("fixed", 2 if side >= 64 else 1),
            "train_epochs": Spec("int", 2 * train_epochs, (train_epochs, 4 * train_epochs)),
            "learning_rate": Spec("float", 3e-3, (1e-3, 1e-2), log=True),
            "batch_size": Spec("choice", 64, (64, 128)),
            "random_crop": Spec("fixed", True),
            "cutout": Spec("boolean", False),
            "flip": Spec("boolean", False) if allow_flips else Spec("fixed", False),
            "drop_path": Spec("float", 0.1, (0.0, 0.3)),
        }
    train_epochs = min(train_epochs, CPU_MAX_TRAIN_EPOCHS)
    stem_stride = 2 if big_images else 1
    cell_side = -(-side // stem_stride)
    width = default_network_channels(num_samples, train_epochs, cell_side, 16 if big_images else 12)
    if fixed_epochs is not None and fixed_epochs < MIN_AUGMENTED_EPOCHS:
        width = default_network_channels(num_samples, fixed_epochs, cell_side, width, CPU_SHORT_TRAINING_CHANNELS)
    return {
        "init_channels": Spec("choice", 8, (8, 12)),
        "cells": Spec("choice", 3, (3, 4)),
        "nodes": Spec("choice", 3, (3, 4)),
        "search_epochs": Spec("int", 4, (3, 8)),
        "search_learning_rate": Spec("float", 0.05, (0.01, 0.1), log=True),
        "arch_learning_rate": Spec("float", 3e-3, (3e-4, 1e-2), log=True),
        "second_order": Spec("fixed", False),
        "partial_channels": Spec("choice", 1, (1, 2, 4)),
        "search_image_size": Spec("fixed", search_side),
        "search_samples": Spec("fixed", 1_500),
        "selection": Spec("fixed", "alpha"),
        "network_channels": Spec("choice", width, tuple(sorted({8, 12, 16, width}))),
        "network_cells": Spec("choice", 4 if big_images else 3, (3, 4, 5)),
        "stem_stride": Spec("fixed", stem_stride),
        "train_epochs": Spec("int", train_epochs, (max(4, train_epochs // 2), 2 * train_epochs)),
        "learning_rate": Spec("float", 3e-3, (1e-3, 1e-2), log=True),
        "batch_size": Spec("choice", 64 if big_images else 32, (32, 64, 128)),
        # Fixed on, as in DARTS's training: a shift of 1/8 of the side helps
        # small images too, by 2.5 points on digits' test writers, which a
        # holdout of the same writers cannot show. Trials without it tied on
        # the holdout and spoilt the ensemble (see docs/guide/search-space.md).
        "random_crop": Spec("fixed", True),
        "cutout": Spec("boolean", False),
        "flip": Spec("boolean", False) if allow_flips else Spec("fixed", False),
        "drop_path": Spec("float", 0.0, (0.0, 0.3)),
    }


_POSITIVE_INTS = {
    "init_channels", "cells", "nodes", "search_epochs", "search_image_size", "search_samples",
    "network_channels", "network_cells", "train_epochs", "batch_size", "partial_channels",
}
_POSITIVE_FLOATS = {"search_learning_rate", "arch_learning_rate", "learning_rate"}
_BOOLEANS = {"second_order", "random_crop", "cutout", "flip"}


def _check_value(name, value):
    if name in _POSITIVE_INTS:
        valid, expected = isinstance(value, int) and not isinstance(value, bool) and value >= 1, "an integer >= 1"
    elif name in _POSITIVE_FLOATS:
        valid, expected = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0, "a number > 0"
    elif name in _BOOLEANS:
        valid, expected = isinstance(value, bool), "True or False"
    elif name == "selection":
        valid, expected = value in SELECTIONS, f"one of {', '.join(map(repr, SELECTIONS))}"
    elif name == "stem_stride":
        valid, expected = value in (1, 2) and not isinstance(value, bool), "1 or 2"
    else:  # drop_path
        valid, expected = isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1, "in [0, 1)"
    if not valid:
        raise ValueError(f"search_space[{name!r}]: every value must be {expected}, got {value!r}")


def narrow_space(space, search_space):
    """Apply a user's ``search_space`` to ``space``; returns a new dict.

    Each entry of ``search_space`` fixes or narrows one setting: a plain value
    fixes it, a list makes it a choice among those values (the first is tried
    first), a ``(min, max)`` tuple makes it a range (int or float from the
    bounds' types). The key ``"primitives"`` is not a hyperparameter and is
    ignored here (see `autoarch.darts.validate_primitives`).

    Raises:
        ValueError: an unknown name, an empty list, a bad range, or a value of
            the wrong type or out of bounds (counts are integers >= 1, learning
            rates > 0, switches booleans, drop path in [0, 1), stem stride 1 or 2).
    """
    space = dict(space)
    for name, value in (search_space or {}).items():
        if name == "primitives":
            validate_primitives(value)
            continue
        if name not in space:
            raise ValueError(
                f"search_space: unknown setting {name!r}; the settings are "
                f"{', '.join(sorted(SETTINGS))} and 'primitives'"
            )
        spec = _spec_from_user(name, value, space[name])
        for candidate in (spec.default, *spec.values):
            _check_value(name, candidate)
        space[name] = spec
    return space


def fit_space(num_samples, image_shape, search_space=None, gpu=False, allow_flips=False, training_samples=None):
    """The outer space of a fit: `default_space` for the data, the hardware and the training epochs
    ``search_space`` fixes (as ``fit(epochs=N)`` does), narrowed by ``search_space``,
    then given `enough_steps` for the ``training_samples`` a trial's network trains on (default ``num_samples``).

    Raises:
        ValueError: what `narrow_space` refuses.
    """
    epochs = (search_space or {}).get("train_epochs")
    fixed_epochs = epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None
    space = narrow_space(default_space(num_samples, image_shape, gpu, allow_flips, fixed_epochs), search_space)
    return enough_steps(space, num_samples if training_samples is None else training_samples, search_space)


MIN_TRAIN_STEPS = 200
"""Fewest optimizer steps a default training should take (see `enough_steps`)."""

MIN_BATCH_SIZE = 8
"""The smallest batch `enough_steps` chooses: smaller batches make batch norm's statistics too noisy."""

MIN_AUGMENTED_EPOCHS = 8
"""Fewest training epochs the default pad-and-crop augmentation is on for (see `enough_steps`)."""


def enough_steps(space, num_samples, search_space=None):
    """``space`` with the batch size and augmentation defaults that a short training needs; returns a new dict.

    A network that trains for a few dozen steps does not learn (150 images
    at batch 64 for 20 epochs is 60 steps). Unless ``search_space`` sets the
    batch size, its default halves (down to `MIN_BATCH_SIZE`) until the
    default training (``num_samples`` images for the default ``train_epochs``)
    takes at least `MIN_TRAIN_STEPS` steps, and larger choices go. Unless it
    sets ``random_crop``, the crop is off when the default training has fewer
    than `MIN_AUGMENTED_EPOCHS` epochs (``fit(epochs=2)``): it regularises long
    trainings and slows short ones (on 400 MNIST images for 2 epochs, 5 points
    lower over 3 seeds).
    """
    search_space = search_space or {}
    space = dict(space)
    epochs = int(space["train_epochs"].default)
    batch = space["batch_size"]
    if "batch_size" not in search_space:
        size = int(batch.default)
        while size // 2 >= MIN_BATCH_SIZE and -(-num_samples // size) * epochs < MIN_TRAIN_STEPS:
            size //= 2
        if size != batch.default:
            choices = tuple(sorted({size, *(v for v in batch.values if v <= size)}))
            space["batch_size"] = Spec("choice", size, choices) if len(choices) > 1 else Spec("fixed", size)
    if "random_crop" not in search_space and epochs < MIN_AUGMENTED_EPOCHS:
        space["random_crop"] = Spec("fixed", False)
    return space


def _spec_from_user(name, value, current):
    if isinstance(value, list):
        if not value:
            raise ValueError(f"search_space[{name!r}]: expected at least one choice, got []")
        if len(value) == 1:
            return Spec("fixed", value[0])
        if all(isinstance(v, bool) for v in value) and set(value) == {True, False}:
            return Spec("boolean", value[0])
        return Spec("choice", value[0], tuple(value))
    if isinstance(value, tuple):
        if len(value) != 2 or not all(isinstance(v, (int, float)) for v in value) or value[0] >= value[1]:
            raise ValueError(
                f"search_space[{name!r}]: a range is a (min, max) tuple with min < max, got {value!r}"
            )
        low, high = value
        kind = "int" if all(isinstance(v, int) for v in value) else "float"
        default = current.default if isinstance(current.default, (int, float)) else low
        default = default if low <= default <= high else low
        default = int(default) if kind == "int" else float(default)
        log = current.log and low > 0
        return Spec(kind, default, (low, high), log=log)
    return Spec("fixed", value)


def possible_values(spec):
    """Every value a `Spec` can take, for those with finitely many (all but float ranges)."""
    if spec.kind == "fixed":
        return [spec.default]
    if spec.kind == "boolean":
        return [False, True]
    if spec.kind == "choice":
        return list(spec.values)
    if spec.kind == "int":
        return list(range(int(spec.values[0]), int(spec.values[1]) + 1))
    raise ValueError(f"a {spec.kind} range has no finite list of values")


def declare(hp, space):
    """Declare ``space`` on a `keras_tuner.HyperParameters` ``hp``; returns the values."""
    values = {}
    for name, spec in space.items():
        if spec.kind == "fixed":
            values[name] = hp.Fixed(name, spec.default)
        elif spec.kind == "boolean":
            values[name] = hp.Boolean(name, default=spec.default)
        elif spec.kind == "choice":
            values[name] = hp.Choice(name, list(spec.values), default=spec.default)
        elif spec.kind == "int":
            values[name] = hp.Int(name, spec.values[0], spec.values[1], default=spec.default)
        else:
            values[name] = hp.Float(
                name,
                spec.values[0],
                spec.values[1],
                sampling="log" if spec.log else "linear",
                default=spec.default,
            )
    return values


def settings(hyperparameters, space):
    """A trial's settings: every name of ``space`` with its value in ``hyperparameters``.

    Values missing from the trial (for example a setting added since) take the
    space's default.
    """
    values = hyperparameters.values if isinstance(hyperparameters, keras_tuner.HyperParameters) else dict(hyperparameters)
    found = {name: values.get(name, spec.default) for name, spec in space.items()}
    for key in ("tuner/epochs", "tuner/initial_epoch", "tuner/trial_id"):
        if key in values:
            found[key] = values[key]
    return found


def defaults(space):
    """The default value of every setting of ``space``."""
    return {name: spec.default for name, spec in space.items()}


def max_train_epochs(space):
    """The most training epochs a trial of ``space`` may get (Hyperband's largest budget)."""
    spec = space["train_epochs"]
    return spec.values[1] if spec.kind == "int" else spec.default
