"""The outer search: keras-tuner hyperparameters, oracles and the tuner that runs trials."""
