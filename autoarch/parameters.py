"""Declared constraints on an estimator's parameters, checked in one place.

As scikit-learn's ``_parameter_constraints``: an estimator declares, for each
parameter, what it accepts, and `check_parameters` checks them all, in the
order declared, before any work. A refused value raises a `ValueError` that
says what was expected and what came: ``"<name> must be <expected>, got <value>"``.

Example:
    >>> constraints = {"max_trials": integer(1)}
    >>> check_parameters({"max_trials": 0}, constraints)
    Traceback (most recent call last):
    ...
    ValueError: max_trials must be an integer >= 1, got 0
"""

import numpy as np

__all__ = ["Constraint", "Checked", "is_integer", "integer", "check_parameters"]


class Constraint:
    """What one parameter accepts.

    Args:
        accepts: a function of the value, true when the value is accepted.
        expected: what is accepted, in words (``"an integer >= 1"``).
        shown: how a refused value appears in the message (default `repr`).
    """

    def __init__(self, accepts, expected, shown=repr):
        self.accepts = accepts
        self.expected = expected
        self.shown = shown

    def check(self, name, value, owner=None):
        """Raise `ValueError` unless ``value`` is accepted (``owner`` is not used)."""
        if not self.accepts(value):
            raise ValueError(f"{name} must be {self.expected}, got {self.shown(value)}")


class Checked:
    """A parameter that a function checks, raising its own `ValueError`.

    For checks that need the owner (an objective among the estimator's) or that
    parse the value (a genotype's JSON, a list of devices).

    Args:
        function: called with ``(owner, value)``; raises `ValueError` to refuse.
    """

    def __init__(self, function):
        self.function = function

    def check(self, name, value, owner=None):
        """Call the function on ``(owner, value)``."""
        self.function(owner, value)


def is_integer(value):
    """Whether ``value`` is an integer, Python's or numpy's; a bool is not (True as a count is a mistake)."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def integer(minimum):
    """An integer (Python or numpy, not a bool) of at least ``minimum``."""
    return Constraint(lambda value: is_integer(value) and value >= minimum, f"an integer >= {minimum}")


def check_parameters(owner, constraints):
    """Check ``owner``'s parameters against ``constraints``, in the order declared.

    Args:
        owner: an object whose attributes are the parameters, or a dict of them.
        constraints: parameter name to a `Constraint` or `Checked`.

    Raises:
        ValueError: the first parameter that is refused.
    """
    for name, constraint in constraints.items():
        value = owner[name] if isinstance(owner, dict) else getattr(owner, name)
        constraint.check(name, value, owner)
