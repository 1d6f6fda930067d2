"""nets.optim: SGD (momentum, Nesterov, coupled decay, per-group lr scales) and Adam equal torch.optim's updates."""

import pytest
import torch
from torch import nn

import nets
from nets.optim import SGD, Adam


def _problem(seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(5, 3, generator=g).requires_grad_(), torch.randn(4, generator=g).requires_grad_(),
            torch.randn(2, 3, 3, 3, generator=g).contiguous(memory_format=torch.channels_last).requires_grad_()]


def _loss(params, step):
    w, b, conv = params
    loss = (w ** 3).sum() + b.sin().sum()
    return loss + (conv ** 2).sum() if step % 3 else loss  # conv unused every third step: its grad is None


@pytest.mark.parametrize("kind, momentum, nesterov", [("sgd", 0.9, True), ("sgd", 0.9, False), ("sgd", 0.0, False),
                                                      ("adam", None, None)])
def test_updates_equal_torch_optim(kind, momentum, nesterov):
    ours_params, torch_params = _problem(0), _problem(0)
    groups = [(ours_params[:1] + ours_params[2:], 0.01), (ours_params[1:2], 0.0)]
    torch_groups = [{"params": torch_params[:1] + torch_params[2:], "weight_decay": 0.01},
                    {"params": torch_params[1:2], "weight_decay": 0.0}]
    if kind == "sgd":
        ours = SGD(groups, momentum=momentum, nesterov=nesterov)
        reference = torch.optim.SGD(torch_groups, lr=0.1, momentum=momentum, nesterov=nesterov)
    else:
        ours = Adam(groups)
        reference = torch.optim.Adam(torch_groups, lr=0.1)
    for step in range(7):
        lr = 0.05 * (step + 1)  # a schedule: the lr is set per step
        for params, opt in ((ours_params, ours), (torch_params, reference)):
            opt.zero_grad()
            _loss(params, step).backward()
        ours.step(lr)
        for group in reference.param_groups:
            group["lr"] = lr
        reference.step()
        for a, b in zip(ours_params, torch_params):
            torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert ours_params[2].is_contiguous(memory_format=torch.channels_last)  # the layout survives the updates


def test_optimiser_state_is_per_tensor_and_skips_missing_gradients():
    w = torch.ones(3, requires_grad=True)
    opt = SGD([([w], 0.0)], momentum=0.9)
    w.grad = torch.ones(3)
    opt.step(0.1)  # buf = g: w = 1 - 0.1 * (1 + 0.9 * 1)
    torch.testing.assert_close(w.detach(), torch.full((3,), 1 - 0.1 * 1.9))
    opt.zero_grad()
    assert w.grad is None
    before = w.detach().clone()
    opt.step(0.1)  # no gradient: no update, no momentum drift
    torch.testing.assert_close(w.detach(), before)


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


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_state_dict_resumes_the_same_updates(kind):
    """Save the state after 3 steps, restore it onto copies of the tensors: the next steps agree."""
    make = (lambda g: SGD(g, momentum=0.9)) if kind == "sgd" else Adam
    params = _problem(0)
    opt = make([(params, 0.01)])
    for step in range(3):
        opt.zero_grad()
        _loss(params, step).backward()
        opt.step(0.1)
    copies = [p.detach().clone().requires_grad_() for p in params]
    resumed = make([(copies, 0.01)])
    resumed.load_state_dict({k: v.clone() for k, v in opt.state_dict().items()})
    for step in range(3, 6):
        for ps, o in ((params, opt), (copies, resumed)):
            o.zero_grad()
            _loss(ps, step).backward()
            o.step(0.1)
    for a, b in zip(params, copies):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
