"""Tests for autoarch.darts.genotype: the Genotype value, derive_genotype and random_genotype."""

import ast
import json
import pathlib

import numpy as np
import pytest
from matplotlib.figure import Figure

from autoarch.darts.genotype import DARTS_V2, Genotype, derive_genotype, random_genotype
from autoarch.darts.primitives import PRIMITIVES

NODES = 4
NUM_EDGES = 14
CONCAT = (2, 3, 4, 5)


def edge(node, source):
    """Weight row of the edge from ``source`` into intermediate node ``node`` (from 0)."""
    return sum(2 + i for i in range(node)) + source


def row(primitives=PRIMITIVES, **weights):
    """A softmax-like row: the given op weights, the rest of the mass spread evenly."""
    values = np.full(len(primitives), np.nan)
    for op, weight in weights.items():
        values[primitives.index(op)] = weight
    rest = np.isnan(values)
    values[rest] = (1.0 - sum(weights.values())) / max(rest.sum(), 1)
    return values


def uniform(primitives=PRIMITIVES, nodes=NODES):
    count = sum(2 + i for i in range(nodes))
    return np.full((count, len(primitives)), 1.0 / len(primitives))


def weights_from(rows, primitives=PRIMITIVES):
    """Uniform weights with the rows given as ``{(node, source): row}`` replaced."""
    w = uniform(primitives)
    for (node, source), values in rows.items():
        w[edge(node, source)] = values
    return w




# --------------------------------------------------------------------------- derivation


def test_derive_exact_genotype_ignores_none_and_orders_by_strength():
    normal = weights_from({
        (0, 0): row(sep_conv_3x3=0.7),
        # 'none' dominates this edge; the op must be skip_connect, not none.
        (0, 1): row(none=0.7, skip_connect=0.2),
        (1, 0): row(dil_conv_3x3=0.3),
        (1, 1): row(sep_conv_5x5=0.8),
        (1, 2): row(max_pool_3x3=0.5),
        # 'none' at 0.9 makes input 0 the "heaviest" edge of node 2 in raw terms,
        # but its best real op (~0.014) is weaker than a uniform edge (0.125).
        (2, 0): row(none=0.9),
        (2, 1): row(dil_conv_5x5=0.4),
        (2, 3): row(avg_pool_3x3=0.6),
        (3, 2): row(sep_conv_3x3=0.5),
        (3, 4): row(skip_connect=0.65),
    })
    reduce = weights_from({
        (0, 1): row(max_pool_3x3=0.6),
        (0, 0): row(avg_pool_3x3=0.5),
        (1, 2): row(skip_connect=0.4),
        (1, 0): row(max_pool_3x3=0.3),
        (2, 3): row(sep_conv_5x5=0.4),
        (2, 2): row(dil_conv_3x3=0.35),
        (3, 1): row(max_pool_3x3=0.9),
        (3, 4): row(avg_pool_3x3=0.2),
    })

    genotype = derive_genotype(normal, reduce, PRIMITIVES, nodes=NODES)

    assert genotype == Genotype(
        normal=(
            ("sep_conv_3x3", 0), ("skip_connect", 1),
            ("sep_conv_5x5", 1), ("max_pool_3x3", 2),
            ("avg_pool_3x3", 3), ("dil_conv_5x5", 1),
            ("skip_connect", 4), ("sep_conv_3x3", 2),
        ),
        normal_concat=CONCAT,
        reduce=(
            ("max_pool_3x3", 1), ("avg_pool_3x3", 0),
            ("skip_connect", 2), ("max_pool_3x3", 0),
            ("sep_conv_5x5", 3), ("dil_conv_3x3", 2),
            ("max_pool_3x3", 1), ("avg_pool_3x3", 4),
        ),
        reduce_concat=CONCAT,
    )


def test_derive_ties_go_to_lower_input_and_earlier_operation():
    # Every edge is uniform: each node keeps inputs 0 and 1, and the first non-none op.
    genotype = derive_genotype(uniform(), uniform(), PRIMITIVES)
    assert genotype.normal == (("max_pool_3x3", 0), ("max_pool_3x3", 1)) * NODES
    assert genotype.reduce == genotype.normal

    # Equal edge strength on inputs 2 and 3 of node 2: input 2 wins the second slot.
    normal = weights_from({
        (2, 3): row(sep_conv_3x3=0.4, dil_conv_3x3=0.4),
        (2, 2): row(sep_conv_5x5=0.4),
        (2, 1): row(sep_conv_5x5=0.6),
    })
    genotype = derive_genotype(normal, uniform(), PRIMITIVES)
    assert genotype.normal[4:6] == (("sep_conv_5x5", 1), ("sep_conv_5x5", 2))

    # Equal op weights on one edge: the op listed first in primitives wins.
    normal = weights_from({(2, 3): row(dil_conv_3x3=0.45, sep_conv_3x3=0.45)})
    genotype = derive_genotype(normal, uniform(), PRIMITIVES)
    assert genotype.normal[4] == ("sep_conv_3x3", 3)


def test_derive_without_none_uses_plain_argmax():
    primitives = ("skip_connect", "sep_conv_3x3")
    normal = np.tile([0.4, 0.6], (NUM_EDGES, 1))
    normal[edge(0, 1)] = [0.9, 0.1]
    genotype = derive_genotype(normal, normal, primitives)
    assert genotype.normal[:2] == (("skip_connect", 1), ("sep_conv_3x3", 0))


def test_derive_other_node_counts():
    primitives = ("none", "sep_conv_3x3", "max_pool_3x3")
    for nodes in (1, 2, 5):
        count = sum(2 + i for i in range(nodes))
        w = np.tile([0.5, 0.2, 0.3], (count, 1))
        genotype = derive_genotype(w, w, primitives, nodes=nodes)
        assert genotype.nodes == nodes
        assert genotype.normal_concat == tuple(range(2, nodes + 2))
        assert genotype.normal == (("max_pool_3x3", 0), ("max_pool_3x3", 1)) * nodes


def _skip_heavy_normal():
    """Normal weights selecting 4 skip_connect (skip weights 0.9, 0.5, 0.4, 0.8)."""
    return weights_from({
        (0, 0): row(skip_connect=0.9),
        # The next best non-skip op must skip over 'none' (0.3) to sep_conv_5x5.
        (0, 1): row(skip_connect=0.5, none=0.3, sep_conv_5x5=0.15),
        (1, 0): row(sep_conv_3x3=0.6),
        (1, 2): row(skip_connect=0.4, dil_conv_3x3=0.3),
        (2, 1): row(skip_connect=0.8, avg_pool_3x3=0.1),
        (2, 3): row(sep_conv_3x3=0.7),
        (3, 4): row(dil_conv_5x5=0.6),
        (3, 0): row(max_pool_3x3=0.5),
    })


def _skip_heavy_reduce():
    return weights_from({(node, 0): row(skip_connect=0.9) for node in range(NODES)})


def test_skip_cap_replaces_weakest_normal_skips_and_leaves_reduce():
    normal, reduce = _skip_heavy_normal(), _skip_heavy_reduce()
    uncapped = derive_genotype(normal, reduce, PRIMITIVES, max_skip_connections=None)
    assert uncapped.normal == (
        ("skip_connect", 0), ("skip_connect", 1),
        ("sep_conv_3x3", 0), ("skip_connect", 2),
        ("skip_connect", 1), ("sep_conv_3x3", 3),
        ("dil_conv_5x5", 4), ("max_pool_3x3", 0),
    )
    assert uncapped.count("skip_connect") == 4
    assert uncapped.count("skip_connect", cell="reduce") == 4

    capped = derive_genotype(normal, reduce, PRIMITIVES, max_skip_connections=2)
    assert capped.count("skip_connect") == 2
    # The skips weighing 0.5 and 0.4 get their next best op; 0.9 and 0.8 stay.
    # The selected edges themselves do not change.
    assert capped.normal == (
        ("skip_connect", 0), ("sep_conv_5x5", 1),
        ("sep_conv_3x3", 0), ("dil_conv_3x3", 2),
        ("skip_connect", 1), ("sep_conv_3x3", 3),
        ("dil_conv_5x5", 4), ("max_pool_3x3", 0),
    )
    assert capped.reduce == uncapped.reduce
    assert capped.count("skip_connect", cell="reduce") == 4

    # Cap 3 removes only the weakest (0.4).
    capped = derive_genotype(normal, reduce, PRIMITIVES, max_skip_connections=3)
    assert capped.normal[1] == ("skip_connect", 1)
    assert capped.normal[3] == ("dil_conv_3x3", 2)


def test_skip_cap_zero_and_large_cap():
    normal, reduce = _skip_heavy_normal(), _skip_heavy_reduce()
    none_left = derive_genotype(normal, reduce, PRIMITIVES, max_skip_connections=0)
    assert none_left.count("skip_connect") == 0
    assert none_left.normal[0] == ("max_pool_3x3", 0)  # uniform rest: first non-skip, non-none
    assert none_left.normal[4] == ("avg_pool_3x3", 1)
    assert none_left.count("skip_connect", cell="reduce") == 4

    generous = derive_genotype(normal, reduce, PRIMITIVES, max_skip_connections=10)
    assert generous == derive_genotype(normal, reduce, PRIMITIVES)


def test_skip_cap_without_alternative_keeps_skips():
    primitives = ("none", "skip_connect")
    w = np.tile([0.3, 0.7], (NUM_EDGES, 1))
    genotype = derive_genotype(w, w, primitives, max_skip_connections=0)
    assert genotype.count("skip_connect") == 2 * NODES


@pytest.mark.parametrize("cap", [-1, 1.5, True, "2"])
def test_skip_cap_validation(cap):
    with pytest.raises(ValueError, match="max_skip_connections"):
        derive_genotype(uniform(), uniform(), PRIMITIVES, max_skip_connections=cap)


def test_edge_weights_change_selected_edges_not_ops():
    normal = weights_from({
        (1, 0): row(sep_conv_3x3=0.5),
        (1, 1): row(dil_conv_3x3=0.45),
        (1, 2): row(sep_conv_5x5=0.4),
    })
    plain = derive_genotype(normal, uniform(), PRIMITIVES)
    assert plain.normal[2:4] == (("sep_conv_3x3", 0), ("dil_conv_3x3", 1))

    edge_weights = np.full(NUM_EDGES, 0.5)
    edge_weights[edge(1, 0):edge(1, 0) + 3] = [0.2, 0.3, 0.5]  # 0.1, 0.135, 0.2
    weighted = derive_genotype(normal, uniform(), PRIMITIVES, normal_edge_weights=edge_weights)
    assert weighted.normal[2:4] == (("sep_conv_5x5", 2), ("dil_conv_3x3", 1))
    assert weighted.normal[:2] == plain.normal[:2]
    assert weighted.reduce == plain.reduce

    # Reduce edge weights act on the reduction cell only.
    swapped = derive_genotype(uniform(), normal, PRIMITIVES, reduce_edge_weights=edge_weights)
    assert swapped.reduce[2:4] == (("sep_conv_5x5", 2), ("dil_conv_3x3", 1))
    assert swapped.normal == plain.reduce


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"normal_weights": np.zeros((13, 8))}, r"normal_weights must have shape \(14, 8\), got \(13, 8\)"),
        ({"normal_weights": np.zeros((14, 7))}, r"normal_weights must have shape \(14, 8\), got \(14, 7\)"),
        ({"reduce_weights": np.zeros(14 * 8)}, r"reduce_weights must have shape \(14, 8\), got \(112,\)"),
        ({"normal_weights": np.full((14, 8), np.nan)}, "normal_weights must be finite"),
        ({"normal_edge_weights": np.ones(13)}, r"normal_edge_weights must have shape \(14,\), got \(13,\)"),
        (
            {"reduce_edge_weights": np.ones((14, 1))},
            r"reduce_edge_weights must have shape \(14,\), got \(14, 1\)",
        ),
        ({"nodes": 3}, r"normal_weights must have shape \(9, 8\), got \(14, 8\)"),
        ({"nodes": 0}, "nodes must be a positive integer, got 0"),
        ({"primitives": ("none",)}, "at least one operation other than 'none'"),
        ({"primitives": ("sep_conv_3x3", "conv_7x7")}, r"unknown operation\(s\) \['conv_7x7'\]"),
    ],
)
def test_derive_validation(kwargs, message):
    args = {"normal_weights": uniform(), "reduce_weights": uniform(), "primitives": PRIMITIVES}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        derive_genotype(**args)


# --------------------------------------------------------------------------- value, JSON


def test_construction_converts_lists_to_tuples_and_is_hashable():
    assert DARTS_V2.normal[0] == ("sep_conv_3x3", 0)
    assert isinstance(DARTS_V2.normal, tuple) and isinstance(DARTS_V2.normal[0], tuple)
    assert isinstance(DARTS_V2.reduce_concat, tuple)
    assert DARTS_V2.nodes == 4
    assert len({DARTS_V2, Genotype(**DARTS_V2.to_dict())}) == 1
    with pytest.raises(AttributeError, match="cannot assign to field 'normal'"):
        DARTS_V2.normal = ()


def test_json_round_trip():
    text = DARTS_V2.to_json()
    assert json.loads(text) == DARTS_V2.to_dict()
    assert set(json.loads(text)) == {"normal", "normal_concat", "reduce", "reduce_concat"}
    again = Genotype.from_json(text)
    assert again == DARTS_V2
    assert hash(again) == hash(DARTS_V2)
    assert Genotype.from_dict(DARTS_V2.to_dict()) == DARTS_V2
    assert Genotype.from_json(text.encode()) == DARTS_V2


def _mutated(**changes):
    data = DARTS_V2.to_dict()
    data.update(changes)
    return json.dumps(data)


def _without(key):
    data = DARTS_V2.to_dict()
    del data[key]
    return json.dumps(data)


@pytest.mark.parametrize(
    "text, message",
    [
        pytest.param("{normal: [}", "invalid JSON: Expecting property name", id="not-json"),
        pytest.param("", "invalid JSON: Expecting value", id="empty-text"),
        pytest.param(
            json.dumps([DARTS_V2.to_dict()]),
            r"expected a genotype object with keys \[.*\], got list",
            id="a-list",
        ),
        pytest.param('"genotype"', r"expected a genotype object with keys \[.*\], got str", id="a-string"),
        pytest.param(_without("reduce_concat"), r"missing \['reduce_concat'\], extra \[\]", id="missing-key"),
        pytest.param(_mutated(extra=1), r"missing \[\], extra \['extra'\]", id="extra-key"),
        pytest.param(
            _mutated(normal=[["conv_7x7", 0], ["sep_conv_3x3", 1]] * 4),
            r"normal\[0\]: expected an operation of .*, got 'conv_7x7'",
            id="unknown-op",
        ),
        pytest.param(
            _mutated(normal=[["none", 0], ["sep_conv_3x3", 1]] * 4),
            r"normal\[0\]: expected an operation of .*, got 'none'",
            id="none-op",
        ),
        pytest.param(
            _mutated(normal=[[3, 0], ["sep_conv_3x3", 1]] * 4),
            r"normal\[0\]: expected an operation of .*, got 3$",
            id="op-not-string",
        ),
        pytest.param(
            _mutated(normal=[["sep_conv_3x3", 0], ["sep_conv_3x3", 2]] * 4),
            r"normal\[1\]: node 2 expects an integer input index in 0\.\.1, got 2$",
            id="index-out-of-range",
        ),
        pytest.param(
            _mutated(normal=[["sep_conv_3x3", -1], ["sep_conv_3x3", 1]] * 4),
            r"normal\[0\]: node 2 expects an integer input index in 0\.\.1, got -1$",
            id="negative-index",
        ),
        pytest.param(
            _mutated(normal=[["sep_conv_3x3", True], ["sep_conv_3x3", 1]] * 4),
            r"normal\[0\]: node 2 expects an integer input index in 0\.\.1, got True$",
            id="bool-index",
        ),
        pytest.param(
            _mutated(normal=[["sep_conv_3x3", 1.0], ["sep_conv_3x3", 1]] * 4),
            r"normal\[0\]: node 2 expects an integer input index in 0\.\.1, got 1\.0$",
            id="float-index",
        ),
        pytest.param(
            _mutated(normal=[["sep_conv_3x3", "1"], ["sep_conv_3x3", 1]] * 4),
            r"normal\[0\]: node 2 expects an integer input index in 0\.\.1, got '1'$",
            id="string-index",
        ),
        pytest.param(
            _mutated(normal=[["sep_conv_3x3", 0]] * 7), r"odd number of pairs \(7\)", id="odd-entries"
        ),
        pytest.param(_mutated(normal=[], reduce=[]), "normal must have at least one node", id="empty-cells"),
        pytest.param(
            _mutated(normal=[["sep_conv_3x3", 0, 1]] * 8),
            r"normal\[0\] must be an \(operation, input_index\) pair",
            id="triple",
        ),
        pytest.param(
            _mutated(normal="sep_conv_3x3"),
            r"normal must be a list of \(operation, input_index\) pairs, got 'sep_conv_3x3'",
            id="cell-is-string",
        ),
        pytest.param(
            _mutated(normal=DARTS_V2.to_dict()["normal"][:6]),
            "same number of nodes, got 3 normal and 4 reduce nodes",
            id="node-count-mismatch",
        ),
        pytest.param(
            _mutated(normal_concat=[2, 3, 6]),
            r"normal_concat: expected integer node indices in 2\.\.5, got 6$",
            id="concat-too-high",
        ),
        pytest.param(
            _mutated(normal_concat=[1, 2]),
            r"normal_concat: expected integer node indices in 2\.\.5, got 1$",
            id="concat-input",
        ),
        pytest.param(
            _mutated(reduce_concat=[2, 2, 3]),
            r"reduce_concat must not repeat a node, got \[2, 2, 3\]",
            id="concat-duplicate",
        ),
        pytest.param(
            _mutated(reduce_concat=[]), "reduce_concat must list at least one node", id="concat-empty"
        ),
        pytest.param(
            _mutated(reduce_concat=[2, 3.0]),
            r"reduce_concat: expected integer node indices in 2\.\.5, got 3\.0$",
            id="concat-float",
        ),
        pytest.param(
            _mutated(reduce_concat=5),
            "reduce_concat must be a list of node indices, got 5$",
            id="concat-not-list",
        ),
        pytest.param(
            DARTS_V2.to_json()[:-1] + ', "normal": []}',
            r"expected each key once, got repeated keys \['normal'\]",
            id="duplicate-key",
        ),
    ],
)
def test_from_json_rejects_malformed(text, message):
    with pytest.raises(ValueError, match=message):
        Genotype.from_json(text)


def test_from_json_and_from_dict_reject_non_text_and_non_dict():
    with pytest.raises(ValueError, match="expected JSON text, got dict"):
        Genotype.from_json(DARTS_V2.to_dict())
    with pytest.raises(ValueError, match=r"expected a genotype object with keys \[.*\], got list"):
        Genotype.from_dict([("normal", [])])


def test_direct_construction_validation_messages():
    ok = DARTS_V2.to_dict()
    with pytest.raises(ValueError, match=r"0\.\.1.*got 2"):
        Genotype(**{**ok, "normal": [("sep_conv_3x3", 2), ("sep_conv_3x3", 1)] * 4})
    with pytest.raises(ValueError, match="'none'"):
        Genotype(**{**ok, "reduce": [("none", 0), ("sep_conv_3x3", 1)] * 4})
    with pytest.raises(ValueError, match="same number of nodes"):
        Genotype(**{**ok, "reduce": ok["reduce"][:4]})
    with pytest.raises(ValueError, match=r"2\.\.5.*got 6"):
        Genotype(**{**ok, "normal_concat": (2, 6)})
    # Node 3 (the second intermediate node) may read node 2; numpy ints are accepted.
    g = Genotype(
        normal=[("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("skip_connect", np.int64(2)), ("max_pool_3x3", 0)],
        normal_concat=[3],
        reduce=[("max_pool_3x3", 0), ("max_pool_3x3", 1)] * 2,
        reduce_concat=(2, 3),
    )
    assert g.normal[2] == ("skip_connect", 2) and type(g.normal[2][1]) is int
    assert g.nodes == 2


# --------------------------------------------------------------------------- text and plots


def test_str_lists_every_node():
    text = str(DARTS_V2)
    assert "node 2 <- sep_conv_3x3(0), sep_conv_3x3(1)" in text
    assert "node 5 <- skip_connect(0), dil_conv_3x3(2)" in text
    assert "node 3 <- skip_connect(2), max_pool_3x3(1)" in text
    assert text.index("normal") < text.index("reduce")
    assert text.count("node ") == 8
    assert "2, 3, 4, 5" in text


def test_summary_is_one_abbreviated_line():
    summary = DARTS_V2.summary()
    assert "\n" not in summary
    assert summary == (
        "normal[sep3(0) sep3(1) | sep3(0) sep3(1) | sep3(1) skip(0) | skip(0) dil3(2)] "
        "reduce[max(0) max(1) | skip(2) max(1) | max(0) skip(2) | skip(2) max(1)]"
    )
    partial = Genotype(**{**DARTS_V2.to_dict(), "reduce_concat": [4, 5]})
    assert partial.summary().endswith("concat=4,5")


def test_count():
    assert DARTS_V2.count("sep_conv_3x3") == 5
    assert DARTS_V2.count("skip_connect") == 2
    assert DARTS_V2.count("skip_connect", cell="reduce") == 3
    assert DARTS_V2.count("max_pool_3x3", cell="reduce") == 5
    assert DARTS_V2.count("none") == 0
    with pytest.raises(ValueError, match=r"cell must be one of \('normal', 'reduce'\), got 'both'"):
        DARTS_V2.count("sep_conv_3x3", cell="both")
    with pytest.raises(ValueError, match=r"expected an operation of \(.*\), got 'conv_7x7'"):
        DARTS_V2.count("conv_7x7")


def test_plot_writes_png(tmp_path):
    target = tmp_path / "plots" / "nested" / "genotype.png"
    returned = DARTS_V2.plot(target, title="DARTS V2")
    assert pathlib.Path(returned) == target
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5000


def test_plot_without_path_returns_figure(tmp_path):
    figure = DARTS_V2.plot()
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 2
    assert [ax.get_title() for ax in figure.axes] == ["normal cell", "reduce cell"]
    labels = {t.get_text() for t in figure.axes[0].texts}
    # Intermediate nodes carry their index, as in str(genotype) and normal_concat (2..5 for DARTS_V2's 4 nodes).
    assert {"sep_conv_3x3", "skip_connect", "dil_conv_3x3", "2", "3", "4", "5"} <= labels
    assert "0" not in labels and "1" not in labels
    assert all(f"node {index} <-" in str(DARTS_V2) for index in (2, 3, 4, 5))
    assert not list(tmp_path.iterdir())


def test_plot_other_node_counts(tmp_path):
    for nodes in (1, 2, 5):
        pairs = [("sep_conv_3x3", 0), ("sep_conv_3x3", 1)] * nodes
        g = Genotype(pairs, tuple(range(2, nodes + 2)), pairs, [nodes + 1])
        figure = g.plot()
        assert len(figure.axes[0].patches) > 0


# --------------------------------------------------------------------------- random genotypes

CPU_OPERATIONS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3")


@pytest.mark.parametrize("nodes", [1, 3, 4])
@pytest.mark.parametrize("seed", range(5))
def test_random_genotype_is_a_valid_derivable_cell(nodes, seed):
    g = random_genotype(CPU_OPERATIONS, nodes=nodes, seed=seed)
    assert g.nodes == nodes
    concat = tuple(range(2, nodes + 2))
    assert g.normal_concat == concat and g.reduce_concat == concat  # as derive_genotype gives
    for cell in (g.normal, g.reduce):
        assert len(cell) == 2 * nodes
        for node in range(nodes):
            (op_a, in_a), (op_b, in_b) = cell[2 * node : 2 * node + 2]
            assert in_a != in_b  # two distinct inputs, as the derivation keeps two edges
            assert 0 <= in_a < node + 2 and 0 <= in_b < node + 2
            for op in (op_a, op_b):
                assert op in CPU_OPERATIONS and op != "none"


def test_random_genotype_draws_only_the_given_operations():
    drawn = set()
    for seed in range(30):
        g = random_genotype(("none", "skip_connect", "max_pool_3x3"), nodes=4, seed=seed)
        drawn |= {op for op, _ in g.normal + g.reduce}
    assert drawn == {"skip_connect", "max_pool_3x3"}
    g = random_genotype(("sep_conv_3x3",), nodes=2, seed=0)
    assert {op for op, _ in g.normal + g.reduce} == {"sep_conv_3x3"}


def test_random_genotype_covers_the_space_roughly_uniformly():
    # Node 1 (from 0) picks 2 of 3 inputs: each input is used by 2/3 of the draws.
    counts = np.zeros(3)
    draws = 600
    for seed in range(draws):
        g = random_genotype(CPU_OPERATIONS, nodes=2, seed=seed)
        for _, index in g.normal[2:4]:
            counts[index] += 1
    assert np.all(np.abs(counts / draws - 2 / 3) < 0.08)


def test_random_genotype_is_deterministic_for_a_seed():
    assert random_genotype(CPU_OPERATIONS, 3, seed=7) == random_genotype(CPU_OPERATIONS, 3, seed=7)
    genotypes = {random_genotype(CPU_OPERATIONS, 3, seed=seed) for seed in range(10)}
    assert len(genotypes) == 10  # different seeds give different cells


def test_random_genotype_round_trips_through_json():
    g = random_genotype(PRIMITIVES, nodes=4, seed=3)
    assert Genotype.from_json(g.to_json()) == g
    assert Genotype.from_dict(json.loads(json.dumps(g.to_dict()))) == g


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"primitives": ("none",)}, "other than 'none'"),
        ({"primitives": ("conv_7x7",)}, "unknown operation"),
        ({"nodes": 0}, "positive integer"),
        ({"nodes": 2.0}, "positive integer"),
    ],
)
def test_random_genotype_validation(kwargs, message):
    arguments = {"primitives": CPU_OPERATIONS, "nodes": 3, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=message):
        random_genotype(**arguments)


def test_random_genotype_builds_a_network():
    from autoarch.darts import build_network
    from autoarch.darts import random_genotype as exported

    assert exported is random_genotype
    g = random_genotype(CPU_OPERATIONS, nodes=3, seed=1)
    model = build_network(g, (8, 8, 1), 10, init_channels=4, layers=3, seed=0)
    predictions = np.asarray(model(np.zeros((2, 8, 8, 1), np.float32)))
    assert predictions.shape == (2, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)


def test_module_does_not_import_tensorflow_or_keras():
    import autoarch.darts.genotype as module

    tree = ast.parse(pathlib.Path(module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"tensorflow", "keras", "pickle"}
