"""ensemble.bagging.BaggedNetClassifier: the scikit-learn contract, bags, out-of-bag evaluation, determinism,
images with TTA, settings and their checks."""
import functools

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

import augkit as A
import nets
import nets.batches
import nets.precision
from ensemble import BaggedNetClassifier
from ensemble.engine import prediction
from ensemble.inputs import standardise
from ensemble.settings import resolve_engine, training_devices

tiny_mlp = functools.partial(nets.MLP, widths=(32,))


tiny_cnn = functools.partial(nets.SmallCNN, widths=(8, 16), p_keep=0.8)


def _quick(**kw):
    params = dict(member=tiny_mlp, n_members=3, epochs=4, batch_size=64, lr=0.1, random_state=0, verbose=0)
    params.update(kw)
    return BaggedNetClassifier(**params)


@pytest.fixture(scope="module")
def fitted(digits_tabular):
    X, y = digits_tabular
    return _quick(n_members=4).fit(X[:1200], y[:1200]), X, y


def test_bags_are_bootstrap_samples_and_oob_is_their_complement(fitted):
    clf, _X, _ = fitted
    n = 1200
    for train, oob in zip(clf.bootstrap_indices_, clf.oob_indices_):
        assert len(train) == n
        assert len(np.unique(train)) < n  # drawn with replacement
        assert set(oob) == set(range(n)) - set(train)
        assert 0.30 < len(oob) / n < 0.43  # (1 - 1/n)^n -> e^-1 = 36.8 %
    assert len({tuple(t[:50]) for t in clf.bootstrap_indices_}) == 4  # each member its own bag


def test_members_early_stop_on_their_own_oob_rows(fitted):
    clf, _, _ = fitted
    for history, _oob in zip(clf.histories_, clf.oob_indices_):
        assert len(history["val_loss"]) >= 1  # validated every epoch, on its OOB rows only
        assert history["best_epoch"] == int(np.argmin(history["val_loss"]))


def test_oob_score_matches_its_definition(fitted):
    clf, X, y = fitted
    Xs = standardise(clf, X[:1200])
    total = np.zeros((1200, 10))
    counts = np.zeros(1200)
    for model, oob in zip(clf.estimators_, clf.oob_indices_):
        with torch.no_grad():
            total[oob] += torch.softmax(model(torch.as_tensor(Xs[oob])), 1).numpy()
        counts[oob] += 1
    seen = counts > 0
    expected = (total[seen] / counts[seen, None]).argmax(1) == y[:1200][seen]
    assert clf.oob_score_ == pytest.approx(expected.mean(), abs=1e-12)
    assert np.allclose(clf.oob_decision_function_[seen], total[seen] / counts[seen, None], atol=1e-6)


def test_ensemble_learns_digits(fitted):
    clf, X, y = fitted
    assert clf.score(X[1200:], y[1200:]) > 0.85
    proba = clf.predict_proba(X[1200:])
    assert proba.shape == (597, 10)
    assert np.allclose(proba.sum(1), 1, atol=1e-5)


def test_same_random_state_same_predictions_with_one_or_two_jobs(digits_tabular):
    X, y = digits_tabular
    one = _quick(n_jobs=1).fit(X[:600], y[:600])
    two = _quick(n_jobs=2).fit(X[:600], y[:600])
    assert np.array_equal(one.predict(X[600:900]), two.predict(X[600:900]))
    assert np.allclose(one.predict_proba(X[600:900]), two.predict_proba(X[600:900]), atol=1e-6)
    other = _quick(n_jobs=1, random_state=1).fit(X[:600], y[:600])
    assert not np.allclose(one.predict_proba(X[600:900]), other.predict_proba(X[600:900]))


def test_full_data_ensemble_holds_out_a_validation_fraction(digits_tabular):
    X, y = digits_tabular
    clf = _quick(bootstrap=False, validation_fraction=0.2).fit(X[:500], y[:500])
    for train, val in zip(clf.bootstrap_indices_, clf.oob_indices_):
        assert len(val) == 100 and len(np.unique(train)) == 400
        assert not set(train) & set(val)
    assert not hasattr(clf, "oob_score_")
    assert len({tuple(v) for v in clf.oob_indices_}) == 3  # each member its own held-out rows


def test_max_samples_sets_the_bag_size(digits_tabular):
    X, y = digits_tabular
    clf = _quick(max_samples=0.5, n_members=2, epochs=1).fit(X[:400], y[:400])
    assert [len(b) for b in clf.bootstrap_indices_] == [200, 200]
    clf = _quick(max_samples=50, n_members=2, epochs=1).fit(X[:400], y[:400])
    assert [len(b) for b in clf.bootstrap_indices_] == [50, 50]


def test_string_labels_round_trip(digits_tabular):
    X, y = digits_tabular
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    clf = _quick(epochs=2, n_members=2).fit(X[:300], names[y[:300]])
    assert set(clf.predict(X[:20])) <= set(names)
    assert list(clf.classes_) == sorted(names)


def test_hard_voting_predicts_the_majority(fitted):
    clf, X, _ = fitted
    hard = clf.set_params(voting="hard").predict(X[1200:1300])
    member_votes = clf.member_probas(X[1200:1300]).argmax(-1).numpy()  # M x N
    counts = np.stack([(member_votes == c).sum(0) for c in range(10)], 1)
    assert np.array_equal(hard, counts.argmax(1))
    clf.set_params(voting="soft")


@pytest.mark.parametrize("tta, views", [(None, 1), ("flip", 2), ("shift", 5), ("flip_shift", 10), ("ten_crop", 10),
                                        ("multi_scale", 50)])
def test_images_with_augmentation_and_tta(digits_images, tta, views, monkeypatch):
    images, y = digits_images
    pipe = A.Compose([A.Translate(x=1, y=1, unit="pixels"), A.Rotate(degrees=10)])
    clf = BaggedNetClassifier(member=tiny_cnn, n_members=2, epochs=2, augment=pipe, random_state=0,
                              verbose=0).fit(images[:400], y[:400])
    assert clf.input_spec_.shape == (1, 8, 8)
    seen = []
    original = prediction.views
    monkeypatch.setattr(prediction, "views", lambda b, t: seen.append(original(b, t).shape) or original(b, t))
    proba = clf.predict_proba(images[400:430], tta=tta)
    assert proba.shape == (30, 10) and np.allclose(proba.sum(1), 1, atol=1e-5)
    chunks = seen[1:]  # after the one-image probe that counts the views
    assert all(c[1] == views for c in chunks) and sum(c[0] for c in chunks) == 30  # all views of an image together
    assert all(c[0] * views <= max(views, nets.batches.inference_batch_size("cpu")) for c in chunks)


def test_flip_tta_averages_member_probabilities_over_both_views(digits_images):
    images, y = digits_images
    clf = BaggedNetClassifier(member=tiny_cnn, n_members=2, epochs=1, random_state=0, verbose=0).fit(images[:200], y[:200])
    x = images[200:210]
    flipped = x[:, :, ::-1]
    expected = (clf.member_probas(x, tta=None) + clf.member_probas(flipped, tta=None)) / 2
    assert torch.allclose(clf.member_probas(x, tta="flip"), expected, atol=1e-5)
    mirrored_shifts = clf.member_probas(flipped, tta="shift")  # mirror first, then the 5 shifts
    expected = (clf.member_probas(x, tta="shift") + mirrored_shifts) / 2
    assert torch.allclose(clf.member_probas(x, tta="flip_shift"), expected, atol=1e-5)


@pytest.mark.parametrize("X, y, error, message", [
    (np.full((10, 3), np.nan), np.arange(10) % 2, ValueError, "NaN"),
    (np.ones((10, 3)), np.arange(9) % 2, ValueError, "inconsistent numbers of samples"),
    (np.ones((10, 3)), np.zeros(10), ValueError, "1 class"),
    (np.ones((0, 3)), np.zeros(0), ValueError, "0 sample"),
    ([np.zeros((8, 8, 3), np.uint8), np.zeros((9, 8, 3), np.uint8)], [0, 1], ValueError, "mixed sizes"),
    (np.full((4, 8, 8, 3), 2.0, np.float32), [0, 1, 0, 1], ValueError, r"float images must lie in \[0, 1\]"),
    (np.zeros((4, 8, 8, 5), np.uint8), [0, 1, 0, 1], ValueError, "1 or 3 channels"),
])
def test_bad_training_data_fails_before_training(X, y, error, message, monkeypatch):
    monkeypatch.setattr(nets, "fit", lambda *a, **k: pytest.fail("training started"))
    with pytest.raises(error, match=message):
        _quick().fit(X, y)


@pytest.mark.parametrize("param, value, message", [
    ("n_members", 0, "n_members must be an int >= 1, got 0"),
    ("voting", "mean", r"voting must be one of \('soft', 'hard'\), got 'mean'"),
    ("max_samples", 1.5, "max_samples must be an int"),
    ("tta", "five_crop", "tta must be one of"),
    ("engine", "threads", "engine must be"),
    ("lr", -0.1, "lr must be a finite number >= 0, got -0.1"),
    ("epochs", 0, "epochs must be a finite number > 0, got 0"),
    ("time_budget", 0, "time_budget must be a finite number > 0, got 0"),
    ("calibration", "platt", "calibration must be one of"),
    ("tta", "sideways", "tta must be one of"),
    ("precision", "float16", "precision must be one of"),
    ("channels_last", "yes", "channels_last must be True or False"),
])
def test_bad_settings_are_named(digits_tabular, param, value, message):
    X, y = digits_tabular
    with pytest.raises(ValueError, match=message):
        _quick(**{param: value}).fit(X[:100], y[:100])


def test_predict_checks_the_input_shape(fitted, digits_images):
    clf, X, _ = fitted
    with pytest.raises(ValueError, match="X has 10 features"):
        clf.predict(X[:5, :10])
    images, y = digits_images
    cnn = BaggedNetClassifier(member=tiny_cnn, n_members=1, epochs=1, verbose=0).fit(images[:100], y[:100])
    with pytest.raises(ValueError, match=r"images of shape \(1, 9, 8\)"):
        cnn.predict(np.zeros((2, 9, 8, 1), np.uint8))
    with pytest.raises(ValueError, match="tta='flip' needs image input"):
        clf.predict(X[:5], tta="flip")


def test_the_former_engine_values_get_directions():
    with pytest.raises(ValueError, match=r"engine='vectorized' is now engine='vmap' .* or engine='grouped'"):
        BaggedNetClassifier(engine="vectorized").fit(torch.rand(20, 3).numpy(), [0, 1] * 10)
    with pytest.raises(TypeError, match="vectorize"):
        BaggedNetClassifier(vectorize="grouped")


def test_auto_engine_is_joblib_on_cpu_and_vectorised_on_cuda():
    assert resolve_engine("auto", training_devices("cpu")) == "joblib"
    assert resolve_engine("auto", training_devices("cuda")) == "vmap"
    assert resolve_engine("joblib", training_devices("cuda:1")) == "joblib"


# Small and quick, yet accurate enough for check_classifiers_train (> 83 % on blobs).
_small_mlp = functools.partial(nets.MLP, widths=(32,))


@parametrize_with_checks([BaggedNetClassifier(member=_small_mlp, n_members=2, epochs=10, batch_size=32, lr=0.1,
                                              random_state=0, verbose=0)])
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)
