"""ensemble.voting.vote: soft and hard (weighted) voting, exactly."""
import pytest
import torch

from ensemble import vote


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
