"""The search's confidence: entropy and margin of the architecture weights."""

import math

import numpy as np

from autoarch.darts.confidence import CONFIDENT_ENTROPY_SHARE, search_confidence


def test_uniform_weights_are_not_confident():
    uniform = np.full((5, 6), 1 / 6)
    found = search_confidence({"normal": uniform, "reduce": uniform})
    assert found["entropy"] == found["entropy_max"] == round(math.log(6), 4)
    assert found["margin"] == 0.0
    assert found["confident"] is False


def test_peaked_weights_are_confident_and_the_margin_is_best_minus_second():
    peaked = np.array([[0.7, 0.1, 0.1, 0.1]] * 5)
    even = np.full((5, 4), 0.25)
    found = search_confidence({"normal": peaked, "reduce": peaked})
    assert found["confident"] is True
    assert found["margin"] == 0.6
    # Half the edges peaked and half uniform: the mean decides.
    mixed = search_confidence({"normal": peaked, "reduce": even})
    expected = (-(0.7 * math.log(0.7) + 3 * 0.1 * math.log(0.1)) + math.log(4)) / 2
    assert mixed["entropy"] == round(expected, 4)
    assert mixed["confident"] is (expected < CONFIDENT_ENTROPY_SHARE * math.log(4))
