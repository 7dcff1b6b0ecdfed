"""The DARTS operation names and their validation, and the edge count of a cell."""

PRIMITIVES = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
"""The DARTS operation set, in the order of the reference implementation."""


def num_edges(nodes):
    """Number of edges of a cell with ``nodes`` intermediate nodes (14 for 4 nodes).

    Node ``i`` has an edge from each of the two cell inputs and the ``i`` nodes before it.
    """
    return sum(2 + i for i in range(nodes))


def validate_primitives(primitives):
    """Return ``primitives`` as a tuple after checking every name is a DARTS operation.

    Raises:
        ValueError: if the sequence is empty, a string instead of a sequence of
            names, has duplicates, or names an operation not in `PRIMITIVES`.
    """
    if isinstance(primitives, str):
        raise ValueError(
            f"primitives must be a sequence of operation names, got the string {primitives!r}"
        )
    names = tuple(primitives)
    if not names:
        raise ValueError(f"primitives must name at least one operation of {PRIMITIVES}")
    unknown = [name for name in names if name not in PRIMITIVES]
    if unknown:
        raise ValueError(f"unknown operation(s) {unknown}; expected names from {PRIMITIVES}")
    if len(set(names)) != len(names):
        raise ValueError(f"primitives must not repeat an operation, got {list(names)}")
    if names == ("none",):
        raise ValueError("primitives must include at least one operation other than 'none'")
    return names
