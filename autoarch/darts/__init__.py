"""Differentiable architecture search: operations, cells, supernet, genotype and network."""

from autoarch.darts.cells import Cell, DropPath, MixedOp, SearchCell, num_edges
from autoarch.darts.collapse import CollapseGuard
from autoarch.darts.derivation import derive_genotype, random_genotype
from autoarch.darts.genotype import DARTS_V2, Genotype
from autoarch.darts.network import (
    AUXILIARY_WEIGHT,
    AuxiliaryHead,
    DropPathSchedule,
    build_network,
    set_drop_path_rate,
)
from autoarch.darts.operations import PRIMITIVES, make_operation, validate_primitives
from autoarch.darts.supernet import SearchNetwork

__all__ = [
    "DARTS_V2",
    "PRIMITIVES",
    "AUXILIARY_WEIGHT",
    "AuxiliaryHead",
    "Cell",
    "CollapseGuard",
    "DropPath",
    "DropPathSchedule",
    "Genotype",
    "MixedOp",
    "SearchCell",
    "SearchNetwork",
    "build_network",
    "derive_genotype",
    "make_operation",
    "num_edges",
    "random_genotype",
    "set_drop_path_rate",
    "validate_primitives",
]
