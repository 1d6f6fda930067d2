"""ensemble.metrics: every score against its definition, computed here independently, and the input checks."""
import math
import sys
from itertools import combinations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ensemble import metrics
from ensemble.metrics import NLL_FLOOR, SUM_TOLERANCE

# Confidences 1.0 (right and wrong), 0.75 (on the edge of bin 2 of 4), 0.6, and a 0.5/0.5 tie
# (predicted class 0, wrong); no confidence in bin 0, (0, 0.25].
HAND_P = np.array([[1.0, 0.0], [0.0, 1.0], [0.75, 0.25], [0.5, 0.5], [0.4, 0.6]])


HAND_Y = np.array([0, 0, 0, 1, 1])


def _ece_by_definition(p: np.ndarray, y: np.ndarray, n_bins: int) -> float:
    """Bin i holds confidences in (i/n, (i+1)/n]; 0 goes to bin 0; empty bins add nothing."""
    conf, pred = p.max(1), p.argmax(1)
    total = 0.0
    for i in range(n_bins):
        lo, hi = i / n_bins, (i + 1) / n_bins
        inside = (conf > lo) & (conf <= hi) | ((conf == 0) if i == 0 else False) | ((conf > 1) if i == n_bins - 1 else False)
        if inside.any():
            total += inside.mean() * abs((pred[inside] == y[inside]).mean() - conf[inside].mean())
    return total


def _random_case(n=200, k=5, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(k, 0.3), size=n)
    p[:10] = np.eye(k)[rng.integers(0, k, 10)]  # confidence exactly 1.0
    return p, rng.integers(0, k, n)


def test_nll_is_mean_negative_log_of_true_class_probability():
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]])
    assert metrics.nll(p, [0, 2]) == pytest.approx(-(math.log(0.7) + math.log(0.3)) / 2, rel=1e-12)


def test_nll_clips_at_the_documented_floor():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    assert metrics.nll(p, [1, 0]) == pytest.approx((-math.log(NLL_FLOOR) - math.log(0.5)) / 2, rel=1e-12)


def test_brier_sums_squared_error_over_classes_and_averages_over_samples():
    p = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]])
    # (0.3^2 + 0.2^2 + 0.1^2 = 0.14) and (0.2^2 + 0.5^2 + 0.7^2 = 0.78)
    assert metrics.brier(p, [0, 2]) == pytest.approx((0.14 + 0.78) / 2, rel=1e-12)
    assert metrics.brier(np.eye(3), [1, 2, 0]) == pytest.approx(2.0)  # confidently wrong everywhere


def test_ece_hand_made_case_with_confidence_one_and_an_empty_bin():
    bins = metrics.reliability_bins(HAND_P, HAND_Y, n_bins=4)
    np.testing.assert_array_equal(bins.edges, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_array_equal(bins.counts, [0, 1, 2, 2])  # both 1.0 rows in the last bin, 0.75 in bin 2
    np.testing.assert_allclose(bins.accuracy[1:], [0.0, 1.0, 0.5])
    np.testing.assert_allclose(bins.confidence[1:], [0.5, 0.675, 1.0])
    assert np.isnan(bins.accuracy[0]) and np.isnan(bins.confidence[0])
    # 1/5 |0 - 0.5| + 2/5 |1 - 0.675| + 2/5 |0.5 - 1| (0.23 if 1.0 fell outside the last bin)
    assert metrics.ece(HAND_P, HAND_Y, n_bins=4) == pytest.approx(0.1 + 0.13 + 0.2, rel=1e-12)


def test_ece_puts_each_upper_edge_in_its_own_bin():
    p = np.array([[0.5, 0.5], [0.75, 0.25], [0.625, 0.375]])
    np.testing.assert_array_equal(metrics.reliability_bins(p, [0, 0, 0], n_bins=8).counts, [0, 0, 0, 1, 1, 1, 0, 0])


@pytest.mark.parametrize("n_bins", [1, 2, 15, 40])
def test_ece_matches_definition_on_random_probabilities(n_bins):
    p, y = _random_case()
    assert metrics.ece(p, y, n_bins) == pytest.approx(_ece_by_definition(p, y, n_bins), abs=1e-12)


def test_one_bin_ece_is_gap_between_accuracy_and_mean_confidence():
    p, y = _random_case(seed=3)
    assert metrics.ece(p, y, 1) == pytest.approx(abs((p.argmax(1) == y).mean() - p.max(1).mean()), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(2, 6)), elements=st.floats(0, 1)),
       st.integers(1, 20), st.randoms(use_true_random=False))
def test_ece_property_matches_definition(raw, n_bins, rnd):
    raw[:, 0] += 1e-3  # no all-zero row
    p = raw / raw.sum(1, keepdims=True)
    y = np.array([rnd.randrange(p.shape[1]) for _ in range(len(p))])
    assert metrics.ece(p, y, n_bins) == pytest.approx(_ece_by_definition(p, y, n_bins), abs=1e-12)


def test_disagreement_is_mean_pairwise_share_of_differing_predictions():
    rng = np.random.default_rng(1)
    probas = rng.dirichlet(np.ones(4), size=(5, 300))
    preds = probas.argmax(-1)
    pairs = [(preds[i] != preds[j]).mean() for i, j in combinations(range(5), 2)]
    assert metrics.disagreement(probas) == pytest.approx(np.mean(pairs), abs=1e-12)
    same = np.stack([probas[0]] * 3)
    assert metrics.disagreement(same) == 0.0


def test_disagreement_hand_made():
    one_hot = np.eye(3)
    # sample 0: classes 0, 0, 1 -> pairs (0,1) agree, (0,2) and (1,2) differ: 2/3; sample 1: all differ: 1
    probas = one_hot[[[0, 1], [0, 2], [1, 0]]]
    assert metrics.disagreement(probas) == pytest.approx((2 / 3 + 1) / 2)


def test_summary_returns_every_score():
    p, y = _random_case(seed=2)
    members = np.stack([p, np.roll(p, 1, axis=1)])
    scores = metrics.summary(p, y, member_probas=members, n_bins=10)
    assert scores == {"accuracy": pytest.approx((p.argmax(1) == y).mean()), "nll": metrics.nll(p, y),
                      "brier": metrics.brier(p, y), "ece": metrics.ece(p, y, 10),
                      "disagreement": metrics.disagreement(members)}
    assert "disagreement" not in metrics.summary(p, y)


def test_tensors_and_float32_give_the_same_scores_as_float64_arrays():
    p, y = _random_case(seed=4)
    as_tensors = metrics.summary(torch.tensor(p, dtype=torch.float32), torch.tensor(y))
    for name, value in metrics.summary(p, y).items():
        assert as_tensors[name] == pytest.approx(value, abs=1e-6)


@pytest.mark.parametrize("proba, error, message", [
    ([[0.6, 0.6], [0.5, 0.5]], ValueError, r"rows must sum to 1 \(within 0.0001\); row 0 sums to 1.2"),
    ([[2.0, -1.0]], ValueError, r"must lie in \[0, 1\]"),
    ([[np.nan, 1.0]], ValueError, "NaN or infinite"),
    ([0.5, 0.5], ValueError, r"must be N x K .* got shape \(2,\)"),
    ([[1.0], [1.0]], ValueError, "at least 2 classes"),
    (np.zeros((0, 3)), ValueError, "holds no sample"),
    ([[1, 0], [0, 1]], TypeError, "floating-point probabilities"),
])
def test_bad_probabilities_are_refused(proba, error, message):
    with pytest.raises(error, match=message):
        metrics.nll(np.asarray(proba), np.zeros(len(np.atleast_2d(proba)), dtype=int))


def test_sum_tolerance_is_the_documented_one():
    p = np.array([[0.5, 0.5 + SUM_TOLERANCE / 2]])
    metrics.nll(p, [0])
    with pytest.raises(ValueError, match="row 0 sums to"):
        metrics.nll(np.array([[0.5, 0.5 + 2 * SUM_TOLERANCE]]), [0])


@pytest.mark.parametrize("y, error, message", [
    ([0, 2], ValueError, r"y must lie in \[0, 2\) \(K = 2 classes\); got labels in \[0, 2\]"),
    ([-1, 0], ValueError, r"got labels in \[-1, 0\]"),
    ([0, 1, 1], ValueError, "y has 3 labels but there are 2 samples"),
    ([[0, 1]], ValueError, "must be 1-D"),
    ([0.0, 1.0], TypeError, "integer class indices"),
    ([True, False], TypeError, "integer class indices"),
])
def test_bad_labels_are_refused(y, error, message):
    with pytest.raises(error, match=message):
        metrics.brier(np.array([[0.5, 0.5], [0.1, 0.9]]), np.asarray(y))


@pytest.mark.parametrize("n_bins, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)])
def test_bad_n_bins_is_refused(n_bins, error):
    with pytest.raises(error, match="n_bins must be"):
        metrics.ece(HAND_P, HAND_Y, n_bins=n_bins)


def test_disagreement_and_summary_refuse_bad_member_shapes():
    p = np.full((4, 3), 1 / 3)
    with pytest.raises(ValueError, match="at least 2 members"):
        metrics.disagreement(p[None])
    with pytest.raises(ValueError, match="M x N x K"):
        metrics.disagreement(p)
    with pytest.raises(ValueError, match=r"member_probas\[1\] rows must sum to 1"):
        metrics.disagreement(np.stack([p, 2 * p]))
    with pytest.raises(ValueError, match=r"member_probas must be M x 4 x 3"):
        metrics.summary(p, [0, 1, 2, 0], member_probas=np.stack([p[:3], p[:3]]))


def test_reliability_diagram_draws_the_bins_and_saves(tmp_path):
    pytest.importorskip("matplotlib")
    p, y = _random_case(seed=5)
    bins = metrics.reliability_bins(p, y, 10)
    other = np.roll(p, 1, axis=1)
    ax = metrics.reliability_diagram(p, y, n_bins=10, label="member")
    metrics.reliability_diagram(other, y, path=tmp_path / "r.png", ax=ax, n_bins=10, label="ensemble")
    curves = [line for line in ax.get_lines() if not line.get_label().startswith("_")]  # not the diagonals
    assert [c.get_label() for c in curves] == [f"member (ECE {bins.ece:.3f})",
                                               f"ensemble (ECE {metrics.ece(other, y, 10):.3f})"]
    full = bins.counts > 0
    np.testing.assert_allclose(curves[0].get_xdata(), bins.confidence[full])
    np.testing.assert_allclose(curves[0].get_ydata(), bins.accuracy[full])
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reliability_diagram_without_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'augkit\[plot\]'"):
        metrics.reliability_diagram(HAND_P, HAND_Y)
