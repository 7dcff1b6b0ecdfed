"""End to end on scikit-learn digits: a short search learns, and its genotype trains well."""

import keras
import numpy as np
from sklearn.model_selection import train_test_split

from autoarch.darts import DropPathSchedule, SearchNetwork, build_network
from autoarch.data import paired_search_dataset


def test_short_search_learns_and_derived_network_trains(digits):
    x, y = digits
    keras.utils.set_random_seed(0)
    x_fit, x_test, y_fit, y_test = train_test_split(
        x, y, test_size=0.3, stratify=y, random_state=0
    )
    x_a, x_b, y_a, y_b = train_test_split(
        x_fit, y_fit, test_size=0.5, stratify=y_fit, random_state=0
    )

    search = SearchNetwork((8, 8, 1), 10, init_channels=4, layers=3, nodes=2, seed=0)  # 2 nodes: half the trace
    search.compile(arch_learning_rate=3e-3)
    initial = search.operation_weights()
    history = search.fit(
        paired_search_dataset(x_a, y_a, x_b, y_b, batch_size=32, seed=0), epochs=4, verbose=0
    )

    arch_loss = history.history["arch_loss"]
    assert arch_loss[-1] < 0.7 * arch_loss[0]
    moved = np.abs(search.operation_weights()["normal"] - initial["normal"]).max()
    assert moved > 1e-2  # uniform weights are 1/8; the search has clearly moved them

    genotype = search.genotype(max_skip_connections=2)
    assert genotype.count("skip_connect", "normal") <= 2
    network = build_network(genotype, (8, 8, 1), 10, init_channels=8, layers=3, seed=0)
    network.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    network.fit(
        x_fit, y_fit, batch_size=32, epochs=6, callbacks=[DropPathSchedule(0.1, 6)], verbose=0
    )
    accuracy = network.evaluate(x_test, y_test, verbose=0)[1]
    assert accuracy >= 0.90
