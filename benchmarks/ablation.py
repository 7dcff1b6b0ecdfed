"""Benchmark: does the DARTS search beat random cells of the same space, trained the same way?

For a task and a list of seeds, one `ImageClassifier(max_trials=1, ensemble_size=1, seed=S)`
(so exactly one network is compared) is fitted per variant, one after the other:

- ``searched``: the defaults, that is the DARTS search, then the derived cell trained.
- ``random``: ``genotype=`` a cell drawn uniformly from the same space by
  `autoarch.darts.random_genotype` (the primitives, without ``none``, and the
  default space's ``nodes``; two distinct inputs per node), with the seed
  ``RANDOM_SEED_OFFSET + S`` so it is not tied to the search's seed.
- ``random_equal_time``: the same random cell, given the searched fit's wall
  time for that seed as extra training epochs (``search_space={"train_epochs": E}``).
  E is predicted from the ``random`` fit, whose every training epoch is timed
  by a Keras callback: an added trial epoch costs the trial's median epoch
  (the first, which traces, left out when there are others), and a final
  fit, if the fit has one (``refit="continue"``, not the default), trains
  ``max(1, round(E * CONTINUE_EPOCH_SHARE))`` epochs on all the data. E may
  be below the default when the search was faster than the random cell's
  fit. The wall time it actually took is reported next to the target.
  Asking for it runs ``searched`` and ``random`` too.
- ``darts_v2``: ``genotype=autoarch.darts.DARTS_V2``, the published CIFAR-10 cell.

This is the comparison the NAS best-practice checklist asks for (Lindauer &
Hutter 2020; random cells of the DARTS space are strong: Li & Talwalkar 2019,
Yang et al. 2020): same space, same pipeline, several seeds, equal wall time.

Tasks:

- ``digits``: scikit-learn's digits (8x8): the first 1,500 fit, the last 297 test.
  The digits are ordered by writer, so the test quarter is written by people the
  fit never saw (as in ``benchmarks/digits.py``).
- ``mnist10k``: the IDX files of ``--data-dir`` (default ``../shared/data/mnist10k``,
  the 10,000-image MNIST test set), read as ``benchmarks/mnist.py`` does: the first
  8,000 fit, the last 2,000 test.
- ``digits_colour``: the same digits and split, made 3-channel and harder: each
  image gets its own random ink and background colour (uniform in RGB, their
  luminances at least 0.25 apart so the digit stays legible) and Gaussian pixel
  noise (standard deviation 0.05), drawn once from ``numpy.random.default_rng(0)``
  and saved as uint8. Ink is as often darker as lighter than the background, so
  intensity alone no longer tells ink from paper: the network must find edges,
  which is where the choice of operations could matter more. Generated, so it
  can be shipped and rebuilt exactly.

For the searched variant the confidence of the search at its end is reported,
read from the trial's ``alphas.json`` (its last epoch) by
`autoarch.darts.confidence.search_confidence`: the mean over the edges of both
cells of the entropy of the softmaxed alphas (``entropy``; a uniform row has
``log(len(primitives))``, given as ``entropy_max``), and the mean margin
between the best and the second operation's weight (``margin``), both over
all the searched operations, ``none`` included.

Prints one line per fit and a table (per variant: mean and sample standard
deviation over the seeds); writes everything as JSON to
``benchmarks/results/ablation/ablation_<task>[_<tag>].json`` (rewritten after every fit,
so an interrupted run keeps what it measured). Targets (issue 12): on MNIST-10k
with 3 seeds, searched beats random_equal_time by >= 0.3 points of mean test
accuracy and beats darts_v2; on digits with 5 seeds, by >= 1 point. The
figures measured so far, and how far cells of the space differ at all
(``benchmarks/cell_variance.py``), are in ``docs/benchmarks.md``.

Run from the repository root (several fits per seed: minutes each on CPU)::

    python benchmarks/ablation.py --task mnist10k --seeds 0,1,2
    python benchmarks/ablation.py --task digits --seeds 0,1,2,3,4
    python benchmarks/ablation.py --task digits_colour --seeds 0,1,2 \\
        [--variants searched,random,random_equal_time,darts_v2] [--primitives '["none","skip_connect",...]'] \\
        [--search-space '{"search_epochs": 8}'] [--searched-options '{"max_flops": 1800000}'] \\
        [--tag longer_search] [--verbose 1]

A smoke run of a few tens of seconds (do not commit its JSON)::

    python benchmarks/ablation.py --task digits --seeds 0 --tag smoke --search-space \\
        '{"search_epochs":1,"train_epochs":1,"search_samples":100,"init_channels":4,"network_channels":4,"cells":3,"network_cells":3}'
"""

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time

from results_path import result_path, tagged_name

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

VARIANTS = ("searched", "random", "random_equal_time", "darts_v2")
TASKS = ("digits", "mnist10k", "digits_colour")
RANDOM_SEED_OFFSET = 1000
"""The random cell of seed S is ``random_genotype(..., seed=RANDOM_SEED_OFFSET + S)``."""
VALIDATION_SPLIT = 0.2
"""The estimator's default holdout share: trials train on the rest, the final fit on everything."""


# --------------------------------------------------------------------------- tasks


def load_task(task, data_dir):
    """``(x_fit, y_fit, x_test, y_test)`` of ``task`` (see the module docstring)."""
    import numpy as np

    if task == "mnist10k":
        from autoarch.idx import read_mnist_folder

        x, y = read_mnist_folder(data_dir)["t10k"]
        return x[:8000], y[:8000], x[8000:], y[8000:]
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = digits.images.astype(np.float32), digits.target
    if task == "digits_colour":
        x = colour_digits(x)
    return x[:1500], y[:1500], x[1500:], y[1500:]


def colour_digits(images, seed=0, contrast=0.25, noise=0.05):
    """Digits ``(n, 8, 8)`` in 0..16 as ``(n, 8, 8, 3)`` uint8 with a random ink and paper colour each.

    Every image's ink and background are uniform RGB colours whose luminances
    differ by at least ``contrast`` (redrawn until they do), mixed by the
    digit's intensity; Gaussian noise of standard deviation ``noise`` is added.
    Deterministic for ``seed``.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    count = len(images)
    luminance = np.array([0.299, 0.587, 0.114])
    ink, paper = rng.uniform(size=(count, 3)), rng.uniform(size=(count, 3))
    while True:
        low = np.abs((ink - paper) @ luminance) < contrast
        if not low.any():
            break
        ink[low], paper[low] = rng.uniform(size=(low.sum(), 3)), rng.uniform(size=(low.sum(), 3))
    mix = (np.asarray(images, np.float64) / 16.0)[..., None]
    coloured = mix * ink[:, None, None, :] + (1.0 - mix) * paper[:, None, None, :]
    coloured += rng.normal(0.0, noise, size=coloured.shape)
    return np.round(np.clip(coloured, 0.0, 1.0) * 255).astype(np.uint8)


# --------------------------------------------------------------------------- figures


def alpha_confidence(alphas_path):
    """`autoarch.darts.confidence.search_confidence` of the last epoch in ``alphas_path``, and the epoch count."""
    from autoarch.darts.confidence import search_confidence

    with open(alphas_path) as file:
        history = json.load(file)
    return {**search_confidence(history[-1]), "epochs": len(history)}


def save_report(report, path):
    """Write ``report`` as JSON to ``path`` atomically: a run killed mid-write leaves the previous file whole."""
    temporary = f"{path}.tmp"
    with open(temporary, "w") as file:
        json.dump(report, file, indent=1)
    os.replace(temporary, path)


def fit_once(task_data, seed, search_space, genotype, verbose, **options):
    """Fit one `ImageClassifier` in a temporary project; returns its figures (and the alpha confidence).

    ``options`` are more arguments of the estimator (for example ``refit``).
    """
    import autoarch
    from autoarch.tuning.trial_folder import TrialFolder

    x_fit, y_fit, x_test, y_test = task_data
    timer = make_epoch_timer()
    with tempfile.TemporaryDirectory() as directory:
        clf = autoarch.ImageClassifier(
            max_trials=1,
            ensemble_size=1,
            seed=seed,
            directory=directory,
            search_space=search_space,
            genotype=genotype,
            verbose=verbose,
            **options,
        )
        started = time.perf_counter()
        clf.fit(x_fit, y_fit, callbacks=[timer])
        seconds = time.perf_counter() - started
        accuracy = clf.score(x_test, y_test)
        trial = clf.results_[0]
        folder = TrialFolder.of(clf.project_dir_, trial["trial_id"])
        confidence = alpha_confidence(folder.alphas_path) if folder.has_alphas() else None
        figures = {
            "test_accuracy": round(float(accuracy), 4),
            "fit_seconds": round(seconds, 1),
            "parameters": int(clf.model_.count_params()),
            "trial_seconds": trial["seconds"],
            "holdout_score": trial["score"],
            "train_epochs": int(trial["hyperparameters"]["train_epochs"]),
            "genotype": clf.best_genotype_.to_dict(),
            "genotype_summary": clf.best_genotype_.summary(),
            # Seconds of each epoch of each training: the trial's, then the final fit's.
            "epoch_seconds": [[round(t, 2) for t in fit] for fit in timer.fits],
        }
    if confidence is not None:
        figures["alpha_confidence"] = confidence
    return figures


def make_epoch_timer():
    """A Keras callback class that times every epoch of every ``fit`` it is given to."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.fits = []

        def __deepcopy__(self, memo):
            return self  # one timer for every training (autoarch copies callbacks per training)

        def on_train_begin(self, logs=None):
            self.fits.append([])

        def on_epoch_begin(self, epoch, logs=None):
            self._started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.fits[-1].append(time.perf_counter() - self._started)

    return EpochTimer()


def steady_epoch(epochs):
    """The median epoch time, the first (tracing) epoch left out when there are others."""
    return statistics.median(epochs[1:] if len(epochs) > 1 else epochs)


def final_fit_epochs(epochs):
    """The final fit's epochs (``refit="continue"``) after a trial of ``epochs`` epochs."""
    from autoarch.tuning.final_fit import CONTINUE_EPOCH_SHARE

    return max(1, round(epochs * CONTINUE_EPOCH_SHARE))


def equal_time_epochs(target_seconds, random_run):
    """Training epochs that should make the random cell's fit last ``target_seconds``.

    The random fit's time plus, per epoch added (or removed), the trial's
    steady epoch time, plus, when the fit ended with a final fit
    (``refit="continue"``; the default, ``refit=False``, has none), the change
    in the final fit's epochs times its steady epoch time (on all the data:
    the trial's over ``1 - VALIDATION_SPLIT`` if the final fit had only its
    tracing epoch).
    """
    epochs = random_run["train_epochs"]
    trial_epochs = random_run["epoch_seconds"][0] if random_run["epoch_seconds"] else []
    per_epoch = steady_epoch(trial_epochs) if trial_epochs else random_run["trial_seconds"] / epochs
    per_final_epoch = 0.0  # no final fit (refit=False)
    if len(random_run["epoch_seconds"]) > 1:
        final = random_run["epoch_seconds"][1]
        per_final_epoch = steady_epoch(final) if len(final) > 1 else per_epoch / (1.0 - VALIDATION_SPLIT)

    def predicted(candidate):
        return (
            random_run["fit_seconds"]
            + (candidate - epochs) * per_epoch
            + (final_fit_epochs(candidate) - final_fit_epochs(epochs)) * per_final_epoch
        )

    return min(range(1, 20 * epochs + 200), key=lambda candidate: abs(predicted(candidate) - target_seconds))


def summarise(runs, variants):
    """Per variant: the seeds, mean and sample standard deviation of accuracy and seconds."""

    def spread(values):
        mean = statistics.fmean(values)
        std = statistics.stdev(values) if len(values) > 1 else None
        return round(mean, 4), None if std is None else round(std, 4)

    summary = {}
    for variant in variants:
        rows = [run for run in runs if run["variant"] == variant]
        if not rows:
            continue
        entry = {"seeds": [run["seed"] for run in rows]}
        for key in ("test_accuracy", "fit_seconds", "parameters"):
            entry[f"{key}_mean"], entry[f"{key}_std"] = spread([run[key] for run in rows])
        confidences = [run["alpha_confidence"] for run in rows if "alpha_confidence" in run]
        if confidences:
            for key in ("entropy", "margin"):
                entry[f"{key}_mean"], entry[f"{key}_std"] = spread([c[key] for c in confidences])
            entry["entropy_max"] = confidences[0]["entropy_max"]
        summary[variant] = entry
    return summary


def print_table(runs, summary):
    def plus_minus(mean, std, scale=1.0, digits=2):
        return f"{mean * scale:.{digits}f}" + ("" if std is None else f" ± {std * scale:.{digits}f}")

    print()
    print("| variant | seed | test accuracy | fit s | parameters | entropy / max | margin | genotype |")
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        confidence = run.get("alpha_confidence")
        print(
            f"| {run['variant']} | {run['seed']} | {run['test_accuracy']:.2%} | {run['fit_seconds']:.1f}"
            + (f" (target {run['target_seconds']:.1f}, {run['train_epochs']} epochs)" if "target_seconds" in run else "")
            + f" | {run['parameters']:,} | "
            + (f"{confidence['entropy']:.3f} / {confidence['entropy_max']:.3f} | {confidence['margin']:.4f}"
               if confidence else "- | -")
            + f" | {run['genotype_summary']} |"
        )
    print()
    print("| variant | seeds | test accuracy (mean ± sd) | fit s (mean ± sd) | parameters | entropy | margin |")
    print("|---|---|---|---|---|---|---|")
    for variant, entry in summary.items():
        print(
            f"| {variant} | {len(entry['seeds'])} "
            f"| {plus_minus(entry['test_accuracy_mean'], entry['test_accuracy_std'], 100)}% "
            f"| {plus_minus(entry['fit_seconds_mean'], entry['fit_seconds_std'], digits=1)} "
            f"| {entry['parameters_mean']:,.0f} | "
            + (f"{plus_minus(entry['entropy_mean'], entry['entropy_std'], digits=3)} "
               f"| {plus_minus(entry['margin_mean'], entry['margin_std'], digits=4)} |"
               if "entropy_mean" in entry else "- | - |")
        )


# --------------------------------------------------------------------------- main


def parse_args():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", choices=TASKS, default="digits")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated estimator seeds")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, of {', '.join(VARIANTS)}")
    parser.add_argument("--primitives", default=None, help="JSON list of operation names (default: the CPU's)")
    parser.add_argument("--search-space", default="{}", help="JSON dict merged into every variant's search_space")
    parser.add_argument(
        "--searched-options", default="{}",
        help='JSON dict of more estimator arguments for the searched variant only (for example {"max_flops": 1800000})',
    )
    parser.add_argument("--tag", default="", help="suffix of the results file")
    parser.add_argument("--data-dir", default=os.path.join(here, "..", "..", "shared", "data", "mnist10k"))
    parser.add_argument("--verbose", type=int, default=0, help="the estimators' verbose")
    args = parser.parse_args()
    args.seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    args.variants = [variant.strip() for variant in args.variants.split(",") if variant.strip()]
    unknown = [variant for variant in args.variants if variant not in VARIANTS]
    if unknown or not args.variants or not args.seeds:
        parser.error(f"--variants must name some of {', '.join(VARIANTS)} and --seeds some integers")
    if "random_equal_time" in args.variants:  # it needs both fits' times
        args.variants = [v for v in VARIANTS if v in {*args.variants, "searched", "random"}]
    else:
        args.variants = [v for v in VARIANTS if v in args.variants]
    args.search_space = json.loads(args.search_space)
    if not isinstance(args.search_space, dict):
        parser.error("--search-space must be a JSON object")
    args.searched_options = json.loads(args.searched_options)
    if not isinstance(args.searched_options, dict):
        parser.error("--searched-options must be a JSON object")
    args.primitives = None if args.primitives is None else json.loads(args.primitives)
    return args


def main():
    args = parse_args()

    import autoarch
    from autoarch.darts import DARTS_V2, random_genotype, validate_primitives
    from autoarch.tuning import space as space_module

    task_data = load_task(args.task, args.data_dir)
    x_fit = task_data[0]
    image_shape = tuple(x_fit.shape[1:]) + ((1,) if x_fit.ndim == 3 else ())
    primitives = validate_primitives(
        args.primitives or args.search_space.get("primitives") or space_module.default_primitives(gpu=False)
    )
    # Every variant searches or draws from the same space: the primitives are passed explicitly.
    search_space = {**args.search_space, "primitives": list(primitives)}
    nodes = space_module.narrow_space(
        space_module.default_space(len(x_fit), image_shape, gpu=False), search_space
    )["nodes"].default

    result_file = result_path("ablation", tagged_name(f"ablation_{args.task}", args.tag))
    report = {
        "benchmark": "ablation",
        "task": args.task,
        "seeds": args.seeds,
        "variants": args.variants,
        "search_space": search_space,
        "searched_options": args.searched_options,
        "primitives": list(primitives),
        "nodes": nodes,
        "random_seed_offset": RANDOM_SEED_OFFSET,
        "fit_samples": len(x_fit),
        "test_samples": len(task_data[2]),
        "image_shape": list(image_shape),
        "runs": [],
        "summary": {},
        "autoarch": autoarch.__version__,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": sys.version.split()[0],
    }

    def save():
        report["summary"] = summarise(report["runs"], args.variants)
        report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        save_report(report, result_file)

    for seed in args.seeds:
        cell = random_genotype(primitives, nodes, seed=RANDOM_SEED_OFFSET + seed)
        done = {}
        for variant in args.variants:
            space, genotype, extra = dict(search_space), None, {}
            if variant in ("random", "random_equal_time"):
                genotype = cell
            elif variant == "darts_v2":
                genotype = DARTS_V2
            if variant == "random_equal_time":
                target = done["searched"]["fit_seconds"]
                space["train_epochs"] = equal_time_epochs(target, done["random"])
                extra = {"target_seconds": target}
            options = args.searched_options if variant == "searched" else {}
            figures = fit_once(task_data, seed, space, genotype, args.verbose, **options)
            run = {"variant": variant, "seed": seed, **extra, **figures}
            done[variant] = run
            report["runs"].append(run)
            save()
            confidence = run.get("alpha_confidence")
            print(
                f"{args.task} seed {seed} {variant}: test accuracy {run['test_accuracy']:.4f}, "
                f"fit {run['fit_seconds']:.1f} s"
                + (f" (target {extra['target_seconds']:.1f} s)" if extra else "")
                + f", {run['train_epochs']} epochs, {run['parameters']} parameters"
                + (f", alpha entropy {confidence['entropy']:.3f}/{confidence['entropy_max']:.3f}, "
                   f"margin {confidence['margin']:.4f}" if confidence else "")
                + f", {run['genotype_summary']}",
                flush=True,
            )
    print_table(report["runs"], report["summary"])
    print(f"\nwritten to {os.path.relpath(result_file)}")


if __name__ == "__main__":
    main()
