"""Benchmark: autoarch at its defaults on a suite of varied image tasks, side by side with AutoKeras (issue 35).

Nine tasks built from data that installs offline, each split once into the
images given to ``fit`` and a test set that nothing trains or selects on, the
same on every run (each task's generator seed is fixed, independent of the run
seed). Together they span 150 to 3,000 fit images, sides of 8 to 96 pixels,
grey and colour, 2 to 20 classes, and one binary task imbalanced 1:10:

- ``faces``     scikit-image's ``lfw_subset``: faces against non-faces, 25x25 grey (the tiny task)
- ``digits``    scikit-learn's digits, 8x8 grey, 10 classes
- ``mnist3k``   ``../shared/data/mnist10k``: first 3,000 fit, last 2,000 test, 28x28 grey
- ``photos``    scikit-learn's sample photos: which quadrant of china.jpg or flower.jpg a 32x32 colour patch is from
- ``textures``  scikit-image's brick, grass and gravel: 64x64 grey patches, turned and mirrored at random
- ``scenes``    six of scikit-image's colour pictures: which one a 96x96 patch is from
- ``shapes``    generated: 4 shapes x 5 colours = 20 classes, 32x32 colour, on noisy backgrounds
- ``gratings``  generated: the orientation (6 classes) of noisy sine gratings, 48x48 grey
- ``scratches`` generated: is there a faint scratch on a noisy surface, 24x24 grey, 10 clean to 1 scratched

Patch tasks take their fit patches from the left 70% of each picture and their
test patches from the right 30%, so no test pixel was seen in fit.

For each task and seed (default 0 1 2), one after the other:

1. ``autoarch.ImageClassifier(max_trials=1, seed=S)`` at its defaults: wall time
   of ``fit``, test accuracy (and balanced accuracy) of ``predict``, and the
   accuracy of the returned Keras model (``model_``) on its own fit images in
   inference mode and in training mode. A large gap between the two means the
   model's batch-norm statistics do not match its weights (training mode also
   turns on its dropout and augmentation, so a few points of gap are normal).
   The training-mode pass runs after every other score, and the model's weights
   (batch-norm statistics included) are put back after it.
2. With ``--autokeras PY`` (the python that ``../shared/tools/autokeras/setup.sh``
   prints): AutoKeras 3.0.0, one trial of 10 epochs, on the same split, in a
   subprocess running ``benchmarks/suite_autokeras.py``.
3. With ``--equal-time`` as well: autoarch again, with ``time_limit`` set to
   AutoKeras's measured fit time for that task and seed.

Run from the repository root, on a quiet machine::

    python benchmarks/suite.py --list
    python benchmarks/suite.py [--tasks faces digits] [--seeds 0 1 2] [--tag T]
        [--autokeras "$(../shared/tools/autokeras/setup.sh)" [--equal-time]]
    python benchmarks/suite.py --report [--tag T]      # the table of the JSON already written

The scikit-image tasks need ``pip install -e ".[bench]"``. Each task's figures
go to ``benchmarks/results/suite/suite_<task>[_<tag>].json`` (written after
every seed), with the machine and autoarch's git commit; the table printed at
the end has, per task, the mean and sd over seeds of each test accuracy, the
ratio of autoarch's fit time to AutoKeras's, and the worst gap between
training-mode and inference-mode accuracy on the fit images.
"""

import argparse
import dataclasses
import gc
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from sklearn.metrics import balanced_accuracy_score  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixed_costs import fit_image_modes, load  # noqa: E402  (the tasks' shared splits; benchmarks/ is not a package)
import results_path  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AUTOKERAS_RUNNER = os.path.join(ROOT, "benchmarks", "suite_autokeras.py")
FIT_SHARE = 0.7  # patch tasks: fit patches from the left 70% of each picture, test patches from the rest


# ------------------------------------------------------------ the tasks


@dataclasses.dataclass(frozen=True)
class Task:
    """One task of the suite: its name, what it is, where its images come from, and how to build it.

    ``build(rng)`` returns ``(x_fit, y_fit, x_test, y_test)``: uint8 images
    ``(n, h, w)`` or ``(n, h, w, 3)`` and int labels ``0..k-1``.
    """

    name: str
    description: str
    source: str
    build: object

    def load(self):
        """The task's split, the same on every call: its generator is seeded by its name alone."""
        x_fit, y_fit, x_test, y_test = self.build(np.random.default_rng(zlib.crc32(self.name.encode())))
        return (np.ascontiguousarray(x_fit, np.uint8), np.asarray(y_fit, np.int64),
                np.ascontiguousarray(x_test, np.uint8), np.asarray(y_test, np.int64))


def stratified_split(x, y, n_fit_per_class, rng):
    """Shuffle each class and give its first ``n_fit_per_class`` images to fit, the rest to test."""
    fit, test = [], []
    for label in np.unique(y):
        indices = rng.permutation(np.flatnonzero(y == label))
        fit.append(indices[:n_fit_per_class])
        test.append(indices[n_fit_per_class:])
    fit, test = rng.permutation(np.concatenate(fit)), rng.permutation(np.concatenate(test))
    return x[fit], y[fit], x[test], y[test]


def random_crops(image, n, side, columns, rng):
    """``n`` random ``side`` x ``side`` crops of ``image`` lying within the column range ``columns``."""
    start, stop = columns
    rows = rng.integers(0, image.shape[0] - side + 1, n)
    cols = rng.integers(start, stop - side + 1, n)
    return np.stack([image[r:r + side, c:c + side] for r, c in zip(rows, cols)])


def turn_and_mirror(patch, rng):
    """``patch`` turned by a random multiple of 90 degrees, then mirrored left-right half of the time."""
    patch = np.rot90(patch, rng.integers(4))
    return patch[:, ::-1] if rng.integers(2) else patch


def patch_task(pictures, side, n_fit, n_test, rng, turn=False):
    """Patches classified by the picture they come from: fit ones from its left part, test ones from the rest.

    With ``turn``, each patch is also turned by a random multiple of 90 degrees
    and mirrored at random, so that the class is the texture, not its direction.
    """
    splits = {"fit": ([], []), "test": ([], [])}
    for label, picture in enumerate(pictures):
        middle = int(round(picture.shape[1] * FIT_SHARE))
        for part, n, columns in (("fit", n_fit, (0, middle)), ("test", n_test, (middle, picture.shape[1]))):
            patches = random_crops(picture, n, side, columns, rng)
            if turn:
                patches = np.stack([turn_and_mirror(patch, rng) for patch in patches])
            splits[part][0].append(patches)
            splits[part][1].append(np.full(n, label))
    out = []
    for part in ("fit", "test"):
        x, y = np.concatenate(splits[part][0]), np.concatenate(splits[part][1])
        order = rng.permutation(len(y))
        out += [x[order], y[order]]
    return tuple(out)


def _skimage_data():
    try:
        import skimage.data
    except ImportError:
        raise SystemExit('this task needs scikit-image: pip install -e ".[bench]"') from None
    return skimage.data


def build_faces(rng):
    """scikit-image's 200 LFW crops (100 faces, 100 not), 25x25 grey: 75 of each fit, 25 of each test."""
    images = _skimage_data().lfw_subset()
    x = np.round(images * 255).astype(np.uint8)
    y = np.repeat([1, 0], 100)  # the first 100 are faces
    return stratified_split(x, y, 75, rng)


def build_digits(rng):
    """scikit-learn's digits as the other benchmarks split them: the first 1,500 fit, the last 297 test."""
    return load("digits")


def build_mnist3k(rng):
    """The first 3,000 images of MNIST's test set fit, the last 2,000 test (as ../shared/data/README.md asks)."""
    x_fit, y_fit, x_test, y_test = load("mnist10k")
    return x_fit[:3000], y_fit[:3000], x_test, y_test


def build_photos(rng):
    """Eight classes, the quadrants of scikit-learn's china.jpg and flower.jpg: 60 fit, 20 test 32x32 patches each."""
    from sklearn.datasets import load_sample_images

    quadrants = []
    for photo in load_sample_images().images:
        h, w = photo.shape[0] // 2, photo.shape[1] // 2
        quadrants += [photo[:h, :w], photo[:h, w:], photo[h:, :w], photo[h:, w:]]
    return patch_task(quadrants, 32, 60, 20, rng)


def build_textures(rng):
    """scikit-image's brick, grass and gravel: 150 fit and 50 test 64x64 grey patches each, turned and mirrored."""
    data = _skimage_data()
    return patch_task([data.brick(), data.grass(), data.gravel()], 64, 150, 50, rng, turn=True)


def build_scenes(rng):
    """Six of scikit-image's colour pictures: 40 fit and 15 test 96x96 patches each.

    The astronaut, the cat, the coffee, the rocket, the stained tissue and the Hubble deep field.
    """
    data = _skimage_data()
    pictures = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.immunohistochemistry(),
                data.hubble_deep_field()]
    return patch_task(pictures, 96, 40, 15, rng)


SHAPES = ("disc", "square", "triangle", "cross")
COLOURS = ((220, 40, 40), (40, 200, 40), (50, 70, 230), (230, 220, 40), (210, 50, 210))


def shape_mask(kind, side, centre, radius, angle):
    """A boolean ``side`` x ``side`` mask of one shape of ``radius`` pixels at ``centre``, turned by ``angle``."""
    yy, xx = np.mgrid[0:side, 0:side] + 0.5
    dy, dx = yy - centre[0], xx - centre[1]
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    if kind == "disc":
        return u ** 2 + v ** 2 <= radius ** 2
    if kind == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8 * radius
    if kind == "triangle":
        return (v <= 0.5 * radius) & (np.abs(u) <= (v + radius) * 0.577)
    arm = radius / 3.5
    return ((np.abs(u) <= arm) & (np.abs(v) <= radius)) | ((np.abs(v) <= arm) & (np.abs(u) <= radius))


def draw_shape(label, rng, side=32):
    """One colour image of class ``label`` = shape x 5 + colour: a jittered coloured shape on a noisy ground."""
    kind, colour = SHAPES[label // len(COLOURS)], np.array(COLOURS[label % len(COLOURS)], float)
    radius = rng.uniform(7, 11)
    centre = rng.uniform(radius + 1, side - radius - 1, 2)
    mask = shape_mask(kind, side, centre, radius, rng.uniform(0, 2 * np.pi))
    ground = rng.uniform(30, 130) + rng.uniform(-15, 15, 3)
    image = np.broadcast_to(ground, (side, side, 3)).copy()
    image[mask] = colour + rng.uniform(-25, 25, 3)
    image += rng.normal(0, 18, image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def build_shapes(rng):
    """Twenty classes (4 shapes x 5 colours) of 32x32 colour images: 50 fit and 20 test each."""
    y_fit, y_test = np.repeat(np.arange(20), 50), np.repeat(np.arange(20), 20)
    y_fit, y_test = rng.permutation(y_fit), rng.permutation(y_test)
    x_fit = np.stack([draw_shape(label, rng) for label in y_fit])
    x_test = np.stack([draw_shape(label, rng) for label in y_test])
    return x_fit, y_fit, x_test, y_test


def draw_grating(label, rng, side=48, classes=6):
    """One grey sine grating at ``label`` x 180/``classes`` degrees (+-3) in strong noise.

    Its period (5-12 px), phase, contrast and mean brightness are random.
    """
    angle = np.deg2rad(label * 180 / classes + rng.uniform(-3, 3))
    yy, xx = np.mgrid[0:side, 0:side]
    period = rng.uniform(5, 12)
    wave = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period + rng.uniform(0, 2 * np.pi))
    image = rng.uniform(90, 160) + rng.uniform(25, 70) * wave + rng.normal(0, 45, (side, side))
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def build_gratings(rng):
    """Six orientations of 48x48 grey gratings: 100 fit and 40 test each."""
    y_fit, y_test = rng.permutation(np.repeat(np.arange(6), 100)), rng.permutation(np.repeat(np.arange(6), 40))
    return (np.stack([draw_grating(label, rng) for label in y_fit]), y_fit,
            np.stack([draw_grating(label, rng) for label in y_test]), y_test)


def box_blur(image, reach=1):
    """The mean of each pixel's (2 reach + 1)^2 neighbourhood, edges repeated."""
    padded = np.pad(image, reach, mode="edge")
    size = 2 * reach + 1
    h, w = image.shape
    return sum(padded[i:i + h, j:j + w] for i in range(size) for j in range(size)) / size ** 2


def draw_surface(scratched, rng, side=24):
    """One grey noisy surface (blurred plus pixel noise); with ``scratched``, a faint thin line 7-12 px long on it."""
    ground = box_blur(rng.normal(0, 1, (side, side)))
    image = rng.uniform(80, 170) + 20 * ground / ground.std() + rng.normal(0, 10, (side, side))
    if scratched:
        length, angle = rng.uniform(7, 12), rng.uniform(0, np.pi)
        middle = rng.uniform(6, side - 6, 2)
        direction = np.array([np.sin(angle), np.cos(angle)])
        yy, xx = np.mgrid[0:side, 0:side] + 0.5
        offset = np.stack([yy - middle[0], xx - middle[1]], -1)
        along = np.clip(offset @ direction, -length / 2, length / 2)
        distance = np.linalg.norm(offset - along[..., None] * direction, axis=-1)
        strength = rng.uniform(55, 85) * rng.choice([-1, 1])
        image += strength * np.clip(1.5 - distance, 0, 1)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def build_scratches(rng):
    """Binary, imbalanced 1:10: 1,000 clean and 100 scratched 24x24 surfaces fit, 400 and 40 test."""
    y_fit = rng.permutation(np.repeat([0, 1], [1000, 100]))
    y_test = rng.permutation(np.repeat([0, 1], [400, 40]))
    return (np.stack([draw_surface(label, rng) for label in y_fit]), y_fit,
            np.stack([draw_surface(label, rng) for label in y_test]), y_test)


TASKS = {task.name: task for task in (
    Task("faces", "faces vs non-faces, 25x25 grey, 150 fit: the tiny task", "scikit-image lfw_subset", build_faces),
    Task("digits", "handwritten digits, 8x8 grey, 10 classes", "scikit-learn load_digits", build_digits),
    Task("mnist3k", "handwritten digits, 28x28 grey, 3,000 fit", "../shared/data/mnist10k", build_mnist3k),
    Task("photos", "which quadrant of which photo a 32x32 colour patch is from", "scikit-learn sample images",
         build_photos),
    Task("textures", "brick, grass or gravel, 64x64 grey patches turned and mirrored", "scikit-image data",
         build_textures),
    Task("scenes", "which of 6 colour pictures a 96x96 patch is from", "scikit-image data", build_scenes),
    Task("shapes", "4 shapes x 5 colours, 32x32 colour, noisy ground", "generated", build_shapes),
    Task("gratings", "orientation of a sine grating in strong noise, 48x48 grey", "generated", build_gratings),
    Task("scratches", "a faint scratch or not on a noisy surface, 1:10, 24x24 grey", "generated", build_scratches),
)}


def describe(task, x_fit, y_fit, x_test):
    """The task's sizes as a dict: fit and test counts, side, channels, classes, balance and majority share of test."""
    counts = np.bincount(y_fit)
    return {
        "task": task.name,
        "n_fit": len(x_fit),
        "n_test": len(x_test),
        "side": f"{x_fit.shape[1]}x{x_fit.shape[2]}",
        "channels": 1 if x_fit.ndim == 3 else x_fit.shape[3],
        "classes": len(counts),
        "balance": "even" if counts.min() == counts.max() else f"1:{counts.max() / counts.min():.3g}",
        "source": task.source,
        "description": task.description,
    }


def list_tasks(names):
    """Print each task's sizes, side, channels, classes, balance and source."""
    header = f"{'task':10s} {'fit':>5s} {'test':>5s} {'side':>6s} {'ch':>2s} {'cls':>3s} {'balance':>8s}  source"
    print(header)
    for name in names:
        try:
            row = describe(TASKS[name], *TASKS[name].load()[:3])
        except SystemExit as missing:
            print(f"{name:10s} unavailable: {missing}")
            continue
        print(f"{row['task']:10s} {row['n_fit']:5d} {row['n_test']:5d} {row['side']:>6s} {row['channels']:2d} "
              f"{row['classes']:3d} {row['balance']:>8s}  {row['source']}: {row['description']}")


# ------------------------------------------------------------ the runs


def run_autoarch(data, seed, time_limit=None, modes=True):
    """Fit ``ImageClassifier(max_trials=1, seed=seed[, time_limit])`` on the fit split: its times and accuracies."""
    import keras

    import autoarch

    x_fit, y_fit, x_test, y_test = data
    with tempfile.TemporaryDirectory(prefix="suite_autoarch_") as directory:
        clf = autoarch.ImageClassifier(max_trials=1, seed=seed, time_limit=time_limit, directory=directory,
                                       overwrite=True, verbose=0)
        started = time.monotonic()
        clf.fit(x_fit, y_fit)
        fit_s = time.monotonic() - started
        predicted = np.asarray(clf.predict(x_test))
        record = {
            "fit_s": round(fit_s, 1),
            "time_limit": time_limit,
            "test_acc": round(float(np.mean(predicted == y_test)), 4),
            "test_balanced_acc": round(balanced_accuracy_score(y_test, predicted), 4),
            "params": int(clf.model_.count_params()),
        }
        if modes:
            record.update(fit_image_modes(clf, x_fit, y_fit))
    del clf
    keras.backend.clear_session()
    gc.collect()
    return record


def run_autokeras(python, data, seed, epochs, max_trials):
    """AutoKeras's record on the split, from ``suite_autokeras.py`` run by ``python`` in a subprocess."""
    with tempfile.TemporaryDirectory(prefix="suite_data_") as directory:
        path = os.path.join(directory, "data.npz")
        np.savez(path, **dict(zip(("x_fit", "y_fit", "x_test", "y_test"), data)))
        done = subprocess.run(
            [python, AUTOKERAS_RUNNER, path, "--seed", str(seed), "--epochs", str(epochs),
             "--max-trials", str(max_trials)],
            capture_output=True, text=True,
        )
    if done.returncode:
        raise SystemExit(f"AutoKeras failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def git_state():
    """autoarch's commit, whether the working tree differs from it, and the tracked files that do."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(changed), "changed_files": changed}


def machine():
    """The CPU, its core count, TensorFlow's version and the GPUs TensorFlow sees."""
    import tensorflow as tf

    from autoarch.latency import device_fingerprint

    return {
        "machine": f"{device_fingerprint()['cpu']}, {os.cpu_count()} cores",
        "tensorflow": tf.__version__,
        "gpus": [gpu.name for gpu in tf.config.list_physical_devices("GPU")],
    }


# ------------------------------------------------------------ the summary


def mean_sd(values):
    """``(mean, sample sd)`` of the values that are not None; sd is None below two values, both None for none."""
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def summarise(records):
    """Per-task summary of the per-seed records: means and sds, time ratio, worst training-mode gap."""
    def column(run, key):
        return [record.get(run, {}).get(key) for record in records]

    summary = {"seeds": [record["seed"] for record in records]}
    for run in ("autoarch", "autokeras", "autoarch_equal_time"):
        for key in ("test_acc", "test_balanced_acc", "fit_s"):
            mean, sd = mean_sd(column(run, key))
            summary[f"{run}_{key}_mean"] = None if mean is None else round(mean, 4)
            summary[f"{run}_{key}_sd"] = None if sd is None else round(sd, 4)
    ratios = [a / k for a, k in zip(column("autoarch", "fit_s"), column("autokeras", "fit_s")) if a and k]
    summary["time_ratio_autoarch_to_autokeras"] = round(statistics.fmean(ratios), 2) if ratios else None
    gaps = [gap for gap in column("autoarch", "fit_acc_gap") if gap is not None]
    summary["worst_fit_acc_gap"] = max(gaps, key=abs) if gaps else None
    return summary


def fmt(mean, sd):
    """``mean +- sd`` as percentages, ``-`` where missing."""
    if mean is None:
        return "-"
    return f"{100 * mean:5.1f}" + (f" +-{100 * sd:4.1f}" if sd is not None else "      ")


def seconds(value):
    """Seconds with one decimal, ``-`` where missing."""
    return "-" if value is None else f"{value:.1f}"


def print_table(results):
    """The table: per task, each run's test accuracy (mean +- sd over seeds, %), time ratio and worst gap."""
    print(f"{'task':10s} {'fit':>5s} {'major.':>6s} {'autoarch':>12s} {'AutoKeras':>12s} {'equal time':>12s} "
          f"{'aa s':>6s} {'AK s':>6s} {'ratio':>5s} {'gap':>6s}  seeds")
    for result in results:
        s = result["summary"]
        ratio = s["time_ratio_autoarch_to_autokeras"]
        gap = s["worst_fit_acc_gap"]
        print(
            f"{result['task']:10s} {result['sizes']['n_fit']:5d} {100 * result['majority_test_share']:6.1f} "
            f"{fmt(s['autoarch_test_acc_mean'], s['autoarch_test_acc_sd']):>12s} "
            f"{fmt(s['autokeras_test_acc_mean'], s['autokeras_test_acc_sd']):>12s} "
            f"{fmt(s['autoarch_equal_time_test_acc_mean'], s['autoarch_equal_time_test_acc_sd']):>12s} "
            f"{seconds(s['autoarch_fit_s_mean']):>6s} {seconds(s['autokeras_fit_s_mean']):>6s} "
            f"{'-' if ratio is None else f'{ratio:.2f}':>5s} {'-' if gap is None else f'{100 * gap:+.1f}':>6s}  "
            f"{' '.join(map(str, s['seeds']))}"
        )
    print("test accuracy in %, mean +- sd over seeds; major.: share of the test set's largest class; "
          "ratio: autoarch's fit time / AutoKeras's; gap: worst training-mode minus inference-mode accuracy "
          "on the fit images, in points")


def result_path(name, tag):
    """Where a task's JSON goes."""
    return results_path.result_path("suite", results_path.tagged_name(f"suite_{name}", tag))


def report(tag):
    """Print the table of the JSON already written for ``tag`` (untagged files without one)."""
    results = []
    folder = results_path.result_dir("suite")
    for path in sorted(glob.glob(os.path.join(folder, "suite_*.json"))):
        with open(path) as file:
            result = json.load(file)
        if (result.get("tag") or "") == tag and result_path(result["task"], tag) == path:
            results.append(result)
    if not results:
        raise SystemExit(f"no results in {folder} for tag {tag!r}")
    order = list(TASKS)
    print_table(sorted(results, key=lambda r: order.index(r["task"]) if r["task"] in order else len(order)))


# ------------------------------------------------------------ main


def run_task(task, args, context):
    """Every seed of one task, each run one after the other; the JSON is rewritten after every seed."""
    data = task.load()
    result = {
        "benchmark": "suite",
        "task": task.name,
        "tag": args.tag,
        "sizes": describe(task, *data[:3]),
        "majority_test_share": round(float(np.bincount(data[3]).max() / len(data[3])), 4),
        "autokeras_settings": {"epochs": args.autokeras_epochs, "max_trials": args.autokeras_trials}
        if args.autokeras else None,
        **context,
        "records": [],
    }
    for seed in args.seeds:
        record = {"seed": seed, "autoarch": run_autoarch(data, seed)}
        print(f"{task.name} seed {seed} autoarch: {record['autoarch']}", flush=True)
        if args.autokeras:
            record["autokeras"] = run_autokeras(args.autokeras, data, seed, args.autokeras_epochs,
                                                args.autokeras_trials)
            print(f"{task.name} seed {seed} AutoKeras: {record['autokeras']}", flush=True)
            if args.equal_time:
                record["autoarch_equal_time"] = run_autoarch(data, seed, time_limit=record["autokeras"]["fit_s"],
                                                             modes=False)
                print(f"{task.name} seed {seed} autoarch at equal time: {record['autoarch_equal_time']}", flush=True)
        result["records"].append(record)
        result["summary"] = summarise(result["records"])
        with open(result_path(task.name, args.tag), "w") as file:
            json.dump(result, file, indent=1)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS), metavar="TASK",
                        help=f"tasks to run (default all: {' '.join(TASKS)})")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--autokeras", metavar="PY",
                        help="python of AutoKeras's venv (../shared/tools/autokeras/setup.sh)")
    parser.add_argument("--autokeras-epochs", type=int, default=10)
    parser.add_argument("--autokeras-trials", type=int, default=1)
    parser.add_argument("--equal-time", action="store_true",
                        help="also run autoarch with time_limit = AutoKeras's fit time (needs --autokeras)")
    parser.add_argument("--tag", default="", help="suffix of the JSON file names")
    parser.add_argument("--list", action="store_true", help="print the tasks and their sizes, run nothing")
    parser.add_argument("--report", action="store_true", help="print the table of the JSON already written")
    args = parser.parse_args()
    if args.equal_time and not args.autokeras:
        parser.error("--equal-time needs --autokeras (it takes AutoKeras's fit time as autoarch's time limit)")
    if args.list:
        return list_tasks(args.tasks)
    if args.report:
        return report(args.tag)

    from autoarch.runtime import configure_cpu_threads

    configure_cpu_threads()
    context = {**machine(), "autoarch_git": git_state(), "command": " ".join(sys.argv[1:])}
    results = [run_task(TASKS[name], args, context) for name in args.tasks]
    print_table(results)


if __name__ == "__main__":
    sys.exit(main())
