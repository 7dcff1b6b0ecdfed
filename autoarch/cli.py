"""The ``autoarch`` command line: ``fit`` an image folder, ``predict`` image files, ``show`` a search.

    autoarch fit images/ --max-trials 5 --time-limit 600 --project runs/digits --export model.keras
    autoarch predict model.keras photo1.png photo2.jpg [--json]
    autoarch show runs/digits --plot cells.png

Every command has ``--help``. Bad input (a missing path, a folder without
images, an unreadable image, a bad option value) is refused before anything is
written, with one line on stderr (``autoarch fit: error: ...``) and exit code 2.
This module imports TensorFlow only once a command runs, and TensorFlow's
native log lines are kept off stderr while it runs.
"""

import argparse
import contextlib
import json
import os
import sys

__all__ = ["main"]

TUNERS = ("bayesian", "random", "hyperband", "evolution")
"""The ``--tuner`` names (those of `autoarch.tuning.oracles.TUNERS`)."""

_EXIT_OK, _EXIT_FAILED, _EXIT_USAGE, _EXIT_INTERRUPTED = 0, 1, 2, 130

_EXPORT_FORMATS = {".keras": "keras", ".tflite": "tflite"}


class _UsageError(Exception):
    """Bad command-line input found by the CLI itself (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose errors are one line on stderr and exit code 2."""

    def error(self, message):
        """Print ``PROG: error: MESSAGE (see PROG --help)`` on stderr and exit with 2."""
        _say_error(self.prog, f"{message} (see {self.prog} --help)")
        self.exit(_EXIT_USAGE)


def _say_error(prog, message):
    print(f"{prog}: error: {' '.join(str(message).split())}", file=sys.stderr)


# ------------------------------------------------------------------ parsing


def _image_size(text):
    """``--image-size`` value: ``SIZE`` (square) or ``HEIGHTxWIDTH``, as ``(height, width)``."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        size = tuple(int(part) for part in parts)
    except ValueError:
        size = ()
    if len(size) == 1:
        size = size * 2
    if len(size) != 2 or min(size) < 1:
        raise argparse.ArgumentTypeError(
            f"expected SIZE or HEIGHTxWIDTH in pixels (for example 32 or 28x28), got {text!r}"
        )
    return size


def _parser():
    parser = _Parser(
        prog="autoarch",
        description="AutoML for images that searches the network architecture (DARTS inside a keras-tuner search).",
        epilog="Run 'autoarch COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    fit = commands.add_parser(
        "fit",
        help="search an architecture for an image folder and train it",
        description=(
            "Search network architectures and hyperparameters for the images in DATA_DIR, "
            "retrain the best one on all of them and save it in the project folder. "
            "DATA_DIR holds one subfolder per class (the folder names are the labels) with "
            "PNG, JPEG, BMP or GIF images of any size; all are resized to one size (see "
            "--image-size) and converted to the first image's channel count."
        ),
    )
    fit.add_argument("data_dir", metavar="DATA_DIR", help="folder with one subfolder of images per class")
    fit.add_argument("--max-trials", type=int, default=10, metavar="N", help="trials to run (default: 10)")
    fit.add_argument(
        "--time-limit", type=float, metavar="S",
        help="seconds for the whole fit: no trial starts after it and the best so far is kept (default: none)",
    )
    fit.add_argument(
        "--max-model-size", type=int, metavar="N",
        help="most parameters of the final model; larger trials fail (default: none)",
    )
    fit.add_argument(
        "--max-flops", type=int, metavar="N",
        help="most multiply-adds per image of the final model; costlier trials fail (default: none)",
    )
    fit.add_argument(
        "--max-latency-ms", type=float, metavar="MS",
        help="most milliseconds per image of the final model on --latency-target: the search weighs it and "
        "slower trials fail (default: none)",
    )
    fit.add_argument(
        "--latency-target", default="tflite-cpu", metavar="TARGET",
        help="where --max-latency-ms counts: tflite-cpu (this machine's CPU, the TFLite interpreter, one "
        "thread) or a latency table's JSON file measured elsewhere (default: tflite-cpu)",
    )
    fit.add_argument(
        "--latency-weight", type=float, metavar="W",
        help="strength of the latency term in the search's architecture loss (default: autoarch's)",
    )
    fit.add_argument(
        "--project", default="image_classifier", metavar="DIR",
        help="project folder: trials, final model, and what a rerun resumes (default: ./image_classifier)",
    )
    fit.add_argument(
        "--export", metavar="OUT",
        help="also export the final model, in the format of OUT's suffix: .keras (Keras file), .tflite "
        "(TFLite file), anything else a SavedModel folder",
    )
    fit.add_argument(
        "--image-size", type=_image_size, metavar="SIZE",
        help="resize every image to SIZE (square) or HEIGHTxWIDTH pixels, at least 8 "
        "(default: the size of the first image, in class then file name order)",
    )
    fit.add_argument(
        "--search-space", metavar="JSON",
        help='fix or narrow search settings: a JSON object or a JSON file, e.g. \'{"init_channels": 8, '
        '"cells": [3, 4], "learning_rate": {"min": 0.001, "max": 0.01}}\': a value fixes a setting, '
        'a list is a choice, {"min", "max"} a range (see autoarch.tuning.space.SETTINGS)',
    )
    fit.add_argument(
        "--tuner", choices=TUNERS, default="bayesian",
        help="how trials are chosen: %(choices)s (default: bayesian)",
    )
    fit.add_argument("--seed", type=int, help="random seed, for repeatable searches (default: none)")
    fit.add_argument(
        "--validation-split", type=float, default=0.2, metavar="F",
        help="share of the images held out to score each trial, in (0, 0.5] (default: 0.2)",
    )
    fit.add_argument(
        "--overwrite", action="store_true",
        help="start the project afresh and replace an existing export (default: resume the project, "
        "refuse to replace an export)",
    )
    _add_verbosity(fit)
    fit.set_defaults(run=_fit)

    predict = commands.add_parser(
        "predict",
        help="classify images with a fitted model",
        description=(
            "Print one line per image: the file, the predicted label and its probability (for a "
            "regression model, the predicted values). Images are resized to the model's image "
            "size and converted to its channel count; pixels are read as 0-255."
        ),
    )
    predict.add_argument("model", metavar="MODEL", help="a project folder or a .keras file exported by autoarch")
    predict.add_argument(
        "images", nargs="+", metavar="IMAGE",
        help="image files (PNG, JPEG, BMP, GIF), or folders whose images (recursively) are read",
    )
    predict.add_argument(
        "--json", action="store_true",
        help="print one JSON document instead: the classes and, per image, the label, its "
        "probability and every class's probability",
    )
    predict.set_defaults(run=_predict)

    show = commands.add_parser(
        "show",
        help="show the trials and the best genotype of a fit",
        description="Print the trials (status, score, size, time, genotype or failure reason) and the best genotype.",
    )
    show.add_argument("path", metavar="PROJECT_OR_MODEL", help="a project folder or a .keras file exported by autoarch")
    show.add_argument(
        "--plot", metavar="PNG", help="draw the best genotype's normal and reduction cells into this PNG file"
    )
    show.add_argument(
        "--json", action="store_true", help="print one JSON document: the trials, best genotype and hyperparameters"
    )
    show.set_defaults(run=_show)
    return parser


def _add_verbosity(parser):
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--verbose", type=int, choices=(0, 1, 2), default=1,
        help="0: only the summary; 1: a progress bar per stage and a line per trial; 2: a line per epoch (default: 1)",
    )
    group.add_argument("-q", "--quiet", dest="verbose", action="store_const", const=0, help="same as --verbose 0")


def _version():
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("autoarch")
    except PackageNotFoundError:
        return "unknown"


# ------------------------------------------------------------------ main


def main(argv=None):
    """Run the ``autoarch`` command line.

    Args:
        argv: the arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 on success, 2 for bad input or options (one line on
        stderr, nothing written), 1 when the work itself failed (for example
        every trial failed), 130 when interrupted.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error already reported
        return stop.code if isinstance(stop.code, int) else _EXIT_USAGE
    if args.command is None:
        _say_error(parser.prog, f"a command is required: fit, predict or show (see {parser.prog} --help)")
        return _EXIT_USAGE
    prog = f"autoarch {args.command}"
    try:
        with _native_stderr_discarded():
            return args.run(args)
    except (_UsageError, ValueError) as error:
        _say_error(prog, error)
    except BrokenPipeError:  # stdout closed early (autoarch show ... | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _EXIT_FAILED
    except OSError as error:
        _say_error(prog, f"{error.filename}: {error.strerror}" if error.filename and error.strerror else error)
    except RuntimeError as error:
        _say_error(prog, error)
        return _EXIT_FAILED
    except KeyboardInterrupt:
        _say_error(prog, "interrupted (a fit resumes where it stopped when run again)")
        return _EXIT_INTERRUPTED
    return _EXIT_USAGE


@contextlib.contextmanager
def _native_stderr_discarded():
    """Discard what native code writes to stderr, while Python's ``sys.stderr`` still prints.

    TensorFlow 2.21 writes absl log lines to file descriptor 2 that
    ``TF_CPP_MIN_LOG_LEVEL`` does not silence (at import, and "failed call to
    cuInit" where CUDA is installed without a GPU), so descriptor 2 goes to the
    null device and ``sys.stderr`` to a copy of the real one.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no descriptor 2 (or a closed stderr): nothing to discard
        yield
        return
    python_stderr = sys.stderr
    if python_stderr is sys.__stderr__:
        sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, errors="backslashreplace")
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        if sys.stderr is not python_stderr:
            sys.stderr.close()
            sys.stderr = python_stderr


def _import_autoarch():
    """Import TensorFlow and autoarch (once a command runs); returns the `autoarch` package."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import autoarch
    import autoarch.export
    import autoarch.inputs
    import autoarch.latency
    import autoarch.tuning.distributed

    return autoarch


def _existing(path, what):
    if not os.path.exists(path):
        raise _UsageError(f"{what} {path!r} does not exist")
    return path


# ------------------------------------------------------------------ fit


def _fit(args):
    data_dir = _existing(args.data_dir, "DATA_DIR")
    if not os.path.isdir(data_dir):
        raise _UsageError(f"DATA_DIR {data_dir!r} is not a folder: expected one subfolder of images per class")
    search_space = _read_search_space(args.search_space)
    project_dir = os.path.abspath(args.project)
    if os.path.basename(project_dir) in ("", "."):
        raise _UsageError(f"--project {args.project!r}: expected a folder name")

    autoarch = _import_autoarch()
    latency_target = _latency_target(autoarch, args.latency_target)
    export = None
    if args.export:
        if os.path.lexists(args.export) and not args.overwrite:
            raise _UsageError(f"--export {args.export!r} already exists: pass --overwrite to replace it")
        export_format = _EXPORT_FORMATS.get(os.path.splitext(args.export)[1].lower(), "saved_model")
        export = (autoarch.export.check_export_path(args.export, export_format, args.overwrite), export_format)
    # The folder streams: its files are decoded whenever a pipeline reads them, never all held in memory.
    folder = autoarch.inputs.image_folder_dataset(data_dir, image_size=args.image_size)
    if args.verbose:
        height, width, channels = folder.element_spec[0].shape
        classes = sum(1 for e in os.scandir(data_dir) if e.is_dir() and not e.name.startswith("."))
        print(f"{int(folder.cardinality())} images of {height}x{width}x{channels} in {classes} classes from {data_dir}")

    classifier = autoarch.ImageClassifier(
        max_trials=args.max_trials,
        tuner=args.tuner,
        directory=os.path.dirname(project_dir),
        project_name=os.path.basename(project_dir),
        overwrite=args.overwrite,
        seed=args.seed,
        time_limit=args.time_limit,
        max_model_size=args.max_model_size,
        max_flops=args.max_flops,
        max_latency_ms=args.max_latency_ms,
        latency_target=latency_target,
        latency_weight=args.latency_weight,
        search_space=search_space,
        verbose=args.verbose,
    )
    classifier.fit(folder, validation_split=args.validation_split)  # validates before writing
    if not hasattr(classifier, "model_"):  # a distributed worker: another process makes the model
        print(f"search over; the final model is made by {autoarch.tuning.distributed.final_fit_owner()!r}")
        return _EXIT_OK
    exported = classifier.export(export[0], format=export[1], overwrite=args.overwrite) if export else None
    _print_fit_summary(classifier, exported, export[1] if export else None)
    return _EXIT_OK


def _latency_target(autoarch, target):
    """``--latency-target``: a target name, or the JSON file of a `autoarch.latency.LatencyTable`."""
    if target in autoarch.latency.LATENCY_TARGETS:
        return target
    if not os.path.isfile(target):
        raise _UsageError(
            f"--latency-target {target!r}: expected one of {', '.join(autoarch.latency.LATENCY_TARGETS)} "
            "or the JSON file of a latency table"
        )
    try:
        return autoarch.latency.LatencyTable.load(target)
    except ValueError as error:
        raise _UsageError(f"--latency-target: {error}") from error


def _read_search_space(text):
    """``--search-space``: a JSON object, or a JSON file holding one; ``{"min", "max"}`` becomes a range."""
    if text is None:
        return None
    source = "--search-space"
    if os.path.isfile(text):
        source = f"--search-space file {text!r}"
        with open(text) as file:
            text = file.read()
    elif not text.lstrip().startswith("{"):
        raise _UsageError(f"--search-space: expected a JSON object or the path of a JSON file, got {text!r}")
    try:
        space = json.loads(text)
    except json.JSONDecodeError as error:
        raise _UsageError(f"{source} is not valid JSON: {error}") from None
    if not isinstance(space, dict):
        raise _UsageError(f"{source}: expected a JSON object of settings, got {type(space).__name__}")
    return {name: _range_or_value(value) for name, value in space.items()}


def _range_or_value(value):
    if isinstance(value, dict):
        if set(value) != {"min", "max"}:
            raise _UsageError(f'--search-space: a range is {{"min": LOW, "max": HIGH}}, got {json.dumps(value)}')
        return (value["min"], value["max"])
    return value


def _print_fit_summary(classifier, exported, export_format):
    from autoarch.project import FINAL_MODEL

    results = classifier.results_
    completed = sum(row["status"] == "COMPLETED" for row in results)
    objective = _objective_name(classifier)
    best = _best_row(results, objective)
    failed = len(results) - completed
    print(f"trials: {completed} completed, {failed} failed or stopped, in {classifier.fit_seconds_:.1f} s")
    if best is not None:
        print(
            f"best trial {best['trial_id']}: holdout {objective} {best['score']:.4f}, "
            f"{_number(best['parameters'])} parameters, {_number(best['seconds'])} s"
        )
    print(f"genotype: {classifier.best_genotype_.summary()}")
    if getattr(classifier, "latency_ms_", None) is not None:
        how = classifier.latency_measurement_
        print(f"latency: {classifier.latency_ms_:.3g} ms per image {'estimated' if how.get('estimated') else 'measured'} "
              f"(budget {classifier.max_latency_ms:g} ms, on {how.get('target', 'the latency table')})")
    print(f"project: {classifier.project_dir_}")
    print(f"model: {os.path.join(classifier.project_dir_, FINAL_MODEL)}")
    if exported is not None:
        print(f"exported ({export_format}): {os.path.abspath(exported)}")


def _objective_name(estimator):
    if isinstance(estimator.objective, str):
        return estimator.objective
    return "val_loss" if type(estimator).__name__ == "ImageRegressor" else "val_accuracy"


def _best_row(results, objective):
    from autoarch.tuning.ranking import best_row

    return best_row(results, objective)


# ------------------------------------------------------------------ predict


def _predict(args):
    _existing(args.model, "MODEL")
    for path in args.images:
        _existing(path, "IMAGE")
    autoarch = _import_autoarch()
    import numpy as np

    estimator = autoarch.load(args.model)
    files = [file for path in args.images for file in _image_files(path, autoarch.inputs.IMAGE_EXTENSIONS)]
    height, width, channels = estimator.image_shape_
    images = np.stack([autoarch.inputs.read_image_file(file, (height, width), channels) for file in files])
    if hasattr(estimator, "classes_"):
        rows = _classify(estimator, files, images)
    else:
        values = estimator.predict(images)
        rows = [{"file": file, "prediction": np.ravel(value).tolist()} for file, value in zip(files, values)]
    if args.json:
        document = {"model": args.model, "predictions": rows}
        if hasattr(estimator, "classes_"):
            document["classes"] = [_plain(c) for c in estimator.classes_]
        print(json.dumps(document, indent=1))
    else:
        for row in rows:
            if "label" in row:
                print(f"{row['file']}\t{row['label']}\t{row['probability']:.4f}")
            else:
                print(f"{row['file']}\t{' '.join(f'{v:.6g}' for v in row['prediction'])}")
    return _EXIT_OK


def _image_files(path, extensions):
    """``path`` itself, or the image files under a folder (sorted, recursively)."""
    if not os.path.isdir(path):
        return [path]
    files = sorted(
        os.path.join(root, name)
        for root, _, names in os.walk(path)
        for name in names
        if name.lower().endswith(extensions) and not name.startswith(".")
    )
    if not files:
        raise _UsageError(f"the folder {path!r} holds no image files ({', '.join(extensions)})")
    return files


def _classify(estimator, files, images):
    proba = estimator.predict_proba(images)
    classes = [_plain(c) for c in estimator.classes_]
    return [
        {
            "file": file,
            "label": classes[int(row.argmax())],
            "probability": float(row.max()),
            "probabilities": {str(c): float(p) for c, p in zip(classes, row)},
        }
        for file, row in zip(files, proba)
    ]


def _plain(value):
    from autoarch.display import plain  # imported once a command runs: it imports TensorFlow

    return plain(value)


def _number(value):
    from autoarch.display import text_number

    return text_number(value)


# ------------------------------------------------------------------ show


def _show(args):
    _existing(args.path, "PROJECT_OR_MODEL")
    autoarch = _import_autoarch()
    estimator = autoarch.load(args.path)
    objective = _objective_name(estimator)
    best = _best_row(estimator.results_, objective)
    if args.json:
        print(json.dumps(
            {
                "estimator": type(estimator).__name__,
                "image_shape": list(estimator.image_shape_),
                "classes": [_plain(c) for c in getattr(estimator, "classes_", [])],
                "objective": objective,
                "results": estimator.results_,
                "best_genotype": estimator.best_genotype_.to_dict(),
                "best_hyperparameters": estimator.best_hyperparameters_,
            },
            indent=1,
        ))
    else:
        _print_show(estimator, objective, best)
    if args.plot:
        title = f"best genotype (trial {best['trial_id']})" if best else "best genotype"
        written = estimator.best_genotype_.plot(args.plot, title=title)
        print(f"cells drawn in {written}", file=sys.stderr if args.json else sys.stdout)
    return _EXIT_OK


def _print_show(estimator, objective, best):
    from autoarch.display import trial_table_text

    shape = "x".join(str(v) for v in estimator.image_shape_)
    classes = [str(_plain(c)) for c in getattr(estimator, "classes_", [])]
    listed = ", ".join(classes[:10]) + (", ..." if len(classes) > 10 else "")
    print(f"{type(estimator).__name__}: images {shape}" + (f", {len(classes)} classes: {listed}" if classes else ""))
    print()
    for line in trial_table_text(estimator.results_, objective, best):
        print(line)
    print()
    print("best genotype" + (f" (trial {best['trial_id']}, marked *):" if best else ":"))
    print(estimator.best_genotype_)
    settings = ", ".join(f"{key}={value}" for key, value in sorted(estimator.best_hyperparameters_.items()))
    print(f"best hyperparameters: {settings}")
