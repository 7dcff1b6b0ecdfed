"""The user's callbacks in a real fit (issue 15, part 3): copied per training, val_* metrics, one log each."""

import csv
import os
import threading

import keras
import pytest

from .conftest import tiny_classifier, tiny_space

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]


class Unshared(keras.callbacks.Callback):
    """Counts the trainings it is given to; autoarch passes copies, so the user's object counts none."""

    def __init__(self):
        super().__init__()
        self.trainings = 0

    def on_train_begin(self, logs=None):
        self.trainings += 1


def _rows(path):
    with open(path) as file:
        return list(csv.DictReader(file))


def test_every_training_gets_fresh_copies_with_val_metrics_and_its_own_logs(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    unshared = Unshared()
    # min_delta=10: val_loss never improves that much, so each training with val_loss stops after two epochs.
    stopping = keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=10.0, patience=0)
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(tmp_path / "logs" / "best.weights.h5"), monitor="val_loss", save_best_only=True, save_weights_only=True
    )
    callbacks = [
        unshared,
        stopping,
        checkpoint,
        keras.callbacks.CSVLogger(str(tmp_path / "logs" / "history.csv")),
        keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs" / "board")),
    ]
    os.makedirs(tmp_path / "logs")
    clf = tiny_classifier(
        tmp_path / "project", max_trials=2, search_space=tiny_space(train_epochs=4, learning_rate=(1e-3, 1e-2))
    )
    clf.fit(x, y, callbacks=callbacks)
    assert [row["status"] for row in clf.results_] == ["COMPLETED", "COMPLETED"]
    (final,) = clf.ensemble_trials_

    assert unshared.trainings == 0  # each training got a copy
    logs = sorted(os.listdir(tmp_path / "logs"))
    assert logs == sorted(["best.weights.h5", "board", "history_trial_0.csv", "history_trial_1.csv",
                           f"history_final_{final}.csv"]), logs
    for trial_id in "01":
        rows = _rows(tmp_path / "logs" / f"history_trial_{trial_id}.csv")
        assert "val_loss" in rows[0] and "val_accuracy" in rows[0]  # the holdout is the validation data
        assert len(rows) == 2  # EarlyStopping on val_loss stopped the 4-epoch training
        assert os.path.isdir(tmp_path / "logs" / "board" / f"trial_{trial_id}" / "validation")
    # The final fit trains on the holdout too: no unseen data, so no val_* and EarlyStopping cannot stop it.
    final_rows = _rows(tmp_path / "logs" / f"history_final_{final}.csv")
    assert final_rows[0].get("val_loss", "NA") == "NA"  # Keras's CSVLogger adds val_* columns, empty
    assert os.path.isdir(tmp_path / "logs" / "board" / f"final_{final}" / "train")
    assert not os.path.exists(tmp_path / "logs" / "board" / f"final_{final}" / "validation")


def test_with_validation_data_the_final_fit_reports_val_metrics_too(tmp_path, digits_uint8):
    x, y, x_val, y_val = digits_uint8
    clf = tiny_classifier(tmp_path / "project", refit="scratch")
    clf.fit(x, y, validation_data=(x_val, y_val), callbacks=[keras.callbacks.CSVLogger(str(tmp_path / "h.csv"))])
    (final,) = clf.ensemble_trials_
    for name in ("h_trial_0.csv", f"h_final_{final}.csv"):
        assert "val_loss" in _rows(tmp_path / name)[0], name


class HoldsALock(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()


def test_a_callback_that_cannot_be_copied_is_refused_before_anything_is_written(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    with pytest.raises(ValueError, match="HoldsALock cannot be deep-copied"):
        tiny_classifier(tmp_path).fit(x, y, callbacks=[HoldsALock()])
    assert os.listdir(tmp_path) == []
