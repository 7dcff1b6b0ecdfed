"""Shared settings of the end-to-end tests: tiny networks on scikit-learn's digits."""

import json

import keras
import numpy as np
import pytest


class SharedCallback(keras.callbacks.Callback):
    """A test's recorder that sees every training of a fit.

    autoarch gives every training its own deep copy of the callbacks
    (`autoarch.tuning.user_callbacks`); a callback whose ``__deepcopy__``
    returns itself is shared by all of them instead, which is how these
    recorders gather what each training did.
    """

    def __deepcopy__(self, memo):
        return self


class TrainingCounter(SharedCallback):
    """Counts the network trainings of a fit (``count``): each trial's and each final fit's."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def on_train_begin(self, logs=None):
        self.count += 1


TINY_SPACE = {
    "init_channels": 4,
    "cells": 3,
    "nodes": 2,
    "search_epochs": 1,
    "search_samples": 200,
    "partial_channels": 1,
    "network_channels": 4,
    "network_cells": 3,
    "train_epochs": 2,
    "batch_size": 32,
    "random_crop": False,
}
"""Fixes every size setting to its smallest useful value: a trial takes ~10-20 s."""


def tiny_space(**overrides):
    """`TINY_SPACE` with some settings replaced (a value fixes, a list or tuple widens)."""
    return {**TINY_SPACE, **overrides}


def tiny_classifier(directory, **params):
    """A one-trial `ImageClassifier` on `TINY_SPACE` with `DARTS_V2` fixed: seconds of training, no search.

    Its final fit continues the trial's network (``refit="continue"``, not the
    default), so the tests built on it also see the final fit's own training:
    resumed, killed, timed and handed to callbacks.
    """
    import autoarch
    from autoarch.darts import DARTS_V2

    settings = dict(
        max_trials=1, tuner="random", seed=0, directory=str(directory), search_space=tiny_space(),
        genotype=DARTS_V2, ensemble_size=1, verbose=0, refit="continue",
    )
    settings.update(params)
    return autoarch.ImageClassifier(**settings)


@pytest.fixture(scope="session")
def digits_uint8():
    """The first 600 digits as uint8 images (0..255, no channel axis) and int labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = np.round(data.images * (255 / 16)).astype(np.uint8)
    return images[:600], data.target[:600].astype(np.int64), images[600:900], data.target[600:900].astype(np.int64)


def read_json_or_none(path):
    """The JSON at ``path``, or None while it is missing or half written (another process may be writing it)."""
    try:
        with open(path) as file:
            return json.load(file)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


@pytest.fixture(autouse=True)
def no_distribution_environment(monkeypatch):
    """Every end-to-end test starts outside keras-tuner's chief/worker mode.

    A CI (or a shell) that sets ``KERASTUNER_*`` or ``AUTOARCH_FINAL_FIT``
    would otherwise turn the in-process fits into a chief or a worker. The
    tests of distribution set what they need themselves, after this.
    """
    import os

    for name in list(os.environ):
        if name.startswith("KERASTUNER_") or name == "AUTOARCH_FINAL_FIT":
            monkeypatch.delenv(name)
