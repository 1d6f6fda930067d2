"""nets.penalties: L1/L2 formulas, gradients, which parameters they touch, sparsity vs shrinkage."""

import pytest
import torch
from torch import nn

from nets import MLP, decay_parameters, fit, l1_penalty, l2_penalty


def _model():
    torch.manual_seed(0)
    return MLP((6,), 3, widths=(5,), batch_norm=True)


def test_penalty_values_match_formulas():
    model = _model()
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    l2 = sum((w ** 2).sum() for w in weights)
    l1 = sum(w.abs().sum() for w in weights)
    torch.testing.assert_close(l2_penalty(model, 0.3), 0.3 / 2 * l2)  # lam/2 ||W||^2
    torch.testing.assert_close(l1_penalty(model, 0.3), 0.3 * l1)      # lam ||W||_1


@pytest.mark.parametrize("penalty,grad_of", [
    (l2_penalty, lambda lam, w: lam * w),
    (l1_penalty, lambda lam, w: lam * torch.sign(w)),
])
def test_gradients_are_the_formulas_and_skip_bias_and_batchnorm(penalty, grad_of):
    model = _model()
    penalty(model, 0.7).backward()
    for module in model.modules():
        if isinstance(module, nn.Linear):
            torch.testing.assert_close(module.weight.grad, grad_of(0.7, module.weight.detach()))
            assert module.bias is None or module.bias.grad is None
    bn = model.layers[2]
    assert bn.gamma.grad is None and bn.beta.grad is None


def test_include_bias():
    model = MLP((6,), 3, widths=(5,))
    assert len(decay_parameters(model)) == 2
    assert len(decay_parameters(model, include_bias=True)) == 4
    head = model.layers[-1]
    l2_penalty(model, 1.0, include_bias=True).backward()
    torch.testing.assert_close(head.bias.grad, head.bias.detach())


@pytest.mark.parametrize("penalty", [l1_penalty, l2_penalty])
def test_negative_lambda_rejected(penalty):
    with pytest.raises(ValueError, match="lam"):
        penalty(_model(), -0.1)


def _fit_regression(penalty, lam, X, y):
    model = nn.Linear(X.shape[1], 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.02)
    for _ in range(1000):  # full-batch gradient descent
        opt.zero_grad()
        loss = 0.5 * ((model(X).squeeze(1) - y) ** 2).mean() + penalty(model, lam)
        loss.backward()
        opt.step()
    return model.weight.detach().squeeze(0)


def test_l1_zeroes_irrelevant_weights_while_l2_only_shrinks_them():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(100, 20, generator=g)
    true_w = torch.zeros(20)
    true_w[:3] = torch.tensor([2.0, -3.0, 1.5])
    y = X @ true_w + torch.randn(100, generator=g)
    w_l1 = _fit_regression(l1_penalty, 0.3, X, y)
    w_l2 = _fit_regression(l2_penalty, 0.3, X, y)
    # the unpenalised intercept absorbs the means, so the L2 optimum is ridge on centred data
    Xc, yc = X - X.mean(0), y - y.mean()
    w_ols = torch.linalg.solve(Xc.T @ Xc / 100, Xc.T @ yc / 100)
    w_ridge = torch.linalg.solve(Xc.T @ Xc / 100 + 0.3 * torch.eye(20), Xc.T @ yc / 100)
    irrelevant = slice(3, 20)
    assert (w_l1[irrelevant].abs() < 0.01).float().mean() >= 0.8   # sparse
    assert (w_l2[irrelevant].abs() < 0.01).float().mean() <= 0.3   # dense...
    torch.testing.assert_close(w_l2, w_ridge, atol=1e-3, rtol=0)   # ...the ridge solution,
    assert w_l2.norm() < w_ols.norm()                              # shrunk towards 0
    assert torch.all(w_l1[:3].abs() > 1.0) and torch.all(w_l2[:3].abs() > 1.0)


def test_l1_and_weight_decay_shrink_weights(digits):
    train, _ = digits
    norms = {}
    for name, kw in {"none": {}, "l2": {"weight_decay": 0.01}, "l1": {"l1": 1e-3}}.items():
        torch.manual_seed(0)
        model = MLP((1, 8, 8), 10, widths=(32,))
        fit(model, train, epochs=2, generator=0, verbose=0, **kw)
        norms[name] = model.layers[1].weight.abs().sum().item()
    assert norms["l2"] < norms["none"] and norms["l1"] < norms["none"]
