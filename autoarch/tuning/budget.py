"""``time_limit`` as a plan: when each part of a fit must end, and stages that keep to it.

A fit with a time limit has one `TimeBudget`. Its end is the call's start plus
the limit; from it the budget keeps back the tail (scoring the last trial,
wrapping and saving the final model: at least `TAIL_SECONDS`, more when
trials measure more) and, once trials have been timed, what the final fit
will cost (``final_reserve``). Trials run until
``trials_end``; a trial's DARTS search gets at most `SEARCH_SHARE` of the time
left to trials, so its training always has time to make a network.

Every stage (search, training, final fit) runs with a `StageClock`: it stops
the stage between two batches when the next batch would end after the stage's
deadline, and at each epoch end it shortens the stage's schedules (the cosine
learning rate, the drop-path ramp) to the epochs that still fit, so a training
cut by the budget still anneals to its end instead of stopping at a high
learning rate. It also records the stage's steady seconds per epoch, which the
tuner and the final fit plan with.
"""

import math
import statistics
import time

import keras

__all__ = [
    "SEARCH_SHARE",
    "MIN_SEARCH_SECONDS",
    "TAIL_SECONDS",
    "TAIL_FACTOR",
    "CONTINUE_EPOCH_SHARE",
    "TimeBudget",
    "EpochPlan",
    "StageClock",
    "continue_epochs",
    "epoch_share",
    "planned_seconds",
    "stage_timing",
    "no_time_to_train",
]

SEARCH_SHARE = 0.4
"""The most a trial's search may take of the time left to trials, so that training has the rest."""

MIN_SEARCH_SECONDS = 20.0
"""The least time a search stage is worth starting with. Tracing the bilevel step
alone takes about 10 s on a 2-core CPU for the default space, and a search cut
before its alphas moved derives noise: with less, the trial trains a random cell
of the space instead and gives the training the whole time (`TimeBudget.search_seconds`)."""

TAIL_SECONDS = 3.0
"""The least seconds kept back at the end of a fit to score the last trial, wrap the final model and
save it; more once trials measure more (`TimeBudget.observe_tail`)."""

TAIL_FACTOR = 2.0
"""The tail kept back is this many times a trial's measured scoring and saving: the last trial's
own, then the final model's wrapping and saving, which is about as much work again."""

CONTINUE_EPOCH_SHARE = 0.125
"""``refit="continue"``: the final fit lasts this share of the best trial's training epochs."""


class TimeBudget:
    """The ``time_limit`` of one fit.

    Args:
        seconds: the limit.
        started: the `time.monotonic` value the fit started at.
        clock: the clock (`time.monotonic`; tests pass another).

    Attributes:
        end: the clock value the whole fit must end by.
        final_reserve: seconds kept for the final fit, planned from the
            trials' measured epochs (0 until a trial has been timed).
        tail: seconds kept back after the final fit (see `observe_tail`).
    """

    def __init__(self, seconds, started, clock=time.monotonic):
        self.seconds = float(seconds)
        self.end = float(started) + self.seconds
        self.clock = clock
        self.final_reserve = 0.0
        self.tail = TAIL_SECONDS

    def observe_tail(self, seconds):
        """A trial's scoring and saving took ``seconds``: keep back `TAIL_FACTOR` times the slowest seen.

        Measured, not assumed: on a busy machine scoring and saving slow down
        with everything else, and a fixed tail let fits end seconds late.
        """
        self.tail = max(self.tail, TAIL_FACTOR * float(seconds))

    def left(self):
        """Seconds until the whole fit must end."""
        return self.end - self.clock()

    @property
    def final_end(self):
        """The clock value the final fit must end by: the end less the tail."""
        return self.end - self.tail

    @property
    def trials_end(self):
        """The clock value trials must end by: the final fit's end less its planned cost."""
        return self.final_end - self.final_reserve

    def trials_left(self):
        """Seconds until ``trials_end`` (negative once it passed)."""
        return self.trials_end - self.clock()

    def search_seconds(self):
        """Seconds a search stage starting now may take: `SEARCH_SHARE` of the time left to trials."""
        return SEARCH_SHARE * max(0.0, self.trials_left())

    def search_deadline(self):
        """The deadline of a search stage starting now (see `search_seconds`)."""
        return self.clock() + self.search_seconds()


class EpochPlan:
    """The number of epochs a schedule anneals over; a `StageClock` may shorten it.

    Args:
        epochs: the planned epochs (at least 1).
    """

    def __init__(self, epochs):
        self.epochs = max(int(epochs), 1)


class StageClock(keras.callbacks.Callback):
    """Keep one stage within its deadline, and time its epochs.

    Between batches it stops the stage when the next batch would end after
    ``deadline``. At each epoch end it counts how many more epochs fit before
    the deadline and, if fewer than planned, shortens every schedule in
    ``plans`` (objects with an ``epochs`` attribute, such as an `EpochPlan` or
    `autoarch.darts.network.DropPathSchedule`) so that they end with the
    stage; the stage stops once they have.

    The first batch of a stage includes tracing its step, so the steady
    time per batch is measured from the second batch on. The epochs that
    still fit are counted with the larger of that steady time and the last
    epoch's wall time (end to end, from the second epoch on), which also
    holds what runs between batches: evaluation, callbacks, the input
    pipeline's restart.

    Args:
        deadline: a `time.monotonic` value, or None for no limit.
        plans: schedules to shorten when the deadline cuts the stage.
        clock: the clock (`time.monotonic`; tests pass another).

    Attributes:
        stopped: True once the deadline stopped the stage early.
        epoch_seconds: steady seconds per epoch (median batch times steps), or
            None before a second batch ran.
        first_epoch_seconds: seconds of the first epoch, tracing included.
    """

    def __init__(self, deadline, plans=(), clock=time.monotonic):
        super().__init__()
        self.deadline = deadline
        self.plans = list(plans)
        self.clock = clock
        self.stopped = False
        self.first_epoch_seconds = None
        self._batch_seconds = []
        self._steps = 0
        self._epochs_done = 0
        self._batch_started = None
        self._epoch_started = None
        self._batches_seen = 0
        self._shortened_to = None
        self._last_epoch_end = None
        self._last_epoch_wall = None

    @property
    def epoch_seconds(self):
        if not self._batch_seconds:
            return None
        return statistics.median(self._batch_seconds) * max(self._steps, 1)

    def _stop(self):
        self.stopped = True
        self.model.stop_training = True

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_started = self.clock()
        self._steps_this_epoch = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._batch_started = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        now = self.clock()
        self._batches_seen += 1
        self._steps_this_epoch += 1
        if self._batches_seen > 1:  # the first batch traced the step
            self._batch_seconds.append(now - self._batch_started)
            self._batch_seconds = self._batch_seconds[-200:]
        if self.deadline is None:
            return
        next_batch = statistics.median(self._batch_seconds) if self._batch_seconds else 0.0
        if now + next_batch > self.deadline:
            self._stop()

    def on_epoch_end(self, epoch, logs=None):
        now = self.clock()
        self._steps = max(self._steps, self._steps_this_epoch)
        if self.first_epoch_seconds is None:
            self.first_epoch_seconds = now - self._epoch_started
        else:
            self._last_epoch_wall = now - self._last_epoch_end
        self._last_epoch_end = now
        if self.deadline is None or self.stopped or epoch + 1 >= (self.params or {}).get("epochs", math.inf):
            return
        if self._shortened_to is not None and epoch + 1 >= self._shortened_to:
            self._stop()  # the shortened schedules have ended
            return
        per_epoch = max(self.epoch_seconds or 0.0, self._last_epoch_wall or 0.0) or (now - self._epoch_started)
        fit = epoch + 1 + (math.floor((self.deadline - now) / per_epoch) if per_epoch > 0 else 0)
        if fit <= epoch + 1:
            self._stop()
            return
        for plan in self.plans:
            if fit < plan.epochs:
                plan.epochs = fit
                self._shortened_to = fit


def continue_epochs(epochs):
    """The epochs of a ``"continue"`` final fit after a trial that trained ``epochs``."""
    return max(1, round(epochs * CONTINUE_EPOCH_SHARE))


def epoch_share(mode, epochs):
    """The final fit's epochs per network as a share of a trial's ``epochs`` (0 when it does not train)."""
    if mode == "scratch":
        return 1.0
    if mode == "continue":
        return continue_epochs(epochs) / max(epochs, 1)
    return 0.0


def planned_seconds(mode, epochs, timing, more_data=1.0, in_memory=True):
    """Seconds one network's final fit should take, from its trial's measured epochs.

    Args:
        mode: the final fit's mode (see `refit_mode`).
        epochs: the trial's training epochs.
        timing: the trial's row (``epoch_seconds``, ``first_epoch_seconds``,
            ``seconds``); a trial timed before autoarch measured epochs is
            planned from its whole ``seconds``.
        more_data: samples of the final fit over the trial's training samples.
        in_memory: the trial's traced network is still held (no new trace).
    """
    if mode is None:
        return 0.0
    steady, first = timing.get("epoch_seconds"), timing.get("first_epoch_seconds")
    if steady is None:
        return float(timing.get("seconds") or 0.0) * epoch_share(mode, epochs)
    trace = 0.0 if in_memory and mode != "scratch" else max(0.0, (first or steady) - steady)
    return epoch_share(mode, epochs) * epochs * steady * more_data + trace


def stage_timing(clock):
    """What a trial records of its training's `StageClock`: steady and first epoch seconds, and whether it was cut."""
    timing = {"stopped_by_time_limit": bool(clock.stopped)}
    if clock.epoch_seconds is not None:
        timing["epoch_seconds"] = round(clock.epoch_seconds, 3)
    if clock.first_epoch_seconds is not None:
        timing["first_epoch_seconds"] = round(clock.first_epoch_seconds, 3)
    return timing


def no_time_to_train(seconds, searched):
    """The failure reason of a trial that reached its training with no time left, ``seconds`` into it."""
    if searched:
        return (
            f"the time limit ran out before training: the search stage took {seconds:.1f} s (its first step "
            f"traces the graph and cannot be cut), so a trial of these settings needs at least about "
            f"{seconds / SEARCH_SHARE + TAIL_SECONDS:.0f} s; give a larger time_limit or a smaller search_space"
        )
    return (
        f"the time limit ran out before training could start ({seconds:.1f} s into the trial, and "
        f"{TAIL_SECONDS:.0f} s are kept to save the model): give a larger time_limit"
    )
