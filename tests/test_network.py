"""Tests for autoarch.darts.network (the discrete network, drop path) and SearchNetwork setup."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from autoarch.darts import (
    DARTS_V2,
    AUXILIARY_WEIGHT,
    PRIMITIVES,
    Cell,
    DropPath,
    DropPathSchedule,
    SearchNetwork,
    build_network,
    num_edges,
    set_drop_path_rate,
)


SMALL = {"init_channels": 2, "layers": 3}
MAX_RATE = 0.3
EPOCHS = 3


def drop_path_rates(model):
    return [
        float(layer.rate.numpy())
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, DropPath)
    ]


class RateRecorder(keras.callbacks.Callback):
    """Record every DropPath rate during each epoch (after the schedule has set it)."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.rates.append(drop_path_rates(self.model))


@pytest.fixture(scope="module")
def trained(digits):
    """A small auxiliary network trained a few epochs with a drop-path schedule."""
    x, y = digits
    x, y = x[:64], y[:64]
    model = build_network(DARTS_V2, (8, 8, 1), 10, auxiliary=True, seed=0, **SMALL)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01),
        loss=["sparse_categorical_crossentropy", "sparse_categorical_crossentropy"],
        loss_weights=[1.0, AUXILIARY_WEIGHT],
    )
    recorder = RateRecorder()
    history = model.fit(
        x,
        (y, y),
        epochs=EPOCHS,
        batch_size=32,
        callbacks=[DropPathSchedule(MAX_RATE, EPOCHS), recorder],
        verbose=0,
    )
    return model, history.history, recorder.rates


# --------------------------------------------------------------------------- build_network


@pytest.mark.parametrize("input_shape", [(8, 8, 1), (9, 9, 3)])
def test_build_network_outputs_probabilities(input_shape):
    model = build_network(DARTS_V2, input_shape, 7, seed=0, **SMALL)
    assert model.input_shape == (None,) + input_shape
    assert model.output_shape == (None, 7)
    x = np.random.default_rng(0).random((5,) + input_shape).astype("float32")
    probabilities = np.asarray(model(x, training=False))
    assert probabilities.shape == (5, 7)
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    cells = [layer for layer in model.layers if isinstance(layer, Cell)]
    assert len(cells) == 3
    # Reductions at 1/3 and 2/3 of the depth, doubling the channels.
    assert [c.reduction for c in cells] == [False, True, True]
    assert [c.channels for c in cells] == [2, 4, 8]


def test_build_network_without_output_activation_gives_raw_values():
    model = build_network(DARTS_V2, (8, 8, 1), 3, output_activation=None, **SMALL)
    x = np.random.default_rng(1).random((4, 8, 8, 1)).astype("float32")
    out = np.asarray(model(x, training=False))
    assert out.shape == (4, 3)
    assert not np.allclose(out.sum(axis=1), 1.0)


def test_build_network_accepts_genotype_json():
    from_json = build_network(DARTS_V2.to_json(), (8, 8, 1), 10, seed=0, **SMALL)
    from_value = build_network(DARTS_V2, (8, 8, 1), 10, seed=0, **SMALL)
    assert from_json.output_shape == (None, 10)
    assert from_json.count_params() == from_value.count_params()
    json_cells = [layer for layer in from_json.layers if isinstance(layer, Cell)]
    value_cells = [layer for layer in from_value.layers if isinstance(layer, Cell)]
    assert [c.operations for c in json_cells] == [c.operations for c in value_cells]
    assert json_cells[0].operations == list(DARTS_V2.normal)
    assert json_cells[1].operations == list(DARTS_V2.reduce)


@pytest.mark.parametrize(
    "genotype, message",
    [
        (42, "genotype must be a Genotype or its JSON, got int"),
        (None, "genotype must be a Genotype or its JSON, got NoneType"),
        (DARTS_V2.to_dict(), "genotype must be a Genotype or its JSON, got dict"),
        ("not json", "expected a JSON genotype object, got invalid JSON"),
        ('{"normal": []}', r"missing \['normal_concat', 'reduce', 'reduce_concat'\], extra \[\]"),
    ],
    ids=["int", "none", "dict", "bad-json", "bad-genotype-json"],
)
def test_build_network_rejects_bad_genotype(genotype, message):
    with pytest.raises(ValueError, match=message):
        build_network(genotype, (8, 8, 1), 10, **SMALL)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"layers": 0}, "layers, init_channels and stem_multiplier must be >= 1.*, got 0, 2, 3, 1$"),
        ({"layers": -1}, "layers, init_channels and stem_multiplier must be >= 1.*, got -1, 2, 3, 1$"),
        ({"init_channels": 0}, "layers, init_channels and stem_multiplier must be >= 1.*, got 3, 0, 3, 1$"),
        ({"stem_multiplier": 0}, "layers, init_channels and stem_multiplier must be >= 1.*, got 3, 2, 0, 1$"),
    ],
)
def test_build_network_rejects_bad_sizes(kwargs, message):
    arguments = {**SMALL, **kwargs}
    with pytest.raises(ValueError, match=message):
        build_network(DARTS_V2, (8, 8, 1), 10, **arguments)


def test_auxiliary_network_has_two_outputs_and_trains(trained, digits):
    model, history, _ = trained
    assert len(model.outputs) == 2
    assert model.output_shape == [(None, 10), (None, 10)]
    x = digits[0][:6]
    predictions, aux = (np.asarray(o) for o in model(x, training=False))
    assert predictions.shape == aux.shape == (6, 10)
    np.testing.assert_allclose(aux.sum(axis=1), 1.0, atol=1e-5)
    assert len(history["loss"]) == EPOCHS
    assert all(np.isfinite(history["loss"]))
    # The total loss weighs the auxiliary head by AUXILIARY_WEIGHT.
    for total, main, auxiliary in zip(
        history["loss"], history["predictions_loss"], history["aux_predictions_loss"]
    ):
        assert total == pytest.approx(main + AUXILIARY_WEIGHT * auxiliary, rel=1e-3)


# --------------------------------------------------------------------------- drop path


def test_drop_path_schedule_ramps_rate_linearly(trained):
    model, _, rates = trained
    assert len(rates) == EPOCHS
    for epoch, epoch_rates in enumerate(rates):
        assert epoch_rates, "the network has no DropPath layers"
        np.testing.assert_allclose(epoch_rates, MAX_RATE * epoch / EPOCHS, atol=1e-6)
    # After fit the last epoch's rate stays.
    np.testing.assert_allclose(drop_path_rates(model), MAX_RATE * (EPOCHS - 1) / EPOCHS, atol=1e-6)


def test_drop_path_count_skips_identities():
    model = build_network(DARTS_V2, (8, 8, 1), 10, **SMALL)
    # Normal cells: 8 ops, 2 identity skips; reduce cells: 3 skips from node 2 (stride 1).
    assert len(drop_path_rates(model)) == (8 - 2) + 2 * (8 - 3)
    assert not drop_path_rates(build_network(DARTS_V2, (8, 8, 1), 10, drop_path=False, **SMALL))


def test_drop_path_inference_is_deterministic_and_ignores_rate(trained, digits):
    model, _, _ = trained
    x = digits[0][:16]
    try:
        set_drop_path_rate(model, 0.0)
        reference = [np.asarray(o) for o in model(x, training=False)]
        set_drop_path_rate(model, 0.5)
        assert drop_path_rates(model) == [0.5] * len(drop_path_rates(model))
        for _ in range(2):
            again = [np.asarray(o) for o in model(x, training=False)]
            for a, b in zip(again, reference):
                np.testing.assert_array_equal(a, b)
    finally:
        set_drop_path_rate(model, MAX_RATE * (EPOCHS - 1) / EPOCHS)


def test_drop_path_layer_training_zeroes_and_rescales():
    layer = DropPath(seed=3)
    # The rate is state, not a parameter: a schedule changes it without retracing.
    assert any(v is layer.rate for v in layer.non_trainable_weights)
    assert not layer.trainable_weights
    x = np.random.default_rng(0).random((256, 3, 3, 2)).astype("float32") + 0.5
    # Rate 0: the identity, in training too.
    np.testing.assert_array_equal(np.asarray(layer(x, training=True)), x)

    layer.rate.assign(0.5)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    out = np.asarray(layer(x, training=True))
    dropped = np.all(out == 0.0, axis=(1, 2, 3))
    kept = np.all(np.isclose(out, 2.0 * x, rtol=1e-6), axis=(1, 2, 3))
    # Every sample is either dropped as a whole or kept and scaled by 1 / (1 - rate).
    assert np.all(dropped ^ kept)
    assert 0.3 < dropped.mean() < 0.7
    # A second call draws new masks.
    second = np.asarray(layer(x, training=True))
    assert not np.array_equal(np.all(second == 0.0, axis=(1, 2, 3)), dropped)


@pytest.mark.parametrize(
    "max_rate, message",
    [
        (-0.1, r"max_rate must be in \[0, 1\), got -0\.1"),
        (1.0, r"max_rate must be in \[0, 1\), got 1\.0"),
        (1.5, r"max_rate must be in \[0, 1\), got 1\.5"),
    ],
)
def test_drop_path_schedule_rejects_bad_rate(max_rate, message):
    with pytest.raises(ValueError, match=message):
        DropPathSchedule(max_rate, 10)


# --------------------------------------------------------------------------- saving


LOADER = textwrap.dedent(
    """
    import json, sys
    import autoarch, keras, numpy
    model_path, inputs_path, outputs_path, info_path = sys.argv[1:5]
    model = keras.saving.load_model(model_path)
    x = numpy.load(inputs_path)
    predictions = model.predict(x, verbose=0)
    numpy.save(outputs_path, numpy.stack([numpy.asarray(p) for p in predictions]))
    rates = [
        float(layer.rate.numpy())
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if type(layer).__name__ == "DropPath"
    ]
    with open(info_path, "w") as f:
        json.dump({"classes": [type(l).__name__ for l in model.layers], "rates": rates}, f)
    """
)


# Keras's saving converts variables with np.array(copy=False): a numpy 2 notice, not ours.
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_saved_network_loads_in_a_fresh_process(trained, digits, tmp_path):
    model, _, _ = trained
    x = digits[0][100:116]
    expected = np.stack([np.asarray(o) for o in model(x, training=False)])
    model_path = tmp_path / "network.keras"
    model.save(model_path)
    np.save(tmp_path / "inputs.npy", x)
    script = tmp_path / "load.py"
    script.write_text(LOADER)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [
            sys.executable,
            str(script),
            str(model_path),
            str(tmp_path / "inputs.npy"),
            str(tmp_path / "outputs.npy"),
            str(tmp_path / "info.json"),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = np.load(tmp_path / "outputs.npy")
    assert loaded.shape == expected.shape == (2, 16, 10)
    np.testing.assert_allclose(loaded, expected, rtol=0, atol=1e-6)
    info = json.loads((tmp_path / "info.json").read_text())
    assert info["classes"].count("Cell") == 3
    assert "AuxiliaryHead" in info["classes"]
    np.testing.assert_allclose(info["rates"], drop_path_rates(model), atol=1e-7)


# --------------------------------------------------------------------------- SearchNetwork setup


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"input_shape": (7, 8, 1)}, r"at least 8x8 with >= 1 channel, got input_shape \(7, 8, 1\)"),
        ({"input_shape": (8, 7, 1)}, r"at least 8x8 with >= 1 channel, got input_shape \(8, 7, 1\)"),
        ({"input_shape": (4, 4, 1)}, r"at least 8x8 with >= 1 channel, got input_shape \(4, 4, 1\)"),
        ({"input_shape": (8, 8, 0)}, r"at least 8x8 with >= 1 channel, got input_shape \(8, 8, 0\)"),
        ({"input_shape": (8, 8)}, r"input_shape must be \(height, width, channels\), got \(8, 8\)"),
        ({"num_classes": 1}, "num_classes must be an integer >= 2, got 1$"),
        ({"num_classes": 0}, "num_classes must be an integer >= 2, got 0$"),
        ({"num_classes": 2.5}, r"num_classes must be an integer >= 2, got 2\.5"),
        ({"init_channels": 4, "partial_channels": 3}, r"partial_channels \(3\) must divide init_channels"),
        ({"init_channels": 2, "partial_channels": 4}, r"partial_channels \(4\) must divide init_channels"),
        ({"partial_channels": 0}, "partial_channels must be an integer >= 1, got 0"),
        ({"primitives": ("sep_conv_3x3", "conv_7x7")}, r"unknown operation\(s\) \['conv_7x7'\]"),
        ({"primitives": "skip_connect"}, "sequence of operation names, got the string 'skip_connect'"),
        ({"primitives": ()}, "primitives must name at least one operation"),
        ({"layers": 0}, "layers must be an integer >= 1, got 0"),
        ({"nodes": 0}, "nodes must be an integer >= 1, got 0"),
    ],
)
def test_search_network_rejects_bad_arguments(kwargs, message):
    arguments = {"input_shape": (8, 8, 1), "num_classes": 10, "init_channels": 2, "layers": 1}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        SearchNetwork(**arguments)


@pytest.fixture(scope="module")
def search_networks():
    return {
        k: SearchNetwork((8, 8, 1), 10, init_channels=4, layers=3, nodes=4, partial_channels=k, seed=0)
        for k in (1, 2)
    }


def names(variables):
    return sorted(v.name for v in variables)


def test_arch_variables_are_the_alphas(search_networks):
    net = search_networks[1]
    assert names(net.arch_variables) == ["alphas_normal", "alphas_reduce"]
    for v in net.arch_variables:
        assert tuple(v.shape) == (num_edges(4), len(PRIMITIVES)) == (14, 8)
        assert v.trainable


def test_arch_variables_include_betas_with_partial_channels(search_networks):
    net = search_networks[2]
    assert names(net.arch_variables) == [
        "alphas_normal",
        "alphas_reduce",
        "betas_normal",
        "betas_reduce",
    ]
    shapes = {v.name: tuple(v.shape) for v in net.arch_variables}
    assert shapes["alphas_normal"] == shapes["alphas_reduce"] == (14, 8)
    assert shapes["betas_normal"] == shapes["betas_reduce"] == (14,)


@pytest.mark.parametrize("k", [1, 2])
def test_weight_and_arch_variables_partition_trainable_variables(search_networks, k):
    net = search_networks[k]
    arch = {id(v) for v in net.arch_variables}
    weights = {id(v) for v in net.weight_variables}
    trainable = [id(v) for v in net.trainable_variables]
    assert len(set(trainable)) == len(trainable)
    assert arch.isdisjoint(weights)
    assert arch | weights == set(trainable)
    assert len(net.arch_variables) + len(net.weight_variables) == len(trainable)
    assert weights, "the network has no weights"
    for v in net.weight_variables:
        assert "alphas" not in v.path and "betas" not in v.path


def test_search_network_call_gives_logits(search_networks, digits):
    net = search_networks[2]
    logits = np.asarray(net(digits[0][:3], training=False))
    assert logits.shape == (3, 10)
    assert np.all(np.isfinite(logits))


def test_primitives_subset_changes_alpha_width():
    primitives = ("none", "skip_connect", "sep_conv_3x3")
    net = SearchNetwork((8, 8, 1), 10, init_channels=2, layers=2, nodes=3, primitives=primitives)
    assert net.primitives == primitives
    for v in net.arch_variables:
        assert tuple(v.shape) == (num_edges(3), 3) == (9, 3)
    weights = net.operation_weights()
    assert weights["normal"].shape == weights["reduce"].shape == (9, 3)
    np.testing.assert_allclose(weights["normal"].sum(axis=1), 1.0, atol=1e-6)
