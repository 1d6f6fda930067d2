"""ensemble.calibration: temperature scaling recovers a known temperature, minimises the NLL, keeps the argmax;
on an over-confident bagged ensemble a temperature fitted on out-of-bag rows lowers the held-out NLL."""
import functools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import nets
from ensemble import BaggedNetClassifier, apply_temperature, ensemble_logits, fit_temperature, metrics, vote
from ensemble.calibration import MIN_ROWS, TEMPERATURE_RANGE


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


def test_out_of_bag_temperature_lowers_held_out_nll_of_an_over_confident_ensemble(tmp_path):
    """Large MLP members trained far past the point of best validation loss on few rows (no early
    stopping, no weight decay) are over-confident, and so is their average; calibration="temperature"
    fits the temperature on the out-of-bag rows, which softens the ensemble on held-out rows and
    leaves every prediction as it was. The temperature is saved and loaded with the ensemble."""
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
    # The fitted temperature is the minimum-NLL one of the out-of-bag decision, computed here anew.
    oob = calibrated.oob_decision_function_
    seen = ~np.isnan(oob).any(1)
    labels = np.searchsorted(calibrated.classes_, y)
    assert calibrated.temperature_ == pytest.approx(fit_temperature(ensemble_logits(oob[seen]), labels[train][seen]))
    assert calibrated.temperature_ > 1.5  # over-confident
    proba = vote(calibrated.member_probas(X[test])).numpy()
    np.testing.assert_allclose(proba, plain.predict_proba(X[test]), atol=1e-6)  # same members
    scaled = calibrated.predict_proba(X[test])
    np.testing.assert_allclose(scaled, apply_temperature(ensemble_logits(proba), calibrated.temperature_), atol=1e-6)
    assert metrics.nll(scaled, labels[test]) < 0.85 * metrics.nll(proba, labels[test])
    np.testing.assert_array_equal(calibrated.predict(X[test]), plain.predict(X[test]))
    calibrated.save(tmp_path / "model")
    again = BaggedNetClassifier.load(tmp_path / "model")
    assert again.temperature_ == calibrated.temperature_
    np.testing.assert_allclose(again.predict_proba(X[test]), scaled, atol=1e-6)


def test_calibration_without_held_out_rows_is_refused_at_fit():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    clf = BaggedNetClassifier(n_members=2, epochs=1, bootstrap=False, validation_fraction=0.0,
                              calibration="temperature", verbose=0)
    with pytest.raises(ValueError, match=r"calibration='temperature' learn from the rows the members hold out, "
                                         r"but there are 0"):
        clf.fit(X[:100].astype(np.float32), y[:100])
