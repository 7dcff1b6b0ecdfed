"""The keras-tuner oracles by name, each proposing the space's defaults first.

`make_oracle` turns a ``tuner=`` name of `TUNERS` into its oracle, or copies
a `keras_tuner.Oracle` the user gave, so that a fit never changes it. Every
named oracle's first proposal is every hyperparameter's default (so one trial
runs the tuned defaults, not a random draw); after that each explores as
keras-tuner's (or, for ``"evolution"``, autoarch's) oracle does.
"""

import copy
import warnings

import keras_tuner

from autoarch.tuning.evolution import RegularizedEvolutionOracle

__all__ = [
    "TUNERS",
    "make_oracle",
    "RandomOracle",
    "BayesianOracle",
    "HyperbandOracle",
    "EvolutionOracle",
]

TUNERS = ("random", "bayesian", "hyperband", "evolution")
"""The oracle names ``tuner=`` accepts (or pass a `keras_tuner.Oracle`)."""


class _DefaultsFirst:
    """Oracle mixin: the first proposal is every hyperparameter's default."""

    def _random_values(self):
        if not getattr(self, "_defaults_proposed", False):
            self._defaults_proposed = True
            active = keras_tuner.HyperParameters()
            values = {}
            for hp in self.hyperparameters.space:
                active.merge([hp])
                if active.is_active(hp):
                    values[hp.name] = hp.default
            return values
        return super()._random_values()

    def get_state(self):
        return {**super().get_state(), "defaults_proposed": getattr(self, "_defaults_proposed", False)}

    def set_state(self, state):
        super().set_state(state)
        self._defaults_proposed = state.get("defaults_proposed", False)


class RandomOracle(_DefaultsFirst, keras_tuner.oracles.RandomSearchOracle):
    """keras-tuner's random search, defaults first."""


class BayesianOracle(_DefaultsFirst, keras_tuner.oracles.BayesianOptimizationOracle):
    """keras-tuner's Gaussian-process Bayesian optimisation, defaults first."""


class HyperbandOracle(_DefaultsFirst, keras_tuner.oracles.HyperbandOracle):
    """keras-tuner's Hyperband over the training epochs, defaults first, capped at ``max_trials``."""

    def __init__(self, *args, max_trials=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_trials = max_trials


class EvolutionOracle(_DefaultsFirst, RegularizedEvolutionOracle):
    """autoarch's regularized evolution, defaults first."""


def make_oracle(tuner, objective, max_trials, seed=None, max_epochs=None):
    """The oracle for ``tuner`` (a name of `TUNERS`, or a `keras_tuner.Oracle`, copied: see below).

    Failed trials never stop the search early: the limit of consecutive failures
    is the trial count. A trial whose worker was lost (distributed search) is
    retried once by another worker (``max_retries_per_trial=1``); failed trials
    are never retried. An oracle given is deep-copied, so the fit never changes
    it; its own ``max_trials`` and seed are used, with a `UserWarning` when they
    differ from ``max_trials`` and ``seed``.

    Args:
        tuner: the name or an oracle.
        objective: a `keras_tuner.Objective`.
        max_trials: trials to run.
        seed: seeds the oracle; None draws a random seed.
        max_epochs: Hyperband's largest training-epoch budget.

    Raises:
        ValueError: an unknown name.
    """
    if isinstance(tuner, keras_tuner.Oracle):
        return _copied_oracle(tuner, max_trials, seed)
    common = {
        "objective": objective,
        # keras-tuner's oracles read a seed of 0 as "no seed" (``seed or random...``).
        "seed": None if seed is None else int(seed) + 1,
        "max_consecutive_failed_trials": max_trials + 1,
        # Only a trial ended as INVALID is retried: in autoarch, one whose worker was lost.
        "max_retries_per_trial": 1,
    }
    if tuner == "random":
        return RandomOracle(max_trials=max_trials, **common)
    if tuner == "bayesian":
        return BayesianOracle(max_trials=max_trials, num_initial_points=2, **common)
    if tuner == "hyperband":
        return HyperbandOracle(max_epochs=max(2, int(max_epochs)), factor=3, max_trials=max_trials, **common)
    if tuner == "evolution":
        population = max(2, min(10, max_trials // 2))
        return EvolutionOracle(
            max_trials=max_trials, population_size=population, sample_size=min(3, population), **common
        )
    raise ValueError(f"tuner must be one of {', '.join(TUNERS)} or a keras_tuner.Oracle, got {tuner!r}")


def _copied_oracle(oracle, max_trials, seed):
    """A copy of a user's ``oracle``, so that a fit never changes it.

    Warns when the oracle's own ``max_trials`` or seed differ from the
    estimator's: the oracle's win.
    """
    copied = copy.deepcopy(oracle)
    differences = []
    if copied.max_trials != max_trials:
        differences.append(f"max_trials={copied.max_trials!r} (the estimator's: {max_trials!r})")
    if seed is not None and copied.seed != seed:
        differences.append(f"seed={copied.seed!r} (the estimator's: {seed!r})")
    if differences:
        warnings.warn(
            f"the {type(copied).__name__} given as tuner keeps its own " + " and ".join(differences),
            UserWarning,
            stacklevel=6,  # the user's fit call
        )
    return copied
