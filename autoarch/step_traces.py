"""Count how often Keras traces a model's step functions: the fixed cost of a fit.

Tracing a step (turning the Python of ``train_step``, ``test_step`` or
``predict_step`` into a TensorFlow graph) costs seconds for a DARTS supernet
and is paid again for every new model and every new input signature, while a
step of a small network computes in milliseconds. `count_traces` makes those
traces visible, for benchmarks and tests.
"""

import collections
import contextlib

__all__ = ["count_traces"]


@contextlib.contextmanager
def count_traces():
    """Count, while the context is open, every trace of a Keras step function.

    Yields a `collections.Counter` keyed by ``"<model class>.<step>"`` (for
    example ``"SearchNetwork.train_step"`` or ``"Functional.test_step"``),
    counting the times the step's Python body ran while TensorFlow traced it.
    A step run eagerly (``run_eagerly=True``) counts once per batch. Under a
    strategy with several replicas each trace counts once per replica.

    Only the TensorFlow backend is supported; it wraps the step each compiled
    Keras function is made from, so functions made before the context opened
    are not counted.
    """
    from keras.src.backend.tensorflow.trainer import TensorFlowTrainer

    counts = collections.Counter()
    original = TensorFlowTrainer._make_function

    def make_counted_function(model, step_function):
        key = f"{type(model).__name__}.{getattr(step_function, '__name__', 'step')}"

        def counted_step(data):
            counts[key] += 1
            return step_function(data)

        return original(model, counted_step)

    TensorFlowTrainer._make_function = make_counted_function
    try:
        yield counts
    finally:
        TensorFlowTrainer._make_function = original
