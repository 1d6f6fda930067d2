"""vote() and error_decomposition(): the formulas, exactly."""
import numpy as np
import pytest
import torch

from ensemble import error_decomposition, vote


def _probas(m, n, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.softmax(torch.randn(m, n, k, generator=g, dtype=torch.float64), -1)


def test_soft_vote_is_weighted_mean_of_probabilities():
    p = _probas(3, 5, 4)
    assert torch.allclose(vote(p), p.mean(0))
    w = torch.tensor([1.0, 2.0, 5.0], dtype=torch.float64)
    assert torch.allclose(vote(p, weights=w), (w[:, None, None] * p).sum(0) / w.sum())


def test_hard_vote_counts_argmax_ballots_and_breaks_ties_to_lowest_class():
    # Member argmaxes: sample 0 -> 2, 2, 1 (majority 2); sample 1 -> 0, 1, then a 1/3 tie below.
    p = torch.tensor([[[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]],
                      [[0.1, 0.3, 0.6], [0.2, 0.7, 0.1]],
                      [[0.2, 0.5, 0.3], [0.1, 0.1, 0.8]]])
    shares = vote(p, method="hard")
    assert torch.allclose(shares[0], torch.tensor([0.0, 1 / 3, 2 / 3]))
    assert torch.allclose(shares[1], torch.tensor([1 / 3, 1 / 3, 1 / 3]))
    assert shares.argmax(1).tolist() == [2, 0]  # three-way tie -> lowest index
    weighted = vote(p, method="hard", weights=[1, 1, 3])
    assert weighted.argmax(1).tolist() == [1, 2]


@pytest.mark.parametrize("kwargs, message", [
    ({"method": "median"}, r"method must be one of \('soft', 'hard'\), got 'median'"),
    ({"weights": [1, 2]}, "weights has 2 entries but there are 3 members"),
    ({"weights": [1, -1, 1]}, "non-negative"),
])
def test_vote_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        vote(_probas(3, 2, 2), **kwargs)


def test_vote_rejects_wrong_rank():
    with pytest.raises(ValueError, match="M x N x K"):
        vote(torch.rand(3, 4))


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
