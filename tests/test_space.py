"""The outer search space: defaults for the data and hardware, a user's narrowing, keras-tuner."""

import keras_tuner
import pytest

from autoarch.darts import PRIMITIVES
from autoarch.tuning.space import (
    CPU_PRIMITIVES,
    CPU_SHORT_TRAINING_CHANNELS,
    MIN_TRAIN_STEPS,
    SETTINGS,
    Spec,
    declare,
    default_network_channels,
    default_primitives,
    default_space,
    defaults,
    fit_space,
    narrow_space,
    settings,
)

SHAPES = [(8, 8, 1), (32, 32, 3), (96, 96, 3)]


def check_spec(name, spec):
    """A spec whose default is one of its values."""
    assert spec.kind in ("choice", "int", "float", "boolean", "fixed"), name
    if spec.kind == "choice":
        assert spec.default in spec.values and len(spec.values) >= 2, name
    elif spec.kind in ("int", "float"):
        low, high = spec.values
        assert low < high and low <= spec.default <= high, name
        if spec.kind == "int":
            assert all(isinstance(v, int) for v in (low, high, spec.default)), name
        if spec.log:
            assert low > 0, name
    elif spec.kind == "boolean":
        assert isinstance(spec.default, bool), name


@pytest.mark.parametrize("gpu", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("samples", [50, 1000, 60_000])
def test_default_space_names_every_setting_with_valid_defaults(samples, shape, gpu):
    space = default_space(samples, shape, gpu)
    assert set(space) == set(SETTINGS)
    for name, spec in space.items():
        check_spec(name, spec)


@pytest.mark.parametrize("shape", SHAPES)
def test_cpu_and_gpu_spaces_differ(shape):
    cpu, gpu = default_space(1000, shape), default_space(1000, shape, gpu=True)
    assert cpu != gpu
    # Second order is too slow to trace on CPU: fixed off there, a choice on a GPU.
    assert cpu["second_order"] == Spec("fixed", False)
    assert gpu["second_order"].kind == "boolean"
    assert gpu["search_image_size"].default >= cpu["search_image_size"].default
    assert gpu["search_samples"].default > cpu["search_samples"].default
    assert cpu["search_image_size"].default <= min(shape[:2])


def test_cpu_searches_leave_out_the_5x5_convolutions():
    assert default_primitives(gpu=True) == PRIMITIVES
    assert default_primitives() == CPU_PRIMITIVES == (
        "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3"
    )


@pytest.mark.parametrize("gpu", [False, True])
def test_flips_are_fixed_off_unless_allowed(gpu):
    assert default_space(1000, (32, 32, 3), gpu)["flip"] == Spec("fixed", False)
    allowed = default_space(1000, (32, 32, 3), gpu, allow_flips=True)["flip"]
    assert allowed.kind == "boolean" and allowed.default is False
    others = {k: v for k, v in default_space(1000, (32, 32, 3), gpu).items() if k != "flip"}
    assert others == {k: v for k, v in default_space(1000, (32, 32, 3), gpu, allow_flips=True).items() if k != "flip"}


@pytest.mark.parametrize("gpu", [False, True])
def test_train_epochs_shrink_with_more_samples(gpu):
    counts = [100, 1000, 3000, 10_000, 100_000]
    epochs = [default_space(n, (28, 28, 1), gpu)["train_epochs"] for n in counts]
    defaults_ = [spec.default for spec in epochs]
    assert defaults_ == sorted(defaults_, reverse=True)
    assert defaults_[0] > defaults_[-1]
    highs = [spec.values[1] for spec in epochs]
    assert highs == sorted(highs, reverse=True) and highs[0] > highs[-1]


def test_cpu_training_takes_at_most_twenty_epochs_however_small_the_data():
    assert default_space(300, (8, 8, 1))["train_epochs"] == Spec("int", 20, (10, 40))
    mid_sized = default_space(1000, (28, 28, 1))
    assert mid_sized["train_epochs"] == Spec("int", 20, (10, 40))
    assert mid_sized["network_channels"].default == 24  # the width follows the capped epochs
    # From 1,500 images the data-size rule is at or below the cap, and a GPU keeps its own epochs.
    assert default_space(1500, (8, 8, 1))["train_epochs"].default == 20
    assert default_space(3000, (8, 8, 1))["train_epochs"].default == 10
    assert default_space(300, (8, 8, 1), gpu=True)["train_epochs"] == Spec("int", 80, (40, 160))


def _default_steps(space, samples):
    return -(-samples // space["batch_size"].default) * space["train_epochs"].default


@pytest.mark.parametrize("gpu", [False, True])
def test_a_short_training_gets_smaller_batches_and_no_crop_but_larger_data_keeps_its_defaults(gpu):
    # 120 images for 20 epochs at the default batch of 32 were 80 steps: the batch halves until 200.
    tiny = fit_space(150, (16, 16, 1), gpu=gpu, training_samples=120)
    assert tiny["batch_size"].default < default_space(150, (16, 16, 1), gpu)["batch_size"].default
    assert _default_steps(tiny, 120) >= MIN_TRAIN_STEPS
    assert all(value <= tiny["batch_size"].default for value in (tiny["batch_size"].values or ()))
    # fit(epochs=2) on 320 images: the smallest batch (8) and no crop.
    short = fit_space(400, (28, 28, 1), {"train_epochs": 2}, gpu=gpu, training_samples=320)
    assert short["batch_size"] == Spec("fixed", 8) and short["random_crop"] == Spec("fixed", False)
    if not gpu:
        # On CPU its network widens to the widest a short training may take; larger data stays within the work cap.
        assert short["network_channels"].default == max(CPU_SHORT_TRAINING_CHANNELS)
        assert max(CPU_SHORT_TRAINING_CHANNELS) > default_space(400, (28, 28, 1))["network_channels"].default
        large = fit_space(60_000, (28, 28, 1), {"train_epochs": 2})
        assert large["network_channels"] == default_space(60_000, (28, 28, 1))["network_channels"]
        assert fit_space(400, (28, 28, 1), {"train_epochs": 8})["network_channels"].default == 24
    # The user's own batch size and crop are kept.
    mine = fit_space(400, (28, 28, 1), {"train_epochs": 2, "batch_size": 64, "random_crop": True}, gpu=gpu)
    assert mine["batch_size"] == Spec("fixed", 64) and mine["random_crop"] == Spec("fixed", True)
    # Enough steps already: nothing changes.
    for samples, shape in ((1200, (8, 8, 1)), (8000, (28, 28, 1))):
        assert fit_space(samples, shape, gpu=gpu) == default_space(samples, shape, gpu)


# ------------------------------------------------------------------ narrow_space

BASE = default_space(1000, (8, 8, 1))


def test_no_search_space_changes_nothing():
    assert narrow_space(BASE, None) == BASE
    assert narrow_space(BASE, {}) == BASE


def test_a_value_fixes_and_the_input_space_is_not_modified():
    before = dict(BASE)
    narrowed = narrow_space(BASE, {"cells": 5, "learning_rate": 0.01, "cutout": True})
    assert narrowed["cells"] == Spec("fixed", 5)
    assert narrowed["learning_rate"] == Spec("fixed", 0.01)
    assert narrowed["cutout"] == Spec("fixed", True)
    assert BASE == before
    assert {k: v for k, v in narrowed.items() if k not in ("cells", "learning_rate", "cutout")} == {
        k: v for k, v in BASE.items() if k not in ("cells", "learning_rate", "cutout")
    }


def test_a_list_is_a_choice_whose_first_value_is_the_default():
    narrowed = narrow_space(BASE, {"batch_size": [64, 16, 32], "nodes": [2]})
    assert narrowed["batch_size"] == Spec("choice", 64, (64, 16, 32))
    assert narrowed["nodes"] == Spec("fixed", 2)


@pytest.mark.parametrize("value, default", [([True, False], True), ([False, True], False)])
def test_true_and_false_make_a_boolean(value, default):
    assert narrow_space(BASE, {"random_crop": value})["random_crop"] == Spec("boolean", default)


def test_int_ranges_keep_the_default_when_inside():
    narrowed = narrow_space(BASE, {"search_epochs": (2, 6), "train_epochs": (2, 6)})
    assert narrowed["search_epochs"] == Spec("int", 4, (2, 6))  # the CPU default 4 is inside
    assert BASE["train_epochs"].default > 6
    assert narrowed["train_epochs"] == Spec("int", 2, (2, 6))  # outside: the low bound


def test_float_ranges():
    narrowed = narrow_space(
        BASE, {"learning_rate": (1e-4, 1e-2), "drop_path": (0.0, 0.2), "arch_learning_rate": (1, 2.5)}
    )
    lr = narrowed["learning_rate"]
    assert (lr.kind, lr.values, lr.log) == ("float", (1e-4, 1e-2), True) and lr.default == pytest.approx(3e-3)
    assert narrowed["drop_path"] == Spec("float", 0.0, (0.0, 0.2), log=False)
    mixed = narrowed["arch_learning_rate"]
    assert mixed.kind == "float" and mixed.default == 1.0 and isinstance(mixed.default, float)


def test_an_unknown_setting_is_refused_naming_the_settings():
    with pytest.raises(ValueError) as raised:
        narrow_space(BASE, {"channels": 4})
    message = str(raised.value)
    assert "unknown setting 'channels'" in message
    for name in SETTINGS:
        assert name in message
    assert "'primitives'" in message


@pytest.mark.parametrize("value", [(5, 1), (3, 3), (1, 2, 3), ("a", "b"), (1,)])
def test_a_bad_range_is_refused(value):
    with pytest.raises(ValueError, match=r"search_space\['cells'\]: a range is a \(min, max\) tuple with min < max, got"):
        narrow_space(BASE, {"cells": value})


def test_an_empty_choice_is_refused():
    with pytest.raises(ValueError, match=r"search_space\['cells'\]: expected at least one choice, got \[\]"):
        narrow_space(BASE, {"cells": []})


def test_primitives_are_validated_but_not_a_hyperparameter():
    narrowed = narrow_space(BASE, {"primitives": ["skip_connect", "sep_conv_3x3"], "cells": 3})
    assert "primitives" not in narrowed
    assert narrowed["cells"] == Spec("fixed", 3)


@pytest.mark.parametrize(
    "primitives, message",
    [
        (["bogus"], r"unknown operation\(s\) \['bogus'\]; expected names from"),
        ("sep_conv_3x3", "a sequence of operation names, got the string 'sep_conv_3x3'"),
        ([], "at least one operation"),
        (["sep_conv_3x3", "sep_conv_3x3"], "must not repeat"),
        (["none"], "other than 'none'"),
    ],
)
def test_bad_primitives_are_refused(primitives, message):
    with pytest.raises(ValueError, match=message):
        narrow_space(BASE, {"primitives": primitives})


def test_primitives_of_the_library_are_accepted():
    narrow_space(BASE, {"primitives": list(PRIMITIVES)})


# ------------------------------------------------------------------ declare and settings

NARROWED = narrow_space(
    default_space(1000, (32, 32, 3), allow_flips=True),
    {
        "batch_size": [64, 32],
        "cells": 3,
        "train_epochs": (2, 6),
        "learning_rate": (1e-4, 1e-2),
        "cutout": [True, False],
        "drop_path": (0.0, 0.2),
    },
)

KINDS = {
    "fixed": keras_tuner.engine.hyperparameters.Fixed,
    "boolean": keras_tuner.engine.hyperparameters.Boolean,
    "choice": keras_tuner.engine.hyperparameters.Choice,
    "int": keras_tuner.engine.hyperparameters.Int,
    "float": keras_tuner.engine.hyperparameters.Float,
}


def test_declare_gives_the_defaults_and_matching_hyperparameters():
    hp = keras_tuner.HyperParameters()
    values = declare(hp, NARROWED)
    assert values == defaults(NARROWED)
    assert hp.values == defaults(NARROWED)
    assert settings(hp, NARROWED) == defaults(NARROWED)
    declared = {h.name: h for h in hp.space}
    assert set(declared) == set(NARROWED)
    for name, spec in NARROWED.items():
        assert type(declared[name]) is KINDS[spec.kind], name
        if spec.kind == "choice":
            assert list(declared[name].values) == list(spec.values)
        if spec.kind in ("int", "float"):
            assert (declared[name].min_value, declared[name].max_value) == spec.values
    assert declared["learning_rate"].sampling == "log"
    assert declared["drop_path"].sampling == "linear"


def test_sampled_values_round_trip_through_keras_tuner():
    hp = keras_tuner.HyperParameters()
    declare(hp, NARROWED)
    for seed in range(5):
        sampled = {h.name: h.random_sample(seed) for h in hp.space}
        # A trial's hyperparameters, as keras-tuner hands them over (through its config).
        trial_hp = keras_tuner.HyperParameters.from_config(hp.get_config())
        trial_hp.values.update(sampled)
        # Declaring again on the trial's hyperparameters returns the trial's values.
        assert declare(trial_hp, NARROWED) == sampled
        assert settings(trial_hp, NARROWED) == sampled
        for name, spec in NARROWED.items():
            value = sampled[name]
            if spec.kind == "fixed":
                assert value == spec.default
            elif spec.kind == "choice":
                assert value in spec.values
            elif spec.kind == "boolean":
                assert value in (True, False)
            else:
                assert spec.values[0] <= value <= spec.values[1]


def test_settings_fill_missing_values_with_defaults_and_keep_tuner_keys():
    found = settings({"batch_size": 32, "tuner/epochs": 3, "tuner/initial_epoch": 1, "tuner/trial_id": "0007"}, NARROWED)
    assert found["batch_size"] == 32
    assert {k: v for k, v in found.items() if k != "batch_size" and not k.startswith("tuner/")} == {
        k: v for k, v in defaults(NARROWED).items() if k != "batch_size"
    }
    assert (found["tuner/epochs"], found["tuner/initial_epoch"], found["tuner/trial_id"]) == (3, 1, "0007")
    assert "tuner/epochs" not in settings({}, NARROWED)
    # Values of names the space does not have are left out.
    assert "old_setting" not in settings({"old_setting": 1}, NARROWED)


def test_small_data_gets_wider_networks_on_cpu_within_the_work_cap():
    digits = default_space(1500, (8, 8, 1))["network_channels"]
    assert digits == Spec("choice", 24, (8, 12, 16, 24))
    # The MNIST benchmark's default is the cap itself; more data never goes below the old widths.
    assert default_space(8000, (28, 28, 1))["network_channels"].default == 16
    assert default_space(60_000, (28, 28, 1))["network_channels"].default == 16
    assert default_space(20_000, (8, 8, 1))["network_channels"].default == 16
    assert default_space(60_000, (8, 8, 1))["network_channels"].default == 12
    assert default_network_channels(8000, 8, 14, least=12) == 16
    assert default_network_channels(8000, 8, 14, least=24) == 24
    assert default_space(1500, (8, 8, 1), gpu=True)["network_channels"].default == 24  # GPU: unchanged
