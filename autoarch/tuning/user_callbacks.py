"""The user's Keras callbacks: a fresh copy for every training, writing where it does not overwrite.

A search trains many networks (each trial's, then each final fit), so, as
keras-tuner does, every training gets its own deep copy of the callbacks
given to ``fit``: an `keras.callbacks.EarlyStopping` starts each training
with a fresh patience, a `keras.callbacks.ModelCheckpoint` a fresh best.
Callbacks that write logs write one per training instead of overwriting the
last: `keras.callbacks.TensorBoard` under ``<log_dir>/<run>`` (keras-tuner's
layout), `keras.callbacks.CSVLogger` to ``<name>_<run>.csv``. A run is named
``trial_<id>`` for a trial's training and ``final_<id>`` for the final fit
of that trial's network.

A callback whose state should span trainings (a counter, say) defines
``__deepcopy__`` to share it, or keeps it outside the object.
"""

import copy
import os

import keras

__all__ = ["check_callbacks", "copies_for"]


def check_callbacks(callbacks):
    """The callbacks given to ``fit`` as a list, after checking they are Keras callbacks that can be copied.

    Raises:
        ValueError: ``callbacks`` is not a list or tuple of
            `keras.callbacks.Callback`, or one cannot be deep-copied.
    """
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise ValueError(f"callbacks must be a list of keras.callbacks.Callback, got {type(callbacks).__name__}")
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise ValueError(f"callbacks must be keras.callbacks.Callback instances, got {type(callback).__name__}")
        try:
            copy.deepcopy(callback)
        except Exception as error:
            raise ValueError(
                f"every training gets its own copy of the callbacks, and {type(callback).__name__} cannot be "
                f"deep-copied ({type(error).__name__}: {error}); give it a __deepcopy__ method"
            ) from error
    return list(callbacks)


def copies_for(callbacks, run):
    """Deep copies of ``callbacks`` for the training named ``run`` (``"trial_3"``, ``"final_3"``).

    A `keras.callbacks.TensorBoard` copy writes under ``<log_dir>/<run>``; a
    `keras.callbacks.CSVLogger` copy to ``<name>_<run><extension>``.
    """
    copies = copy.deepcopy(list(callbacks))
    for callback in copies:
        if isinstance(callback, keras.callbacks.TensorBoard):
            callback.log_dir = os.path.join(callback.log_dir, run)
        elif isinstance(callback, keras.callbacks.CSVLogger):
            stem, extension = os.path.splitext(callback.filename)
            callback.filename = f"{stem}_{run}{extension}"
    return copies
