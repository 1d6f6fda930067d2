"""nets.dropout: expectation identity, mode conversion, MC-dropout, counter-based RNG under vmap."""
import copy
import math

import pytest
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from nets import MLP, Dropout, convert_dropout, fit, hash_uniform, mc_dropout_predict, set_dropout_seed


@pytest.mark.parametrize("mode", ["inverted", "standard"])
@pytest.mark.parametrize("p_keep", [0.5, 0.8])
def test_mean_training_output_equals_test_output(mode, p_keep):
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    drop = Dropout(p_keep, mode=mode)
    set_dropout_seed(drop, 3)
    T = 4000  # T independent masks in one forward: every row of the batch draws its own
    mean_train = drop(x.expand(T, -1)).mean(0)
    drop.eval()
    test = drop(x)
    # per element, Var(y_train) = x^2 (1-p)/p (inverted) or x^2 p (1-p) (standard)
    scale = 1 / p_keep if mode == "inverted" else 1.0
    sigma = x.abs() * scale * math.sqrt(p_keep * (1 - p_keep) / T)
    assert torch.all((mean_train - test).abs() <= 5 * sigma + 1e-6)
    torch.testing.assert_close(test, x if mode == "inverted" else p_keep * x)


def test_training_mask_keeps_units_with_probability_p_keep():
    drop = Dropout(0.3)
    set_dropout_seed(drop, 0)
    y = drop(torch.ones(200_000))
    kept = (y != 0).float().mean().item()
    assert kept == pytest.approx(0.3, abs=0.005)
    torch.testing.assert_close(y[y != 0], torch.full_like(y[y != 0], 1 / 0.3))  # inverted: m x / p


def test_hash_rng_is_deterministic_and_advances():
    u1 = hash_uniform(torch.tensor(7), torch.tensor(0), 10_000)
    assert torch.equal(u1, hash_uniform(torch.tensor(7), torch.tensor(0), 10_000))
    assert u1.dtype == torch.float32 and 0 <= u1.min() and u1.max() < 1
    assert u1.mean().item() == pytest.approx(0.5, abs=0.01)
    assert not torch.equal(u1, hash_uniform(torch.tensor(7), torch.tensor(1), 10_000))
    assert not torch.equal(u1, hash_uniform(torch.tensor(8), torch.tensor(0), 10_000))
    drop = set_dropout_seed(Dropout(0.5), 1)
    a, b = drop(torch.ones(100)), drop(torch.ones(100))
    assert drop.counter.item() == 2 and not torch.equal(a, b)


def test_each_dropout_gets_its_own_stream():
    model = MLP((10,), 2, widths=(50, 50), p_keep=0.5)
    set_dropout_seed(model, 0)
    seeds = [m.seed.item() for m in model.modules() if isinstance(m, Dropout)]
    assert len(set(seeds)) == 2


def test_vmapped_members_with_different_seeds_match_each_member_alone():
    torch.manual_seed(0)
    net = MLP((12,), 3, widths=(16, 16), p_keep=0.6)
    members = [set_dropout_seed(copy.deepcopy(net), seed) for seed in (0, 1, 2)]
    reference = copy.deepcopy(members)
    params, buffers = stack_module_state(members)
    x = torch.randn(3, 8, 12)
    call = vmap(lambda p, b, xx: functional_call(net, (p, b), (xx,)))
    for _ in range(2):  # the counter advances in place inside vmap
        out = call(params, buffers, x)
        alone = [member(x[k]) for k, member in enumerate(reference)]
        for k in range(3):
            torch.testing.assert_close(out[k], alone[k])
    assert not torch.allclose(alone[0], alone[1])
    assert buffers["layers.3.counter"].tolist() == [2, 2, 2]


def _digits_subset():
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return torch.tensor(X[:600] / 16, dtype=torch.float32), torch.tensor(y[:600])


@pytest.mark.parametrize("trained_mode,target_mode", [("standard", "inverted"), ("inverted", "standard")])
def test_convert_dropout_keeps_predictions(trained_mode, target_mode):
    X, y = _digits_subset()
    model = MLP((64,), 10, widths=(32,), p_keep=0.7)
    for m in model.modules():
        if isinstance(m, Dropout):
            m.mode = trained_mode
    set_dropout_seed(model, 0)
    fit(model, (X, y), epochs=2, lr=0.05, generator=0, verbose=0)
    before = model(X)
    trained = copy.deepcopy(model)
    convert_dropout(model, target_mode)
    assert all(m.mode == target_mode for m in model.modules() if isinstance(m, Dropout))
    torch.testing.assert_close(model(X), before)  # test predictions unchanged
    model.train(), trained.train()
    torch.testing.assert_close(model(X), trained(X))  # same mask -> same training output too
    assert not torch.allclose(model(X), model.eval()(X))


def test_convert_dropout_needs_a_following_weight_layer():
    with pytest.raises(ValueError, match="Linear or Conv"):
        convert_dropout(nn.Sequential(nn.Linear(3, 3), Dropout(0.5, mode="standard")), "inverted")


def test_mc_dropout_predict():
    torch.manual_seed(0)
    model = MLP((10,), 4, widths=(32,), batch_norm=True, p_keep=0.5)
    model.train()
    model(torch.randn(16, 10))  # give BatchNorm some running statistics
    bn = model.layers[2]
    running = bn.running_mean.clone()
    x = torch.randn(5, 10)
    probs = mc_dropout_predict(model, x, T=30)
    assert probs.shape == (5, 4)
    torch.testing.assert_close(probs.sum(1), torch.ones(5))
    torch.testing.assert_close(bn.running_mean, running)  # BN ran in eval mode
    assert model.training and bn.training  # flags restored
    deterministic = torch.softmax(model.eval()(x), dim=1)
    assert not torch.allclose(probs, deterministic)
    model_no_drop = MLP((10,), 4, widths=(32,), p_keep=1.0)
    torch.testing.assert_close(mc_dropout_predict(model_no_drop, x, T=3),
                               torch.softmax(model_no_drop.eval()(x), dim=1))


@pytest.mark.parametrize("p_keep", [0.0, -0.1, 1.5])
def test_bad_p_keep(p_keep):
    with pytest.raises(ValueError, match="p_keep"):
        Dropout(p_keep)
    with pytest.raises(ValueError, match="p_keep"):
        MLP((3,), 2, p_keep=p_keep)


def test_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        Dropout(0.5, mode="gaussian")
    with pytest.raises(ValueError, match="mode"):
        convert_dropout(MLP((3,), 2), "gaussian")
