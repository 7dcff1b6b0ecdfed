"""Benchmark: how one derived network's width and seed move digits' test accuracy.

Trains one fixed genotype (the cell the digits benchmark found with seed 0 on
2026-11-28) from scratch on the first 1,500 digits, as a trial's network
trains (Adam, cosine schedule, random crops), at each ``--channels`` and
``--seeds``, and tests every network on the last 297 digits (other writers).
It also tests the average of each width's networks, as the final model's
ensemble averages networks. This is the measurement behind the CPU default of
``network_channels`` (`autoarch.tuning.space.default_network_channels`).
Prints one JSON line per network and per width's average; the last line is
all of them, also written to ``benchmarks/results/digits_width/digits_width.json``.

Run from the repository root (about 40-60 s per network on 2 cores)::

    python benchmarks/digits_width.py [--channels 12 24] [--seeds 0 1 2] [--epochs 20]
"""

import argparse
import json
import math
import os
import time

from results_path import result_path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

GENOTYPE = {
    "normal": [["dil_conv_3x3", 0], ["avg_pool_3x3", 1], ["max_pool_3x3", 0], ["avg_pool_3x3", 1],
               ["dil_conv_3x3", 3], ["dil_conv_3x3", 1]],
    "normal_concat": [2, 3, 4],
    "reduce": [["skip_connect", 1], ["dil_conv_3x3", 0], ["sep_conv_3x3", 2], ["dil_conv_3x3", 0],
               ["sep_conv_3x3", 0], ["max_pool_3x3", 2]],
    "reduce_concat": [2, 3, 4],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, nargs="+", default=[12, 24])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    args = parser.parse_args()

    import keras
    import numpy as np
    from sklearn.datasets import load_digits

    from autoarch.darts import Genotype, build_network
    from autoarch.pipeline import Augmentation, batches
    from autoarch.runtime import configure_cpu_threads
    import tensorflow as tf

    configure_cpu_threads()
    digits = load_digits()
    x = digits.images.astype(np.float32)[..., None]
    y = digits.target
    x_fit, y_fit, x_test, y_test = x[:1500], y[:1500], x[1500:], y[1500:]
    mean, variance = x_fit.mean(axis=(0, 1, 2)), x_fit.var(axis=(0, 1, 2))
    genotype = Genotype.from_dict(GENOTYPE)
    rows = []
    for channels in args.channels:
        probabilities = []
        for seed in args.seeds:
            keras.utils.set_random_seed(seed)
            train = batches(
                tf.data.Dataset.from_tensor_slices((x_fit, y_fit)),
                batch_size=32, mean=mean, variance=variance, augmentation=Augmentation(crop=True),
                shuffle=True, seed=seed + 7, cache=True,
            )
            test = batches(
                tf.data.Dataset.from_tensor_slices((x_test, y_test)), batch_size=256, mean=mean, variance=variance
            )
            network = build_network(
                genotype, (8, 8, 1), 10, init_channels=channels, layers=3, drop_path=False, seed=seed
            )
            network.compile(
                optimizer=keras.optimizers.Adam(args.learning_rate),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
            )
            lr, epochs = args.learning_rate, args.epochs
            schedule = keras.callbacks.LearningRateScheduler(
                lambda e: 0.5 * lr * (1 + math.cos(math.pi * e / epochs))
            )
            started = time.perf_counter()
            network.fit(train, epochs=epochs, callbacks=[schedule], verbose=0)
            seconds = time.perf_counter() - started
            predicted = network.predict(test, verbose=0)
            probabilities.append(predicted)
            row = {
                "channels": channels, "seed": seed, "epochs": epochs,
                "test_accuracy": round(float(np.mean(predicted.argmax(1) == y_test)), 4),
                "parameters": int(network.count_params()), "train_seconds": round(seconds, 1),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        accuracies = [r["test_accuracy"] for r in rows if r["channels"] == channels]
        averaged = np.mean(probabilities, axis=0).argmax(axis=1)
        summary = {
            "channels": channels, "seeds": args.seeds,
            "mean_test_accuracy": round(float(np.mean(accuracies)), 4),
            "average_of_networks_test_accuracy": round(float(np.mean(averaged == y_test)), 4),
        }
        rows.append(summary)
        print(json.dumps(summary), flush=True)
    with open(result_path("digits_width", "digits_width.json"), "w") as file:
        json.dump(rows, file, indent=1)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
