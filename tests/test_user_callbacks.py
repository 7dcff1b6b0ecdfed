"""The user's callbacks: checked before a fit, a fresh copy per training, one log per training."""

import os
import threading

import keras
import pytest

from autoarch.tuning.user_callbacks import check_callbacks, copies_for


class HoldsALock(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()


def test_copies_are_fresh_objects_and_logs_get_a_run_of_their_own(tmp_path):
    board = keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"))
    table = keras.callbacks.CSVLogger(str(tmp_path / "history.csv"))
    stopping = keras.callbacks.EarlyStopping(monitor="val_loss", patience=3)
    copies = copies_for([board, table, stopping], "trial_7")
    assert [type(c) for c in copies] == [type(board), type(table), type(stopping)]
    assert not any(copy is original for copy, original in zip(copies, (board, table, stopping)))
    assert copies[0].log_dir == os.path.join(str(tmp_path / "logs"), "trial_7")
    assert copies[1].filename == str(tmp_path / "history_trial_7.csv")
    assert copies[2].patience == 3 and copies[2].monitor == "val_loss"
    # The originals are untouched, so the next training's copies start from them again.
    assert board.log_dir == str(tmp_path / "logs") and table.filename == str(tmp_path / "history.csv")
    assert copies_for([board], "final_7")[0].log_dir == os.path.join(str(tmp_path / "logs"), "final_7")


def test_a_callback_may_share_itself_across_trainings():
    class Shared(keras.callbacks.Callback):
        def __deepcopy__(self, memo):
            return self

    shared = Shared()
    assert copies_for([shared], "trial_0")[0] is shared


@pytest.mark.parametrize(
    "callbacks, match",
    [
        (keras.callbacks.EarlyStopping(), "callbacks must be a list of keras.callbacks.Callback, got EarlyStopping"),
        ([lambda epoch: None], "callbacks must be keras.callbacks.Callback instances, got function"),
        ([HoldsALock()], r"HoldsALock cannot be deep-copied \(TypeError: .*lock.*\); give it a __deepcopy__"),
    ],
)
def test_bad_callbacks_are_refused(callbacks, match):
    with pytest.raises(ValueError, match=match):
        check_callbacks(callbacks)


def test_no_callbacks_is_an_empty_list():
    assert check_callbacks(None) == [] and check_callbacks(()) == []
