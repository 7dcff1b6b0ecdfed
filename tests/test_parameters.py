"""The declared parameter table (`autoarch.parameters`) and the estimators' use of it."""

import numpy as np
import pytest

import autoarch
from autoarch.parameters import Checked, Constraint, check_parameters, integer


def test_integer_refuses_bools_floats_and_small_values_and_accepts_numpy_ints():
    check_parameters({"n": np.int64(3)}, {"n": integer(1)})
    for bad in (0, True, 2.0, "3", None):
        with pytest.raises(ValueError, match=rf"n must be an integer >= 1, got {bad!r}"):
            check_parameters({"n": bad}, {"n": integer(1)})


def test_a_constraint_may_show_the_refused_value_its_own_way():
    table = {"space": Constraint(lambda v: isinstance(v, dict), "a dict", shown=lambda v: type(v).__name__)}
    with pytest.raises(ValueError, match=r"^space must be a dict, got list$"):
        check_parameters({"space": [1]}, table)


def test_parameters_are_checked_in_the_declared_order_and_checked_ones_get_the_owner():
    seen = []
    table = {
        "first": Checked(lambda owner, value: seen.append((owner["first"], value))),
        "second": integer(0),
        "third": Checked(lambda owner, value: seen.append("never")),
    }
    with pytest.raises(ValueError, match="second"):
        check_parameters({"first": 1, "second": -1, "third": 3}, table)
    assert seen == [(1, 1)]


def test_the_estimators_table_covers_every_parameter():
    for cls in (autoarch.ImageClassifier, autoarch.ImageRegressor):
        assert set(cls._parameter_table) == set(cls().get_params()) - {"directory", "project_name", "overwrite",
                                                                        "seed", "allow_flips"}


def test_the_first_bad_parameter_in_the_table_order_is_reported():
    estimator = autoarch.ImageClassifier(max_trials=0, verbose=5)
    with pytest.raises(ValueError, match="max_trials"):
        estimator._check_params()
