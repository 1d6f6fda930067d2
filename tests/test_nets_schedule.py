"""Training-length and optimisation options: fractional epochs, the triangular schedule,
BatchNorm parameters at their own learning rate, and look-ahead weight averaging."""

import math

import pytest
import torch
from torch import nn

import nets
from nets.average import Lookahead
from nets.optim import SGD
from nets.step import TRIANGLE, lr_factor


def test_triangular_schedule_is_airbench_triangle():
    total = 1000
    factors = [lr_factor("triangular", s, total) for s in range(total + 1)]
    assert factors[0] == pytest.approx(0.2) and factors[230] == pytest.approx(1.0) and factors[-1] == pytest.approx(0.07)
    assert max(factors) == pytest.approx(1.0)
    # linear pieces: equal steps change the factor by equal amounts on each side of the peak
    assert factors[100] - factors[99] == pytest.approx((1.0 - 0.2) / 230)
    assert factors[500] - factors[501] == pytest.approx((1.0 - 0.07) / 770)
    assert TRIANGLE[1] == (0.23, 1.0)


def test_fractional_epochs_train_the_rounded_number_of_steps(digits_tabular):
    X, y = digits_tabular
    X, y = torch.as_tensor(X[:100]), torch.as_tensor(y[:100])
    seen = []
    model = nets.MLP((64,), 10, widths=(16,))
    original = nets.step.TrainStep.update

    def counting(self, loss):
        seen.append(self.steps_done)
        return original(self, loss)

    nets.step.TrainStep.update = counting
    try:
        history = nets.fit(model, (X, y), epochs=2.5, batch_size=32, verbose=0, generator=0)
    finally:
        nets.step.TrainStep.update = original
    assert len(seen) == round(2.5 * math.ceil(100 / 32)) == 10  # 4 + 4 + 2 steps
    assert len(history.loss) == 3  # the last epoch is cut short
    assert 0 <= history.acc[-1] <= 1


def test_norm_lr_scale_steps_batchnorm_parameters_faster_like_torch_param_groups():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nets.BatchNorm1d(3), nn.Linear(3, 2))
    reference = [p.detach().clone().requires_grad_() for p in model.parameters()]
    bn = [1, 2]  # gamma, beta of the BatchNorm among [w0, b0, gamma, beta, w2, b2]
    ours = SGD([(list(model.parameters())[:2] + list(model.parameters())[4:], 0.0),
                ([list(model.parameters())[i + 1] for i in bn], 0.0, 16.0)], momentum=0.9)
    torch_opt = torch.optim.SGD([{"params": reference[:2] + reference[4:]},
                                 {"params": reference[2:4], "lr": 0.1 * 16}], lr=0.1, momentum=0.9, nesterov=True)
    for _ in range(3):
        for p, r in zip(model.parameters(), reference):
            p.grad = torch.full_like(p, 0.5)
            r.grad = torch.full_like(r, 0.5)
        ours.step(0.1)
        torch_opt.step()
    for p, r in zip(model.parameters(), reference):
        torch.testing.assert_close(p, r)


def test_lookahead_is_airbench_ema_with_jump_back():
    w = torch.zeros(3)
    look = Lookahead([w], total_steps=100)
    average = None
    for step in range(1, 101):
        w += 1.0  # an optimiser step
        # airbench94: from 30% of training, every 5 steps: A.lerp_(W, 1 - rho); W.copy_(A)
        if step >= 30 and step % 5 == 0:
            if average is None:
                average = w.clone()
            else:
                rho = 0.95 ** 5 * (step / 100) ** 3
                average = average + (1 - rho) * (w - average)
        look.step(step)
        if average is not None and step % 5 == 0:
            torch.testing.assert_close(w, average)  # the weights jumped back to the average
    look.settle()
    torch.testing.assert_close(w, average)


def test_lookahead_in_fit_ends_on_the_average(digits_tabular):
    X, y = digits_tabular
    data = (torch.as_tensor(X[:200]), torch.as_tensor(y[:200]))
    averaged, plain = nets.MLP((64,), 10, widths=(32,)), nets.MLP((64,), 10, widths=(32,))
    plain.load_state_dict(averaged.state_dict())
    nets.fit(averaged, data, epochs=4, batch_size=32, lookahead=True, verbose=0, generator=0)
    nets.fit(plain, data, epochs=4, batch_size=32, verbose=0, generator=0)
    differs = any(not torch.equal(a, b) for a, b in zip(averaged.parameters(), plain.parameters()))
    assert differs  # the average, not the last fast weights


def test_whitening_filters_decorrelate_patches():
    from nets.whitening import whitening_filters

    g = torch.Generator().manual_seed(0)
    mix = torch.tensor([[1.0, 0.8, 0.2], [0.0, 0.6, 0.5], [0.0, 0.0, 0.3]])
    images = torch.einsum("ij,njhw->nihw", mix, torch.randn(200, 3, 12, 12, generator=g))  # correlated channels
    filters = whitening_filters(images, kernel_size=2, eps=0.0)
    assert filters.shape == (24, 3, 2, 2)
    torch.testing.assert_close(filters[12:], -filters[:12])
    out = torch.nn.functional.conv2d(images.double(), filters[:12].double()).permute(1, 0, 2, 3).reshape(12, -1)
    torch.testing.assert_close(out @ out.T / out.shape[1], torch.eye(12, dtype=torch.float64), atol=1e-6, rtol=0)


def test_fastcnn_airbench_options_and_data_init_in_fit(digits_images):
    images, labels = digits_images
    one = torch.as_tensor(images[:256]).permute(0, 3, 1, 2)
    X = torch.cat([one, one.flip(-1), one.transpose(-1, -2)], 1).contiguous()  # 3 distinct channels
    y = torch.as_tensor(labels[:256])
    model = nets.FastCNN((3, 8, 8), 10, widths=(8, 16), whiten=True, dirac=True, bn_scale=False)
    assert not model.layers[0].weight.requires_grad and model.layers[0].bias.requires_grad
    conv = model.layers[2]
    torch.testing.assert_close(conv.weight[:24, :, 1, 1], torch.eye(24)[:8] if conv.out_channels < 24
                               else torch.eye(24))  # dirac: identity on the first input channels
    gammas = [m.gamma for m in model.modules() if isinstance(m, nets.BatchNorm2d)]
    assert gammas and not any(g.requires_grad for g in gammas)
    before = model.layers[0].weight.clone()
    nets.fit(model, (X, y), epochs=1, batch_size=64, normalize=((0.3,), (0.4,)), norm_lr_scale=64.0,
             lr_schedule="triangular", lookahead=True, verbose=0, generator=0)
    stem = model.layers[0].weight
    assert not torch.equal(stem, before)  # set from the data, then frozen
    x = (X.float() / 255 - 0.3) / 0.4  # all 256 rows: fewer than DATA_INIT_IMAGES
    torch.testing.assert_close(stem, nets.whitening.whitening_filters(x).to(stem), atol=1e-5, rtol=1e-4)
    assert all(torch.equal(g, torch.ones_like(g)) for g in gammas)  # frozen scales
    with pytest.raises(ValueError, match="whitened 2x2 stem has 2 C 4 = 24 channels"):
        nets.FastCNN(whiten=True, stem=16)
