"""ensemble.engine.poisson and plans.draw_poisson_plans: the Poisson bootstrap of online bagging."""
import math

import numpy as np
import pytest

from ensemble.engine.plans import draw_entropy, draw_plans, draw_poisson_plans, row_weights
from ensemble.engine.poisson import poisson_cdf, poisson_weights

N = 3067  # the flowers folder's size: the check is at this n


def test_weights_are_a_pure_function_of_seed_member_and_row():
    w = poisson_weights(7, 4, N)
    assert w.dtype == np.uint8 and w.shape == (4, N)
    np.testing.assert_array_equal(w, poisson_weights(7, 4, N))
    np.testing.assert_array_equal(w[:, :100], poisson_weights(7, 4, 100))  # row i's weight does not depend on N
    np.testing.assert_array_equal(w[:2], poisson_weights(7, 2, N))  # nor on the number of members
    assert not np.array_equal(w[0], w[1]) and not np.array_equal(w, poisson_weights(8, 4, N))


@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_out_of_bag_share_is_e_to_the_minus_one_within_three_binomial_sd(seed):
    p = math.exp(-1)
    sd = math.sqrt(p * (1 - p) / N)  # 0.87 points: 3 sd = 2.6 points
    shares = (poisson_weights(seed, 8, N) == 0).mean(axis=1)
    assert np.all(np.abs(shares - p) < 3 * sd), shares


def test_counts_follow_poisson_one():
    w = poisson_weights(3, 16, N).ravel()
    n = len(w)
    assert abs(w.mean() - 1.0) < 3 / math.sqrt(n)  # Poisson(1): mean 1, variance 1
    for k in range(4):
        pmf = math.exp(-1) / math.factorial(k)
        assert abs((w == k).mean() - pmf) < 3 * math.sqrt(pmf * (1 - pmf) / n), k


def test_a_smaller_rate_draws_smaller_bags():
    shares = (poisson_weights(0, 8, N, rate=0.5) == 0).mean(axis=1)
    p = math.exp(-0.5)
    assert np.all(np.abs(shares - p) < 3 * math.sqrt(p * (1 - p) / N))
    cdf = poisson_cdf(1.0)
    assert cdf[0] == pytest.approx(math.exp(-1)) and 1 - cdf[-1] < 2 ** -24


def test_poisson_plans_hold_each_row_its_weight_and_keep_the_members_seeds():
    entropy = draw_entropy(0)
    plans = draw_poisson_plans(500, 3, entropy)
    weights = poisson_weights(entropy, 3, 500)
    np.testing.assert_array_equal(row_weights(plans, 500), weights)
    for plan, w in zip(plans, weights):
        np.testing.assert_array_equal(plan.val_indices, np.flatnonzero(w == 0))  # out of bag: weight 0
    multinomial = draw_plans(500, 3, entropy, bootstrap=True, n_bag=500, validation_fraction=0.1, hold_out=True)
    assert [p.seed for p in plans] == [p.seed for p in multinomial]
