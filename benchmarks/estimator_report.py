"""Shared by the estimator benchmarks: time one fit, then print and save its figures."""

import json
import os
import platform
import resource
import sys
import tempfile
import time

from results_path import result_path


def fit_and_report(name, make_estimator, x_fit, y_fit, x_test, y_test, settings, result_file):
    """Fit ``make_estimator(directory)`` in a temporary project, score it, print and save.

    Prints one summary line and, last, the figures as JSON, which also go to
    ``benchmarks/results/<script>/<result_file>``, the script being ``result_file``'s
    name up to its first ``_`` or ``.`` (``digits``, ``mnist``). Returns the figures.
    """
    with tempfile.TemporaryDirectory() as directory:
        clf = make_estimator(directory)
        started = time.perf_counter()
        clf.fit(x_fit, y_fit)
        seconds = time.perf_counter() - started
        accuracy = clf.score(x_test, y_test)
        members = member_accuracies(clf, x_test, y_test)
    figures = {
        "benchmark": name,
        **settings,
        "test_accuracy": round(float(accuracy), 4),
        "fit_seconds": round(seconds, 1),
        "parameters": int(clf.model_.count_params()),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "ensemble_trials": clf.ensemble_trials_,
        "member_test_accuracy": members,
        "trials": [
            {k: r[k] for k in ("trial_id", "status", "score", "seconds", "parameters", "reason", "hyperparameters")}
            for r in clf.results_
        ],
        "best_hyperparameters": clf.best_hyperparameters_,
        "genotype": str(clf.best_genotype_),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": sys.version.split()[0],
    }
    print(
        f"test accuracy {accuracy:.4f}, fit {seconds:.1f} s, {figures['parameters']} parameters, "
        f"peak {figures['peak_rss_mb']} MB, members (trial: test accuracy) {members}"
    )
    script = result_file.split(".")[0].split("_")[0]
    with open(result_path(script, result_file), "w") as file:
        json.dump(figures, file, indent=1)
    print(json.dumps(figures))
    return figures


def member_accuracies(clf, x_test, y_test):
    """Test accuracy of each network of the final model on its own, by trial id."""
    import numpy as np

    from autoarch.inputs import read_images

    model = clf.model_
    images = model.get_layer("normalize")(read_images(x_test, tuple(clf.image_shape_)))
    networks = [layer for layer in model.layers if layer.name.startswith("darts_network")]
    found = {}
    for trial_id, network in zip(clf.ensemble_trials_, networks):
        predicted = np.asarray(clf.classes_)[np.argmax(np.asarray(network.predict(images, verbose=0)), axis=1)]
        found[trial_id] = round(float(np.mean(predicted == np.asarray(y_test))), 4)
    return found
