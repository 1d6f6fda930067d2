"""nets.init: initialisation schemes and the lecture's activation-statistics observations."""
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from nets import MLP, activation_stats, fan_in_and_out, init_weights


def test_normal_small_std_tanh_collapses():
    stats = activation_stats(activation="tanh", init=("normal", {"std": 0.01}))
    assert stats["std"][-1] < 1e-5
    assert stats["std"][0] > stats["std"][4] > stats["std"][-1]  # shrinks layer after layer


def test_normal_unit_std_tanh_saturates():
    stats = activation_stats(activation="tanh", init=("normal", {"std": 1.0}))
    # pre-activations have std ~ sqrt(500) ~ 22, so only |z| < 2.65 (about 10%) escapes |a| > 0.99
    assert stats["saturated"][-1] >= 0.88
    assert stats["std"][-1] > 0.95


def test_xavier_tanh_keeps_signal():
    stats = activation_stats(activation="tanh", init="xavier")
    assert 0.15 <= stats["std"][-1] <= 0.35


def test_xavier_relu_decays():
    stats = activation_stats(activation="relu", init="xavier")
    assert stats["std"][-1] < 0.1


def test_he_relu_keeps_every_layer():
    stats = activation_stats(activation="relu", init="he")
    assert all(0.5 <= s <= 1.5 for s in stats["std"])


def test_activation_stats_histograms():
    stats = activation_stats(depth=3, width=20, n=100, bins=7)
    assert len(stats["counts"]) == 3 and len(stats["mean"]) == 3
    assert stats["counts"][0].shape == (7,) and stats["edges"][0].shape == (8,)
    assert stats["counts"][1].sum() == 100 * 20
    assert stats["edges"][0][0] == -1.0 and stats["edges"][2][-1] == 1.0  # one tanh range for every layer
    relu = activation_stats(depth=2, width=20, n=100, activation="relu", init="he", hist_range=(0.0, 5.0))
    assert relu["edges"][1][0] == 0.0 and relu["edges"][1][-1] == 5.0


@pytest.mark.parametrize("scheme,kw,var", [
    ("xavier", {}, 1 / 400),
    ("xavier", {"mode": "glorot"}, 2 / (400 + 300)),
    ("xavier", {"distribution": "uniform"}, 1 / 400),
    ("he", {}, 2 / 400),
    ("he", {"distribution": "uniform"}, 2 / 400),
    ("normal", {"std": 0.3}, 0.09),
])
def test_linear_weight_variance(scheme, kw, var):
    layer = init_weights(nn.Linear(400, 300), scheme, generator=torch.Generator().manual_seed(0), **kw)
    assert layer.weight.var().item() == pytest.approx(var, rel=0.03)
    assert layer.weight.mean().item() == pytest.approx(0.0, abs=3 * math.sqrt(var / 120_000))
    assert torch.all(layer.bias == 0)


def test_conv_fan_in_counts_kernel_area():
    conv = nn.Conv2d(16, 64, kernel_size=(3, 5))
    assert fan_in_and_out(conv.weight) == (16 * 15, 64 * 15)
    init_weights(conv, "he", generator=torch.Generator().manual_seed(0))
    assert conv.weight.var().item() == pytest.approx(2 / 240, rel=0.05)
    assert torch.all(conv.bias == 0)


def test_constant_and_zero():
    model = MLP((5,), 3, widths=(4,), init=("constant", {"value": 0.25}))
    assert all(torch.all(m.weight == 0.25) for m in model.modules() if isinstance(m, nn.Linear))
    init_weights(model, "zero")
    assert all(torch.all(p == 0) for p in model.parameters())


def test_bad_scheme_and_kwargs():
    with pytest.raises(ValueError, match=r"scheme.*'lecun'"):
        init_weights(nn.Linear(2, 2), "lecun")
    with pytest.raises(TypeError, match="std"):
        init_weights(nn.Linear(2, 2), "he", std=1.0)
    with pytest.raises(TypeError, match="value"):
        init_weights(nn.Linear(2, 2), "constant")
    with pytest.raises(ValueError, match="distribution"):
        init_weights(nn.Linear(2, 2), "he", distribution="cauchy")
    with pytest.raises(ValueError, match="init"):
        MLP((2,), 2, init=42)


def _train_steps(model, steps=5):
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(32, 6, generator=g), torch.randint(0, 3, (32,), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return x, y


def test_zero_init_hidden_weights_get_no_gradient_and_do_not_move():
    model = MLP((6,), 3, widths=(8, 8), activation="relu", init="zero")
    hidden = [model.layers[1].weight, model.layers[3].weight]
    x, y = _train_steps(model)
    F.cross_entropy(model(x), y).backward()
    for w in hidden:
        assert torch.all(w.grad == 0)
        assert torch.all(w == 0)


def test_constant_init_units_stay_identical():
    model = MLP((6,), 3, widths=(8,), activation="tanh", init=("constant", {"value": 0.1}))
    _train_steps(model)
    w = model.layers[1].weight
    assert not torch.all(w == 0.1)  # it trained...
    assert torch.allclose(w, w[:1].expand_as(w))  # ...but every hidden unit is the same unit
