"""`autoarch.latency`: measured latency tables and model latency (issue 16)."""

import json

import keras
import numpy as np
import pytest

from autoarch.darts import SearchNetwork
from autoarch.darts.cost_penalty import CostPenalty, PenaltySum
from autoarch.darts.costs import edge_costs, edge_shapes
from autoarch.darts.genotype import random_genotype
from autoarch.darts.primitives import PRIMITIVES, num_edges
from autoarch.latency import LatencyTable, cached_table, device_fingerprint

SHAPE = (8, 8, 1)
SIZE = dict(init_channels=4, layers=3, stem_multiplier=3, stem_stride=1)
ELSEWHERE = {"target": "a phone", "threads": 1}

# Per pixel and channel, in the order a phone's table would give them.
_UNIT_MS = {"skip_connect": 0.1, "max_pool_3x3": 0.5, "avg_pool_3x3": 0.6, "dil_conv_3x3": 1.5,
            "dil_conv_5x5": 3.0, "sep_conv_3x3": 2.0, "sep_conv_5x5": 4.0}


def synthetic_table(nodes=2, shape=SHAPE, outputs=10, size=SIZE, fixed=0.5, primitives=PRIMITIVES):
    """A table "measured on a phone": every entry this network size needs, from `_UNIT_MS`."""
    operations = {}
    for _, _, channels, height, width, stride in edge_shapes(nodes, shape, size["init_channels"], size["layers"],
                                                             size["stem_multiplier"], size["stem_stride"]):
        for name in primitives:
            if name != "none":
                operations[(name, channels, height, width, stride)] = _UNIT_MS[name] * channels * height * width / 1e3
    networks = {LatencyTable.size_key(nodes, shape, outputs, **size): (fixed, {})}
    return LatencyTable(operations, networks, fingerprint=ELSEWHERE)


def test_a_table_estimates_a_network_as_its_fixed_part_plus_its_operations():
    table = synthetic_table()
    genotype = random_genotype(PRIMITIVES, nodes=2, seed=3)
    expected = 0.5
    for reduction, edge, channels, height, width, stride in edge_shapes(2, SHAPE, 4, 3, 3, 1):
        operations = genotype.reduce if reduction else genotype.normal
        for position, (name, index) in enumerate(operations):
            if num_edges(position // 2) + index == edge:
                expected += _UNIT_MS[name] * channels * height * width / 1e3
    assert table.estimate_ms(genotype, SHAPE, 10, **SIZE) == pytest.approx(expected)
    costs = table.edge_costs(PRIMITIVES, 2, SHAPE, 10, **SIZE)
    assert costs.of(genotype) == pytest.approx(expected)
    assert costs.fixed == 0.5 and costs.normal[:, PRIMITIVES.index("none")].sum() == 0.0


def test_a_missing_entry_is_a_clear_error():
    table = synthetic_table()
    with pytest.raises(ValueError, match="no entry for sep_conv_3x3 on 5 channels at 8x8, stride 1"):
        table.operation_ms("sep_conv_3x3", 5, 8, 8, 1)
    with pytest.raises(ValueError, match="no entry for the network size"):
        table.fixed_ms(3, SHAPE, 10, **SIZE)
    assert table.missing(PRIMITIVES, 3, SHAPE, 10, **SIZE) == ([], [LatencyTable.size_key(3, SHAPE, 10, **SIZE)])
    wider = {**SIZE, "init_channels": 5}
    operations, networks = table.missing(PRIMITIVES, 2, SHAPE, 10, **wider)
    assert ("sep_conv_3x3", 5, 8, 8, 1) in operations and networks == [LatencyTable.size_key(2, SHAPE, 10, **wider)]
    assert table.missing(PRIMITIVES, 2, SHAPE, 10, **SIZE) == ([], [])


def test_a_table_round_trips_through_json_and_saving_merges(tmp_path):
    table = synthetic_table()
    path = table.save(str(tmp_path / "phone.json"))
    loaded = LatencyTable.load(path)
    assert loaded.operations == table.operations and loaded.networks == table.networks
    assert loaded.fingerprint == ELSEWHERE
    other = LatencyTable({("sep_conv_3x3", 99, 8, 8, 1): 7.0}, fingerprint=ELSEWHERE)
    other.save(path)
    merged = LatencyTable.load(path)
    assert merged.operations[("sep_conv_3x3", 99, 8, 8, 1)] == 7.0
    assert len(merged.operations) == len(table.operations) + 1


@pytest.mark.parametrize(
    "text, message",
    [
        ("not json", "is not a latency table"),
        ("[1, 2]", "expected a JSON object"),
        ('{"operations": [{"operation": "skip_connect"}]}', "a record lacks"),
        ('{"operations": [{"operation": "skip_connect", "channels": 4, "height": 8, "width": 8, "stride": 1, '
         '"ms": -1}]}', "a latency must be a number >= 0"),
    ],
)
def test_a_file_that_is_not_a_table_is_refused(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        LatencyTable.load(str(path))


def test_a_table_of_another_device_is_not_completed_here():
    with pytest.raises(ValueError, match="it can only be completed where it was measured"):
        synthetic_table().measure(PRIMITIVES, 3, SHAPE, 10, **SIZE)


def test_the_measured_table_orders_operations_sensibly_and_estimates_a_network(tmp_path, monkeypatch):
    """Real TFLite timings at one shape large enough to rise above the interpreter's cost per call."""
    from autoarch.darts import build_network
    from autoarch.latency import measure_model_ms

    monkeypatch.setenv("AUTOARCH_CACHE_DIR", str(tmp_path))
    table = cached_table()
    assert table.fingerprint == device_fingerprint() and not table.operations
    shape, size = (24, 24, 1), dict(init_channels=16, layers=3, stem_multiplier=1, stem_stride=1)
    primitives = ("max_pool_3x3", "sep_conv_3x3", "sep_conv_5x5")  # few: calibration is a network each
    seconds = table.measure(primitives, 1, shape, 10, **size)  # a normal cell, then two reduction cells
    assert seconds > 0 and table.measure(primitives, 1, shape, 10, **size) == 0.0  # nothing left to measure
    ms = {name: table.operation_ms(name, 16, 24, 24, 1) for name in primitives}
    assert ms["sep_conv_5x5"] > ms["sep_conv_3x3"] > ms["max_pool_3x3"] >= 0, ms

    # Cached: a fresh read of this machine's table has the entries.
    assert cached_table().operations == table.operations

    genotype = random_genotype(primitives, nodes=1, seed=7)
    estimate = table.estimate_ms(genotype, shape, 10, **size)
    measured, how = measure_model_ms(build_network(genotype, shape, 10, drop_path=False, **size))
    assert how["threads"] == 1 and how["runs"] >= 20
    assert 0.5 * measured < estimate < 2.0 * measured, (estimate, measured)


def test_several_budget_terms_add_their_gradients():
    network = SearchNetwork(SHAPE, 10, init_channels=4, layers=3, nodes=2, seed=0)
    flops = edge_costs(PRIMITIVES, 2, SHAPE, 10, init_channels=4, layers=3)
    latency = synthetic_table().edge_costs(PRIMITIVES, 2, SHAPE, 10, **SIZE)
    terms = [CostPenalty(flops, flops.fixed * 1.01), CostPenalty(latency, latency.fixed * 1.01, weight=3.0)]
    both = PenaltySum(terms)
    assert float(both.loss(network)) == pytest.approx(sum(float(t.loss(network)) for t in terms))
    separate = [t.gradients(network) for t in terms]
    for total, first, second in zip(both.gradients(network), *separate):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(total),
                                   keras.ops.convert_to_numpy(first) + keras.ops.convert_to_numpy(second),
                                   rtol=1e-6)


def test_a_stronger_latency_term_never_derives_a_slower_network():
    """A tiny real search (digits, two epochs) at three strengths of the latency term, all else equal."""
    from sklearn.datasets import load_digits

    from autoarch.data import paired_search_dataset

    digits = load_digits()
    x = (digits.images[:128, :, :, None] / 16.0).astype("float32")
    y = digits.target[:128].astype("int32")
    costs = synthetic_table().edge_costs(PRIMITIVES, 2, SHAPE, 10, **SIZE)
    budget = costs.fixed * 1.05  # below every derivable network: the term always pulls
    derived = []
    for weight in (0.01, 0.1, 1.0):
        keras.utils.set_random_seed(0)
        network = SearchNetwork(SHAPE, 10, init_channels=4, layers=3, nodes=2, seed=0)
        network.compile(arch_learning_rate=0.01, cost_penalty=CostPenalty(costs, budget=budget, weight=weight))
        data = paired_search_dataset(x[:64], y[:64], x[64:], y[64:], batch_size=16, seed=0)
        network.fit(data, epochs=2, verbose=0)
        derived.append(costs.of(network.genotype()))
    # Above a weight of about 1 the term saturates: Adam scales steps by the
    # gradients' own size, so a stronger term moves the weights no faster.
    assert derived[0] >= derived[1] >= derived[2], derived
    assert derived[2] < 0.6 * derived[0], derived


def test_the_json_form_is_documented_records(tmp_path):
    path = synthetic_table().save(str(tmp_path / "t.json"))
    with open(path) as file:
        data = json.load(file)
    record = data["operations"][0]
    assert set(record) == {"operation", "channels", "height", "width", "stride", "ms"}
    assert set(data["networks"][0]) == {"nodes", "input_shape", "num_outputs", "init_channels", "layers",
                                        "stem_multiplier", "stem_stride", "ms", "scale"}


def test_a_calibration_recovers_the_fixed_part_and_each_operations_scale():
    from autoarch.latency import _calibrate

    rng = np.random.default_rng(0)
    features = {"sep_conv_3x3": rng.uniform(0, 1, 8), "max_pool_3x3": rng.uniform(0, 1, 8), "skip_connect": [0.0] * 8}
    measured = 0.2 + 1.5 * features["sep_conv_3x3"] + 0.8 * features["max_pool_3x3"]
    fixed, scales = _calibrate(features, measured)
    assert fixed == pytest.approx(0.2) and scales == pytest.approx({"sep_conv_3x3": 1.5, "max_pool_3x3": 0.8})


def test_scales_weigh_each_operation_in_the_estimate_and_one_number_scales_them_all(tmp_path):
    table = synthetic_table()
    key = LatencyTable.size_key(2, SHAPE, 10, **SIZE)
    genotype = random_genotype(PRIMITIVES, nodes=2, seed=3)
    plain = table.estimate_ms(genotype, SHAPE, 10, **SIZE)
    table.networks[key] = (0.5, {name: 2.0 for name in PRIMITIVES})
    assert table.estimate_ms(genotype, SHAPE, 10, **SIZE) == pytest.approx(0.5 + 2 * (plain - 0.5))
    assert table.scale("sep_conv_3x3", 2, SHAPE, 10, **SIZE) == 2.0

    data = table.to_dict()
    data["networks"][0]["scale"] = 3.0
    path = tmp_path / "one.json"
    path.write_text(json.dumps(data))
    assert LatencyTable.load(str(path)).estimate_ms(genotype, SHAPE, 10, **SIZE) == pytest.approx(0.5 + 3 * (plain - 0.5))


def test_a_network_size_whose_cheapest_cell_is_over_the_budget_is_not_searched():
    from types import SimpleNamespace

    from keras_tuner.errors import FailedTrialError

    from autoarch.tuning.cost_budgets import check_size_can_meet_budgets

    table = synthetic_table()
    settings = {"nodes": 2, "network_channels": 4, "network_cells": 3, "stem_stride": 1}
    least = table.edge_costs(PRIMITIVES, 2, SHAPE, 10, **SIZE).cheapest()
    task = SimpleNamespace(primitives=PRIMITIVES, image_shape=SHAPE, num_outputs=10, max_flops=None,
                           max_latency_ms=least, latency_table=table)
    check_size_can_meet_budgets(task, settings)  # the cheapest cell just fits
    task.max_latency_ms = 0.99 * least
    with pytest.raises(FailedTrialError, match=rf"every cell of this network size is estimated at {least:.3g} ms"):
        check_size_can_meet_budgets(task, settings)
    flops = edge_costs(PRIMITIVES, 2, SHAPE, 10, init_channels=4, layers=3).cheapest()
    task.max_latency_ms, task.max_flops = None, flops - 1
    with pytest.raises(FailedTrialError, match=rf"at least {flops} multiply-adds per image, more than max_flops"):
        check_size_can_meet_budgets(task, settings)
