"""The lecture's claims, each on a tiny setting of the example that shows it (examples/lecture_*.py)."""
import math

import numpy as np
import pytest
import torch

import nets
from ensemble import BaggedNetClassifier
from ensemble.demo import oob_shares
from tests.script_loader import load_script

report = load_script("examples/_report.py")


@pytest.fixture(scope="module")
def digits():
    """200 training and 540 test digits (uint8 N x 1 x 8 x 8, int64 labels)."""
    (X, y), test = report.digits_split(0)
    return (X[:200], y[:200]), test


def test_zero_init_hidden_layers_never_learn_only_the_output_bias_moves(digits):
    symmetry = load_script("examples/lecture_init_symmetry.py")
    train, _ = digits
    model, start, history = symmetry.train("zero", train, (16, 16), epochs=3, lr=0.05, batch_size=32, seed=0)
    r = symmetry.symmetry(model, start, train)
    assert r["hidden_max_abs_weight"] == 0 and r["hidden_max_abs_grad"] == 0  # exactly, after training
    assert r["output_max_abs_weight"] == 0
    assert r["moved"] == [r["output_bias"]]
    assert history.loss[-1] < history.loss[0]  # the bias learns the class frequencies


def test_constant_init_keeps_every_hidden_unit_identical(digits):
    symmetry = load_script("examples/lecture_init_symmetry.py")
    train, _ = digits
    runs = [symmetry.train(init, train, (16, 16), epochs=3, lr=0.05, batch_size=32, seed=0)
            for init in (("constant", {"value": 0.01}), "he")]
    constant, he = (symmetry.symmetry(model, start, train) for model, start, _ in runs)
    assert len(constant["moved"]) == len(list(runs[0][0].parameters()))  # every layer trained...
    assert constant["min_pairwise_cosine"] == pytest.approx([1.0, 1.0], abs=1e-9)  # ...as one unit per layer
    assert max(he["min_pairwise_cosine"]) < 0.9  # random initial weights: distinct units


def test_he_trains_a_deep_plain_relu_net_that_xavier_stalls(digits):
    xavier_vs_he = load_script("examples/lecture_xavier_vs_he.py")
    train, _ = digits
    runs = {init: xavier_vs_he.train(30, init, train, width=32, epochs=4, lr=0.002, batch_size=32, seed=0)
            for init in ("xavier", "he")}
    (xavier, xavier_diverged), (he, he_diverged) = runs["xavier"], runs["he"]
    assert not xavier_diverged and not he_diverged
    assert he.loss[-1] < xavier.loss[-1]
    assert xavier_vs_he.verdict(xavier.loss, xavier_diverged) == "stalls"  # Var = 1/n: 2^-29 of the signal left


def test_inverted_and_weight_scaled_dropout_agree_in_expectation(digits):
    keep_rates = load_script("examples/lecture_dropout_keep_rates.py")
    (X, y), test = digits
    normalize = report.channel_stats(X)
    model = keep_rates.dropout_mlp(64, 32, p_input=0.8, p_hidden=0.5)
    nets.fit(model, (X, y), epochs=2, batch_size=32, normalize=normalize, generator=0, verbose=0)
    x = nets.to_float_batch(torch.as_tensor(test[0][:20]), normalize=normalize)
    rows = keep_rates.expectation_check(model, x, [100, 2500])
    assert rows[0]["test_output_gap"] < 1e-5  # one network: the same test outputs under both rules
    for rule in ("inverted", "weight scaling"):
        errors = [r for r in rows if r["rule"] == rule]
        # the mean of T training-mode passes is the test output up to Monte-Carlo noise sigma / sqrt(T)
        for r in errors:
            assert 0.8 * r["predicted_rms_error"] < r["rms_error"] < 1.25 * r["predicted_rms_error"]
        assert errors[1]["rms_error"] < errors[0]["rms_error"] / 3  # 25x the masks, a fifth of the error


@pytest.mark.filterwarnings("ignore:.*rows were in every member's bag")
def test_each_members_out_of_bag_share_is_the_bootstraps():
    n = 20000  # one point is over 4 standard deviations of a member's share, sqrt(0.097 / n)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    member = lambda input_shape, n_classes: nets.MLP(input_shape, n_classes, widths=(4,))
    clf = BaggedNetClassifier(member, n_members=3, epochs=1, batch_size=1024, early_stopping=False, n_jobs=1,
                              random_state=0, verbose=0).fit(X, y)
    shares = oob_shares(clf, n)
    assert shares["expected"] == (1 - 1 / n) ** n and shares["draws"] == n
    assert len(shares["members"]) == 3
    for share in shares["members"]:
        assert abs(share - shares["expected"]) < 0.01
    assert len(set(shares["members"])) == 3  # each member its own bag


def test_small_cnn_puts_batchnorm_before_or_after_the_relu():
    before = nets.SmallCNN((3, 8, 8), 10, widths=(4, 8))
    after = nets.SmallCNN((3, 8, 8), 10, widths=(4, 8), bn_position="after")
    kinds = lambda model: [type(m).__name__ for m in model.layers[:3]]
    assert kinds(before) == ["Conv2d", "BatchNorm2d", "ReLU"] and before.layers[0].bias is None
    assert kinds(after) == ["Conv2d", "ReLU", "BatchNorm2d"] and after.layers[0].bias is not None
    assert after(torch.randn(5, 3, 8, 8)).shape == (5, 10)
    with pytest.raises(ValueError, match=r"bn_position must be one of \('before', 'after'\), got 'middle'"):
        nets.SmallCNN(bn_position="middle")


def test_batchnorm_trains_at_learning_rates_that_break_the_plain_network(digits):
    placement = load_script("examples/lecture_batchnorm_placement.py")
    (X, y), val = report.digits_split(0)
    data = (X[:640], y[:640])
    for lr in (1.0, 3.0):
        runs = {name: placement.train(placement.PLACEMENTS[name], data, val, (8, 16), 4, lr, "constant", seed=0)
                for name in ("BN before ReLU", "no BN")}
        assert placement.trains(*runs["BN before ReLU"]), lr
        assert not placement.trains(*runs["no BN"]), lr


def test_early_stopping_restores_the_lowest_validation_loss(digits):
    early = load_script("examples/lecture_early_stopping.py")
    (X, y), val = digits
    data = (X[:100], early.noisy_labels(y[:100], 0.3, seed=0))
    model, history, distance = early.train(data, val, width=32, epochs=15, lr=0.05, batch_size=16, patience=3, seed=0)
    best = history.best_epoch
    assert history.val_loss[best] == min(history.val_loss)
    loss, _ = nets.evaluate(model, *val, normalize=report.channel_stats(data[0]))
    assert loss == pytest.approx(history.val_loss[best], rel=1e-5)  # the restored snapshot predicts
    torch.manual_seed(0)
    start = early.flat_parameters(nets.MLP((1, 8, 8), 10, widths=(32, 32)))
    assert float((early.flat_parameters(model) - start).norm()) == pytest.approx(distance[best], rel=1e-6)
    assert len(distance) == len(history.loss)


def test_noisy_labels_replace_the_asked_share():
    early = load_script("examples/lecture_early_stopping.py")
    y = np.arange(10).repeat(2000)
    noisy = early.noisy_labels(y, 0.5, seed=0)
    changed = float((noisy != y).mean())
    assert changed == pytest.approx(0.5 * 0.9, abs=0.01)  # a replacement keeps the label 1 time in 10
    assert np.array_equal(early.noisy_labels(y, 0.0, seed=0), y)


def test_first_step_below_and_verdict():
    xavier_vs_he = load_script("examples/lecture_xavier_vs_he.py")
    chance = math.log(10)
    assert xavier_vs_he.first_step_below([2.3, 2.0, 1.0], 1.5, steps_per_epoch=10) == 30
    assert xavier_vs_he.first_step_below([2.3, 2.3], 1.5, steps_per_epoch=10) is None
    assert xavier_vs_he.verdict([chance, chance], diverged=False) == "stalls"
    assert xavier_vs_he.verdict([chance, 0.5], diverged=False) == "converges"
    assert xavier_vs_he.verdict([chance, 1.9], diverged=False) == "learns slowly"
    assert xavier_vs_he.verdict([chance], diverged=True) == "diverges"
