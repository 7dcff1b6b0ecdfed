"""Tests for autoarch.darts.operations and the cells: shapes, alignment, MixedOp, cells."""

import math

import numpy as np
import pytest

from autoarch.darts import (
    DARTS_V2,
    PRIMITIVES,
    Cell,
    MixedOp,
    SearchCell,
    make_operation,
    num_edges,
    validate_primitives,
)
from autoarch.darts.operations import BatchStatNorm, FactorizedReduce, Identity, Pool, Zero

SIZES = ((7, 7), (8, 8), (9, 9), (7, 10))


def rng(seed=0):
    return np.random.default_rng(seed)


def images(batch, height, width, channels, seed=0):
    return rng(seed).normal(size=(batch, height, width, channels)).astype("float32")


def expected_size(n, stride):
    return n if stride == 1 else math.ceil(n / 2)


def out_array(layer, *args, **kwargs):
    return np.asarray(layer(*args, **kwargs))


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("search", [False, True], ids=["discrete", "search"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("name", PRIMITIVES)
def test_operation_output_shape(name, stride, search):
    for channels in (1, 3):
        op = make_operation(name, channels, stride, search=search)
        for height, width in SIZES:
            x = images(2, height, width, channels)
            out = out_array(op, x, training=False)
            assert out.shape == (
                2,
                expected_size(height, stride),
                expected_size(width, stride),
                channels,
            ), (name, stride, search, channels, height, width)
            assert np.all(np.isfinite(out))


@pytest.mark.parametrize("search", [False, True], ids=["discrete", "search"])
@pytest.mark.parametrize("stride", [1, 2])
def test_all_operations_of_one_stride_agree_on_shape(stride, search):
    channels = 2
    operations = {name: make_operation(name, channels, stride, search=search) for name in PRIMITIVES}
    for height, width in SIZES:
        x = images(2, height, width, channels)
        shapes = {name: out_array(op, x, training=False).shape for name, op in operations.items()}
        assert len(set(shapes.values())) == 1, shapes
        # ...so they can be summed, as a MixedOp does.
        total = sum(out_array(op, x, training=False) for op in operations.values())
        assert total.shape == next(iter(shapes.values()))


def test_make_operation_rejects_bad_name_and_stride():
    with pytest.raises(ValueError, match="unknown operation 'conv_7x7'"):
        make_operation("conv_7x7", 2, 1)
    with pytest.raises(ValueError, match="stride must be 1 or 2, got 3"):
        make_operation("sep_conv_3x3", 2, 3)
    with pytest.raises(ValueError, match="stride must be 1 or 2, got 0"):
        make_operation("max_pool_3x3", 2, 0)


def test_make_operation_layer_types():
    assert isinstance(make_operation("none", 2, 1), Zero)
    assert isinstance(make_operation("skip_connect", 2, 1), Identity)
    assert isinstance(make_operation("skip_connect", 2, 2), FactorizedReduce)
    pool = make_operation("avg_pool_3x3", 2, 2)
    assert isinstance(pool, Pool) and pool.kind == "avg" and pool.stride == 2
    assert make_operation("sep_conv_5x5", 2, 1).kernel_size == 5
    assert make_operation("dil_conv_3x3", 2, 1, search=True).search is True


# --------------------------------------------------------------------------- simple ops


@pytest.mark.parametrize("search", [False, True])
@pytest.mark.parametrize("stride", [1, 2])
def test_none_outputs_zeros(stride, search):
    x = images(3, 7, 8, 3) + 5.0
    out = out_array(make_operation("none", 3, stride, search=search), x)
    assert out.shape == (3, expected_size(7, stride), expected_size(8, stride), 3)
    assert np.all(out == 0.0)


@pytest.mark.parametrize("search", [False, True])
def test_skip_connect_stride_1_is_identity(search):
    x = images(3, 7, 8, 3)
    op = make_operation("skip_connect", 3, 1, search=search)
    np.testing.assert_array_equal(out_array(op, x, training=True), x)
    np.testing.assert_array_equal(out_array(op, x, training=False), x)


def test_batch_stat_norm_normalizes_each_channel():
    x = images(16, 5, 6, 3)
    x = x * np.array([0.5, 3.0, 10.0], "float32") + np.array([-4.0, 0.0, 7.0], "float32")
    norm = BatchStatNorm()
    for training in (True, False):  # the same in training and inference
        out = out_array(norm, x, training=training)
        np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
        np.testing.assert_allclose(out.var(axis=(0, 1, 2)), 1.0, rtol=1e-3)
    # No state: normalization uses the batch it is given only.
    assert not norm.weights


# --------------------------------------------------------------------------- stride-2 alignment


def impulse(size, position, channels=1):
    x = np.zeros((1, size, size, channels), "float32")
    x[0, position, position, :] = 1.0
    return x


@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("name", ["max_pool_3x3", "avg_pool_3x3"])
def test_stride_2_pool_is_centred_on_even_pixels(name, size):
    x = impulse(size, 2)
    out = out_array(make_operation(name, 1, 2, search=False), x)[0, :, :, 0]
    expected = np.zeros_like(out)
    expected[1, 1] = 1.0 if name == "max_pool_3x3" else 1.0 / 9.0
    np.testing.assert_allclose(out, expected, atol=1e-7)

    # The search flavour normalizes afterwards but keeps the peak at (1, 1).
    out = out_array(make_operation(name, 1, 2, search=True), x)[0, :, :, 0]
    assert np.unravel_index(np.argmax(out), out.shape) == (1, 1)
    assert np.sum(out == out.max()) == 1


def _positive_weights(op, x):
    """Build ``op`` on ``x`` and set every convolution kernel to ones (BN stays identity)."""
    op(x, training=False)
    for variable in op.weights:
        if "kernel" in variable.path:
            variable.assign(np.ones(variable.shape, "float32"))


@pytest.mark.parametrize("name", [p for p in PRIMITIVES if p != "none"])
def test_stride_2_operations_are_centred_on_input_pixel_2i(name):
    # A positive impulse at input pixel 8 must give an output symmetric around pixel 4,
    # for odd (17) and even (16) inputs alike.
    op = make_operation(name, 2, 2, search=False)
    odd = impulse(17, 8, channels=2)
    _positive_weights(op, odd)
    out_odd = out_array(op, odd, training=False)[0]
    assert out_odd.shape == (9, 9, 2)
    assert np.all(out_odd[4, 4] >= 0) and out_odd[4, 4].max() > 0
    np.testing.assert_allclose(out_odd, out_odd[::-1, ::-1], atol=1e-6)
    assert out_odd[4, 4, 0] == out_odd[..., 0].max()

    out_even = out_array(op, impulse(16, 8, channels=2), training=False)[0]
    assert out_even.shape == (8, 8, 2)
    np.testing.assert_allclose(out_even, out_odd[:8, :8], atol=1e-6)


# --------------------------------------------------------------------------- MixedOp


def mixed_op(primitives, channels, stride, input_shape, partial_channels=1):
    """A MixedOp built explicitly on ``input_shape``, as SearchCell.build does."""
    mixed = MixedOp(primitives, channels, stride, partial_channels=partial_channels)
    mixed.build(input_shape)
    return mixed


def softmax(values):
    e = np.exp(values - values.max())
    return (e / e.sum()).astype("float32")


@pytest.mark.parametrize("stride", [1, 2])
def test_mixed_op_is_the_weighted_sum_of_its_candidates(stride):
    channels = 3
    x = images(4, 7, 7, channels)
    mixed = mixed_op(PRIMITIVES, channels, stride, x.shape)
    weights = softmax(rng(1).normal(size=len(PRIMITIVES)))
    out = out_array(mixed, x, weights)
    assert out.shape == (4, expected_size(7, stride), expected_size(7, stride), channels)

    assert len(mixed.candidates) == len(PRIMITIVES) - 1  # 'none' is never computed
    expected = np.zeros_like(out)
    for index, candidate in zip(mixed.active_indices, mixed.candidates):
        assert PRIMITIVES[index] != "none"
        expected += weights[index] * out_array(candidate, x)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)

    # 'none' contributes nothing: changing its weight alone leaves the output unchanged.
    changed = weights.copy()
    changed[PRIMITIVES.index("none")] = 7.0
    np.testing.assert_allclose(out_array(mixed, x, changed), out, rtol=1e-6, atol=1e-6)
    # ...and all the weight on 'none' gives zeros.
    only_none = np.zeros_like(weights)
    only_none[PRIMITIVES.index("none")] = 1.0
    assert np.all(out_array(mixed, x, only_none) == 0.0)


def test_mixed_op_matches_independently_built_weight_free_operations():
    # Pools (with batch-stat norm) and skip have no weights, so fresh layers must agree.
    primitives = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect")
    channels = 2
    x = images(4, 8, 8, channels)
    mixed = mixed_op(primitives, channels, 1, x.shape)
    weights = np.array([0.1, 0.2, 0.3, 0.4], "float32")
    expected = sum(
        w * out_array(make_operation(name, channels, 1, search=True), x)
        for w, name in zip(weights, primitives)
    )
    np.testing.assert_allclose(out_array(mixed, x, weights), expected, rtol=1e-5, atol=1e-5)
    one_hot_skip = np.array([0.0, 0.0, 0.0, 1.0], "float32")
    np.testing.assert_allclose(out_array(mixed, x, one_hot_skip), x, atol=1e-7)


@pytest.mark.parametrize("size", [7, 8])
@pytest.mark.parametrize("stride", [1, 2])
def test_mixed_op_partial_channels_shape(stride, size):
    x = images(2, size, size, 4)
    mixed = mixed_op(PRIMITIVES, 4, stride, x.shape, partial_channels=2)
    assert mixed.active_channels == 2
    weights = softmax(rng(2).normal(size=len(PRIMITIVES)))
    out = out_array(mixed, x, weights)
    n = expected_size(size, stride)
    assert out.shape == (2, n, n, 4)
    assert np.all(np.isfinite(out))
    if stride == 1:
        # The bypassed half (channels 2 and 3) reaches the output unchanged (shuffled).
        for channel in (2, 3):
            assert any(
                np.array_equal(out[..., k], x[..., channel]) for k in range(4)
            ), f"bypass channel {channel} not found in the output"


def test_mixed_op_builds_itself_on_first_call():
    x = images(2, 8, 8, 2)
    weights = softmax(rng(5).normal(size=len(PRIMITIVES)))
    out = out_array(MixedOp(PRIMITIVES, 2, 1), x, weights)
    assert out.shape == x.shape


@pytest.mark.parametrize(
    "partial_channels, message",
    [
        (0, "partial_channels must be a positive divisor of the channel count 4, got 0"),
        (3, "partial_channels must be a positive divisor of the channel count 4, got 3"),
        (5, "partial_channels must be a positive divisor of the channel count 4, got 5"),
    ],
)
def test_mixed_op_rejects_partial_channels_not_dividing_channels(partial_channels, message):
    with pytest.raises(ValueError, match=message):
        MixedOp(PRIMITIVES, 4, 1, partial_channels=partial_channels)


def test_mixed_op_rejects_bad_primitives():
    with pytest.raises(ValueError, match=r"unknown operation\(s\) \['conv_9x9'\]"):
        MixedOp(("sep_conv_3x3", "conv_9x9"), 2, 1)


# --------------------------------------------------------------------------- validate_primitives


@pytest.mark.parametrize(
    "primitives, message",
    [
        (("sep_conv_3x3", "conv_7x7"), r"unknown operation\(s\) \['conv_7x7'\]"),
        (("Skip_Connect",), r"unknown operation\(s\) \['Skip_Connect'\]"),
        ((), "primitives must name at least one operation"),
        ([], "primitives must name at least one operation"),
        (("max_pool_3x3", "max_pool_3x3"), r"primitives must not repeat an operation, got \['max_pool_3x3'"),
        ("skip_connect", "sequence of operation names, got the string 'skip_connect'"),
        ("sep_conv_3x3", "sequence of operation names, got the string 'sep_conv_3x3'"),
        (("none",), "at least one operation other than 'none'"),
    ],
)
def test_validate_primitives_rejects(primitives, message):
    with pytest.raises(ValueError, match=message):
        validate_primitives(primitives)


def test_validate_primitives_accepts_subsets_and_returns_tuple():
    assert validate_primitives(PRIMITIVES) == PRIMITIVES
    assert validate_primitives(["skip_connect", "sep_conv_3x3"]) == ("skip_connect", "sep_conv_3x3")
    assert validate_primitives(("dil_conv_5x5",)) == ("dil_conv_5x5",)
    assert validate_primitives(iter(["none", "avg_pool_3x3"])) == ("none", "avg_pool_3x3")


# --------------------------------------------------------------------------- cells


SMALL_PRIMITIVES = ("none", "max_pool_3x3", "skip_connect", "sep_conv_3x3", "dil_conv_3x3")


@pytest.mark.parametrize(
    "reduction, reduction_prev",
    [(False, False), (True, False), (False, True), (True, True)],
)
@pytest.mark.parametrize("size", [7, 8])
def test_search_cell_output_shape(reduction, reduction_prev, size):
    nodes, channels = 3, 2
    cell = SearchCell(SMALL_PRIMITIVES, nodes, channels, reduction, reduction_prev)
    assert len(cell.edges) == num_edges(nodes) == 9
    s1_size = expected_size(size, 2) if reduction_prev else size
    s0 = images(2, size, size, 5)
    s1 = images(2, s1_size, s1_size, 3, seed=1)
    weights = np.stack([softmax(r) for r in rng(3).normal(size=(num_edges(nodes), 5))])
    out = np.asarray(cell(s0, s1, weights))
    n = expected_size(s1_size, 2 if reduction else 1)
    assert out.shape == (2, n, n, nodes * channels)
    assert np.all(np.isfinite(out))


def test_search_cell_edge_strides():
    cell = SearchCell(SMALL_PRIMITIVES, 2, 2, reduction=True, reduction_prev=False)
    # Edges from the two cell inputs reduce, edges from intermediate nodes do not.
    assert [edge.stride for edge in cell.edges] == [2, 2, 2, 2, 1]


def test_search_cell_edge_weights_scale_edges():
    cell = SearchCell(SMALL_PRIMITIVES, 2, 2, reduction=False, reduction_prev=False)
    s = images(2, 8, 8, 3)
    weights = np.stack([softmax(r) for r in rng(4).normal(size=(5, 5))])
    plain = np.asarray(cell(s, s, weights))
    ones = np.asarray(cell(s, s, weights, np.ones(5, "float32")))
    np.testing.assert_allclose(ones, plain, rtol=1e-6, atol=1e-6)
    zeros = np.asarray(cell(s, s, weights, np.zeros(5, "float32")))
    assert np.all(zeros == 0.0)




@pytest.mark.parametrize(
    "reduction, reduction_prev",
    [(False, False), (True, False), (False, True)],
)
@pytest.mark.parametrize("concat", [(2, 3, 4, 5), (3, 5)])
@pytest.mark.parametrize("size", [7, 8])
def test_cell_output_shape(reduction, reduction_prev, concat, size):
    channels = 3
    operations = DARTS_V2.reduce if reduction else DARTS_V2.normal
    cell = Cell(operations, concat, channels, reduction, reduction_prev, seed=0)
    s1_size = expected_size(size, 2) if reduction_prev else size
    s0 = images(2, size, size, 4)
    s1 = images(2, s1_size, s1_size, 6, seed=1)
    n = expected_size(s1_size, 2 if reduction else 1)
    for training in (False, True):
        out = np.asarray(cell([s0, s1], training=training))
        assert out.shape == (2, n, n, len(concat) * channels)
        assert np.all(np.isfinite(out))


def test_cell_drop_path_only_on_non_identity_operations():
    cell = Cell(DARTS_V2.normal, DARTS_V2.normal_concat, 2, False, False)
    for op, drop in zip(cell.ops, cell.drop_paths):
        assert (drop is None) == isinstance(op, Identity)
    assert sum(drop is None for drop in cell.drop_paths) == DARTS_V2.count("skip_connect")
    no_drop = Cell(DARTS_V2.normal, DARTS_V2.normal_concat, 2, False, False, drop_path=False)
    assert all(drop is None for drop in no_drop.drop_paths)


@pytest.mark.parametrize("reduction", [False, True])
def test_search_cell_shuffles_once_per_node_like_per_edge_mixing(reduction):
    # The cell sums un-shuffled edges and shuffles once per node; that must equal
    # the PC-DARTS definition: the sum of each edge's shuffled output.
    from keras import ops

    cell = SearchCell(PRIMITIVES, 2, 4, reduction, False, partial_channels=2)
    s = images(2, 7, 7, 4)
    cell.build(s.shape, s.shape)
    weights = softmax(rng(3).normal(size=(5, len(PRIMITIVES))))
    edge_weights = np.asarray(rng(4).uniform(0.2, 1.0, size=5), "float32")
    out = np.asarray(cell(s, s, weights, edge_weights))

    states = [cell.preprocess0(s), cell.preprocess1(s)]
    offset = 0
    for _ in range(2):
        node = sum(
            edge_weights[offset + j] * cell.edges[offset + j](state, weights[offset + j])
            for j, state in enumerate(states)
        )
        offset += len(states)
        states.append(node)
    expected = np.asarray(ops.concatenate(states[2:], axis=-1))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
