"""The scikit-learn estimators: scikit-learn's own checks, and the tools they must work inside."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="scikit-learn is an optional extra: pip install -e '.[sklearn]'")

from scipy.stats import loguniform  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler, StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import nn  # noqa: E402
from nn.estimators import ConvNetClassifier, MLPClassifier  # noqa: E402

# scikit-learn's checks that these estimators are known to fail, with the reason.
# None today: every check of scikit-learn's suite passes for both settings below
# (the pandas and array-API checks skip themselves when those libraries are absent).
EXPECTED_FAILURES: dict[str, str] = {}


@parametrize_with_checks(
    [MLPClassifier(),
     # the other code paths: BatchNorm and Dropout, SGD with momentum, float64, a held-out validation part
     MLPClassifier(hidden=(16, 16), batchnorm=True, dropout=0.1, optimizer="sgd", lr=0.05,
                   momentum=0.9, dtype="float64", validation_fraction=0.2, batch_size=None)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILURES)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x / 16.0, y  # pixels 0..16 scaled to [0, 1]


def test_fit_predict_with_string_labels_and_the_fitted_model(digits):
    x, y = digits
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    clf = MLPClassifier(hidden=(32,), epochs=30, random_state=0).fit(x[:1200], names[y[:1200]])
    assert list(clf.classes_) == sorted(names)
    predicted = clf.predict(x[1200:])
    assert predicted.dtype == names.dtype and set(predicted) <= set(names)
    assert np.mean(predicted == names[y[1200:]]) > 0.85  # the last writers of the set are the hardest
    proba = clf.predict_proba(x[1200:])
    assert proba.shape == (len(x) - 1200, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], predicted)
    # The fitted network and its training record are there to inspect, in float32.
    assert isinstance(clf.model_, nn.Sequential) and repr(clf.model_[0]) == "Affine(64 -> 32)"
    assert all(p.dtype == np.float32 for p in clf.model_.parameters())
    assert isinstance(clf.history_, nn.History) and len(clf.history_) == clf.n_iter_ <= 30
    assert clf.history_.loss[-1] < clf.history_.loss[0]
    assert clf.score(x[1200:], names[y[1200:]]) == pytest.approx(np.mean(predicted == names[y[1200:]]))


def test_the_same_random_state_gives_the_same_network(digits):
    x, y = digits
    a = MLPClassifier(hidden=(16,), epochs=3, random_state=7).fit(x, y)
    b = MLPClassifier(hidden=(16,), epochs=3, random_state=7).fit(x, y)
    c = MLPClassifier(hidden=(16,), epochs=3, random_state=8).fit(x, y)
    for p, q in zip(a.model_.parameters(), b.model_.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    assert not np.array_equal(a.model_.parameters()[0].data, c.model_.parameters()[0].data)


def test_pipeline_and_cross_val_score(digits):
    x, y = digits
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden=(32,), epochs=20, random_state=0))
    scores = cross_val_score(pipe, x, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85


def test_grid_search_and_the_textbooks_random_search_on_a_log_scale(digits):
    x, y = digits
    base = MLPClassifier(hidden=(32,), epochs=10, random_state=0)
    grid = GridSearchCV(base, {"lr": [1e-4, 1e-2]}, cv=2).fit(x, y)
    assert grid.best_params_ == {"lr": 1e-2}  # 10 epochs at 1e-4 learn far less
    assert grid.best_estimator_.lr == 1e-2 and hasattr(grid.best_estimator_, "model_")

    search = RandomizedSearchCV(base, {"lr": loguniform(1e-4, 1e-1), "weight_decay": loguniform(1e-8, 1e-4)},
                                n_iter=4, cv=2, random_state=0).fit(x, y)
    lrs = search.cv_results_["param_lr"]
    assert len(lrs) == 4 and all(1e-4 <= v <= 1e-1 for v in lrs)
    assert search.best_score_ == max(search.cv_results_["mean_test_score"])


def test_partial_fit_learns_from_a_stream_of_batches(digits):
    x, y = digits
    clf = MLPClassifier(hidden=(32,), batch_size=50, lr=1e-2, random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        clf.partial_fit(x[:100], y[:100])
    for epoch in range(5):
        for start in range(0, 1500, 300):
            clf.partial_fit(x[start:start + 300], y[start:start + 300], classes=np.arange(10))
    assert clf.n_iter_ == 25 and len(clf.history_) == 25 and clf.history_.epoch[-1] == 25
    assert clf.score(x[1500:], y[1500:]) > 0.85
    with pytest.raises(ValueError, match=r"labels \[10\] that are not among the classes"):
        clf.partial_fit(x[:2], np.array([1, 10]))
    with pytest.raises(ValueError, match="differ from the classes of the first call"):
        clf.partial_fit(x[:2], y[:2], classes=np.arange(5))


def test_warm_start_continues_the_same_network(digits):
    x, y = digits
    clf = MLPClassifier(hidden=(16,), epochs=2, n_iter_no_change=None, warm_start=True, random_state=0)
    clf.fit(x, y)
    first = clf.model_
    weights = first.parameters()[0].data.copy()
    clf.fit(x, y)
    assert clf.model_ is first and clf.n_iter_ == 4 and clf.history_.epoch == [1, 2, 3, 4]
    assert not np.array_equal(weights, first.parameters()[0].data)
    cold = clone(clf).set_params(warm_start=False)
    cold.fit(x, y)
    cold.fit(x, y)
    assert cold.n_iter_ == 2


def test_early_stopping_on_a_validation_fraction(digits):
    x, y = digits
    clf = MLPClassifier(hidden=(32,), epochs=200, validation_fraction=0.2, n_iter_no_change=3,
                        tol=0.0, random_state=0).fit(x, y)
    history = clf.history_
    assert history.has_validation and clf.n_iter_ < 200
    best = int(np.argmin(history.val_loss))
    assert clf.n_iter_ >= best + 1 + 3  # stopped only after 3 epochs without improvement


def test_convnet_classifier_on_8x8_digit_images(digits):
    x, y = digits
    clf = ConvNetClassifier(input_shape=(1, 8, 8), filters=8, kernel_size=3, hidden=32, epochs=15,
                            lr=1e-2, random_state=0)
    scores = cross_val_score(make_pipeline(MinMaxScaler(), clf), x, y, cv=2)
    assert scores.min() > 0.88
    clf.fit(x[:500], y[:500])
    assert repr(clf.model_[0]) == "Convolution(1 -> 8, 3x3, stride 1, pad 0)"
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(x[500:600]), clf.predict_proba(x[500:600]))
    with pytest.raises(ValueError, match=r"input_shape \(1, 28, 28\) means 784 features per sample, "
                                         "but X has 64"):
        ConvNetClassifier(epochs=1).fit(x[:20], y[:20])


@pytest.mark.parametrize("params, message", [
    ({"lr": 0}, "MLPClassifier: lr must be a number > 0, got 0"),
    ({"optimizer": "lbfgs"}, "MLPClassifier: unknown optimizer 'lbfgs'"),
    ({"hidden": (10, 0)}, "every hidden layer size must be a positive integer, got 0"),
    ({"activation": "swish"}, "unknown activation 'swish'"),
    ({"epochs": 2.5}, "epochs must be a positive integer, got 2.5"),
    ({"validation_fraction": 1.0}, r"validation_fraction must be a number >= 0 and < 1, got 1.0"),
    ({"dtype": "float16"}, "dtype must be float32 or float64"),
])
def test_bad_hyper_parameters_are_named_when_fitting(params, message, digits):
    x, y = digits
    clf = MLPClassifier(**params)  # scikit-learn's rule: __init__ stores, fit checks
    with pytest.raises(ValueError, match=message):
        clf.fit(x[:50], y[:50])


def test_one_class_is_an_error_naming_it(digits):
    x, _ = digits
    with pytest.raises(ValueError, match="needs samples of at least 2 classes in y, got 1 class"):
        MLPClassifier().fit(x[:10], np.full(10, "seven"))
