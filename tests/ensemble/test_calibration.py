"""ensemble.calibration: temperature scaling recovers a known temperature, minimises the NLL, keeps the argmax;
the law of the temperature against the members averaged recovers a known law, falls back to the plain fit when the
rows cannot identify its slope, and clips what it would extrapolate beyond the range; on bagged ensembles a
temperature fitted on out-of-bag rows lowers (never raises) the held-out NLL."""
import dataclasses
import functools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import nets
from ensemble import BaggedNetClassifier, apply_temperature, ensemble_logits, fit_temperature, fit_temperature_law, metrics, vote
from ensemble.calibration import CONFIDENCE_Z, MIN_ROWS, TEMPERATURE_RANGE, TemperatureLaw


def _synthetic(t0: float, n: int = 20000, k: int = 10, seed: int = 0):
    """Logits z and labels drawn from softmax(z / t0): t0 is the true temperature."""
    g = torch.Generator().manual_seed(seed)
    z = 3 * torch.randn(n, k, generator=g, dtype=torch.float64)
    y = torch.multinomial(torch.softmax(z / t0, 1), 1, generator=g).squeeze(1)
    return z, y


@pytest.mark.parametrize("t0", [0.5, 1.0, 2.5])
def test_recovers_a_known_temperature(t0):
    z, y = _synthetic(t0)
    assert fit_temperature(z, y) == pytest.approx(t0, rel=0.05)


def test_fitted_temperature_minimises_the_nll():
    z, y = _synthetic(1.7, n=3000, seed=1)
    t = fit_temperature(z, y)
    best = metrics.nll(apply_temperature(z, t), y)
    for factor in (0.98, 1.02, 0.8, 1.25):
        assert best < metrics.nll(apply_temperature(z, t * factor), y)


def test_apply_temperature_is_softmax_of_scaled_logits_in_the_callers_kind():
    z = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], dtype=np.float32)
    out = apply_temperature(z, 2.0)
    expected = np.exp(z / 2) / np.exp(z / 2).sum(1, keepdims=True)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    as_tensor = apply_temperature(torch.tensor(z, dtype=torch.float64), 2.0)
    assert as_tensor.dtype == torch.float64
    np.testing.assert_allclose(as_tensor.numpy(), expected, rtol=1e-6)


def test_ensemble_logits_give_the_probabilities_back_at_temperature_one():
    p = np.array([[0.7, 0.2, 0.1], [0.0, 0.25, 0.75]])
    z = ensemble_logits(p)
    assert z[1, 0] == pytest.approx(math.log(metrics.NLL_FLOOR))  # floored, finite
    np.testing.assert_allclose(apply_temperature(z, 1.0), p, atol=1e-11)
    # softmax(log p / T) is p ** (1 / T), renormalised
    sharp = p ** 2 / (p ** 2).sum(1, keepdims=True)
    np.testing.assert_allclose(apply_temperature(z, 0.5), sharp, atol=1e-11)


@settings(max_examples=80, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 20), st.integers(2, 8)), elements=st.floats(0.001, 1)),
       st.floats(TEMPERATURE_RANGE[0], TEMPERATURE_RANGE[1]))
def test_temperature_never_changes_the_argmax(raw, t):
    raw[np.arange(len(raw)), raw.argmax(1)] += 1e-3  # a unique largest probability per row
    p = raw / raw.sum(1, keepdims=True)
    calibrated = apply_temperature(ensemble_logits(p), t)
    np.testing.assert_array_equal(calibrated.argmax(1), p.argmax(1))
    np.testing.assert_array_equal(apply_temperature(np.log(p), t).argmax(1), p.argmax(1))


def test_too_few_rows_and_bad_shapes_are_refused():
    z, y = _synthetic(1.0, n=MIN_ROWS)
    fit_temperature(z, y)
    with pytest.raises(ValueError, match=f"needs at least {MIN_ROWS} rows .* got {MIN_ROWS - 1}"):
        fit_temperature(z[:-1], y[:-1])
    with pytest.raises(ValueError, match=r"logits must be N x K .* got shape \(20,\)"):
        fit_temperature(z[:, 0], y)
    with pytest.raises(ValueError, match=r"got shape \(20, 1\)"):
        fit_temperature(z[:, :1], y)
    with pytest.raises(ValueError, match="y has 19 labels but there are 20 samples"):
        fit_temperature(z, y[:-1])
    with pytest.raises(ValueError, match=r"y must lie in \[0, 10\)"):
        fit_temperature(z, y + 10)
    z[3, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        fit_temperature(z, y)
    with pytest.raises(TypeError, match="must be floating point"):
        apply_temperature(np.ones((2, 3), dtype=int), 1.0)
    with pytest.raises(ValueError, match="rows must sum to 1"):
        ensemble_logits(np.ones((2, 3)))


@pytest.mark.parametrize("t, error", [(0.0, ValueError), (-1.0, ValueError), (float("inf"), ValueError),
                                      (float("nan"), ValueError), (True, TypeError), ("2", TypeError)])
def test_bad_temperatures_are_refused(t, error):
    with pytest.raises(error, match="temperature must be"):
        apply_temperature(np.zeros((2, 3)), t)


def test_no_minimum_inside_the_range_warns_and_returns_the_end():
    y = torch.arange(40) % 4
    separable = 5.0 * torch.nn.functional.one_hot(y, 4).double()
    with pytest.warns(UserWarning, match="were they training rows"):
        assert fit_temperature(separable, y) == TEMPERATURE_RANGE[0]
    with pytest.warns(UserWarning, match="no information about the labels"):
        assert fit_temperature(-separable, y) == TEMPERATURE_RANGE[1]


def _synthetic_law(intercept: float, slope: float, n: int = 40000, k: int = 10, n_members: int = 4, seed: int = 0):
    """Logits z, labels y and members m (uniform in 1..n_members) with y drawn from softmax(z (intercept + slope / m))."""
    g = torch.Generator().manual_seed(seed)
    z = 3 * torch.randn(n, k, generator=g, dtype=torch.float64)
    m = torch.randint(1, n_members + 1, (n,), generator=g)
    beta = intercept + slope / m.double()
    y = torch.multinomial(torch.softmax(z * beta[:, None], 1), 1, generator=g).squeeze(1)
    return z, y, m.numpy()


def _law_nll(z, y, m, intercept: float, slope: float) -> float:
    """The NLL of softmax(z_n (intercept + slope / m_n)) at y_n, from its definition."""
    beta = intercept + slope / torch.as_tensor(m, dtype=torch.float64)
    return float(-torch.log_softmax(z * beta[:, None], 1).gather(1, y[:, None]).mean())


@pytest.mark.parametrize("intercept, slope", [(1.0, -0.6), (0.5, 0.3), (2.0, -1.5)])
def test_law_recovers_a_known_temperature_law(intercept, slope):
    z, y, m = _synthetic_law(intercept, slope)
    law = fit_temperature_law(z, y, m, n_members=4)
    assert law.identified and law.n_members == 4
    assert law.intercept == pytest.approx(intercept, abs=0.05)
    assert law.slope == pytest.approx(slope, abs=0.1)
    assert law.temperature_at(4) == pytest.approx(1 / (intercept + slope / 4), rel=0.03)
    assert law.temperature_at(1) == pytest.approx(1 / (intercept + slope), rel=0.05)
    assert law.temperature == pytest.approx(1 / (intercept + slope / 4), rel=0.05)  # 40,000 rows: a small margin


@pytest.mark.parametrize("t0", [0.5, 1.0, 2.5])
def test_law_recovers_a_temperature_that_does_not_depend_on_the_members(t0):
    z, y, m = _synthetic_law(1 / t0, 0.0, seed=1)
    law = fit_temperature_law(z, y, m, n_members=4)
    assert law.temperature == pytest.approx(t0, rel=0.05)
    assert law.slope == pytest.approx(0.0, abs=0.1 / t0)


def test_fitted_law_minimises_the_nll():
    z, y, m = _synthetic_law(1.2, -0.5, n=3000, seed=2)
    law = fit_temperature_law(z, y, m, n_members=4)
    best = _law_nll(z, y, m, law.intercept, law.slope)
    for d_intercept, d_slope in [(1e-3, 0), (-1e-3, 0), (0, 1e-3), (0, -1e-3), (0.05, -0.1), (-0.05, 0.1)]:
        assert best < _law_nll(z, y, m, law.intercept + d_intercept, law.slope + d_slope)


def test_unidentifiable_slope_falls_back_to_the_plain_fit():
    z, y = _synthetic(1.7, n=3000, seed=3)
    plain = fit_temperature(z, y)
    for members in (np.full(len(z), 2), np.r_[np.full(len(z) - MIN_ROWS + 1, 3), np.full(MIN_ROWS - 1, 1)]):
        law = fit_temperature_law(z, y, members, n_members=4)
        assert not law.identified and law.slope == 0.0
        assert law.temperature_at(4) == pytest.approx(plain, rel=1e-12)
        assert law.temperature_at(1) == law.temperature_at(4)
        # the applied temperature: the plain one, moved towards 1 by the margin of its standard error
        assert 0 < law.standard_error < 0.1
        assert 1 / law.temperature == pytest.approx(1 / plain + CONFIDENCE_Z * law.standard_error, rel=1e-12)
    # MIN_ROWS rows at a second count make the slope identified
    law = fit_temperature_law(z, y, np.r_[np.full(len(z) - MIN_ROWS, 3), np.full(MIN_ROWS, 1)], n_members=4)
    assert law.identified


def test_no_minimum_inside_the_range_falls_back_with_the_plain_fits_warning():
    y = torch.arange(40) % 4
    separable = 5.0 * torch.nn.functional.one_hot(y, 4).double()
    with pytest.warns(UserWarning, match="were they training rows"):
        law = fit_temperature_law(separable, y, np.arange(40) % 2 + 1, n_members=2)
    assert not law.identified and law.temperature == TEMPERATURE_RANGE[0]


def test_a_temperature_extrapolated_beyond_the_range_is_clipped_with_a_warning():
    # 1 / T(1) = 2 and 1 / T(2) = 0.5: the line through them reaches 1 / T <= 0 before m = 10
    z1, y1, _ = _synthetic_law(2.0, 0.0, n=4000, seed=4)
    z2, y2, _ = _synthetic_law(0.5, 0.0, n=4000, seed=5)
    z, y, m = torch.cat([z1, z2]), torch.cat([y1, y2]), np.r_[np.full(4000, 1), np.full(4000, 2)]
    with pytest.warns(UserWarning, match=r"gives T\(10\) outside .* clipped to 100"):
        law = fit_temperature_law(z, y, m, n_members=10)
    assert law.identified and law.slope > 0 and law.temperature == TEMPERATURE_RANGE[1]
    assert law.temperature_at(1) == pytest.approx(0.5, rel=0.1) and law.temperature_at(2) == pytest.approx(2, rel=0.1)
    exact = functools.partial(TemperatureLaw, n_members=4, identified=True, standard_error=0.0)
    assert exact(intercept=500.0, slope=0.0).temperature == TEMPERATURE_RANGE[0]
    assert exact(intercept=-1.0, slope=0.5).temperature == TEMPERATURE_RANGE[1]


@pytest.mark.parametrize("beta, error, applied", [(1.5, 0.1, 1.5 - 0.1 * CONFIDENCE_Z), (0.5, 0.1, 0.5 + 0.1 * CONFIDENCE_Z),
                                                  (1.1, 0.1, 1.0), (0.9, 0.1, 1.0), (1.3, 0.0, 1.3)])
def test_the_applied_temperature_stops_its_confidence_margin_short_of_the_fit_on_the_side_of_one(beta, error, applied):
    law = TemperatureLaw(intercept=beta + 0.2, slope=-0.8, n_members=4, identified=True, standard_error=error)
    assert law.temperature_at(4) == pytest.approx(1 / beta)
    assert law.inverse_temperature == pytest.approx(applied)
    assert law.temperature == pytest.approx(1 / applied)


def test_the_standard_error_is_the_spread_of_the_fit_over_samples():
    """Huber's sandwich standard error of 1 / T(M) against the standard deviation of the fitted 1 / T(M)
    over 40 independent samples of the same law."""
    fits = [fit_temperature_law(*_synthetic_law(1.0, -0.6, n=2000, seed=seed), n_members=4) for seed in range(40)]
    spread = np.std([1 / law.temperature_at(4) for law in fits])
    assert np.mean([law.standard_error for law in fits]) == pytest.approx(spread, rel=0.3)


def test_bad_member_counts_are_refused():
    z, y = _synthetic(1.0, n=40)
    m = np.arange(40) % 4 + 1
    with pytest.raises(ValueError, match=r"members must hold one integer per row \(40 rows\); got int64 of shape \(39,\)"):
        fit_temperature_law(z, y, m[:-1], n_members=4)
    with pytest.raises(ValueError, match=r"members must hold one integer per row .* got float64"):
        fit_temperature_law(z, y, m.astype(float), n_members=4)
    with pytest.raises(ValueError, match=r"members must lie in \[1, n_members=3\].* got values in \[1, 4\]"):
        fit_temperature_law(z, y, m, n_members=3)
    with pytest.raises(ValueError, match=r"got values in \[0, 3\]"):
        fit_temperature_law(z, y, m - 1, n_members=4)
    with pytest.raises(ValueError, match="n_members must be"):
        fit_temperature_law(z, y, m, n_members=0)


def test_out_of_bag_temperature_lowers_held_out_nll_of_an_over_confident_ensemble(tmp_path):
    """Large MLP members trained far past the point of best validation loss on few rows (no early
    stopping, no weight decay) are over-confident, and so is their average; calibration="temperature"
    fits the temperature law on the out-of-bag rows, each with the number of members that held it out,
    which softens the ensemble on held-out rows and leaves every prediction as it was. The temperature
    and its law are saved and loaded with the ensemble."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:300], order[300:]
    settings = dict(member=functools.partial(nets.MLP, widths=(1024,)), n_members=4, epochs=60, batch_size=64,
                    lr=0.3, weight_decay=0.0, early_stopping=False, random_state=0, verbose=0, n_jobs=1)
    plain = BaggedNetClassifier(**settings)
    calibrated = BaggedNetClassifier(**settings, calibration="temperature")
    for clf in (plain, calibrated):
        with pytest.warns(UserWarning, match="no out-of-bag prediction"):  # a few rows are in all 4 bags
            clf.fit(X[train], y[train])
    # The fitted law is the minimum-NLL one of the out-of-bag decision, each row with the number of
    # members whose out-of-bag rows hold it, computed here anew.
    oob = calibrated.oob_decision_function_
    seen = ~np.isnan(oob).any(1)
    labels = np.searchsorted(calibrated.classes_, y)
    members = np.bincount(np.concatenate(calibrated.oob_indices_), minlength=len(train))[seen]
    law = fit_temperature_law(ensemble_logits(oob[seen]), labels[train][seen], members, n_members=4)
    assert law.identified and law.slope < 0  # fewer members are more over-confident
    assert calibrated.temperature_law_ == pytest.approx(dataclasses.asdict(law))
    assert calibrated.temperature_ == pytest.approx(law.temperature)
    assert 1.5 < calibrated.temperature_ < law.temperature_at(4)  # over-confident; the margin moves towards 1
    proba = vote(calibrated.member_probas(X[test])).numpy()
    np.testing.assert_allclose(proba, plain.predict_proba(X[test]), atol=1e-6)  # same members
    scaled = calibrated.predict_proba(X[test])
    np.testing.assert_allclose(scaled, apply_temperature(ensemble_logits(proba), calibrated.temperature_), atol=1e-6)
    assert metrics.nll(scaled, labels[test]) < 0.85 * metrics.nll(proba, labels[test])
    np.testing.assert_array_equal(calibrated.predict(X[test]), plain.predict(X[test]))
    calibrated.save(tmp_path / "model")
    again = BaggedNetClassifier.load(tmp_path / "model")
    assert again.temperature_ == calibrated.temperature_ and again.temperature_law_ == calibrated.temperature_law_
    np.testing.assert_allclose(again.predict_proba(X[test]), scaled, atol=1e-6)


def test_calibration_without_held_out_rows_is_refused_at_fit():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    clf = BaggedNetClassifier(n_members=2, epochs=1, bootstrap=False, validation_fraction=0.0,
                              calibration="temperature", verbose=0)
    with pytest.raises(ValueError, match=r"calibration='temperature' learn from the rows the members hold out, "
                                         r"but there are 0"):
        clf.fit(X[:100].astype(np.float32), y[:100])


def _digits_calibration(seed: int, n_train: int = 1000, epochs: int = 60, lr: float = 0.1) -> tuple[float, float, float]:
    """A 4-member bagged MLP (nets.MLP's defaults) on ``n_train`` digits rows, ``epochs`` epochs at ``lr``, no early
    stopping, calibration="temperature": ``(held-out NLL before, after, temperature_)`` on the rest of digits."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X.astype(np.float32)
    order = np.random.default_rng(seed).permutation(len(X))
    train, test = order[:n_train], order[n_train:]
    clf = BaggedNetClassifier(n_members=4, epochs=epochs, lr=lr, early_stopping=False, calibration="temperature",
                              random_state=seed, verbose=0, n_jobs=1).fit(X[train], y[train])
    before = vote(clf.member_probas(X[test])).numpy()
    return metrics.nll(before, y[test]), metrics.nll(clf.predict_proba(X[test]), y[test]), clf.temperature_


@pytest.mark.filterwarnings("ignore:.*rows were in every member's bag:UserWarning")
@pytest.mark.parametrize("seed, n_train, epochs, lr", [(0, 1000, 60, 0.1), (1, 1000, 60, 0.1), (2, 600, 30, 0.05)])
def test_calibration_never_raises_the_held_out_nll_on_digits(seed, n_train, epochs, lr):
    """On a nearly calibrated ensemble a temperature fitted on out-of-bag rows as if they were
    averaged by all members overshoots (out-of-bag rows average about 37% of them), and the noise
    of any fit on a few dozen misclassified rows can exceed the correction: either raised the
    held-out NLL. The law's temperature at all members, moved towards 1 by its confidence margin,
    does not."""
    before, after, _ = _digits_calibration(seed, n_train, epochs, lr)
    assert after <= before


@pytest.mark.filterwarnings("ignore:.*rows were in every member's bag:UserWarning")
def test_calibration_never_raises_the_held_out_nll_on_a_cifar10_subset(cifar10_root):
    """A small bagged CNN ensemble on 3,000 CIFAR-10 images; held out: 1,000 of the last 1,000 images of each class."""
    from augkit.data import last_per_class_split, load_cifar10

    images, labels, _ = load_cifar10(cifar10_root, progress=False)
    train_idx, val_idx = last_per_class_split(labels, 1000)
    rng = np.random.default_rng(0)
    train_idx, val_idx = np.sort(rng.choice(train_idx, 3000, replace=False)), np.sort(rng.choice(val_idx, 1000, replace=False))
    member = functools.partial(nets.SmallCNN, widths=(8, 16, 32))
    clf = BaggedNetClassifier(member=member, n_members=4, epochs=4, batch_size=64, lr=0.05, early_stopping=False,
                              calibration="temperature", random_state=0, verbose=0, n_jobs=1)
    clf.fit(images[train_idx], labels[train_idx])
    before = vote(clf.member_probas(images[val_idx])).numpy()
    after = clf.predict_proba(images[val_idx])
    assert metrics.nll(after, labels[val_idx]) <= metrics.nll(before, labels[val_idx])
