"""The scikit-learn contract (issue 15, part 2): fitted state, tags, parameters left alone, model selection.

Tiny settings and a genotype given, so a trial is a few seconds of training.
"""

import copy
import threading
import time
import warnings

import keras_tuner
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import estimator_checks, get_tags
from sklearn.utils.validation import check_is_fitted

import autoarch
from autoarch.project import ProjectLock

from .conftest import tiny_classifier, tiny_space

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def _classifier(directory, **params):
    return tiny_classifier(directory, **params)


# The checks of sklearn.utils.estimator_checks that apply to an estimator of
# images: they inspect parameters, cloning, tags and the unfitted state. The
# others fit on 2-D tables of random numbers, which are not images (see the
# note on issue 15 and docs/guide/model-selection.md).
APPLICABLE_CHECKS = [
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_mixin_order",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_estimators_unfitted",  # predict before fit: NotFittedError
    "check_supervised_y_no_nan",  # NaN or infinite labels are refused
    "check_fit1d",  # a 1-D x is refused with a ValueError
]


@pytest.mark.parametrize("check", APPLICABLE_CHECKS)
@pytest.mark.parametrize("estimator_class", [autoarch.ImageClassifier, autoarch.ImageRegressor])
def test_scikit_learn_estimator_checks_that_apply_to_images(estimator_class, check):
    estimator = estimator_class()
    getattr(estimator_checks, check)(type(estimator).__name__, estimator)


def test_tags_say_images_in_and_randomness_without_a_seed():
    tags = get_tags(autoarch.ImageClassifier())
    assert tags.input_tags.three_d_array and not tags.input_tags.two_d_array
    assert tags.non_deterministic and tags.target_tags.required
    assert not get_tags(autoarch.ImageClassifier(seed=0)).non_deterministic
    assert get_tags(autoarch.ImageRegressor()).estimator_type == "regressor"


def test_a_failed_fit_leaves_the_estimator_unfitted(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    clf = _classifier(tmp_path)
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    clf.fit(x[:200], y[:200])
    check_is_fitted(clf)
    assert list(clf.classes_) == list(range(10))
    # Refit on other data whose every trial fails: no attribute of the earlier fit survives.
    clf.set_params(max_model_size=10)
    with pytest.raises(RuntimeError, match="every trial failed"):
        clf.fit(x[200:400], y[200:400] % 3)
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    fitted = [name for name in vars(clf) if name.endswith("_") and not name.startswith("_")]
    assert fitted == [] and not hasattr(clf, "_encoding")
    with pytest.raises(NotFittedError):
        clf.predict(x[:5])


def test_bad_input_changes_nothing_of_a_fitted_estimator(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    clf = _classifier(tmp_path).fit(x[:200], y[:200])
    model, classes = clf.model_, clf.classes_
    with pytest.raises(ValueError):
        clf.fit(x[:200], y[:199])  # refused before any work
    assert clf.model_ is model and clf.classes_ is classes


def test_fit_changes_neither_the_parameters_nor_the_callers_data(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    space = tiny_space()
    clf = _classifier(tmp_path, search_space=space)
    params, space_before = copy.deepcopy(clf.get_params()), copy.deepcopy(space)
    x_before, y_before = x[:200].copy(), y[:200].copy()
    clf.fit(x[:200], y[:200])
    assert clf.get_params()["search_space"] is space and space == space_before
    assert {k: v for k, v in clf.get_params().items() if k != "genotype"} == {
        k: v for k, v in params.items() if k != "genotype"
    }
    np.testing.assert_array_equal(x[:200], x_before)
    np.testing.assert_array_equal(y[:200], y_before)


def test_an_oracle_is_copied_and_a_warning_names_what_it_overrides(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("val_accuracy", "max"), max_trials=1, seed=3
    )
    clf = _classifier(tmp_path, tuner=oracle, max_trials=5, seed=0)
    with pytest.warns(UserWarning, match=r"keeps its own max_trials=1 \(the estimator's: 5\) and seed=3"):
        clf.fit(x[:200], y[:200])
    assert clf.tuner is oracle and not oracle.trials  # the user's oracle ran nothing
    assert len(clf.results_) == 1
    # The fitted tuner, as keras-tuner users know it, holds the copy that ran.
    assert clf.tuner_.oracle is not oracle and len(clf.tuner_.oracle.trials) == 1
    assert [t.trial_id for t in clf.tuner_.oracle.get_best_trials(1)] == [clf.results_[0]["trial_id"]]
    clf.tuner_.results_summary(1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _classifier(tmp_path, tuner=copy.deepcopy(oracle), max_trials=1, seed=None, project_name="p2").fit(
            x[:200], y[:200]
        )
    assert not [w for w in caught if "keeps its own" in str(w.message)]  # agreeing settings: no warning


def test_a_pipeline_with_a_transformer_before_the_classifier(tmp_path, digits_uint8):
    x, y, x_test, y_test = digits_uint8
    flat = x.reshape(len(x), -1).astype(np.float32)  # tables of pixels, as scikit-learn's digits.data
    pipeline = make_pipeline(FunctionTransformer(lambda rows: rows.reshape(-1, 8, 8)), _classifier(tmp_path))
    pipeline.fit(flat[:300], y[:300])
    score = pipeline.score(x_test.reshape(len(x_test), -1).astype(np.float32), y_test)
    assert 0.0 <= score <= 1.0 and pipeline[-1].image_shape_ == (8, 8, 1)


def test_grid_search_over_max_trials_in_two_processes_takes_turns_on_a_shared_project(tmp_path, digits_uint8):
    """``max_trials`` 1 and 2 on one fold are one project: the second fit waits, then adds a trial."""
    x, y, _, _ = digits_uint8
    grid = GridSearchCV(
        _classifier(tmp_path, search_space=tiny_space(learning_rate=(1e-3, 1e-2))),
        {"max_trials": [1, 2]}, cv=2, n_jobs=2, error_score="raise", refit=False,
    )
    grid.fit(x[:300], y[:300])
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    projects = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(projects) == 2  # one per fold, shared by both max_trials
    for project in projects:  # whichever ran second resumed the first and added one trial
        assert sorted(t.name for t in project.glob("trial_*")) == ["trial_0", "trial_1"]


def test_a_waiting_lock_takes_turns_and_a_refusing_one_refuses(tmp_path):
    first = ProjectLock(tmp_path / "p")
    first.acquire()
    with pytest.raises(RuntimeError, match="being fitted by another process"):
        ProjectLock(tmp_path / "p").acquire()
    releaser = threading.Timer(1.5, first.release)
    releaser.start()
    started = time.monotonic()
    with ProjectLock(tmp_path / "p", wait=True) as second:
        assert second.held and time.monotonic() - started >= 1.0
    releaser.join()


def test_clone_of_a_fitted_estimator_is_unfitted(tmp_path, digits_uint8):
    x, y, _, _ = digits_uint8
    clf = _classifier(tmp_path).fit(x[:200], y[:200])
    with pytest.raises(NotFittedError):
        check_is_fitted(clone(clf))
