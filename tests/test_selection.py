"""Perturbation-based selection: it reads what the trained supernet relies on, deterministically."""

import logging

import keras
import numpy as np
import pytest

import autoarch
from autoarch.darts import SearchNetwork
from autoarch.darts.selection import _select, perturbation_genotype
from autoarch.data import paired_search_dataset

PRIMITIVES = ("none", "avg_pool_3x3", "skip_connect", "sep_conv_3x3")


@pytest.fixture(scope="module")
def relying_supernet(digits):
    """A supernet trained with its alphas frozen so that every edge is nearly all sep_conv_3x3."""
    x, y = digits
    keras.utils.set_random_seed(0)
    network = SearchNetwork((8, 8, 1), 10, init_channels=4, layers=3, nodes=2, primitives=PRIMITIVES, seed=0)
    favoured = np.zeros(network.alphas_normal.shape, np.float32)
    favoured[:, PRIMITIVES.index("sep_conv_3x3")] = 5.0  # softmax weight 0.98 on every edge
    network.alphas_normal.assign(favoured)
    network.alphas_reduce.assign(favoured)
    network.compile(arch_warmup_epochs=3)  # the alphas never move
    network.fit(paired_search_dataset(x[:600], y[:600], x[600:1200], y[600:1200], batch_size=32, seed=0),
                epochs=3, verbose=0)
    return network, x[1200:1456], y[1200:1456]


def test_the_rule_picks_the_operation_the_supernet_relies_on(relying_supernet):
    network, x_val, y_val = relying_supernet
    genotype, scores = perturbation_genotype(network, x_val, y_val, max_skip_connections=2)

    sep, pool = PRIMITIVES.index("sep_conv_3x3"), PRIMITIVES.index("avg_pool_3x3")
    for operations in (scores.normal, scores.reduce):
        assert np.isnan(operations[:, 0]).all()  # none is never removed
        assert (operations[:, sep] > operations[:, pool]).all()
        # Without its main operation every edge hurts (rises of 0.05-0.5 measured over
        # four weight initialisations), without an operation of weight 0.007 none does.
        assert (operations[:, sep] > 0.02).all()
        assert (np.abs(operations[:, pool]) < 0.01).all()
    assert {name for name, _ in genotype.normal + genotype.reduce} == {"sep_conv_3x3"}


def test_the_rule_is_deterministic(relying_supernet):
    network, x_val, y_val = relying_supernet
    first, first_scores = perturbation_genotype(network, x_val, y_val)
    second, second_scores = perturbation_genotype(network, x_val, y_val)
    assert first == second
    assert first_scores.base_loss == second_scores.base_loss
    np.testing.assert_array_equal(first_scores.normal, second_scores.normal)
    np.testing.assert_array_equal(first_scores.reduce_edges, second_scores.reduce_edges)


def test_edges_and_operations_follow_the_largest_rise():
    # Two nodes: node 0 has edges 0, 1; node 1 has edges 2, 3, 4.
    operations = np.array(
        [[np.nan, 0.1, 0.3, 0.2], [np.nan, 0.5, 0.0, 0.1], [np.nan, 0.0, 0.0, 0.9],
         [np.nan, 0.2, 0.1, 0.0], [np.nan, 0.0, 0.4, 0.3]]
    )
    edges = np.array([0.2, 0.1, 0.05, 0.6, 0.3])
    selected = _select(operations, edges, PRIMITIVES, nodes=2)
    # Node 0 keeps both edges (strongest first); node 1 keeps edges 3 and 4, not 2
    # although edge 2 holds the single largest operation score.
    assert selected == [[0, 0, 2], [1, 1, 1], [3, 1, 1], [4, 2, 2]]


def test_an_estimator_searches_with_perturbation_selection_and_reports_its_confidence(digits, tmp_path, caplog):
    x, y = digits
    clf = autoarch.ImageClassifier(
        max_trials=1,
        seed=0,
        verbose=1,
        directory=str(tmp_path),
        search_space={
            "selection": "perturbation", "search_epochs": 1, "train_epochs": 1, "search_samples": 200,
            "init_channels": 4, "network_channels": 4, "cells": 3, "network_cells": 3,
        },
    )
    with caplog.at_level(logging.INFO, logger="autoarch"):
        clf.fit(x[:400], y[:400])
    assert clf.results_[0]["hyperparameters"]["selection"] == "perturbation"
    assert clf.best_genotype_.nodes == 3
    # One search epoch leaves the alphas uniform: the results, the log and the notebook say so.
    confidence = clf.results_[0]["search_confidence"]
    assert confidence["confident"] is False and confidence["entropy"] > 0.99 * confidence["entropy_max"]
    assert "the search ended without confidence" in caplog.text
    assert "near uniform" in clf._repr_html_()
    with pytest.raises(ValueError, match="selection"):
        autoarch.ImageClassifier(search_space={"selection": "magnitude"}).fit(x[:100], y[:100])
