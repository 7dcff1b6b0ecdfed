"""Quick start: search a DARTS cell on scikit-learn's digits, then train the derived network.

Run: ``python examples/quickstart.py`` (about two minutes on 2 CPU cores).
Prints the search progress, the derived genotype and the test accuracy.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from autoarch.darts import CollapseGuard, DropPathSchedule, SearchNetwork, build_network  # noqa: E402
from autoarch.data import paired_search_dataset  # noqa: E402
from autoarch.runtime import configure_cpu_threads  # noqa: E402

configure_cpu_threads()


def main(search_epochs=6, train_epochs=20, channels=8, seed=0):
    """Search, derive, retrain and report on digits; returns the test accuracy."""
    keras.utils.set_random_seed(seed)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[..., None]
    y = digits.target
    x_fit, x_test, y_fit, y_test = train_test_split(
        x, y, test_size=0.25, stratify=y, random_state=seed
    )
    x_a, x_b, y_a, y_b = train_test_split(
        x_fit, y_fit, test_size=0.5, stratify=y_fit, random_state=seed
    )

    search = SearchNetwork(x.shape[1:], 10, init_channels=channels, layers=3, seed=seed)
    search.compile()
    search.fit(
        paired_search_dataset(x_a, y_a, x_b, y_b, batch_size=32, seed=seed),
        epochs=search_epochs,
        callbacks=[CollapseGuard(max_skip_connections=2, patience=None)],
        verbose=2,
    )
    genotype = search.genotype(max_skip_connections=2)
    print("Derived genotype:\n" + str(genotype))

    network = build_network(genotype, x.shape[1:], 10, init_channels=channels, layers=3, seed=seed)
    network.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    network.fit(
        x_fit,
        y_fit,
        batch_size=32,
        epochs=train_epochs,
        callbacks=[DropPathSchedule(0.1, train_epochs)],
        verbose=2,
    )
    accuracy = network.evaluate(x_test, y_test, verbose=0)[1]
    print(f"Test accuracy of the searched network on held-out digits: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
