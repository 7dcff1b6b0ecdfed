"""Regularized (aging) evolution as a keras-tuner oracle.

`RegularizedEvolutionOracle` implements the search of Real et al. (2019),
"Regularized Evolution for Image Classifier Architecture Search": a population
of the most recent completed trials is kept; each new trial is a copy of the
best of a few members sampled at random, with exactly one hyperparameter
changed. Members leave the population by age, not by score, so a configuration
that scored well by luck does not stay forever.

The oracle plugs into any keras-tuner tuner in place of the built-in oracles:

```python
oracle = RegularizedEvolutionOracle(
    objective=keras_tuner.Objective("val_accuracy", "max"),
    max_trials=100,
    population_size=20,
    sample_size=5,
    seed=1,
)
tuner = MyTuner(oracle=oracle, directory="runs", project_name="evolution")
```
"""

import numbers
import random

import keras_tuner
from keras_tuner.engine import hyperparameters as hp_module
from keras_tuner.engine import trial as trial_module

__all__ = ["RegularizedEvolutionOracle"]

# Draws of `random_sample` tried before a hyperparameter is taken to have a
# single possible value (a one-element Choice, an Int with min == max).
_MAX_VALUE_DRAWS = 50


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class RegularizedEvolutionOracle(keras_tuner.Oracle):
    """Regularized (aging) evolution over a keras-tuner search space.

    Until `population_size` trials have completed, trials get random values.
    From then on each trial samples `sample_size` members of the population
    uniformly without replacement, takes the best of them by the objective as
    the parent, and mutates exactly one of the parent's active, non-`Fixed`
    hyperparameters to a different value. Hyperparameters in conditional scopes
    that the mutation switches on get random values; those it switches off are
    dropped. The population is the `population_size` most recently completed
    trials; failed or invalid trials never join it.

    All randomness comes from `seed` through a counter that is saved with the
    oracle, so a reloaded search continues the same sequence.

    Args:
        objective: A string, `keras_tuner.Objective` instance, or a list of
            `keras_tuner.Objective`s and strings, as for any keras-tuner oracle.
            Optional when `Tuner.run_trial()` returns a single float to
            minimize.
        max_trials: Integer, the total number of trials to run at most.
            Defaults to 10.
        population_size: Integer, the number of most recent completed trials
            kept as the population, and the number of random trials that start
            the search. Defaults to 10.
        sample_size: Integer, the number of population members compared to
            choose each parent, between 1 and `population_size`. Larger values
            select harder. Defaults to 3.
        mutation_attempts: Integer, how many mutations are tried to find
            values not tried before; after that the trial gets random values.
            Defaults to 20.
        hyperparameters: Optional `HyperParameters` instance, to override or
            register the search space in advance.
        allow_new_entries: Boolean, whether the hypermodel may request
            hyperparameters not listed in `hyperparameters`. Defaults to True.
        tune_new_entries: Boolean, whether hyperparameters requested by the
            hypermodel but not listed in `hyperparameters` are searched, rather
            than left at their defaults. Defaults to True.
        seed: Optional integer, the random seed. When None, a random seed is
            drawn and saved with the oracle.
        max_retries_per_trial: Integer, how many times a trial that crashed or
            gave an invalid result is retried. Defaults to 0.
        max_consecutive_failed_trials: Integer, the number of consecutive
            failed trials that stops the search. Defaults to 3.

    Raises:
        ValueError: If `population_size` is below 1, `sample_size` is not
            between 1 and `population_size`, or `mutation_attempts` is below 1.
    """

    def __init__(
        self,
        objective=None,
        max_trials=10,
        population_size=10,
        sample_size=3,
        mutation_attempts=20,
        hyperparameters=None,
        allow_new_entries=True,
        tune_new_entries=True,
        seed=None,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=3,
    ):
        if not _is_int(population_size) or population_size < 1:
            raise ValueError(
                "`population_size` must be an integer >= 1, "
                f"got {population_size!r}."
            )
        if not _is_int(sample_size) or not 1 <= sample_size <= population_size:
            raise ValueError(
                "`sample_size` must be an integer between 1 and "
                f"`population_size` ({population_size}), got {sample_size!r}."
            )
        if not _is_int(mutation_attempts) or mutation_attempts < 1:
            raise ValueError(
                "`mutation_attempts` must be an integer >= 1, "
                f"got {mutation_attempts!r}."
            )
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        if seed is not None:
            # The base class treats seed=0 as "no seed" (`seed or randint`).
            self.seed = seed
            self._seed_state = seed
        self.population_size = int(population_size)
        self.sample_size = int(sample_size)
        self.mutation_attempts = int(mutation_attempts)
        self._population = []

    @property
    def population(self):
        """list[str]: Trial ids of the current population, oldest first."""
        return list(self._population)

    def populate_space(self, trial_id):
        """Chooses the hyperparameter values of a new trial.

        Args:
            trial_id: A string, the id of the trial being created.

        Returns:
            A dict with keys `"status"` and `"values"`: `"RUNNING"` and a
            mapping from hyperparameter names to values, or `"STOPPED"` and
            None when no values that were not tried before can be found.
        """
        if len(self._population) < self.population_size:
            return self._random_response()

        contenders = self._next_rng().sample(self._population, self.sample_size)
        scores = [self.trials[member].score for member in contenders]
        pick = max if self.objective.direction == "max" else min
        best = pick(range(len(contenders)), key=scores.__getitem__)
        parent_values = self.trials[contenders[best]].hyperparameters.values

        for _ in range(self.mutation_attempts):
            values = self._mutate(parent_values)
            if values is None:
                break
            if not self._duplicate(values):
                return {"status": trial_module.TrialStatus.RUNNING, "values": values}
        return self._random_response()

    @keras_tuner.synchronized
    def end_trial(self, trial):
        """Ends a trial and, if it completed, adds it to the population.

        The oldest member leaves when the population is full. Trials that
        failed, or are invalid and wait for a retry, do not join.

        Args:
            trial: The `Trial` that finished, with `trial.status` one of
                `"COMPLETED"`, `"INVALID"` or `"FAILED"`.
        """
        super().end_trial(trial)
        trial_id = trial.trial_id
        if (
            self.trials[trial_id].status == trial_module.TrialStatus.COMPLETED
            and trial_id not in self._population
        ):
            self._population.append(trial_id)
            del self._population[: -self.population_size]
            # The base class saved before the population changed.
            self.save()

    def get_state(self):
        """Returns the oracle's state, including the population.

        Returns:
            A JSON-serializable dict.
        """
        state = super().get_state()
        state["population"] = list(self._population)
        return state

    def set_state(self, state):
        """Restores the oracle's state, including the population.

        Args:
            state: A dict as returned by `get_state()`.
        """
        super().set_state(state)
        self._population = list(state["population"])[-self.population_size :]

    def _next_rng(self):
        rng = random.Random(self._seed_state)
        self._seed_state += 1
        return rng

    def _random_response(self):
        values = self._random_values()
        if values is None:
            return {"status": trial_module.TrialStatus.STOPPED, "values": None}
        return {"status": trial_module.TrialStatus.RUNNING, "values": values}

    def _mutate(self, parent_values):
        """Returns the parent's values with one hyperparameter changed.

        Returns None when no active, non-Fixed hyperparameter of the parent can
        take another value.
        """
        parent = keras_tuner.HyperParameters()
        parent.values = dict(parent_values)
        candidates = [
            hp
            for hp in self.hyperparameters.space
            if not isinstance(hp, hp_module.Fixed)
            and hp.name in parent_values
            and parent.is_active(hp)
        ]
        self._next_rng().shuffle(candidates)
        for hp in candidates:
            new_value = self._different_value(hp, parent_values[hp.name])
            if new_value is not None:
                return self._complete_values(parent_values, hp.name, new_value)
        return None

    def _different_value(self, hp, current):
        for _ in range(_MAX_VALUE_DRAWS):
            value = hp.random_sample(self._seed_state)
            self._seed_state += 1
            if value != current:
                return value
        return None

    def _complete_values(self, parent_values, name, new_value):
        """Keeps the parent's active values, sets `name`, samples new actives."""
        hps = keras_tuner.HyperParameters()
        values = hps.values
        for hp in self.hyperparameters.space:
            if hp.name in values or not hps.is_active(hp):
                continue
            if hp.name == name:
                values[name] = new_value
            elif hp.name in parent_values:
                values[hp.name] = parent_values[hp.name]
            else:
                values[hp.name] = hp.random_sample(self._seed_state)
                self._seed_state += 1
        return values
