"""`autoarch.tuning.budget`: the time limit's plan, and stages that keep to it (issue 19).

The stages here are real Keras trainings of a tiny model; only the clock is
a counter that each batch advances by a set number of seconds, so the
deadlines are exact and the tests do not depend on the machine's speed.
"""

import keras
import numpy as np
import pytest

from autoarch.darts.supernet import cosine_learning_rate
from autoarch.tuning.budget import (
    MIN_SEARCH_SECONDS,
    SEARCH_SHARE,
    TAIL_FACTOR,
    TAIL_SECONDS,
    EpochPlan,
    StageClock,
    TimeBudget,
    continue_epochs,
    planned_seconds,
)


class Clock:
    """A clock that moves only when told."""

    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now


class Batches(keras.callbacks.Callback):
    """Each batch takes ``seconds`` on ``clock``, the stage's first batch ``trace`` more, and each epoch end ``epoch_overhead``."""

    def __init__(self, clock, seconds=1.0, trace=2.0, epoch_overhead=0.0):
        super().__init__()
        self.clock, self.seconds, self.trace, self.epoch_overhead = clock, seconds, trace, epoch_overhead
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.clock.now += self.seconds + (self.trace if self.batches == 0 else 0.0)
        self.batches += 1

    def on_epoch_end(self, epoch, logs=None):
        self.clock.now += self.epoch_overhead  # what runs between batches (evaluation, callbacks)


class LearningRates(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.rates = []

    def on_epoch_begin(self, epoch, logs=None):
        self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))


def _train(clock, deadline, epochs, steps=5, plans=(), epoch_overhead=0.0):
    """Train a tiny model for ``epochs`` of ``steps`` batches under a `StageClock`; returns (clock, batches, rates)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(steps * 4, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    batches, rates = Batches(clock, epoch_overhead=epoch_overhead), LearningRates()
    stage = StageClock(deadline, plans=plans, clock=clock)
    plan = next((p for p in plans if isinstance(p, EpochPlan)), EpochPlan(epochs))
    cosine = keras.callbacks.LearningRateScheduler(lambda epoch: cosine_learning_rate(epoch, plan.epochs, 0.1, 0.0))
    # Batches first: it advances the clock before the stage clock reads it.
    model.fit(x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0, callbacks=[batches, cosine, stage, rates])
    return stage, batches, rates


def test_without_a_deadline_the_stage_runs_its_epochs_and_times_them():
    stage, batches, _ = _train(Clock(), None, epochs=3)
    assert batches.batches == 15 and not stage.stopped
    assert stage.epoch_seconds == pytest.approx(5.0)  # the steady batch (1 s) times 5 steps
    assert stage.first_epoch_seconds == pytest.approx(7.0)  # with the first batch's 2 s trace


def test_a_deadline_shortens_the_schedules_so_the_training_still_anneals():
    clock = Clock()
    plan = EpochPlan(10)
    stage, batches, rates = _train(clock, clock.now + 22.0, epochs=10, plans=[plan])
    # Epoch 1 ends at 7 s; 5 s epochs leave room for 3 more before 22 s.
    assert plan.epochs == 4
    assert stage.stopped and batches.batches == 20
    assert clock.now <= 100.0 + 22.0
    assert rates.rates == pytest.approx([cosine_learning_rate(e, 10, 0.1, 0.0) for e in range(1)]
                                  + [cosine_learning_rate(e, 4, 0.1, 0.0) for e in range(1, 4)])


def test_time_between_batches_counts_when_the_schedules_are_shortened():
    clock = Clock()
    plan = EpochPlan(10)
    stage, batches, rates = _train(clock, clock.now + 30.0, epochs=10, plans=[plan], epoch_overhead=3.0)
    # Epoch 1 ends at 10 s (7 s of batches, 3 s after them): 5 s of batches a
    # time leave room for 4 more. Epoch 2 ends at 18 s and took 8 s end to end:
    # one more fits, not two, so the cosine ends with the third epoch.
    assert plan.epochs == 3
    assert stage.stopped and batches.batches == 15
    assert stage.epoch_seconds == pytest.approx(5.0)  # what the tuner plans with: the batches alone
    assert rates.rates == pytest.approx([cosine_learning_rate(0, 10, 0.1, 0.0), cosine_learning_rate(1, 5, 0.1, 0.0),
                                         cosine_learning_rate(2, 3, 0.1, 0.0)])


def test_a_deadline_stops_between_batches_when_the_next_would_end_after_it():
    clock = Clock()
    stage, batches, _ = _train(clock, clock.now + 5.5, epochs=1, steps=10)
    assert stage.stopped
    assert batches.batches == 3  # ends at 3, 4 and 5 s; a fourth would end at 6 s
    assert clock.now <= 100.0 + 5.5


def test_a_stage_that_ends_on_time_is_not_marked_stopped():
    clock = Clock()
    stage, batches, _ = _train(clock, clock.now + 100.0, epochs=2)
    assert not stage.stopped and batches.batches == 10


def test_the_budget_keeps_back_the_tail_and_the_planned_final_fit():
    clock = Clock(0.0)
    budget = TimeBudget(60, started=0.0, clock=clock)
    assert budget.final_end == 60 - TAIL_SECONDS
    assert budget.trials_end == budget.final_end
    budget.final_reserve = 10.0
    clock.now = 8.0
    assert budget.trials_left() == pytest.approx(60 - TAIL_SECONDS - 10 - 8)
    assert budget.search_deadline() == pytest.approx(8 + SEARCH_SHARE * budget.trials_left())
    assert budget.left() == pytest.approx(52.0)
    clock.now = 59.0
    assert budget.search_deadline() == 59.0  # no time left to trials: the search gets none


def test_the_tail_grows_to_what_scoring_and_saving_measure_on_a_busy_machine():
    budget = TimeBudget(60, started=0.0, clock=Clock(0.0))
    budget.observe_tail(0.5)  # a quiet machine: the least tail stays
    assert budget.final_end == 60 - TAIL_SECONDS
    budget.observe_tail(2.5)  # scoring and saving slowed down: the last trial's and the wrap's
    assert budget.final_end == pytest.approx(60 - TAIL_FACTOR * 2.5)
    budget.observe_tail(1.0)  # the slowest seen is kept
    assert budget.trials_end == pytest.approx(60 - TAIL_FACTOR * 2.5)


def test_a_search_starts_only_when_its_share_of_the_time_left_is_worth_it():
    from autoarch.tuning.trial import Task

    clock = Clock(0.0)
    budget = TimeBudget(100, started=0.0, clock=clock)
    task = Task(data=None, targets=None, regression=False, num_outputs=10, search_train=None, search_val=None,
                train=None, holdout=None, budget=budget)
    assert budget.search_seconds() == pytest.approx(SEARCH_SHARE * (100 - TAIL_SECONDS))
    assert task.too_little_time_to_search() is None
    clock.now = 100 - TAIL_SECONDS - MIN_SEARCH_SECONDS / SEARCH_SHARE + 0.5  # the share is just under the least
    assert budget.search_seconds() < MIN_SEARCH_SECONDS
    assert task.too_little_time_to_search().startswith("too little time for a search (19.8 s, at least 20 s)")
    assert Task(data=None, targets=None, regression=False, num_outputs=10, search_train=None, search_val=None,
                train=None, holdout=None).too_little_time_to_search() is None  # no time limit: always search


def test_planned_seconds_of_a_final_fit_come_from_the_measured_epochs():
    timing = {"epoch_seconds": 2.0, "first_epoch_seconds": 9.0, "seconds": 100.0}
    assert continue_epochs(40) == 5 and continue_epochs(3) == 1
    # continue: 5 of 40 epochs, 1.25x the data, no new trace while the network is held
    assert planned_seconds("continue", 40, timing, 1.25) == pytest.approx(5 * 2.0 * 1.25)
    assert planned_seconds("continue", 40, timing, 1.25, in_memory=False) == pytest.approx(5 * 2.0 * 1.25 + 7.0)
    # scratch: every epoch again, and a new trace
    assert planned_seconds("scratch", 40, timing) == pytest.approx(40 * 2.0 + 7.0)
    assert planned_seconds(None, 40, timing) == 0.0
    # a trial timed before epochs were measured: its share of the trial's seconds
    assert planned_seconds("continue", 40, {"seconds": 80.0}) == pytest.approx(10.0)
