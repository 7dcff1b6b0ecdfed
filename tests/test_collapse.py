"""Tests for CollapseGuard on a tiny SearchNetwork whose architecture is frozen by hand.

The architecture learning rate and decay are 0, so the alphas set with ``.assign``
stay put and the derived genotype is known for every epoch. The first ``fit`` after
each ``compile`` traces the bilevel step, so one network is shared by the module
and recompiled only when the warm-up setting changes.
"""

import numpy as np
import pytest

from autoarch.darts import CollapseGuard, SearchNetwork
from autoarch.data import paired_search_dataset

PRIMITIVES = ("none", "max_pool_3x3", "skip_connect", "sep_conv_3x3")
NODES = 2  # 5 edges and 4 operations per cell


@pytest.fixture(scope="module")
def search(digits):
    x, y = digits
    net = SearchNetwork(
        (8, 8, 1), 10, init_channels=2, layers=3, nodes=NODES, primitives=PRIMITIVES, seed=0
    )
    data = paired_search_dataset(x[:32], y[:32], x[32:64], y[32:64], batch_size=16, seed=0)
    return net, data


def compiled(net, warmup=0):
    """Compile ``net`` with a frozen architecture, unless it already is with this warm-up."""
    if getattr(net, "_test_warmup", None) != warmup:
        net.compile(arch_learning_rate=0.0, arch_weight_decay=0.0, arch_warmup_epochs=warmup)
        net._test_warmup = warmup
    return net


def set_architecture(net, normal, reduce="max_pool_3x3"):
    """Make ``normal`` and ``reduce`` the strongest operation on every edge of each cell."""
    for variable, op in ((net.alphas_normal, normal), (net.alphas_reduce, reduce)):
        alphas = np.zeros(variable.shape, "float32")
        alphas[:, PRIMITIVES.index(op)] = 5.0
        variable.assign(alphas)


def fit(net, data, guard, epochs):
    before = len(net.alpha_history)
    history = net.fit(data, epochs=epochs, callbacks=[guard], shuffle=False, verbose=0).history
    return history, net.alpha_history[before:]


def softmax(alphas):
    e = np.exp(alphas - alphas.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_skip_collapse_stops_after_the_first_epoch(search):
    net, data = search
    net = compiled(net, warmup=0)
    set_architecture(net, "skip_connect")
    assert net.genotype().count("skip_connect", "normal") == 2 * NODES
    alphas = net.alphas_normal.numpy().copy()

    guard = CollapseGuard(max_skip_connections=2, patience=3)
    history, recorded = fit(net, data, guard, epochs=4)

    assert guard.reason == "skip_collapse"
    assert guard.stopped_epoch == 0
    assert len(history["loss"]) == 1
    assert np.all(np.isfinite(history["loss"]))
    # One alpha_history entry for the single epoch that ran; the alphas stayed put.
    assert [entry["epoch"] for entry in recorded] == [0]
    np.testing.assert_array_equal(net.alphas_normal.numpy(), alphas)
    np.testing.assert_allclose(recorded[0]["normal"], softmax(alphas), atol=1e-6)


def test_settled_architecture_stops_after_patience(search):
    net, data = search
    net = compiled(net, warmup=0)
    set_architecture(net, "sep_conv_3x3")
    assert net.genotype().count("skip_connect", "normal") == 0

    guard = CollapseGuard(max_skip_connections=2, patience=2)
    history, recorded = fit(net, data, guard, epochs=6)

    # Epoch 0 sets the reference, epochs 1 and 2 leave it unchanged: stop after 3 epochs.
    assert guard.reason == "settled"
    assert guard.stopped_epoch == 2
    assert len(history["loss"]) == 3
    assert [entry["epoch"] for entry in recorded] == [0, 1, 2]
    for entry in recorded:
        assert entry["normal"].shape == entry["reduce"].shape == (5, len(PRIMITIVES))
        assert np.argmax(entry["normal"], axis=1).tolist() == [PRIMITIVES.index("sep_conv_3x3")] * 5
    # The architecture trained every epoch (no warm-up).
    assert all(loss > 0 for loss in history["arch_loss"])


def test_guard_tolerates_skips_up_to_the_limit_and_only_in_the_normal_cell(search):
    net, data = search
    net = compiled(net, warmup=0)

    set_architecture(net, "skip_connect")  # 4 skips in the normal cell: not more than 4
    guard = CollapseGuard(max_skip_connections=2 * NODES, patience=None)
    history, recorded = fit(net, data, guard, epochs=2)
    assert guard.reason is None and guard.stopped_epoch is None
    assert len(history["loss"]) == len(recorded) == 2

    set_architecture(net, "sep_conv_3x3", reduce="skip_connect")  # skips in reduce only
    guard = CollapseGuard(max_skip_connections=0, patience=None)
    history, recorded = fit(net, data, guard, epochs=2)
    assert guard.reason is None and guard.stopped_epoch is None
    assert len(history["loss"]) == len(recorded) == 2


def test_warmup_epochs_are_ignored(search):
    net, data = search
    net = compiled(net, warmup=2)
    assert net.arch_warmup_epochs == 2

    # A collapsed architecture is only acted on once the warm-up (epochs 0 and 1) is over.
    set_architecture(net, "skip_connect")
    guard = CollapseGuard()
    history, recorded = fit(net, data, guard, epochs=5)
    assert guard.reason == "skip_collapse"
    assert guard.stopped_epoch == 2
    assert len(history["loss"]) == len(recorded) == 3
    # The architecture step did not run during warm-up.
    assert history["arch_loss"][:2] == [0.0, 0.0]
    assert history["arch_loss"][2] > 0

    # Settling is counted from the first epoch after warm-up too.
    set_architecture(net, "sep_conv_3x3")
    guard = CollapseGuard(patience=1)
    history, recorded = fit(net, data, guard, epochs=6)
    assert guard.reason == "settled"
    assert guard.stopped_epoch == 3
    assert len(history["loss"]) == len(recorded) == 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_skip_connections": -1}, "max_skip_connections must be >= 0, got -1"),
        ({"patience": 0}, "patience must be >= 1 or None, got 0"),
        ({"patience": -3}, "patience must be >= 1 or None, got -3"),
    ],
)
def test_collapse_guard_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        CollapseGuard(**kwargs)


def test_collapse_guard_defaults_and_fresh_state():
    guard = CollapseGuard()
    assert guard.max_skip_connections == 2
    assert guard.patience == 3
    guard.on_train_begin()
    assert guard.reason is None and guard.stopped_epoch is None


def test_compile_rejects_negative_warmup():
    net = SearchNetwork((8, 8, 1), 10, init_channels=2, layers=1, nodes=1, primitives=PRIMITIVES)
    with pytest.raises(ValueError, match="arch_warmup_epochs must be >= 0, got -1"):
        net.compile(arch_warmup_epochs=-1)
