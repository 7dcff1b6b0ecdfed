"""What Keras and AutoKeras users type works (issue 15, part 3): fit's epochs, batch_size and verbose."""

import os

import pytest


from .conftest import SharedCallback, tiny_classifier, tiny_space

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _classifier(directory, **params):
    return tiny_classifier(directory, **{"verbose": 1, **params})


class EpochCounter(SharedCallback):
    """Epochs run by each training."""

    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_train_begin(self, logs=None):
        self.epochs.append(0)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs[-1] += 1


def test_fit_epochs_and_batch_size_fix_the_trials_settings_and_verbose_overrides(tmp_path, digits_uint8, capfd):
    x, y, _, _ = digits_uint8
    counter = EpochCounter()
    clf = _classifier(tmp_path, refit=False)
    capfd.readouterr()
    clf.fit(x[:300], y[:300], epochs=3, batch_size=16, verbose=0, callbacks=[counter])
    assert capfd.readouterr().out == ""  # verbose=0 for this call, though the estimator says 1
    (row,) = clf.results_
    assert row["hyperparameters"]["train_epochs"] == 3 and row["hyperparameters"]["batch_size"] == 16
    assert counter.epochs == [3]
    assert clf.get_params()["search_space"] == tiny_space() and clf.verbose == 1  # parameters unchanged


@pytest.mark.parametrize(
    "options, match",
    [
        ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
        ({"batch_size": 2.5}, "batch_size must be an integer >= 1, got 2.5"),
        ({"verbose": 3}, "verbose must be 0, 1 or 2, got 3"),
    ],
)
def test_bad_fit_options_are_refused_before_anything_is_written(tmp_path, digits_uint8, options, match):
    x, y, _, _ = digits_uint8
    with pytest.raises(ValueError, match=match):
        _classifier(tmp_path).fit(x[:300], y[:300], **options)
    assert os.listdir(tmp_path) == []
