"""The keras-tuner side: the tuner that runs DARTS trials.

`make_tuner` gives one fit's tuner, over the oracle `autoarch.tuning.oracles`
names (every named oracle tries the space's defaults first). `DartsTuner` is a
`keras_tuner` `BaseTuner`: keras-tuner persists the oracle and every trial
under ``directory/project_name``, resumes a stopped search and requeues a trial
that was killed; the tuner adds per trial its genotype, network weights,
holdout predictions, alpha history and a ``result.json`` with timing, size,
status, failure reason and the worker that ran it. Under keras-tuner's chief/worker mode the chief serves the
oracle and the workers run the trials (`autoarch.tuning.distributed`).
"""

import contextlib
import errno
import io
import logging
import math
import os
import statistics
import time

import keras_tuner
from keras_tuner.errors import FailedTrialError
from keras_tuner.src import config as keras_tuner_config
from keras_tuner.src.engine.base_tuner import BaseTuner
from keras_tuner.src.engine.metrics_tracking import MetricsTracker
from keras_tuner.src.engine.trial import TrialStatus

from autoarch.darts import Genotype
from autoarch.darts.confidence import search_confidence
from autoarch.darts.derivation import random_genotype
from autoarch.darts.optimizers import restart_optimizer
from autoarch.runtime import clear_kernel_cache, released_graphs, seed_keeping_kernels
from autoarch.tuning import distributed
from autoarch.tuning import space as space_module
from autoarch.tuning.budget import no_time_to_train, planned_seconds, stage_timing
from autoarch.tuning.oracles import (  # noqa: F401  (the oracles: re-exported for old imports)
    TUNERS,
    BayesianOracle,
    EvolutionOracle,
    HyperbandOracle,
    RandomOracle,
    make_oracle,
)
from autoarch.tuning.ranking import Entry, best_trial, ensemble_candidates, ordered, ranked_trials
from autoarch.tuning.trial_results import read_results
from autoarch.tuning.cost_budgets import (
    build_within_latency_budget,
    check_measured_latency,
    check_size_can_meet_budgets,
    cost_estimates,
    latency_is_measured,
    measure_trial_latency,
)
from autoarch.tuning.trial import (
    MAX_SKIP_CONNECTIONS,
    chance_record,
    evaluate_network,
    holdout_predictions,
    make_network,
    plain_network,
    run_search,
    search_key,
    train_network,
)
from autoarch.tuning.trial_folder import (  # noqa: F401  (the file names: re-exported for old imports)
    ALPHAS_FILE,
    GENOTYPE_FILE,
    RESULT_FILE,
    WEIGHTS_FILE,
    TrialFolder,
)
from autoarch.tuning.trial_folder import alphas_to_json as _alphas_to_json  # noqa: F401
from autoarch.tuning.trial_folder import write_json as _write_json  # noqa: F401

__all__ = [
    "TUNERS",
    "make_oracle",
    "make_tuner",
    "DartsTuner",
    "best_trial",
    "ranked_trials",
    "ensemble_candidates",
    "read_results",
    "short_genotype",
]

log = logging.getLogger("autoarch")

MAX_CLEARS_SKIPPED = 3
"""Trials in a row that may start without clearing TensorFlow's kernel cache
because they reuse a network this process keeps (`DartsTuner.run_trial`).
Each skipped clear keeps the kernels of the trials that ended since the last
one; bounding the run keeps a long search's memory flat."""


def make_tuner(tuner, objective, max_trials, space, project_dir, *, seed=None, overwrite=False, verbose=1,
               keep_networks=1):
    """The `DartsTuner` of one ``fit``: its oracle (see `make_oracle`) over ``space``, kept in ``project_dir``.

    What keras-tuner prints while it opens the project ("Reloading Tuner from
    ...") goes to the log, so ``verbose=0`` stays silent.
    """
    max_epochs = space_module.max_train_epochs(space)
    oracle = make_oracle(tuner, objective, int(max_trials), seed=seed, max_epochs=max_epochs)
    captured = io.StringIO()
    with contextlib.redirect_stdout(captured):
        made = DartsTuner(
            oracle,
            space,
            directory=os.path.dirname(project_dir),
            project_name=os.path.basename(project_dir),
            overwrite=bool(overwrite),
            verbose=verbose,
            keep_networks=int(keep_networks),
        )
    if captured.getvalue().strip():
        log.info(captured.getvalue().strip())
    return made


class _SpaceModel(keras_tuner.HyperModel):
    """Declares the outer space; ``build`` returns a trial's settings (no model)."""

    def __init__(self, space):
        super().__init__()
        self.space = space

    def build(self, hp):
        space_module.declare(hp, self.space)
        return space_module.settings(hp, self.space)


class _TimeUp(Exception):
    pass


def short_genotype(genotype):
    """A one-line summary of a genotype: `Genotype.summary` (the one short form), ``"-"`` for None."""
    return "-" if genotype is None else genotype.summary()


class DartsTuner(BaseTuner):
    """Runs autoarch trials for a keras-tuner oracle.

    Args:
        oracle: a `keras_tuner.Oracle` (see `make_oracle`).
        space: the outer space (`autoarch.tuning.space`).
        directory: the folder that holds the project folder.
        project_name: the project folder, ``directory/project_name``, where
            keras-tuner and autoarch keep the oracle and the trials.
        overwrite: start afresh instead of resuming (ignored on a worker of a
            distributed search: only the chief may delete the project).
        verbose: 0 silent, 1 progress bars and a line per trial.
        keep_networks: how many of the best trained networks this process
            keeps in memory for the final fit (see `trained_network`).
    """

    def __init__(self, oracle, space, directory, project_name, overwrite=False, verbose=1, keep_networks=1):
        self.space = space
        self.verbose = verbose
        self.keep_networks = keep_networks
        self.task = None
        self._local_oracle = oracle  # a worker's keras-tuner swaps it for a gRPC client
        self._heartbeat = None
        self._waiting = False
        self._kept_networks = []  # ranking.Entry of this process's best trials, best first; item: (id, network)
        self._trials_run = 0  # by this process
        self._clears_skipped = 0  # of the kernel cache, by the trials run since its last clear
        self._trial_seconds = []  # of the trials this process ran, for the time budget's plan
        self._final_seconds = {}  # trial id to the planned seconds of its final fit
        super().__init__(
            oracle,
            hypermodel=_SpaceModel(space),
            directory=directory,
            project_name=project_name,
            overwrite=bool(overwrite) and distributed.role() != "worker",
        )
        if distributed.role() == "worker":  # keras-tuner's client: with autoarch's token and TLS
            distributed.connect_client(self.oracle)

    def search(self, task):
        """Run trials on ``task`` until the oracle stops, or its deadline passes.

        The chief of a distributed search runs no trial: it serves the oracle
        until the workers are done (`autoarch.tuning.distributed.serve`).
        """
        self.task = task
        self.oracle.verbose = 0
        # keras-tuner prints every failed trial's traceback while DEBUG is on;
        # autoarch records the reason and reports it in one line instead.
        debug, keras_tuner_config.DEBUG = keras_tuner_config.DEBUG, False
        try:
            if distributed.role() != "worker":
                self._requeue_damaged_trials()
            if distributed.role() == "chief":
                self.save()
                distributed.serve(self.oracle, deadline=task.deadline, on_trial_end=self._report)
            else:
                super().search()
        except _TimeUp:
            log.info("time limit reached: no new trial starts")
            self.on_search_end()
        finally:
            self._stop_heartbeat()
            task.compiled.clear()  # no trial will reuse them: free their memory before the final fit
            keras_tuner_config.DEBUG = debug

    def _requeue_damaged_trials(self):
        """Run again every trial whose outcome a resume cannot use.

        That is a completed trial whose folder is damaged (see
        `TrialFolder.damage`), and a trial that failed because the disk was
        full, which says nothing about its hyperparameters. Its old score is
        forgotten, so such a trial is never ranked or ensembled; it goes to the
        front of keras-tuner's retry queue and runs with the same hyperparameters.
        """
        for trial in list(self.oracle.trials.values()):
            folder = TrialFolder(self.get_trial_dir(trial.trial_id))
            damage = folder.damage() if trial.status == TrialStatus.COMPLETED else None
            if damage is not None:
                log.warning("trial %s's folder is damaged (%s): the trial runs again", trial.trial_id, damage)
            elif trial.status == TrialStatus.FAILED and folder.read_result().get("disk_full"):
                log.warning("trial %s failed for lack of disk space: the trial runs again", trial.trial_id)
            else:
                continue
            trial.status = TrialStatus.INVALID
            trial.score, trial.best_step = None, 0
            trial.metrics = MetricsTracker()
            self.oracle._retry_queue.append(trial.trial_id)
            self.oracle._save_trial(trial)
        self.oracle.save()

    def results(self):
        """One row per trial of the whole search, as `read_results` gives them.

        On a worker of a distributed search, this first waits until the chief
        has stopped serving (every trial has ended), then reads the search
        from the project folder; the tuner's oracle is then that local copy.
        """
        if distributed.role() == "worker":
            distributed.wait_for_chief_end()
            self.oracle = self._local_oracle
            self.oracle.reload()
        return read_results(self.oracle, self.project_dir)

    def pre_create_trial(self):
        if self._waiting:  # the oracle said "wait" (IDLE): do not ask again at once
            time.sleep(distributed.IDLE_SECONDS)
        self._waiting = True
        if self.task.time_left() <= 0 and (self._trials_run or best_trial(self._local_oracle) is not None):
            raise _TimeUp()  # the first trial of a fit with no model yet always starts: it may make one
        if self.task.budget is not None and self._trial_seconds:
            expected = statistics.median(self._trial_seconds)
            if expected > self.task.time_left():
                log.info(
                    "a trial takes about %.0f s here and %.0f s are left before the final fit",
                    expected, max(0.0, self.task.time_left()),
                )
                raise _TimeUp()

    def on_trial_begin(self, trial):
        self._waiting = False
        super().on_trial_begin(trial)
        if distributed.role() == "worker":
            self._heartbeat = distributed.Heartbeat(trial.trial_id).start()

    def _stop_heartbeat(self):
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None

    def run_trial(self, trial, *args, **kwargs):
        """Search, derive, train and score one trial; returns its holdout metrics.

        What the trial traced is released when it ends (`autoarch.runtime.released_graphs`):
        only the networks kept for the final fit outlive it. Before every trial
        but this process's first, TensorFlow's kernel cache is cleared
        (`autoarch.runtime.clear_kernel_cache`), so memory stays flat over
        any number of trials. The exception is a trial that reuses a network
        this process keeps (a compiled search step of the same shapes, or the
        network a Hyperband round continues): clearing would make it
        instantiate that network's traced step again, seconds on a CPU. At
        most `MAX_CLEARS_SKIPPED` trials in a row skip the clear.
        """
        if self._trials_run:
            if self._clears_skipped < MAX_CLEARS_SKIPPED and self._reuses_a_kept_network(trial):
                self._clears_skipped += 1
            else:
                clear_kernel_cache()
                self._clears_skipped = 0
        self._trials_run += 1
        with released_graphs():
            return self._run_trial(trial)

    def _reuses_a_kept_network(self, trial):
        """Whether ``trial`` will take a network this process keeps in memory (see `run_trial`)."""
        task = self.task
        settings = space_module.settings(trial.hyperparameters, self.space)
        previous = settings.get("tuner/trial_id")
        if previous:
            return self.trained_network(previous) is not None
        if task.genotype is not None or task.why_no_search(int(trial.trial_id)):
            return False
        return task.compiled.holds("search", search_key(task, settings))

    def _run_trial(self, trial):
        task, started = self.task, time.monotonic()
        settings = space_module.settings(trial.hyperparameters, self.space)
        folder = TrialFolder(self.get_trial_dir(trial.trial_id))
        record = {"trial_id": trial.trial_id, "worker": self.tuner_id, "status": "RUNNING"}
        folder.write_result(record)
        stage_verbose = int(self.verbose)
        try:
            if task.seed is not None:
                seed_keeping_kernels(task.seed + int(trial.trial_id))
            previous = settings.get("tuner/trial_id")
            weights = None  # the search's operation weights, for bringing a network within a latency budget
            if task.genotype is not None:
                genotype = task.genotype
            elif previous:
                genotype = TrialFolder(self.get_trial_dir(previous)).read_genotype()
            elif skipped := task.why_no_search(int(trial.trial_id)):
                record["search_skipped"] = skipped
                log.info("trial %s: %s", trial.trial_id, record["search_skipped"])
                seed = None if task.seed is None else task.seed + int(trial.trial_id)
                genotype = random_genotype(task.primitives, int(settings["nodes"]), seed=seed)
            else:
                check_size_can_meet_budgets(task, settings)
                genotype, alphas = run_search(task, settings, verbose=stage_verbose)
                folder.write_alphas(alphas, task.primitives)
                if alphas:
                    record["search_confidence"] = search_confidence(alphas[-1])
                    weights = alphas[-1]
            network = self._take_network(previous) if previous else None
            measure_latency = task.max_latency_ms is not None and latency_is_measured(task)
            if measure_latency and network is None:
                def build(candidate):
                    built = make_network(task, candidate, settings)
                    if previous:
                        built.load_weights(TrialFolder(self.get_trial_dir(previous)).weights_path)
                    return built, plain_network(task, candidate, settings, built)

                genotype, network = build_within_latency_budget(
                    task, settings, genotype, weights, build, record, MAX_SKIP_CONNECTIONS)
            else:
                record.update(cost_estimates(task, genotype, settings))
                if network is None:
                    network = make_network(task, genotype, settings)
                    if previous:
                        network.load_weights(TrialFolder(self.get_trial_dir(previous)).weights_path)
                if measure_latency:  # a network kept from the previous round: its genotype is settled
                    plain = plain_network(task, genotype, settings, network)
                    record["latency_ms"] = measure_trial_latency(task, plain, record["latency_estimate_ms"])
                    check_measured_latency(task, record["latency_ms"])
            folder.write_genotype(genotype)
            record["genotype"] = genotype.to_json()
            record["parameters"] = int(network.count_params())
            epochs = int(settings.get("tuner/epochs", settings["train_epochs"]))
            if task.time_left() <= 0:
                searched = not previous and task.genotype is None and "search_skipped" not in record
                raise FailedTrialError(no_time_to_train(time.monotonic() - started, searched))
            history = train_network(
                task,
                network,
                settings,
                task.train,
                epochs,
                initial_epoch=int(settings.get("tuner/initial_epoch", 0)),
                run=f"trial_{trial.trial_id}",
                verbose=stage_verbose,
            )
            record.update(stage_timing(history.clock))
            self._plan_final_fit(trial.trial_id, epochs, history.clock)
            scoring_started = time.monotonic()
            # Plain Python floats: keras-tuner sends them over gRPC as map<string, double>.
            predictions = holdout_predictions(task, network)
            metrics = {str(name): float(value) for name, value in evaluate_network(task, network, predictions).items()}
            if not all(math.isfinite(v) for v in metrics.values()):
                raise FailedTrialError(f"diverged: holdout metrics are not finite: {metrics}")
            folder.write_weights(network)
            folder.write_predictions(*predictions)  # for the ensemble selection
            if task.budget is not None:
                task.budget.observe_tail(time.monotonic() - scoring_started)
            self._keep_if_among_best(trial.trial_id, metrics, network)
            record.update(status="COMPLETED", metrics=metrics, **chance_record(task, metrics))
            return metrics
        except FailedTrialError as error:
            record.update(status="FAILED", reason=str(error))
            folder.discard_weights()
            raise
        except Exception as error:  # any crash of a trial is recorded, and the search goes on
            record.update(status="FAILED", reason=f"{type(error).__name__}: {error}")
            if _lacks_disk_space(error):
                record["disk_full"] = True  # not the trial's fault: it runs again when the search resumes
            folder.discard_weights()  # a write cut short may have left part of them
            raise FailedTrialError(record["reason"]) from error
        finally:
            record["seconds"] = round(time.monotonic() - started, 2)
            self._trial_seconds.append(record["seconds"])
            folder.write_result(record)
            if task.budget is not None:
                kept = {entry.item[0] for entry in self._kept_networks}
                task.budget.final_reserve = sum(self._final_seconds.get(trial_id, 0.0) for trial_id in kept)

    def _plan_final_fit(self, trial_id, epochs, clock):
        """Remember what the final fit of ``trial_id``'s network would cost, from its measured epochs."""
        task = self.task
        timing = {"epoch_seconds": clock.epoch_seconds, "first_epoch_seconds": clock.first_epoch_seconds}
        more_data = len(task.final_fit_indices()) / max(len(task.train), 1)
        self._final_seconds[trial_id] = planned_seconds(task.final_fit_mode, epochs, timing, more_data)

    def _keep_if_among_best(self, trial_id, metrics, network):
        objective = self._local_oracle.objective  # a worker's gRPC client may not carry it
        value = metrics.get(objective.name)
        if value is None:
            return
        entry = Entry(int(trial_id), value, metrics.get("val_loss"), metrics.get(f"{objective.name}_se"),
                      (trial_id, network))
        candidates = [*self._kept_networks, entry]
        ranked = ordered([candidate._replace(item=candidate) for candidate in candidates], objective.direction)
        self._kept_networks = ranked[: self.keep_networks]  # in the order of `ranked_trials`

    def release_memory(self):
        """Let go of the task's data and the networks kept for the final fit, once it is done.

        The oracle, the trials and the project folder stay, so the tuner
        still answers ``results_summary()`` and ``oracle.get_best_trials()``.
        """
        self.task = None
        self._kept_networks = []

    def _take_network(self, trial_id):
        """The trained network of ``trial_id``, to continue in a new trial (Hyperband), or None.

        It is no longer kept for the final fit (which would find it trained
        further); its optimizer starts afresh, as a new network's would, so
        the continued trial trains as if its network were rebuilt from the
        saved weights, without tracing its step again.
        """
        network = self.trained_network(trial_id)
        if network is not None:
            self._kept_networks = [entry for entry in self._kept_networks if entry.item[0] != trial_id]
            restart_optimizer(network.optimizer)
        return network

    def trained_network(self, trial_id):
        """The trained network of ``trial_id`` if this process ran it and still holds it, else None.

        The tuner holds the networks of the ``keep_networks`` best trials it
        ran, so that the final fit can continue them without rebuilding (and
        tracing) them again.
        """
        return next((entry.item[1] for entry in self._kept_networks if entry.item[0] == trial_id), None)

    def on_trial_end(self, trial):
        self._stop_heartbeat()
        super().on_trial_end(trial)
        self._report(trial.trial_id, trial.message)

    def _report(self, trial_id, message=None):
        """Log one line on an ended trial (the chief logs the lines of every worker)."""
        if not self.verbose:
            return
        result = TrialFolder.of(self.project_dir, trial_id).read_result()
        genotype = result.get("genotype")
        genotype = short_genotype(Genotype.from_json(genotype)) if genotype else "-"
        if isinstance(self.oracle, keras_tuner.Oracle):
            where = f"{len(self.oracle.end_order)}/{self.oracle.max_trials or '?'}"
        else:  # a worker: the chief keeps the count
            where = f"id {trial_id}"
        if distributed.role() is not None:
            where += f" [{result.get('worker', '?')}]"
        name = self.oracle.objective.name
        value = result.get("metrics", {}).get(name)
        if result.get("status") == "COMPLETED" and value is not None:
            score = f"{name}={value:.4f}"
            if result.get("at_chance"):
                score += f" (within noise of chance: {result['chance_score']:.4g})"
        else:
            score = f"failed: {result.get('reason', message)}"
        confidence = result.get("search_confidence")
        if confidence and not confidence["confident"]:
            score += (
                f" (the search ended without confidence: mean alpha entropy {confidence['entropy']:.3f}"
                f" of a uniform {confidence['entropy_max']:.3f}, so the cell is close to a random pick)"
            )
        log.info("trial %s %s %s %.1fs", where, genotype, score, result.get("seconds", 0.0))


def _lacks_disk_space(error):
    """True when ``error``, or an error that led to it, says the disk (or the user's quota, or the
    process's file-size limit) is full."""
    while error is not None:
        if getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return True
        error = error.__cause__ or error.__context__
    return False
