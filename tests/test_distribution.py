"""Several devices per trial: MirroredStrategy over two logical CPUs equals one device.

Logical devices must be configured before TensorFlow starts, so the runs happen
once, in a fresh interpreter (``tests/replicas_run.py``): a first-order search
(one warm-up epoch, then one epoch with a last batch split 4/3), a second-order
search epoch, a discrete network epoch and an ``ImageClassifier(devices=2)``
fit. Each run is compared here with the same training on one device from the
same initial weights on the same batches.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from autoarch import ImageClassifier
from autoarch.darts import Genotype, build_network
from autoarch.darts.operations import normalization
from autoarch.darts.kernels import several_replicas
from autoarch.runtime import device_strategy, resolve_devices

ROOT = Path(__file__).resolve().parent.parent
STAGES = ("search-first", "search-second", "network", "estimator")
RTOL, ATOL = 1e-4, 1e-6


@pytest.fixture(scope="module")
def runs():
    """Every stage of ``tests/replicas_run.py``, run once in one subprocess."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run(
        [sys.executable, "-m", "tests.replicas_run", *STAGES],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    found = {}
    for line in result.stdout.splitlines():
        if line.startswith("RESULT "):
            run = json.loads(line[len("RESULT ") :])
            found[run["stage"]] = run
    assert result.returncode == 0 and set(found) == set(STAGES), result.stderr[-3000:]
    return found


def assert_same_training(run, metrics):
    one, two = run["one"], run["two"]
    # Two replicas really trained, each weight mirrored on both devices: no silent fallback to one.
    assert one["replicas"] == 1 and len(one["devices"]) == 1
    assert two["replicas"] == 2 and [d.split("/")[-1] for d in two["devices"]] == ["device:CPU:0", "device:CPU:1"]
    for name in metrics:
        np.testing.assert_allclose(two["history"][name], one["history"][name], rtol=RTOL, atol=ATOL, err_msg=name)
    assert len(one["weights"]) == len(two["weights"])
    for index, (a, b) in enumerate(zip(one["weights"], two["weights"])):
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL, err_msg=f"weight {index}")


def test_first_order_search_with_warmup_matches_one_device(runs):
    run = runs["search-first"]
    assert_same_training(run, ("loss", "accuracy", "arch_loss", "arch_accuracy"))
    history = run["two"]["history"]
    assert len(history["loss"]) == 2
    assert history["arch_loss"][0] == 0.0 and history["arch_loss"][1] > 0.0  # warm-up, then both steps
    for name in ("loss", "accuracy"):
        np.testing.assert_allclose(run["two"]["evaluate"][name], run["one"]["evaluate"][name], rtol=RTOL, atol=ATOL)


def test_second_order_search_matches_one_device(runs):
    run = runs["search-second"]
    assert_same_training(run, ("loss", "accuracy", "arch_loss", "arch_accuracy"))
    assert run["two"]["history"]["arch_loss"][0] > 0.0


def test_network_epoch_matches_one_device(runs):
    assert_same_training(runs["network"], ("loss", "accuracy"))


def test_estimator_trains_on_two_devices_and_exports_a_plain_model(runs):
    run = runs["estimator"]
    assert run["status"] == ["COMPLETED"]
    assert run["predictions"] == 100 and len(run["labels"]) >= 2
    # The trial's network and the final fit trained on both replicas, norms synchronized.
    assert len(run["trainings"]) == 2
    assert all(seen["replicas"] == 2 and seen["synchronized_norms"] > 0 for seen in run["trainings"])
    # What is kept and exported is a plain model.
    assert run["mirrored_variables"] == 0 and run["synchronized_norms"] == 0
    assert run["params_devices"] == 2 and run["saved_devices"] == 2


# ------------------------------------------------------------ in this process (one device)


@pytest.mark.parametrize(
    "devices, message",
    [
        (0, "devices must be >= 1, got 0"),
        (True, "devices must be None, an integer >= 1 or a non-empty list"),
        ("gpu", "devices must be None, an integer >= 1 or a non-empty list"),
        ([], "devices must be None, an integer >= 1 or a non-empty list"),
        (["/cpu:0", "/cpu:0"], "must not repeat a device"),
        (["/tpu:0"], "only CPU and GPU devices are supported"),
        (["cpu"], "expected names like '/gpu:0'"),
        (["/cpu:7"], "'/cpu:7' is not there: 1 CPU device(s) are visible"),
        (64, "devices=64 asks for 64 devices"),
    ],
)
def test_bad_devices_are_refused_before_anything_is_written(tmp_path, digits, devices, message):
    x, y = digits
    clf = ImageClassifier(devices=devices, directory=tmp_path, verbose=0)
    with pytest.raises(ValueError, match=re.escape(message)):
        clf.fit(x[:50], y[:50])
    assert list(tmp_path.iterdir()) == []


def test_one_device_means_no_strategy():
    assert resolve_devices(None) is None and resolve_devices(1) is None
    assert device_strategy(None) is None and device_strategy(1) is None
    assert resolve_devices(["/cpu:0"]) == ["/device:CPU:0"]
    assert not several_replicas()
    # Built outside a strategy, the networks keep Keras's plain batch norm.
    assert normalization(False).synchronized is False


def test_devices_is_a_plain_parameter():
    clf = ImageClassifier(devices=["/gpu:0", "/gpu:1"])
    copy = clone(clf)
    assert copy.get_params()["devices"] == ["/gpu:0", "/gpu:1"]
    assert copy.get_params()["devices"] is not clf.devices
    assert ImageClassifier().get_params()["devices"] is None


def test_network_built_outside_a_strategy_has_no_synchronized_norm():
    genotype = Genotype.from_dict(
        {
            "normal": [["sep_conv_3x3", 0], ["skip_connect", 1]],
            "normal_concat": [2],
            "reduce": [["max_pool_3x3", 0], ["sep_conv_3x3", 1]],
            "reduce_concat": [2],
        }
    )
    model = build_network(genotype, (8, 8, 1), 10, init_channels=4, layers=2, auxiliary=True)
    norms = [layer for layer in model._flatten_layers(recursive=True) if hasattr(layer, "synchronized")]
    assert norms and not any(layer.synchronized for layer in norms)
