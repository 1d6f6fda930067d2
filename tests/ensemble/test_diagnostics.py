"""ensemble.diagnostics.error_decomposition: the ensemble's error identity, exactly."""
import numpy as np
import pytest
import torch

from ensemble import error_decomposition


def _probas(m, n, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(m, n, k, generator=g, dtype=torch.float64), -1)


def test_decomposition_identity_is_exact():
    p = _probas(5, 200, 10, seed=1)
    y = torch.randint(0, 10, (200,), generator=torch.Generator().manual_seed(2))
    d = error_decomposition(p, y)
    assert d.predicted == pytest.approx(d.measured, rel=1e-12)
    for row in d.by_size:
        assert row["predicted"] == pytest.approx(row["measured"], rel=1e-12)
    soft_acc = (p.mean(0).argmax(1) == y).double().mean().item()
    assert d.by_size[-1]["accuracy"] == pytest.approx(soft_acc)
    assert d.by_size[0]["accuracy"] == pytest.approx((p[0].argmax(1) == y).double().mean().item())


def test_independent_zero_mean_errors_average_down_to_v_over_k():
    k, n = 8, 20000
    y = np.zeros(n, dtype=int)
    onehot = np.eye(3)[y]
    rng = np.random.default_rng(0)
    p = onehot[None] + rng.normal(0, 0.2, size=(k, n, 3))  # independent, zero-mean member errors
    d = error_decomposition(p, y)
    assert abs(d.covariance) < 0.01 * d.variance
    assert d.measured == pytest.approx(d.variance / k, rel=0.03)


def test_identical_members_do_not_reduce_the_error():
    p = _probas(1, 300, 4, seed=3).repeat(6, 1, 1)
    y = torch.randint(0, 4, (300,), generator=torch.Generator().manual_seed(4))
    d = error_decomposition(p, y)
    assert d.covariance == pytest.approx(d.variance)
    assert d.measured == pytest.approx(d.variance)


def test_decomposition_validates_labels():
    with pytest.raises(ValueError, match=r"y must have 4 labels"):
        error_decomposition(_probas(2, 4, 3), [0, 1])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        error_decomposition(_probas(2, 2, 3), [0, 3])
